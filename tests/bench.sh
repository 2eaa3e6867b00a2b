#!/usr/bin/env bash
# Storage benchmark (release): Zhangban's encrypted store vs plain rusqlite vs SQLCipher, measured in the
# same run and printed as ratios of medians; then the stripped size of the release FFI library.
# Needs libssl-dev (SQLCipher uses the system libcrypto). Slow to build (two release builds, ~5 min each
# on 2 cores); not part of tests/run.sh. Figures are kept in docs/benchmarks.md.
#   tests/bench.sh            # ZB_BENCH_RUNS=N to change the number of runs (default 7)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

echo "== storage: ours vs plain rusqlite vs SQLCipher (tests/bench-sqlcipher, its own workspace) =="
(cd "$root/tests/bench-sqlcipher" && cargo run --release --quiet)

echo
echo "== FFI library size (release profile: opt-level s with ring and qrcode at 3, fat lto, codegen-units = 1, strip) =="
# A release build needs trust anchors (docs/SECURITY.md): throwaway ones measure the same library.
if [ -z "${ZHANGBAN_TRUST_ANCHORS:-}" ]; then
  ZHANGBAN_TRUST_ANCHORS="$("$root/tools/throwaway-anchors.sh")"
  export ZHANGBAN_TRUST_ANCHORS
fi
(cd "$root" && cargo build --release --quiet -p zhangban-ffi)
lib="$root/target/release/libzhangban_ffi.so"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
cp "$lib" "$tmp"
strip "$tmp"
awk -v a="$(stat -c %s "$lib")" -v b="$(stat -c %s "$tmp")" \
  'BEGIN { printf "libzhangban_ffi.so: %d bytes as built, %d bytes after strip (%.2f MiB)\n", a, b, b / 1048576 }'
