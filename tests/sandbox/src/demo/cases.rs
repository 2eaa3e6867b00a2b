//! Journey demo chapter: cases.
