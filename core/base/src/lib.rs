//! Base layer of the Zhangban (掌办) core: what every feature builds on. Errors, the bilingual [`Text`],
//! identifiers, the one [`Clock`], the encrypted store with its crypto and audit log, the one outbox of
//! outgoing operations and the notices raised to the shells. It depends on no other Zhangban crate
//! (the layer diagram is in `docs/ARCHITECTURE.md`; `tests/check_layers.py` keeps it true).
// No unsafe code of our own but two audited places (`clock::boot_clock`: `clock_gettime` into a local
// timespec, which std does not offer for the boot clock; `wipe::Wiped`'s drop: zeroing a dropped ring key's
// bytes); the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), deny(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub mod acting;
pub mod anchors;
pub mod audit;
pub mod clock;
pub mod crypto;
pub mod deadline;
pub mod error;
#[cfg(feature = "uniffi")]
pub mod ffi;
pub mod ids;
pub mod notify;
pub mod outbox;
pub mod signer;
pub mod sort;
pub mod store;
pub mod text;
pub mod wipe;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result};
pub use text::Text;
