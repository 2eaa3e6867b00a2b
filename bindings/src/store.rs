//! FFI exports: store.
