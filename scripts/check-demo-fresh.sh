#!/usr/bin/env bash
# The README's first command as a new user meets it: scripts/demo.sh from this tree
# on a machine that has only what `setup-deps.sh --demo` installs. The development
# packages the demo must not need (Catch2, prometheus-cpp) stay installed but are
# hidden from it in a private mount namespace (scripts/lib/private-mount-namespace.sh).
#
#   scripts/check-demo-fresh.sh
#
# Checks, with build/demo configured afresh:
#   1. the demo preset found no Catch2 (examples/*_test are skipped, not failed);
#   2. `demo.sh --check` passes: the replay's acceptance figures;
#   3. `demo.sh --json` prints one JSON document on stdout and nothing else.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/private-mount-namespace.sh
. scripts/lib/private-mount-namespace.sh
exitguard_in_private_mount_namespace "$0"

libdir=/usr/lib/x86_64-linux-gnu
if command -v dpkg-architecture >/dev/null 2>&1; then
  libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
fi
exitguard_hide_dir /usr/include/catch2 /usr/lib/cmake/Catch2 /usr/include/prometheus "$libdir/cmake/prometheus-cpp"
if [ -e /usr/include/catch2/catch.hpp ] || [ -e /usr/include/prometheus/registry.h ]; then
  echo "FAIL: Catch2 or prometheus-cpp is still visible" >&2
  exit 1
fi
echo "ok   Catch2 and prometheus-cpp hidden (headers, CMake packages)"

rm -rf build/demo
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

./scripts/demo.sh --check >"$work/check.txt" 2>"$work/build.txt" || {
  tail -n 40 "$work/build.txt" >&2
  cat "$work/check.txt" >&2
  echo "FAIL: demo.sh --check" >&2
  exit 1
}
if ! grep -q "^Catch2_DIR:PATH=Catch2_DIR-NOTFOUND" build/demo/CMakeCache.txt; then
  grep -n "Catch2_DIR" build/demo/CMakeCache.txt >&2 || true
  echo "FAIL: the demo's configure found a Catch2" >&2
  exit 1
fi
echo "ok   the demo preset configured without Catch2"
tail -n 1 "$work/check.txt"
echo "ok   demo.sh --check"

./scripts/demo.sh --json 2>/dev/null >"$work/demo.json"
python3 -m json.tool "$work/demo.json" >/dev/null || {
  head -c 400 "$work/demo.json" >&2
  echo "FAIL: demo.sh --json is not one JSON document" >&2
  exit 1
}
echo "ok   demo.sh --json is one JSON document ($(wc -c <"$work/demo.json") bytes)"
