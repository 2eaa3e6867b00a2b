#!/usr/bin/env bash
# The one test command of Zhangban (CI runs exactly this through .ci/run):
#   0. the layering check (tests/check_layers.py: crate dependencies follow the layer diagram, no module cycles)
#   1. cargo fmt --check                      (skipped with --quick)
#   2. cargo clippy, warnings denied           (skipped with --quick)
#   3. cargo build --workspace --all-targets   (one debug build: the tests, the FFI library, uniffi-bindgen)
#   4. cargo test --workspace                  (unit, integration and sandbox end-to-end tests)
#   5. generates the Kotlin, Swift and Python bindings from that same FFI library
#   6. the Python FFI tests, tests/python/test_*.py, through the generated bindings (stdlib only)
#   7. the Kotlin JVM tests, android/jvm-test (Maven; JNA loads the same library), when mvn and java are
#      installed (skipped, and said so, otherwise; ZHANGBAN_SKIP_KOTLIN=1 skips them too). Maven keeps its
#      downloads in its own cache (~/.m2), as cargo does in ~/.cargo.
# Works on a clean clone; installs nothing (no venv, no pip). Exits non-zero on the first failure.
#
#   tests/run.sh           everything
#   tests/run.sh --quick   skip fmt and clippy
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h | --help)
      sed -n '2,13p' "$0"
      exit 0
      ;;
    *)
      echo "run.sh: unknown argument '$arg' (expected --quick)" >&2
      exit 2
      ;;
  esac
done

START=$(date +%s)
STEP_START=$START
STEP=""
step() {
  local now
  now=$(date +%s)
  [ -n "$STEP" ] && echo "    ($STEP: $((now - STEP_START)) s)"
  STEP="$*"
  STEP_START=$now
  [ "$STEP" = done ] || printf '\n==> %s\n' "$STEP"
}
trap 'rc=$?; [ $rc -ne 0 ] && printf "\n!! tests/run.sh FAILED (exit %s) after %s s\n" "$rc" "$(($(date +%s) - START))"; exit $rc' EXIT

command -v cargo >/dev/null || { echo "run.sh: cargo not found (install Rust with rustup)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run.sh: python3 not found" >&2; exit 1; }

# Cargo's build folder, absolute (CARGO_TARGET_DIR may be relative to the repository root).
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac

step "layering check (tests/check_layers.py)"
python3 tests/check_layers.py

if [ "$QUICK" = 0 ]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --workspace --all-targets -D warnings"
  cargo clippy --workspace --all-targets -- -D warnings
fi

# Building every target first gives the FFI library (target/debug/libzhangban_ffi.*) and uniffi-bindgen
# the same feature set as the tests, so `cargo test` reuses all of it and the library is built once.
step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

step "cargo test --workspace"
cargo test --workspace

step "bindings (Kotlin, Swift, Python) from the debug FFI library"
bindings/generate.sh --no-build

step "Python FFI tests (tests/python/test_*.py)"
PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s tests/python -p 'test_*.py' -v

if [ "${ZHANGBAN_SKIP_KOTLIN:-0}" = 1 ]; then
  echo "!! Kotlin JVM tests skipped (ZHANGBAN_SKIP_KOTLIN=1)"
elif command -v mvn >/dev/null && command -v java >/dev/null; then
  step "Kotlin JVM tests (android/jvm-test, generated Kotlin + JNA)"
  mvn -q -B -Dstyle.color=never -f android/jvm-test/pom.xml test \
    -Dzhangban.lib.dir="$TARGET_DIR/debug"
  grep -h "Tests run" android/jvm-test/target/surefire-reports/*.txt
else
  echo "!! Kotlin JVM tests skipped: mvn or java not found"
fi

step "done"
echo "tests/run.sh passed in $(($(date +%s) - START)) s"
