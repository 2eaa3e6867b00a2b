#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python bindings of zhangban-ffi into bindings/generated/<language>/
# (ignored by git), from the built library itself (UniFFI "library mode": proc-macro metadata only).
#
#   bindings/generate.sh                     # debug library, all three languages
#   bindings/generate.sh --release python    # release library, only Python
#   bindings/generate.sh --no-build python   # reuse an existing target/<profile> build
#
# The Python output also gets a copy of the library beside the module, so that `import zhangban_ffi`
# works from that folder with nothing installed. Needs only cargo; installs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE=debug
BUILD=1
LANGS=()
for arg in "$@"; do
  case "$arg" in
    --release) PROFILE=release ;;
    --debug) PROFILE=debug ;;
    --no-build) BUILD=0 ;;
    kotlin | swift | python) LANGS+=("$arg") ;;
    -h | --help)
      sed -n '2,10p' "$0"
      exit 0
      ;;
    *)
      echo "generate.sh: unknown argument '$arg' (expected --release, --debug, --no-build, kotlin, swift, python)" >&2
      exit 2
      ;;
  esac
done
[ ${#LANGS[@]} -eq 0 ] && LANGS=(kotlin swift python)

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$(uname -s)" in
  Darwin) LIB_FILE=libzhangban_ffi.dylib ;;
  MINGW* | MSYS* | CYGWIN*) LIB_FILE=zhangban_ffi.dll ;;
  *) LIB_FILE=libzhangban_ffi.so ;;
esac
LIB="$TARGET_DIR/$PROFILE/$LIB_FILE"
BINDGEN="$TARGET_DIR/$PROFILE/uniffi-bindgen"

if [ "$BUILD" = 1 ]; then
  CARGO_FLAGS=()
  [ "$PROFILE" = release ] && CARGO_FLAGS+=(--release)
  # Incremental: a no-op when `cargo test --workspace` already built both.
  (cd "$ROOT" && cargo build ${CARGO_FLAGS[@]+"${CARGO_FLAGS[@]}"} -p zhangban-ffi -p uniffi-bindgen)
fi
for f in "$LIB" "$BINDGEN"; do
  if [ ! -f "$f" ]; then
    echo "generate.sh: $f is missing; run without --no-build" >&2
    exit 1
  fi
done

for lang in "${LANGS[@]}"; do
  out="$ROOT/bindings/generated/$lang"
  rm -rf "$out"
  mkdir -p "$out"
  if [ "$lang" = python ]; then
    # One generated module per core crate (each crate is its own UniFFI namespace) and they import each
    # other relatively: they form the package `zhangban`, with the library beside them.
    "$BINDGEN" generate --library "$LIB" --language "$lang" --out-dir "$out/zhangban" --no-format
    cp "$LIB" "$out/zhangban/"
    echo '"""Generated UniFFI bindings of Zhangban: one module per core crate, and zhangban_ffi (the facade)."""' \
      > "$out/zhangban/__init__.py"
  else
    "$BINDGEN" generate --library "$LIB" --language "$lang" --out-dir "$out" --no-format
  fi
  echo "generated $lang bindings in ${out#"$ROOT"/}"
done
