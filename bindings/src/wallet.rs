//! FFI exports: wallet.
