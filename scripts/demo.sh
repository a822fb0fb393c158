#!/usr/bin/env bash
# Build and run the exitguard demo (an example program) in the release build.
#
#   scripts/demo.sh [args passed to the demo...]
#   EXITGUARD_DEMO_TARGET=<example> scripts/demo.sh
set -euo pipefail

DEMO_TARGET="${EXITGUARD_DEMO_TARGET:-bug003_replay}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The build's output goes to stderr: stdout is the replay's alone (--json stays JSON).
{
  ./scripts/setup-deps.sh
  cmake --preset release
  cmake --build --preset release --target "$DEMO_TARGET"
} >&2
exec "./build/release/examples/$DEMO_TARGET" "$@"
