#!/usr/bin/env bash
# Full exitguard check: release workflow (configure, build, ctest), the
# observability checks (alert rules, dashboard, the metrics exporter's scrape),
# the sanitizer workflow, then install + the two consumer projects.
#
#   scripts/test.sh                      # everything
#   EXITGUARD_SKIP_ASAN=1 scripts/test.sh   # skip the ASan/UBSan pass
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

STAGE=$ROOT/build/stage
current_step=""
passed=()
skipped=()

section() { printf '\n== %s ==\n' "$1"; }

# run_step <name> <function>: header, run, record.
run_step() {
  current_step=$1
  section "$1"
  "$2"
  passed+=("$1")
  current_step=""
}

skip_step() {
  section "$1"
  echo "skipped ($2)"
  skipped+=("$1")
}

on_exit() {
  local rc=$?
  echo
  if [ "$rc" -eq 0 ]; then
    echo "== summary: OK: ${#passed[@]} steps passed (${passed[*]})${skipped:+; skipped: ${skipped[*]}} =="
  else
    echo "== summary: FAILED in step '${current_step:-?}' (exit $rc); passed before it: ${passed[*]:-none} ==" >&2
  fi
}
trap on_exit EXIT

# --- steps -------------------------------------------------------------------
step_deps() {
  "$ROOT/scripts/setup-deps.sh"
}

step_release() {
  cmake --workflow --preset release
}

# promtool check/test rules, the dashboard's metric names, and (once it exists)
# the metrics exporter's /metrics through promtool check metrics.
step_observability() {
  "$ROOT/scripts/check-observability.sh"
}

step_asan() {
  cmake --workflow --preset asan
}

step_install() {
  rm -rf "$STAGE"
  cmake --install build/release --prefix "$STAGE"
}

step_consumer_installed() {
  cmake -S tests/consumers/installed -B build/consumer-installed \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$STAGE"
  cmake --build build/consumer-installed -j 2
  ./build/consumer-installed/consumer_installed
}

step_consumer_subdirectory() {
  cmake -S tests/consumers/subdirectory -B build/consumer-subdirectory \
        -DCMAKE_BUILD_TYPE=Release -DEXITGUARD_SOURCE_DIR="$ROOT"
  cmake --build build/consumer-subdirectory -j 2
  ./build/consumer-subdirectory/consumer_subdirectory
}

step_consumer_prometheus() {
  cmake -S tests/consumers/prometheus -B build/consumer-prometheus \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$STAGE"
  cmake --build build/consumer-prometheus -j 2
  ./build/consumer-prometheus/consumer_prometheus
}

# A consumer that does not ask for the prometheus component builds with
# prometheus-cpp made invisible (a private mount namespace hides it).
step_consumer_without_prometheus() {
  tests/consumers/prometheus/check-core-without-prometheus-cpp.sh "$STAGE" build/consumers-hidden-deps
}

# --- main --------------------------------------------------------------------
run_step deps step_deps
run_step release step_release
run_step observability step_observability
if [ "${EXITGUARD_SKIP_ASAN:-0}" = "1" ]; then
  skip_step asan "EXITGUARD_SKIP_ASAN=1"
else
  run_step asan step_asan
fi
run_step install step_install
run_step consumer-installed step_consumer_installed
run_step consumer-subdirectory step_consumer_subdirectory
run_step consumer-prometheus step_consumer_prometheus
run_step consumer-without-prometheus step_consumer_without_prometheus
