//! Zhangban (掌办) core: everything the phone app knows and does, in pure Rust.
//!
//! Layers (see `docs/ARCHITECTURE.md`): this crate knows nothing of UniFFI; `bindings/` maps it to
//! Kotlin and Swift. Platform capabilities (key vault, event listener, clock) enter as traits.
#![forbid(unsafe_code)]

pub mod anchors;
pub mod audit;
pub mod calendar;
pub mod cases;
pub mod catalog;
pub mod error;
pub mod forms;
pub mod ids;
pub mod notify;
pub mod store;
pub mod sync;
pub mod wallet;

pub use error::{Error, Result};
