#!/usr/bin/env bash
# Checks the trust-anchor rules of a release build of the FFI library (the library that ships):
#   1. a release build without ZHANGBAN_TRUST_ANCHORS and without the `sandbox-trust` feature fails;
#   2. a release build with production anchors (here: throwaway ones) succeeds, and the library it makes
#      contains those anchor points and none of the sandbox's (raw bytes or hex).
#   tools/check-release-anchors.sh            # builds (one release build, a few minutes on 2 cores)
#   tools/check-release-anchors.sh LIB ANCHORS  # only scans an already built library
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sandbox="$root/core/base/trust/sandbox.anchors"

scan() { # scan LIB ANCHORS
  python3 - "$1" "$2" "$sandbox" <<'PY'
import sys
lib = open(sys.argv[1], "rb").read()
def points(path):
    d = dict(l.split("=", 1) for l in open(path).read().splitlines() if "=" in l and not l.startswith("#"))
    return {k: bytes.fromhex(d[k].strip()) for k in ("root", "calendar")}
prod, sand = points(sys.argv[2]), points(sys.argv[3])
bad = [k for k, p in sand.items() if p in lib or p.hex().encode() in lib or p.hex().upper().encode() in lib]
missing = [k for k, p in prod.items() if p not in lib]
print(f"{sys.argv[1]}: {len(lib)} bytes; sandbox points found: {bad or 'none'}; production points missing: {missing or 'none'}")
sys.exit(1 if bad or missing else 0)
PY
}

if [ $# -eq 2 ]; then
  scan "$1" "$2"
  exit
fi
cd "$root"
echo "== 1. release build without anchors must fail (build script only) =="
if env -u ZHANGBAN_TRUST_ANCHORS cargo check --release -q -p zhangban-core 2>/tmp/anchors-check.log; then
  echo "FAIL: a release build without production anchors compiled" >&2
  exit 1
fi
grep -q "needs the production trust anchors" /tmp/anchors-check.log && echo "ok: refused with the expected message"
echo "== 2. release build with (throwaway) production anchors; scan the library =="
anchors="$(tools/throwaway-anchors.sh)"
trap 'rm -f "$anchors"' EXIT
ZHANGBAN_TRUST_ANCHORS="$anchors" cargo build --release -q -p zhangban-ffi
scan "$root/target/release/libzhangban_ffi.so" "$anchors"
