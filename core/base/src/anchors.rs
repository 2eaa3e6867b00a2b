//! The pinned trust anchors, from a build input (`ZHANGBAN_TRUST_ANCHORS`, or the sandbox's published
//! test anchors in debug builds and with the `sandbox-trust` feature; see `core/build.rs` and
//! docs/SECURITY.md). A release build without production anchors does not compile.

include!(concat!(env!("OUT_DIR"), "/anchors.rs"));

/// True when this library pins the sandbox's published test trust anchors (a debug, test or demo build):
/// a shell shows a "测试版 / sandbox build" banner then, and such a build must never ship.
#[cfg_attr(feature = "uniffi", uniffi::export)]
pub fn sandbox_trust_anchors() -> bool {
    SANDBOX
}
