#!/usr/bin/env bash
# Build and run the exitguard demo (an example program): the `demo` preset (Release,
# build/demo) builds the library's examples without the tests or the optional
# components, and setup-deps.sh --demo installs only what that needs.
#
#   scripts/demo.sh [args passed to the demo...]
#   EXITGUARD_DEMO_TARGET=<example> scripts/demo.sh
set -euo pipefail

DEMO_TARGET="${EXITGUARD_DEMO_TARGET:-bug003_replay}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The build's output goes to stderr: stdout is the replay's alone (--json stays JSON).
{
  ./scripts/setup-deps.sh --demo
  cmake --preset demo
  cmake --build --preset demo --target "$DEMO_TARGET"
} >&2
exec "./build/demo/examples/$DEMO_TARGET" "$@"
