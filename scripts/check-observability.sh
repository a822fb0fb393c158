#!/usr/bin/env bash
# Checks docs/observability/ (alert rules, their unit tests, the Prometheus config, the
# Grafana dashboard) and the metrics exporter's /metrics against them.
#
#   scripts/check-observability.sh
#
# 1. promtool check rules / test rules / check config on docs/observability/;
# 2. scripts/check-dashboard.js: the dashboard is valid JSON, its PromQL parses, and it
#    and the rules use only the metrics listed in docs/observability/metrics.txt;
# 3. the exporter's /metrics: the scrape its ctest run kept (metrics_exporter --check
#    --scrape-out build/release/observability/metrics.txt), when it is newer than the
#    binary, gets `promtool check metrics` and the name check; otherwise,
#    when build/release/examples/metrics_exporter exists: start it on 127.0.0.1 (a free
#    port from 19464 on) for 20 s, wait until it answers and its scenarios have produced
#    data, scrape /metrics, `promtool check metrics` the scrape, and run the name check
#    against it. The exporter is always stopped on exit. Missing binary: a failure once
#    examples/metrics_exporter.cpp is in the tree (build it: `cmake --workflow --preset
#    release`), skipped before.
#
# Environment: EXITGUARD_EXPORTER (binary), EXITGUARD_SCRAPE_IN (the kept scrape),
# EXITGUARD_EXPORTER_PORT (first port tried),
# EXITGUARD_SCRAPE_OUT (where the scrape is kept, default build/observability/metrics.txt).
# Needs promtool, node and curl (scripts/setup-deps.sh installs them).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

OBS=docs/observability
EXPORTER=${EXITGUARD_EXPORTER:-build/release/examples/metrics_exporter}
EXPORTER_SOURCE=examples/metrics_exporter.cpp
FIRST_PORT=${EXITGUARD_EXPORTER_PORT:-19464}
SCRAPE=${EXITGUARD_SCRAPE_OUT:-build/observability/metrics.txt}
SCRAPE_IN=${EXITGUARD_SCRAPE_IN:-build/release/observability/metrics.txt}  # kept by ctest
EXPORTER_DURATION=20  # seconds the exporter runs by itself
READY_TRIES=40        # x 0.25 s: at most 10 s for /metrics to answer
DATA_MIN_WAIT=3       # seconds of scenarios at least, after it answers...
DATA_MAX_WAIT=10      # ...and at most, waiting for a finished exit

