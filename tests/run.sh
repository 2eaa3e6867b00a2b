#!/usr/bin/env bash
# The one test command of Zhangban (CI runs exactly this through .ci/run):
#   0. the layering check (tests/check_layers.py: crate dependencies follow the layer diagram, no module cycles)
#   1. cargo fmt --check                      (skipped with --quick)
#   2. cargo clippy, warnings denied           (skipped with --quick)
#   3. cargo build --workspace --all-targets   (one debug build: the tests, the FFI library, uniffi-bindgen)
#   4. cargo test --workspace                  (unit, integration and sandbox end-to-end tests)
#   5. generates the Kotlin, Swift and Python bindings from that same FFI library
#   6. the Python FFI tests, tests/python/test_*.py, through the generated bindings (stdlib only)
#   7. the iOS checks that run without a Mac (tools/swift_check.py): every Swift file parses (tree-sitter
#      Swift grammar), every name the Swift layer uses exists in the freshly generated Swift API, every
#      String(localized:) key of the app has its zh-Hans text, the camera has its usage description. The two
#      PyPI packages (pinned) are installed into target/pytools when missing.
#   8. the Kotlin JVM tests, android/jvm-test (Maven; JNA loads the same library), and the screens,
#      android/ui-test: the app's Compose screens on Compose for desktop over the same library and the
#      sandbox, asserted and rendered (zh/en x font scale 1/2) and compared with the goldens in
#      android/ui-test/src/test/goldens (needs the font fonts-wqy-microhei: installed with apt-get when root,
#      else the script says what to install). When mvn and java are installed (skipped, and said so,
#      otherwise; ZHANGBAN_SKIP_KOTLIN=1 skips them too). Maven keeps its downloads in ~/.m2, as cargo does
#      in ~/.cargo. A changed screen fails; ZHANGBAN_UPDATE_GOLDENS=1 rewrites the goldens instead (look at
#      them, commit them with the change). Renders: android/ui-test/target/screens/.
# Works on a clean clone. Exits non-zero on the first failure.
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
      sed -n '2,22p' "$0"
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
python3 tests/check_layers.py --self-test
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

step "iOS checks: Swift syntax (tree-sitter) and the generated-API names the Swift layer uses"
PYTOOLS="${CARGO_TARGET_DIR:-$ROOT/target}/pytools"
if ! PYTHONPATH="$PYTOOLS" python3 -c 'import tree_sitter, tree_sitter_swift' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$PYTOOLS" \
    'tree-sitter==0.26.1' 'tree-sitter-swift==0.7.4'
fi
PYTHONPATH="$PYTOOLS" PYTHONDONTWRITEBYTECODE=1 python3 tools/swift_check.py --self-test

# The screens' renders are compared pixel for pixel: one pinned CJK font (Debian's fonts-wqy-microhei).
SCREEN_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
ensure_screen_font() {
  [ -f "$SCREEN_FONT" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing fonts-wqy-microhei (the font of the screen renders)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null
  else
    echo "run.sh: the screen renders need $SCREEN_FONT: install it with 'sudo apt-get install fonts-wqy-microhei'" >&2
    exit 1
  fi
}

if [ "${ZHANGBAN_SKIP_KOTLIN:-0}" = 1 ]; then
  echo "!! Kotlin JVM tests skipped (ZHANGBAN_SKIP_KOTLIN=1)"
elif command -v mvn >/dev/null && command -v java >/dev/null; then
  step "Kotlin JVM tests (android/jvm-test, generated Kotlin + JNA)"
  mvn -q -B -Dstyle.color=never -f android/jvm-test/pom.xml test \
    -Dzhangban.lib.dir="$TARGET_DIR/debug"
  grep -h "Tests run" android/jvm-test/target/surefire-reports/*.txt

  step "Compose screens (android/ui-test: driven over the library and the sandbox, rendered, vs goldens)"
  ensure_screen_font
  GOLDENS=compare
  [ "${ZHANGBAN_UPDATE_GOLDENS:-0}" = 1 ] && GOLDENS=update
  mvn -q -B -Dstyle.color=never -f android/ui-test/pom.xml test \
    -Dzhangban.lib.dir="$TARGET_DIR/debug" -Dzhangban.goldens="$GOLDENS"
  grep -h "Tests run" android/ui-test/target/surefire-reports/*.txt
  echo "renders: android/ui-test/target/screens/ ($(ls android/ui-test/target/screens/*.png | wc -l) PNGs)"
else
  echo "!! Kotlin JVM tests skipped: mvn or java not found"
fi

step "done"
echo "tests/run.sh passed in $(($(date +%s) - START)) s"
