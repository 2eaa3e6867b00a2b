#!/usr/bin/env bash
# Writes a trust-anchors file (format: core/build.rs) with freshly generated P-256 public keys whose private
# halves are thrown away, and prints its path. For building and measuring a release library that is not a
# sandbox build (tools/check-release-anchors.sh, tests/bench.sh); such a library trusts nobody, so it is
# never shipped either: a real release sets ZHANGBAN_TRUST_ANCHORS to the platform's anchors file.
set -euo pipefail
command -v openssl >/dev/null || { echo "throwaway-anchors: openssl not found" >&2; exit 1; }
out="${1:-$(mktemp --suffix=.anchors)}"
point() {
  # The last 65 bytes of a P-256 SubjectPublicKeyInfo (uncompressed point), as hex.
  openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
    openssl ec -pubout -conv_form uncompressed -outform DER 2>/dev/null | tail -c 65 | od -An -v -tx1 | tr -d ' \n'
}
{
  echo "# Throwaway anchors (private halves discarded): not the sandbox's, not the platform's."
  echo "root_kid=zb-root-1"
  echo "root=$(point)"
  echo "calendar_kid=zb-platform-calendar-1"
  echo "calendar=$(point)"
} >"$out"
echo "$out"