log() { printf 'check-observability: %s\n' "$*"; }
die() { printf 'check-observability: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
exporter_pid=""
stop_exporter() {
  if [ -n "$exporter_pid" ]; then
    kill "$exporter_pid" 2>/dev/null || true
    wait "$exporter_pid" 2>/dev/null || true
    exporter_pid=""
  fi
}
cleanup() {
  stop_exporter
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in promtool node curl; do
  command -v "$tool" >/dev/null 2>&1 \
    || die "$tool not found (scripts/setup-deps.sh installs it)"
done

# --- static checks -----------------------------------------------------------------
log "promtool check rules $OBS/alerts.yml"
promtool check rules --lint-fatal "$OBS/alerts.yml"

log "promtool test rules $OBS/alerts_test.yml"
promtool test rules "$OBS/alerts_test.yml"

log "promtool check config $OBS/prometheus.yml"
promtool check config "$OBS/prometheus.yml"

log "metric names in the dashboard and the rules (against $OBS/metrics.txt)"
node scripts/check-dashboard.js --require-promtool

# check_scrape FILE: promtool and the name check on a scrape of the exporter.
check_scrape() {
  log "promtool check metrics < $1"
  if ! promtool check metrics <"$1" >"$work/check-metrics.txt" 2>&1; then
    cat "$work/check-metrics.txt" >&2
    die "promtool check metrics rejected the exporter's /metrics ($1)"
  fi
  cat "$work/check-metrics.txt"
  log "metric names in the dashboard and the rules (against $1)"
  node scripts/check-dashboard.js --require-promtool "$1"
  log "OK"
}

# --- the exporter ------------------------------------------------------------------
# The ctest run of the exporter (--check --scrape-out) keeps the scrape it checked: when
# it is newer than the binary, that scrape is checked, and the exporter is not run again.
if [ -x "$EXPORTER" ] && [ -s "$SCRAPE_IN" ] && [ "$SCRAPE_IN" -nt "$EXPORTER" ]; then
  log "using the scrape the exporter's ctest run kept: $SCRAPE_IN ($(wc -l <"$SCRAPE_IN") lines)"
  check_scrape "$SCRAPE_IN"
  exit 0
fi
if [ ! -x "$EXPORTER" ]; then
  if [ -f "$EXPORTER_SOURCE" ]; then
    die "$EXPORTER_SOURCE is in the tree but $EXPORTER was not built (run: cmake --workflow --preset release)"
  fi
  log "exporter check skipped: $EXPORTER_SOURCE is not in the tree yet"
  exit 0
fi

# A free port on 127.0.0.1: nothing accepts a connection on it.
port=""
for candidate in $(seq "$FIRST_PORT" $((FIRST_PORT + 20))); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[ -n "$port" ] || die "no free port in $FIRST_PORT..$((FIRST_PORT + 20)) on 127.0.0.1"
url="http://127.0.0.1:$port/metrics"

exporter_log=$work/exporter.log
show_log() {
  echo "--- exporter output (last 40 lines) ---" >&2
  tail -n 40 "$exporter_log" >&2 || true
  echo "---" >&2
}

log "starting $EXPORTER --listen 127.0.0.1:$port --duration $EXPORTER_DURATION"
"$EXPORTER" --listen "127.0.0.1:$port" --duration "$EXPORTER_DURATION" >"$exporter_log" 2>&1 &
exporter_pid=$!

# exporter_alive: is our exporter still running?
exporter_alive() { kill -0 "$exporter_pid" 2>/dev/null; }
# scrape_to FILE: one GET of /metrics, fails on an HTTP error or after 2 s.
scrape_to() { curl -fsS --max-time 2 -o "$1" "$url"; }
# sum_of NAME FILE: the sum of a metric's samples in a scrape (0 when absent).
sum_of() {
  awk -v name="$1" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { printf "%d", sum }' "$2"
}

ready=""
for _ in $(seq "$READY_TRIES"); do
  if ! exporter_alive; then
    wait "$exporter_pid" && rc=0 || rc=$?
    exporter_pid=""
    show_log
    die "the exporter exited (status $rc) before serving $url"
  fi
  if scrape_to "$work/probe.txt" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.25
done
if [ -z "$ready" ]; then
  show_log
  die "$url did not answer within $((READY_TRIES / 4)) s"
fi
log "$url answers; letting the scenarios run (${DATA_MIN_WAIT}-${DATA_MAX_WAIT} s)"

# Scenarios run in real time: wait for at least one finished exit (so the histograms
# have observations), within bounds.
waited=0
sleep "$DATA_MIN_WAIT"
waited=$DATA_MIN_WAIT
while [ "$waited" -lt "$DATA_MAX_WAIT" ]; do
  scrape_to "$work/probe.txt" 2>/dev/null || break
  [ "$(sum_of exitguard_exits_finished_total "$work/probe.txt")" -gt 0 ] && break
  sleep 1
  waited=$((waited + 1))
done

mkdir -p "$(dirname "$SCRAPE")"
if ! scrape_to "$SCRAPE"; then
  show_log
  die "could not scrape $url (did the exporter stop early?)"
fi
log "scraped $url to $SCRAPE ($(wc -l <"$SCRAPE") lines): exits started $(sum_of exitguard_exits_attempted_total "$SCRAPE"), finished $(sum_of exitguard_exits_finished_total "$SCRAPE"), attempts $(sum_of exitguard_exit_attempts_total "$SCRAPE")"
if [ "$(sum_of exitguard_exits_attempted_total "$SCRAPE")" -eq 0 ]; then
  log "warning: no exit started yet: the scrape has no scenario data"
elif [ "$(sum_of exitguard_exits_finished_total "$SCRAPE")" -eq 0 ]; then
  log "warning: no exit finished within $waited s: histograms have no observations"
fi

# Stop the exporter now that we have the scrape; SIGTERM (or a clean exit of its own)
# is the only acceptable ending.
if exporter_alive; then
  kill "$exporter_pid" 2>/dev/null || true
fi
wait "$exporter_pid" && rc=0 || rc=$?
exporter_pid=""
case $rc in
  0 | 143) ;;
  *) show_log; die "the exporter ended with status $rc" ;;
esac
if ! grep -q "serving $url" "$exporter_log"; then
  log "warning: the exporter did not print \"serving $url\""
fi

check_scrape "$SCRAPE"
