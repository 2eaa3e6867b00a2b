//! Sandbox platform: cases.
