//! FFI exports: error.
