//! Pins the trust anchors (the platform root key of the wallet's trust and status lists, the platform
//! calendar key) from a build input, never from the source:
//!
//! * `ZHANGBAN_TRUST_ANCHORS=/path/to/file`: the production anchors (format below). A file holding the
//!   sandbox keys is refused.
//! * else, with the `sandbox-trust` feature or in a non-release profile: `trust/sandbox.anchors`, whose
//!   private halves are in the repository. The build says so (a cargo warning) and the library is marked
//!   (`zhangban_core::anchors::SANDBOX == true`, shown by the FFI's `build_info`).
//! * else (a release build with neither): the build fails.
//!
//! File format: UTF-8 lines `name=value`; `#` starts a comment line. Names: `root_kid` (text, 1–32 bytes),
//! `root` (hex, 65-byte uncompressed SEC1 P-256 point), `calendar_kid` (text), `calendar` (hex point).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const SANDBOX_FILE: &str = "trust/sandbox.anchors";

fn parse(path: &Path) -> HashMap<String, String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read trust anchors {}: {e}", path.display()));
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) =
            line.split_once('=').unwrap_or_else(|| panic!("{}:{}: expected name=value", path.display(), n + 1));
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    out
}

fn point(m: &HashMap<String, String>, name: &str, path: &Path) -> Vec<u8> {
    let v = m.get(name).unwrap_or_else(|| panic!("{}: missing `{name}`", path.display()));
    let b = hex::decode(v).unwrap_or_else(|_| panic!("{}: `{name}` is not hex", path.display()));
    assert!(b.len() == 65 && b[0] == 4, "{}: `{name}` must be a 65-byte uncompressed P-256 point", path.display());
    b
}

fn kid(m: &HashMap<String, String>, name: &str, path: &Path) -> String {
    let v = m.get(name).unwrap_or_else(|| panic!("{}: missing `{name}`", path.display()));
    assert!(
        !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_graphic()),
        "{}: `{name}` must be 1–32 printable ASCII bytes",
        path.display()
    );
    v.clone()
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let sandbox_path = manifest.join(SANDBOX_FILE);
    println!("cargo:rerun-if-env-changed=ZHANGBAN_TRUST_ANCHORS");
    println!("cargo:rerun-if-changed={}", sandbox_path.display());
    println!("cargo:rustc-check-cfg=cfg(zb_sandbox_trust)");
    let sandbox = parse(&sandbox_path);
    let profile = std::env::var("PROFILE").unwrap_or_default();
    let feature = std::env::var_os("CARGO_FEATURE_SANDBOX_TRUST").is_some();
    let (path, is_sandbox) = match std::env::var_os("ZHANGBAN_TRUST_ANCHORS") {
        Some(p) => {
            let p = PathBuf::from(p);
            println!("cargo:rerun-if-changed={}", p.display());
            (p, false)
        }
        None if feature || profile != "release" => (sandbox_path.clone(), true),
        None => panic!(
            "\n\nzhangban-core: a release build needs the production trust anchors: set ZHANGBAN_TRUST_ANCHORS to \
             their file (format: core/build.rs, docs/SECURITY.md), or build with `--features sandbox-trust` for a \
             sandbox/demo build that must never ship.\n\n"
        ),
    };
    let m = parse(&path);
    let root = point(&m, "root", &path);
    let calendar = point(&m, "calendar", &path);
    let root_kid = kid(&m, "root_kid", &path);
    let calendar_kid = kid(&m, "calendar_kid", &path);
    if !is_sandbox {
        for name in ["root", "calendar"] {
            assert!(
                point(&sandbox, name, &sandbox_path) != point(&m, name, &path),
                "{}: `{name}` is a SANDBOX key (its private half is public): refusing it as a production anchor",
                path.display()
            );
        }
    } else {
        println!(
            "cargo:warning=zhangban-core: SANDBOX TRUST ANCHORS pinned (private halves are in the repository): \
             this build must never ship"
        );
        println!("cargo:rustc-cfg=zb_sandbox_trust");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("anchors.rs");
    let code = format!(
        "/// Whether these are the sandbox's published test anchors.\n\
         pub const SANDBOX: bool = {is_sandbox};\n\
         /// Key id of the platform root key (trust and status lists).\n\
         pub const ROOT_KID: &[u8] = b{root_kid:?};\n\
         /// The platform root public key (uncompressed SEC1 P-256).\n\
         pub const ROOT_PUBLIC_KEY: [u8; 65] = {root:?};\n\
         /// Key id of the platform calendar key.\n\
         pub const CALENDAR_KEY_ID: &str = {calendar_kid:?};\n\
         /// The platform calendar public key (uncompressed SEC1 P-256).\n\
         pub const CALENDAR_PUBLIC_KEY: [u8; 65] = {calendar:?};\n"
    );
    std::fs::write(&out, code).expect("write anchors.rs");
}
