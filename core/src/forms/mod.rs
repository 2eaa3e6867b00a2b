//! Form schemas, the expression language, profiles with provenance, autofill, validation and
//! autosaved drafts. The schema format is documented in `docs/forms.md`.

pub mod draft;
pub mod expr;
pub mod profile;
pub mod schema;
pub mod session;
#[cfg(test)]
mod tests;
mod wallet_source;

pub use draft::{
    AutofillOptions, Draft, Editor, FillReport, Issue, IssueCode, MaterialChoice, MaterialStatus, Severity,
};
pub use profile::{apply_verified, HeldLicence, LicenceSource, NoLicences, Profile, Provenance};
pub use schema::{Field, FieldType, Form, FormSchema, Text};
pub use session::Session;
