//! Sandbox platform: faults.
