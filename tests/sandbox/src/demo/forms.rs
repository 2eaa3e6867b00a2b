//! Journey demo chapter: forms.
