//! Link options of the shipped library (the cdylib only; tests and other crates are unaffected).
//!
//! Relative relocations packed: 15,000 of the library's dynamic relocations are `R_*_RELATIVE` (pointers
//! in vtables and static tables), 24 bytes each in `.rela.dyn` (≈ 0.36 MB of the 6.7 MB library). The
//! packed encodings store them in a few kilobytes; the loader applies the same relocations.
//! - Linux (glibc ≥ 2.36, binutils ≥ 2.38 or lld): `-z pack-relative-relocs` (standard `DT_RELR`).
//! - Android: the app's minSdk is 24, below the standard `DT_RELR` (API 30); Android's own packed format
//!   (`--pack-dyn-relocs=android`, lld, API 23+) is used instead.
//!
//! Identical code folded (release builds linked by lld: Android's NDK, and x86_64 Linux where rustc ≥ 1.90
//! links with its own lld; `--icf=all`, ADR 0037): each crate of the layered core instantiates its own copy of
//! the same generic code (drop glue of `Error`, `Vec<u8>`, rusqlite's `Transaction`, UniFFI's call wrappers
//! …), byte for byte the same after fat LTO; the linker keeps one. Rust gives functions no identity (rustc
//! marks them `unnamed_addr`), so folding them is allowed. The C in the library (SQLite, ring) compares a few
//! function pointers (SQLite's destructor sentinels); folding merges only identical bodies, and none of
//! those has a twin (ADR 0037 lists what was folded). Not in debug builds: a folded function is named by its
//! twin in a backtrace, and the link is slower.
//!
//! Apple platforms use chained fixups (already compact) and their linker folds on its own; nothing to do
//! there. Measured in docs/benchmarks.md ("FFI library size").
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    match (os.as_str(), env.as_str()) {
        ("linux", "gnu") => println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs"),
        ("android", _) => println!("cargo:rustc-cdylib-link-arg=-Wl,--pack-dyn-relocs=android"),
        _ => {}
    }
    let lld = os == "android" || (os == "linux" && env == "gnu" && arch == "x86_64" && rustc_minor() >= 90);
    if release && lld {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--icf=all");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// The minor version of the rustc building this crate (1.N), 0 when it cannot be read.
fn rustc_minor() -> u32 {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1).and_then(|v| v.split('.').nth(1)).and_then(|m| m.parse().ok()).unwrap_or(0)
}
