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
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"sections": dict(secs), "owners": dict(by)}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
