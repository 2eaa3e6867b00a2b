#!/usr/bin/env python3
"""Where the bytes of the FFI library go: sections of the file and symbol bytes per owner.

    tools/size_report.py out/bench-work/unstripped/libzhangban_ffi.so [--json OUT] [--top N]

Needs an unstripped build (tests/bench.sh keeps one in out/bench-work/unstripped/) and binutils (`nm`,
`readelf`). Owners: each Rust crate by the first path of the demangled symbol; generic code of core/alloc/std
instantiated for one of our types is counted apart ("generics for zhangban types"); C symbols by prefix
(SQLite, ring's C and assembly, other C). Symbol bytes do not add up to the file: unwind tables, relocations,
the dynamic symbol table and padding are sections of their own (listed first).
"""
import argparse
import collections
import json
import re
import subprocess
import sys

OURS = re.compile(r"\bzhangban_\w+")
STD = ("core", "alloc", "std", "hashbrown", "std_detect", "compiler_builtins", "rustc_demangle", "gimli",
       "addr2line", "miniz_oxide_std", "panic_unwind", "object")


def sections(path):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m and m.group(1) != "NULL":
            rows.append((m.group(1), int(m.group(2), 16)))
    return rows


def owner(name):
    """The owner of one demangled symbol."""
    if "::" not in name:
        if name.startswith("sqlite3") or name.startswith("sqlite"):
            return "SQLite (C)"
        if name.startswith(("ring_core", "GFp", "p256_", "ecp_nistz256", "aes_", "bn_", "LIMBS", "gcm_",
                            "CRYPTO_", "OPENSSL_", "sha256_block", "sha512_block", "x25519", "ChaCha")):
            return "ring (C and assembly)"
        if name.startswith(("uniffi_", "ffi_")):
            return "UniFFI exports (generated)"
        return "other C / unnamed"
    n = name.lstrip("<&*( ")
    for prefix in ("dyn ", "mut ", "const "):
        if n.startswith(prefix):
            n = n[len(prefix):]
    first = re.match(r"[A-Za-z_][A-Za-z0-9_]*", n)
    crate = first.group(0) if first else "?"
    if crate in STD:
        if OURS.search(name):
            return "generics of core/alloc/std for zhangban types"
        return "Rust std/core/alloc"
    return crate


GROUPS = [
    ("our crates (zhangban_*)", lambda o: o.startswith("zhangban_") or o == "generics of core/alloc/std for zhangban types"),
    ("UniFFI runtime and generated exports", lambda o: o.startswith("uniffi") or o.startswith("UniFFI") or o == "async_compat"),
    ("Rust std/core/alloc (runtime and generic code for other types)", lambda o: o == "Rust std/core/alloc"),
    ("serde + serde_json", lambda o: o in ("serde", "serde_json", "serde_core")),
    ("SQLite and other C", lambda o: o in ("SQLite (C)", "other C / unnamed", "rusqlite", "libsqlite3_sys")),
    ("HTTP + TLS (tokio, hyper, reqwest, rustls, webpki, url, idna)", lambda o: o in (
        "tokio", "hyper", "hyper_util", "reqwest", "http", "http_body", "http_body_util", "rustls", "webpki",
        "tokio_rustls", "url", "idna", "idna_adapter", "rustls_pki_types", "webpki_roots", "h2", "futures_util",
        "futures_core", "futures_channel", "tower", "tower_service", "tower_layer", "bytes", "ipnet", "percent_encoding",
        "form_urlencoded", "mio", "socket2", "want", "httparse", "try_lock", "sync_wrapper", "pin_project_lite",
        "futures_task", "tracing", "tracing_core", "icu_normalizer", "icu_properties", "icu_collections",
        "icu_provider", "utf8_iter", "zerovec", "yoke", "tinystr", "writeable", "litemap", "potential_utf")),
    ("ring (Rust, C and assembly)", lambda o: o in ("ring", "ring (C and assembly)", "untrusted", "spin")),
    ("formats: CBOR, COSE, QR, deflate, base45, dates, argon2", lambda o: o in (
        "ciborium", "ciborium_ll", "ciborium_io", "coset", "qrcode", "miniz_oxide", "flate2", "base45", "chrono",
        "chrono_tz", "argon2", "blake2", "password_hash", "base64ct", "hex", "uuid", "zeroize", "half", "crc32fast",
        "adler2", "rand_core", "getrandom")),
]


def group_of(o):
    for name, test in GROUPS:
        if test(o):
            return name
    return "other Rust crates"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("library")
    ap.add_argument("--json")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    secs = sections(a.library)
    nm = subprocess.run(["nm", "-S", "-C", "--defined-only", a.library], capture_output=True, text=True, check=True)
    by = collections.Counter()
    for line in nm.stdout.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        _, size, kind, name = parts
        if kind.lower() not in "trdbv" and kind not in "TtRrDdBbVvWw":
            continue
        by[owner(name)] += int(size, 16)
    total_sym = sum(by.values())
    print(f"{a.library}")
    print("\nsections (bytes):")
    for n, s in sorted(secs, key=lambda r: -r[1]):
        if s >= 4096:
            print(f"  {n:<24} {s:>12,}")
    print(f"\nsymbol bytes by owner (total {total_sym:,}):")
    for o, s in by.most_common(a.top):
        print(f"  {o:<48} {s:>12,}  {100 * s / total_sym:5.1f} %")
    groups = collections.Counter()
    for o, n in by.items():
        groups[group_of(o)] += n
    print("\nsymbol bytes by group:")
    for g, n in groups.most_common():
        print(f"  {g:<66} {n:>12,}  {100 * n / total_sym:5.1f} %")
    others = sorted(((n, o) for o, n in by.items() if group_of(o) == "other Rust crates"), reverse=True)[:12]
    print("  (other Rust crates: " + ", ".join(f"{o} {n:,}" for n, o in others) + ")")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"sections": dict(secs), "owners": dict(by), "groups": dict(groups)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
