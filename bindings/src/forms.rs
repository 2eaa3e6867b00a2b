//! FFI exports: forms.
