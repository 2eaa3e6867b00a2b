//! Form schemas, the expression language, profiles with provenance, autofill, validation and
//! autosaved drafts. The schema format is documented in `docs/forms.md`.

// No unsafe code of our own; the UniFFI scaffolding (feature `uniffi`, bindings/ only) generates some.
#![cfg_attr(not(feature = "uniffi"), forbid(unsafe_code))]

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
#[cfg(feature = "uniffi")]
zhangban_base::use_ffi_types!();

pub use zhangban_base::Text;
use zhangban_base::{ids, store, Error, Result};
use zhangban_catalog as catalog;
use zhangban_wallet as wallet;
pub mod checklist;
pub mod draft;
pub mod profile;
pub mod session;
pub mod state;
#[cfg(test)]
mod tests;
mod wallet_source;
pub use state::{DraftState, FieldOption, FieldState, MaterialAction, MaterialState, ValueSource};
pub use wallet_source::{held_licences, import_licence};

pub use draft::{
    AutofillOptions, Draft, Editor, FillReport, Issue, IssueCode, MaterialChoice, MaterialStatus, Severity,
};
pub use profile::{apply_verified, parse_value, HeldLicence, LicenceSource, NoLicences, Profile, Provenance};
pub use session::{ActingGate, Session};
pub use zhangban_catalog::schema::{Field, FieldType, Form, FormSchema};
use zhangban_catalog::{expr, schema};
