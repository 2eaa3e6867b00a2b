//! Platform client (reqwest with rustls): device registration, catalog; later submission, uploads, events.

pub mod outbox;
pub mod runner;
