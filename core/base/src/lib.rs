//! Base layer of the Zhangban (掌办) core: what every feature builds on. Errors, the bilingual [`Text`],
//! identifiers, the one [`Clock`], the encrypted store with its crypto and audit log, the one outbox of
//! outgoing operations and the notices raised to the shells. It depends on no other Zhangban crate
//! (the layer diagram is in `docs/ARCHITECTURE.md`; `tests/check_layers.py` keeps it true).
#![forbid(unsafe_code)]

pub mod audit;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod notify;
pub mod outbox;
pub mod store;
pub mod text;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result};
pub use text::Text;
