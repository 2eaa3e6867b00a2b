//! FFI exports: cases.
