//! Zhangban (掌办) core: everything the phone app knows and does, in pure Rust.
//!
//! This crate is only the facade: it re-exports the layered crates under the module names its users know
//! (`zhangban_core::wallet`, `zhangban_core::store`, …). The layers, lowest first (see
//! `docs/ARCHITECTURE.md`; `tests/check_layers.py` fails when a dependency points up):
//!
//! * `zhangban-base`: errors, [`Text`], ids, the [`Clock`], the encrypted store, crypto, audit, the one
//!   outbox, notices;
//! * features: `zhangban-calendar`, `zhangban-wallet`, `zhangban-catalog`, `zhangban-forms`
//!   (on catalog + wallet), `zhangban-cases` (on forms + calendar), `zhangban-agent` (帮办代办, on forms +
//!   cases), `zhangban-remind` (reminders and the 待办 home, reading every feature);
//! * `zhangban-backup` (on base): the recovery code and the end-to-end encrypted backup and restore;
//! * `zhangban-sync`: the platform client, device registration, the sync runner.
//!
//! No crate of the core knows UniFFI; `bindings/` maps them to Kotlin and Swift.
#![forbid(unsafe_code)]

pub use zhangban_agent as agent;
pub use zhangban_backup as backup;
pub use zhangban_base::{anchors, audit, clock, crypto, error, ids, notify, outbox, store, text};
pub use zhangban_base::{Clock, Error, FixedClock, Result, SystemClock, Text};
pub use zhangban_calendar as calendar;
pub use zhangban_cases as cases;
pub use zhangban_catalog as catalog;
pub use zhangban_forms as forms;
pub use zhangban_remind as remind;
pub use zhangban_sync as sync;
pub use zhangban_wallet as wallet;
