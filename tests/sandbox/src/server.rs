//! Sandbox platform: server.
