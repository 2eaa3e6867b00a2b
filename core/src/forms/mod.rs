//! Form schemas, expressions, profiles with provenance, autofill, validation, autosaved drafts.
