#!/usr/bin/env bash
# Every figure we promise, in one run (docs/benchmarks.md explains each row):
#   store (ours vs plain rusqlite vs SQLCipher), 亮证 presentation and verification (vs their floors), time
#   to a first code through the FFI from a cold process, forms, catalog search, sync against the loopback
#   sandbox (0 % and 30 % faults), and the stripped size of the release FFI library.
# Compared engines are interleaved run by run; the table shows medians, ratios and the load average, is
# written to out/bench.json, and replaces the results block of docs/benchmarks.md.
#
#   tests/bench.sh            # quick mode: few runs (a few minutes once built)
#   tests/bench.sh --full     # full mode: more and longer runs (about 15 minutes once built)
#   tests/bench.sh --no-docs  # do not touch docs/benchmarks.md
#
# Release builds with the shipped profile (opt-level s, fat LTO): the first run compiles for 10–20 minutes
# on 2 cores. Needs cargo, python3, gcc and libssl-dev (the SQLCipher comparison links the system's
# libcrypto). Not part of tests/run.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode=quick
docs=1
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --no-docs) docs=0 ;;
    -h | --help)
      sed -n '2,15p' "$0"
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument '$arg' (expected --quick, --full, --no-docs)" >&2
      exit 2
      ;;
  esac
done
out="$root/out"
work="$out/bench-work"
rm -rf "$work"
mkdir -p "$work"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ "$mode" = full ]; then store_runs=11 fc_runs=21; else store_runs=3 fc_runs=7; fi

echo "== building (release profile: what ships) =="
# A release build needs trust anchors (docs/SECURITY.md): a bench root made for this run measures the same
# library. Its private half stays in the work folder (the first-code setup signs the wallet's lists with it);
# the calendar anchor is a throwaway.
# Made once and kept in out/bench-anchors (new anchors would rebuild the whole release library next run).
if [ -z "${ZHANGBAN_TRUST_ANCHORS:-}" ]; then
  keep="$out/bench-anchors"
  ZHANGBAN_TRUST_ANCHORS="$keep/bench.anchors"
  if [ ! -s "$ZHANGBAN_TRUST_ANCHORS" ] || [ ! -s "$keep/bench-root.pem" ]; then
    mkdir -p "$keep"
    openssl ecparam -name prime256v1 -genkey -noout -out "$keep/bench-root.pem" 2>/dev/null
    {
      echo "# Bench anchors of tests/bench.sh (root private half in out/bench-anchors): never shipped."
      echo "root_kid=zb-root-1"
      echo "root=$(openssl ec -in "$keep/bench-root.pem" -pubout -conv_form uncompressed -outform DER 2>/dev/null | tail -c 65 | od -An -v -tx1 | tr -d ' \n')"
      grep '^calendar' "$("$root/tools/throwaway-anchors.sh")"
    } >"$ZHANGBAN_TRUST_ANCHORS"
  fi
  ZHANGBAN_BENCH_ROOT_PKCS8="$(openssl pkcs8 -topk8 -nocrypt -in "$keep/bench-root.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')"
  export ZHANGBAN_TRUST_ANCHORS ZHANGBAN_BENCH_ROOT_PKCS8
fi
# The FFI library alone (a build together with other packages could unify other features into it), with
# its symbol table kept: UniFFI's bindgen reads the API from it. The copy that is measured and loaded is
# stripped with `strip`, which gives what the profile's `strip = true` ships.
mkdir -p "$work/unstripped"
(cd "$root" && CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --quiet -p zhangban-ffi)
cp "$target/release/libzhangban_ffi.so" "$work/unstripped/"
(cd "$root" && cargo build --release --quiet -p zhangban-bench)
(cd "$root" && cargo build --quiet -p uniffi-bindgen)
(cd "$root/tests/bench-sqlcipher" && cargo build --release --quiet)
# One generated module per core crate, importing each other relatively: the package `zhangban`, with the
# stripped library beside them (as bindings/generate.sh lays it out).
"$target/debug/uniffi-bindgen" generate --library "$work/unstripped/libzhangban_ffi.so" --language python \
  --out-dir "$work/python/zhangban" --no-format >/dev/null
touch "$work/python/zhangban/__init__.py"
strip -o "$work/python/zhangban/libzhangban_ffi.so" "$work/unstripped/libzhangban_ffi.so"

echo "== library size =="
bytes=$(stat -c %s "$work/python/zhangban/libzhangban_ffi.so")
python3 - "$bytes" "$work/size.json" <<'EOF'
import json, sys
b = int(sys.argv[1])
row = {"id": "lib_size", "title": "stripped release FFI library (x86_64)", "value": b / 1e6, "unit": "MB",
       "compare": [{"name": "megazord (Firefox for Android), arm64", "value": 6.5, "ratio": b / 1e6 / 6.5}],
       "goal": "≤ 5 MB", "met": b <= 5_000_000, "detail": {"bytes": b}}
json.dump({"rows": [row]}, open(sys.argv[2], "w"), ensure_ascii=False)
print(f"libzhangban_ffi.so stripped: {b:,} bytes")
EOF

echo "== store: ours vs plain rusqlite vs SQLCipher ($store_runs runs) =="
(cd "$root/tests/bench-sqlcipher" &&
  ZB_BENCH_RUNS=$store_runs ZB_BENCH_JSON="$work/store.json" cargo run --release --quiet >"$work/store.txt")

echo "== time to a first code ($fc_runs cold processes) =="
now=$(date +%s)
"$target/release/zhangban-bench" prep-first-code "$work/first-code" "$now" >"$work/prep.json"
python3 "$root/tests/bench_first_code.py" --bindings "$work/python" --prep "$work/prep.json" \
  --runs "$fc_runs" --out "$work/first_code.json"

echo "== wallet, forms, sync =="
"$target/release/zhangban-bench" "--$mode" --out "$work/core.json"

echo
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
docs_args=()
[ "$docs" = 1 ] && docs_args=(--docs "$root/docs/benchmarks.md")
python3 "$root/tests/bench_report.py" --mode "$mode" --commit "$commit" --out "$out/bench.json" \
  ${docs_args[@]+"${docs_args[@]}"} "$work/store.json" "$work/core.json" "$work/first_code.json" "$work/size.json"
rm -rf "$work/first-code"
echo "written: out/bench.json (partial results and the library in out/bench-work/)"
