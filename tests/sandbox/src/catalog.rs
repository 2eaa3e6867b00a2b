//! Sandbox platform: catalog.
