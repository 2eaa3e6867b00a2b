#!/usr/bin/env bash
# Builds ios/ZhangbanFFI.xcframework (the Rust core as static libraries for iOS devices and the simulator,
# with the C header and module map of module `zhangban_ffiFFI`) and copies the generated Swift API into
# ios/Sources/ZhangbanKit/Generated/, so that the ZhangbanKit package (ios/Package.swift) builds.
#
#   ios/build-xcframework.sh            # release (LTO; several minutes per target)
#   ios/build-xcframework.sh --debug    # debug libraries, for a quick simulator run
#
# Needs macOS with Xcode (xcodebuild, lipo) and rustup. Not run in CI (no macOS there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE=release
for arg in "$@"; do
  case "$arg" in
    --debug) PROFILE=debug ;;
    --release) PROFILE=release ;;
    -h | --help)
      sed -n '2,10p' "$0"
      exit 0
      ;;
    *)
      echo "build-xcframework.sh: unknown argument '$arg' (expected --debug or --release)" >&2
      exit 2
      ;;
  esac
done

if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null; then
  echo "build-xcframework.sh: needs macOS with Xcode (xcodebuild); see ios/README.md" >&2
  exit 1
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DEVICE=aarch64-apple-ios
SIMULATORS=(aarch64-apple-ios-sim x86_64-apple-ios)
CARGO_FLAGS=()
[ "$PROFILE" = release ] && CARGO_FLAGS+=(--release)

cd "$ROOT"
rustup target add "$DEVICE" "${SIMULATORS[@]}"
for t in "$DEVICE" "${SIMULATORS[@]}"; do
  cargo build ${CARGO_FLAGS[@]+"${CARGO_FLAGS[@]}"} -p zhangban-ffi --target "$t"
done

# One simulator library for both simulator architectures.
mkdir -p "$TARGET_DIR/ios"
lipo -create \
  "$TARGET_DIR/aarch64-apple-ios-sim/$PROFILE/libzhangban_ffi.a" \
  "$TARGET_DIR/x86_64-apple-ios/$PROFILE/libzhangban_ffi.a" \
  -output "$TARGET_DIR/ios/libzhangban_ffi_sim.a"

# The Swift API, C header and module map, generated from a host (debug) build of the same crate: the API
# metadata does not depend on the target or the profile. The module map is named module.modulemap inside
# the xcframework's headers.
bindings/generate.sh swift
HEADERS="$TARGET_DIR/ios/headers"
rm -rf "$HEADERS"
mkdir -p "$HEADERS"
cp bindings/generated/swift/zhangban_ffiFFI.h "$HEADERS/"
cp bindings/generated/swift/zhangban_ffiFFI.modulemap "$HEADERS/module.modulemap"

OUT="$ROOT/ios/ZhangbanFFI.xcframework"
rm -rf "$OUT"
xcodebuild -create-xcframework \
  -library "$TARGET_DIR/$DEVICE/$PROFILE/libzhangban_ffi.a" -headers "$HEADERS" \
  -library "$TARGET_DIR/ios/libzhangban_ffi_sim.a" -headers "$HEADERS" \
  -output "$OUT"

GEN="$ROOT/ios/Sources/ZhangbanKit/Generated"
mkdir -p "$GEN"
cp bindings/generated/swift/zhangban_ffi.swift "$GEN/"

echo "built ${OUT#"$ROOT"/} ($PROFILE) and ${GEN#"$ROOT"/}/zhangban_ffi.swift"
echo "next: cd ios/App && xcodegen generate && open Zhangban.xcodeproj   (see ios/README.md)"
