#!/usr/bin/env bash
# Build and run the benchmarks (bench/exit_path_bench.cpp) in a Release build of their own.
#
#   scripts/bench.sh [benchmark flags...]
#   scripts/bench.sh --benchmark_repetitions=5            # the summary takes the median
#   scripts/bench.sh --benchmark_filter='floor|happy'     # some rows only
#
# Runs in about half a minute (--benchmark_min_time=0.2 s per row; a later flag wins).
# The build goes to build/bench (EXITGUARD_BENCH_BUILD_DIR), with EXITGUARD_BUILD_BENCH=ON
# and without tests or examples; build/release is left alone. Timings never gate CI.
set -euo pipefail

BUILD_DIR="${EXITGUARD_BENCH_BUILD_DIR:-build/bench}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/setup-deps.sh libbenchmark-dev
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DEXITGUARD_BUILD_BENCH=ON \
  -DEXITGUARD_BUILD_TESTS=OFF -DEXITGUARD_BUILD_EXAMPLES=OFF
cmake --build "$BUILD_DIR" --target exit_path_bench -j 2
exec "$BUILD_DIR/bench/exit_path_bench" --benchmark_min_time=0.2 "$@"
