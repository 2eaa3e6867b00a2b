//! Events raised to the shells (a foreign listener trait in bindings/).
