//! Link options of the shipped library (the cdylib only; tests and other crates are unaffected).
//!
//! Relative relocations packed: 15,000 of the library's dynamic relocations are `R_*_RELATIVE` (pointers
//! in vtables and static tables), 24 bytes each in `.rela.dyn` (≈ 0.36 MB of the 6.7 MB library). The
//! packed encodings store them in a few kilobytes; the loader applies the same relocations.
//! - Linux (glibc ≥ 2.36, binutils ≥ 2.38 or lld): `-z pack-relative-relocs` (standard `DT_RELR`).
//! - Android: the app's minSdk is 24, below the standard `DT_RELR` (API 30); Android's own packed format
//!   (`--pack-dyn-relocs=android`, lld, API 23+) is used instead.
//!
//! Apple platforms use chained fixups (already compact); nothing to do there. Measured in
//! docs/benchmarks.md ("FFI library size").
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    match (os.as_str(), env.as_str()) {
        ("linux", "gnu") => println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs"),
        ("android", _) => println!("cargo:rustc-cdylib-link-arg=-Wl,--pack-dyn-relocs=android"),
        _ => {}
    }
    println!("cargo:rerun-if-changed=build.rs");
}
