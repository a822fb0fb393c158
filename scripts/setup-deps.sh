#!/usr/bin/env bash
# Install exitguard's build/test dependencies from Debian apt (idempotent).
#
#   scripts/setup-deps.sh [extra-package...]   # everything the tests need
#   scripts/setup-deps.sh --demo               # only what the demo needs (scripts/demo.sh)
#
# Checks each package with dpkg and installs only the missing ones (via sudo when not
# root), from the current package lists; `apt-get update` runs only if that fails.
set -euo pipefail

# The demo (the `demo` preset: no tests, no optional components) needs only these.
demo_packages=(g++ cmake make libboost1.81-dev libspdlog-dev)
if [ "${1:-}" = "--demo" ]; then
  shift
  packages=("${demo_packages[@]}" "$@")
else
packages=(
  g++
  cmake
  make
  libboost1.81-dev
  libspdlog-dev
  libboost-json1.81-dev  # the solana component (Boost.JSON is compiled)
  libssl-dev             # the solana component (HTTPS)
  libsodium-dev          # the solana tests sign real transactions (ed25519)
  pkg-config             # finds libsodium
  catch2
  prometheus-cpp-dev
  prometheus          # promtool: scripts/check-observability.sh
  curl                # scraping the metrics exporter
  nodejs              # scripts/check-dashboard.js
  clang-14            # the fuzz preset (libFuzzer): scripts/fuzz.sh
  libclang-rt-14-dev  # clang's sanitizer and libFuzzer runtimes
  llvm-14             # llvm-symbolizer: symbolised fuzzer/sanitizer reports
  "$@"
)
fi

is_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for pkg in "${packages[@]}"; do
  if ! is_installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup-deps: missing: ${missing[*]}"

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup-deps: not root and sudo is not available; install as root:" >&2
    echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# `apt-get update` only when needed: install from the current package lists first (CI
# has just updated them), and update once and retry only if that fails.
install_missing() {
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}
if ! install_missing; then
  echo "setup-deps: installing from the current package lists failed; apt-get update, then again"
  "${as_root[@]}" apt-get update
  install_missing
fi
