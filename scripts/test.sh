#!/usr/bin/env bash
# Full exitguard check, each thing once: the Release build (header self-containment,
# examples, docs snippets, compile-fail tests, the tests marked `optimized`), the
# observability checks (alert rules, dashboard, the metrics exporter's scrape), one
# ASan+UBSan build of the tests marked `sanitized`, TSan on the threaded tests, the
# fuzzers, then install + the consumer projects (installed, add_subdirectory,
# FetchContent, prometheus, solana, core without prometheus-cpp), and the README's
# demo command with the development packages hidden. The summary gives each step's
# wall time.
#
#   scripts/test.sh                         # everything
#   EXITGUARD_SKIP_ASAN=1 scripts/test.sh   # skip the ASan/UBSan pass
#   EXITGUARD_SKIP_TSAN=1 scripts/test.sh   # skip the ThreadSanitizer pass
#   EXITGUARD_SKIP_FUZZ=1 scripts/test.sh   # skip the fuzzers
#   EXITGUARD_FUZZ_SECONDS=10 scripts/test.sh   # seconds per fuzzer (default 20)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# A compiler cache where it helps: on a machine that has ccache (a developer's, re-running
# this from clean clones), every CMake build below uses it. CI starts on a fresh machine
# with a cold cache, where it would only cost its installation, so nothing installs it.
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null 2>&1; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  echo "test.sh: compiling through ccache ($(command -v ccache))"
fi

STAGE=$ROOT/build/stage
current_step=""
current_start=0
passed=()
skipped=()
step_times=()   # "name seconds", in order
script_start=$(date +%s)

section() { printf '\n== %s ==\n' "$1"; }

# run_step <name> <function>: header, run, record (with its wall time).
run_step() {
  current_step=$1
  current_start=$(date +%s)
  section "$1"
  "$2"
  local took=$(( $(date +%s) - current_start ))
  echo "-- $1: ${took} s"
  passed+=("$1")
  step_times+=("$1 $took")
  current_step=""
}

skip_step() {
  section "$1"
  echo "skipped ($2)"
  skipped+=("$1")
}

print_times() {
  local entry
  for entry in "${step_times[@]}"; do
    printf '   %-28s %5s s\n' "${entry% *}" "${entry##* }"
  done
  if [ -n "$current_step" ]; then
    printf '   %-28s %5s s (failed)\n' "$current_step" "$(( $(date +%s) - current_start ))"
  fi
  printf '   %-28s %5s s\n' "total" "$(( $(date +%s) - script_start ))"
}

on_exit() {
  local rc=$?
  echo
  if [ "$rc" -eq 0 ]; then
    echo "== summary: OK: ${#passed[@]} steps passed (${passed[*]})${skipped:+; skipped: ${skipped[*]}} =="
    print_times
  else
    echo "== summary: FAILED in step '${current_step:-?}' (exit $rc); passed before it: ${passed[*]:-none} ==" >&2
    print_times >&2
  fi
}
trap on_exit EXIT

# --- steps -------------------------------------------------------------------
step_deps() {
  "$ROOT/scripts/setup-deps.sh"
}

# The LiteSVM JSON-RPC server the solana tests run against (npm ci, from the lock).
step_solana_localnet() {
  "$ROOT/scripts/setup-solana-localnet.sh"
}

# The tests marked `// exitguard-test-set: sanitized` run in the asan step instead.
# The examples and docs programs at -O1 (EXITGUARD_EXAMPLES_CXX_FLAGS): they are
# checked for building cleanly and running right; -O3 would add a third to this build.
step_release() {
  cmake --preset release -DEXITGUARD_TEST_SET=optimized -DEXITGUARD_EXAMPLES_CXX_FLAGS=-O1
  cmake --build --preset release
  ctest --preset release
}

# promtool check/test rules, the dashboard's metric names, and (once it exists)
# the metrics exporter's /metrics through promtool check metrics.
step_observability() {
  "$ROOT/scripts/check-observability.sh"
}

step_asan() {
  cmake --workflow --preset asan
}

