#!/usr/bin/env bash
# Builds the cargo-fuzz targets of tests/fuzz with nightly (libFuzzer + SanitizerCoverage, the flags cargo-fuzz
# uses, without AddressSanitizer: the core has no unsafe code of its own) and runs each for SECONDS.
#   tools/fuzz.sh [SECONDS=600] [TARGET…]      # results: tests/fuzz/fuzz-<target>.log, artifacts/<target>/
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(presentation grant licence_import form_schema expression sync_response delegation)
cd "$root"
cargo run -q -p zhangban-fuzz-harness --bin fuzz-seeds -- tests/fuzz/corpus >/dev/null
cd tests/fuzz
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo +nightly build -q --release --target x86_64-unknown-linux-gnu --bins
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t"
  echo "== $t ($secs s) start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
  nice -n 19 "target/x86_64-unknown-linux-gnu/release/$t" "corpus/$t" -max_total_time="$secs" -rss_limit_mb=1024 \
    -timeout=10 -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"fuzz-$t.log" 2>&1 || echo "!! $t stopped (see fuzz-$t.log)"
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" "fuzz-$t.log" || tail -3 "fuzz-$t.log"
  echo "   end $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
  ls "artifacts/$t" | sed "s/^/   artifact: /"
done
