//! Sandbox platform: issuer.
