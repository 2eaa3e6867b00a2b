//! UniFFI facade of zhangban-core: type mapping, errors, async. No business rules live here.
uniffi::setup_scaffolding!();
zhangban_base::use_ffi_types!();

mod agent;
mod backup;
mod cases;
mod error;
mod forms;
mod ids;
mod remind;
mod runtime;
mod store;
mod vault;
mod wallet;
