#!/usr/bin/env bash
# Proves that a consumer that does not ask for exitguard's `prometheus` component
# configures, builds and runs on a machine without prometheus-cpp, and that one that
# asks for it is refused there with a clear message.
#
#   tests/consumers/prometheus/check-core-without-prometheus-cpp.sh STAGE BUILD_ROOT
#
#   STAGE       an installed exitguard (cmake --install build/release --prefix STAGE),
#               built with the prometheus component
#   BUILD_ROOT  where to put the consumers' build trees (wiped first)
#
# prometheus-cpp stays installed on the machine; it is hidden in a private mount
# namespace that only this script's children see: its CMake package directory and
# its headers become empty tmpfs, its libraries /dev/null. Needs `unshare` with mount
# namespaces (root, or unprivileged user namespaces).
#
# Checks, in that namespace:
#   1. tests/consumers/installed (find_package(exitguard 0.1 REQUIRED)) configures,
#      builds and runs, and its CMakeCache.txt has no prometheus-cpp_DIR: nothing
#      even looked for prometheus-cpp;
#   2. control: tests/consumers/prometheus (COMPONENTS prometheus) fails to
#      configure with exitguard's "needs prometheus-cpp" message — the hiding works.
# And outside it: exitguard-targets.cmake (the core's export set) never mentions
# prometheus.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 STAGE BUILD_ROOT" >&2
  exit 2
fi
STAGE=$(cd "$1" && pwd)
mkdir -p "$2"
BUILD_ROOT=$(cd "$2" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

# --- outside: the installed package files; then re-run in a private namespace ----
if [ -z "${EXITGUARD_IN_NAMESPACE:-}" ]; then
  CMAKEDIR="$STAGE/share/cmake/exitguard"
  if [ ! -f "$CMAKEDIR/exitguard-prometheus-targets.cmake" ]; then
    echo "FAIL: $CMAKEDIR has no exitguard-prometheus-targets.cmake (component not installed)" >&2
    exit 1
  fi
  if grep -n -i prometheus "$CMAKEDIR/exitguard-targets.cmake"; then
    echo "FAIL: the core export set mentions prometheus" >&2
    exit 1
  fi
  echo "ok   exitguard-targets.cmake does not mention prometheus"
fi
# shellcheck source=../../../scripts/lib/private-mount-namespace.sh
. "$ROOT/scripts/lib/private-mount-namespace.sh"
exitguard_in_private_mount_namespace "$0" "$STAGE" "$BUILD_ROOT"

# --- in the private mount namespace ------------------------------------------
libdir=/usr/lib/x86_64-linux-gnu
if command -v dpkg-architecture >/dev/null 2>&1; then
  libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
fi
exitguard_hide_dir "$libdir/cmake/prometheus-cpp" /usr/include/prometheus
for f in "$libdir"/libprometheus-cpp-*; do
  if [ -e "$f" ]; then mount --bind /dev/null "$f"; fi
done
if [ -e /usr/include/prometheus/registry.h ] || [ -e "$libdir/cmake/prometheus-cpp/prometheus-cpp-config.cmake" ]; then
  echo "FAIL: prometheus-cpp is still visible" >&2
  exit 1
fi
echo "ok   prometheus-cpp hidden (CMake package, headers, libraries)"

core="$BUILD_ROOT/consumer-core-hidden-deps"
rm -rf "$core"
cmake -S "$ROOT/tests/consumers/installed" -B "$core" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$STAGE"
cmake --build "$core" -j 2
"$core/consumer_installed"
if grep -n "prometheus-cpp" "$core/CMakeCache.txt"; then
  echo "FAIL: configuring the core consumer looked for prometheus-cpp" >&2
  exit 1
fi
echo "ok   core consumer configured, built and ran without prometheus-cpp; prometheus-cpp never looked for"

control="$BUILD_ROOT/consumer-component-hidden-deps"
rm -rf "$control"
if cmake -S "$ROOT/tests/consumers/prometheus" -B "$control" -DCMAKE_PREFIX_PATH="$STAGE" >"$control.log" 2>&1; then
  echo "FAIL: the prometheus consumer configured although prometheus-cpp is hidden" >&2
  exit 1
fi
grep -q "needs prometheus-cpp, which was not found" "$control.log" || {
  echo "FAIL: the prometheus consumer failed, but not with exitguard's message:" >&2
  cat "$control.log" >&2
  exit 1
}
echo "ok   control: COMPONENTS prometheus is refused without prometheus-cpp (\"needs prometheus-cpp, which was not found\")"
