#!/usr/bin/env bash
# Builds exitguard's libFuzzer harnesses (the `fuzz` preset: clang-14, ASan+UBSan)
# and runs each fuzz/<name>_fuzzer for the given number of seconds, on a copy of
# its checked-in seed corpus fuzz/corpus/<name>/ (in build/fuzz/corpus-work/<name>,
# so the repository stays clean) with fuzz/<name>.dict if there is one.
#
#   scripts/fuzz.sh [seconds]            # default 60 seconds per fuzzer
#   EXITGUARD_FUZZ_PARALLEL=1 scripts/fuzz.sh   # fuzzers run 2 at a time by default
#
# Prints each fuzzer's time, executions and corpus growth; fails if any fuzzer
# crashed (an ASan/UBSan report, a failed check, a timeout or an out-of-memory),
# after printing the end of its log and where libFuzzer saved the input:
# build/fuzz/artifacts/<name>/crash-* (replay: build/fuzz/fuzz/<name>_fuzzer FILE).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [seconds]   (a positive whole number; default 60)" >&2
  exit 2
fi
parallel=${EXITGUARD_FUZZ_PARALLEL:-2}

BUILD=$ROOT/build/fuzz
WORK=$BUILD/corpus-work
ARTIFACTS=$BUILD/artifacts
LOGS=$BUILD/logs

build_start=$(date +%s)
cmake --preset fuzz
cmake --build --preset fuzz
build_seconds=$(( $(date +%s) - build_start ))

# Symbolised stack traces in reports.
for s in llvm-symbolizer-14 llvm-symbolizer; do
  if command -v "$s" >/dev/null 2>&1; then
    export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v "$s")}
    break
  fi
done
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

names=()
for source in fuzz/*_fuzzer.cpp; do
  [ -e "$source" ] || continue
  target=$(basename "$source" .cpp)
  names+=("${target%_fuzzer}")
done
if [ "${#names[@]}" -eq 0 ]; then
  echo "fuzz: no fuzz/*_fuzzer.cpp" >&2
  exit 1
fi

# run_one <name>: one fuzzer, its log in $LOGS/<name>.log, its result (exit code
# and seconds) in $LOGS/<name>.result.
run_one() {
  local name=$1
  local bin=$BUILD/fuzz/${name}_fuzzer
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
              -artifact_prefix="$ARTIFACTS/$name/")
  [ -f "fuzz/$name.dict" ] && args+=(-dict="fuzz/$name.dict")
  local start rc=0 ms
  start=$(date +%s%N)
  "$bin" "${args[@]}" "$WORK/$name" >"$LOGS/$name.log" 2>&1 || rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "$rc $((ms / 1000)).$(printf '%03d' $((ms % 1000)))" >"$LOGS/$name.result"
}

rm -rf "$WORK" "$LOGS"
mkdir -p "$WORK" "$LOGS"
for name in "${names[@]}"; do
  if [ ! -x "$BUILD/fuzz/${name}_fuzzer" ]; then
    echo "fuzz: $BUILD/fuzz/${name}_fuzzer was not built" >&2
    exit 1
  fi
  mkdir -p "$WORK/$name" "$ARTIFACTS/$name"
  cp -a "fuzz/corpus/$name/." "$WORK/$name/"
done

echo "fuzz: ${#names[@]} fuzzer(s), ${seconds} s each, $parallel at a time (build: ${build_seconds} s)"
for name in "${names[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  echo "fuzz: $name: running"
  run_one "$name" &
done
wait

failed=()
for name in "${names[@]}"; do
  read -r rc elapsed <"$LOGS/$name.result"
  log=$LOGS/$name.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  seeds=$(find "fuzz/corpus/$name" -type f | wc -l)
  inputs=$(find "$WORK/$name" -type f | wc -l)
  printf 'fuzz: %-20s %6.1f s  %10s execs  %8s/s  corpus %s -> %s  %s\n' \
    "$name" "$elapsed" "${execs:-?}" "${rate:-?}" "$seeds" "$inputs" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED (exit $rc)")"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    echo "---- end of $log ----" >&2
    tail -60 "$log" >&2
    echo "---- saved inputs: ----" >&2
    ls -1 "$ARTIFACTS/$name" >&2 || true
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (reproduce: build/fuzz/fuzz/<name>_fuzzer build/fuzz/artifacts/<name>/crash-...)" >&2
  exit 1
fi
echo "fuzz: ${#names[@]} passed, 0 failed"
