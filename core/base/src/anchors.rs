//! The pinned trust anchors, from a build input (`ZHANGBAN_TRUST_ANCHORS`, or the sandbox's published
//! test anchors in debug builds and with the `sandbox-trust` feature; see `core/build.rs` and
//! docs/SECURITY.md). A release build without production anchors does not compile.

include!(concat!(env!("OUT_DIR"), "/anchors.rs"));