# ThreadSanitizer on tests/*_threads_test.cpp only (the preset builds nothing else).
step_tsan() {
  cmake --workflow --preset tsan
}

# Every fuzz/<name>_fuzzer for EXITGUARD_FUZZ_SECONDS (20) seconds on a copy of its corpus
# (scripts/fuzz.sh alone defaults to 60: CI keeps 20 inside its time budget).
step_fuzz() {
  "$ROOT/scripts/fuzz.sh" "${EXITGUARD_FUZZ_SECONDS:-20}"
}

# The README's install recipe, into build/stage (the consumers below use it).
step_install() {
  rm -rf "$STAGE" build/install
  cmake -S . -B build/install -DEXITGUARD_BUILD_TESTS=OFF -DEXITGUARD_BUILD_EXAMPLES=OFF
  cmake --install build/install --prefix "$STAGE"
}

step_consumer_subdirectory() {
  cmake -S tests/consumers/subdirectory -B build/consumer-subdirectory \
        -DCMAKE_BUILD_TYPE=Release -DEXITGUARD_SOURCE_DIR="$ROOT"
  cmake --build build/consumer-subdirectory -j 2
  ./build/consumer-subdirectory/consumer_subdirectory
}

# The README's FetchContent recipe, fetching this clone's HEAD (CI has no internet).
step_consumer_fetchcontent() {
  rm -rf build/consumer-fetchcontent
  cmake -S tests/consumers/fetchcontent -B build/consumer-fetchcontent \
        -DCMAKE_BUILD_TYPE=Release -DEXITGUARD_GIT_REPOSITORY="$ROOT" \
        -DEXITGUARD_GIT_TAG="$(git -C "$ROOT" rev-parse HEAD)"
  cmake --build build/consumer-fetchcontent -j 2
  ./build/consumer-fetchcontent/consumer_fetchcontent
}

step_consumer_prometheus() {
  cmake -S tests/consumers/prometheus -B build/consumer-prometheus \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$STAGE"
  cmake --build build/consumer-prometheus -j 2
  ./build/consumer-prometheus/consumer_prometheus
}

step_consumer_solana() {
  cmake -S tests/consumers/solana -B build/consumer-solana \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$STAGE"
  cmake --build build/consumer-solana -j 2
  ./build/consumer-solana/consumer_solana
}

# The installed core consumer (find_package(exitguard)), built and run with
# prometheus-cpp made invisible (a private mount namespace hides it): it needs nothing
# more than the core.
step_consumer_without_prometheus() {
  tests/consumers/prometheus/check-core-without-prometheus-cpp.sh "$STAGE" build/consumers-hidden-deps
}

# The README's demo command on what `setup-deps.sh --demo` installs: Catch2 and
# prometheus-cpp hidden, --check and --json (scripts/check-demo-fresh.sh).
step_demo() {
  "$ROOT/scripts/check-demo-fresh.sh"
}

# --- main --------------------------------------------------------------------
run_step deps step_deps
run_step solana-localnet step_solana_localnet
run_step release step_release
run_step observability step_observability
if [ "${EXITGUARD_SKIP_ASAN:-0}" = "1" ]; then
  skip_step asan "EXITGUARD_SKIP_ASAN=1"
else
  run_step asan step_asan
fi
if [ "${EXITGUARD_SKIP_TSAN:-0}" = "1" ]; then
  skip_step tsan "EXITGUARD_SKIP_TSAN=1"
else
  run_step tsan step_tsan
fi
if [ "${EXITGUARD_SKIP_FUZZ:-0}" = "1" ]; then
  skip_step fuzz "EXITGUARD_SKIP_FUZZ=1"
else
  run_step fuzz step_fuzz
fi
run_step install step_install
run_step consumer-subdirectory step_consumer_subdirectory
run_step consumer-fetchcontent step_consumer_fetchcontent
run_step consumer-prometheus step_consumer_prometheus
run_step consumer-solana step_consumer_solana
run_step consumer-without-prometheus step_consumer_without_prometheus
run_step demo step_demo
