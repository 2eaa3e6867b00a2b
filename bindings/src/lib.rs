//! UniFFI facade of zhangban-core: type mapping, errors, async. No business rules live here.
uniffi::setup_scaffolding!();

mod cases;
mod error;
mod forms;
mod ids;
mod runtime;
mod store;
mod vault;
mod wallet;
