//! Journey demo chapter: wallet.
