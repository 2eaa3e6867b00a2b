//! Form schemas, the expression language, profiles with provenance, autofill, validation and
//! autosaved drafts. The schema format is documented in `docs/forms.md`.

#![forbid(unsafe_code)]

pub use zhangban_base::Text;
use zhangban_base::{ids, store, Error, Result};
use zhangban_catalog as catalog;
use zhangban_wallet as wallet;
pub mod checklist;
pub mod draft;
pub mod profile;
pub mod session;
#[cfg(test)]
mod tests;
mod wallet_source;
pub use wallet_source::import_licence;

pub use draft::{
    AutofillOptions, Draft, Editor, FillReport, Issue, IssueCode, MaterialChoice, MaterialStatus, Severity,
};
pub use profile::{apply_verified, HeldLicence, LicenceSource, NoLicences, Profile, Provenance};
pub use session::Session;
pub use zhangban_catalog::schema::{Field, FieldType, Form, FormSchema};
use zhangban_catalog::{expr, schema};
