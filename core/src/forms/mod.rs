//! Form schemas, the expression language, profiles with provenance, autofill, validation and
//! autosaved drafts. The schema format is documented in `docs/forms.md`.

pub mod expr;
pub mod schema;

pub use schema::{Field, FieldType, Form, FormSchema, Text};
