// exitguard-test-set: sanitized
// Tests of exitguard/prometheus/metrics.hpp: the families and series it registers,
// their exact values after scripted exits run in virtual time (ManualClock +
// VirtualTimeDriver + MockVenue + AdaptiveExitExecutor with the adapter as its
// sink), read back through prometheus-cpp's TextSerializer as a scrape would; the
// state gauges, watch(), lifetimes, and concurrent use. No test sleeps.

// First include: proves the header compiles on its own.
#include <exitguard/prometheus/metrics.hpp>

#include "support/exit_fixture.hpp"

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/error.hpp>
#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/metrics.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/venue.hpp>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace exit_fixture;
using exitguard::AttemptOutcome;
using exitguard::BreakerState;
using exitguard::error;
using exitguard::OrderKind;
using exitguard::TradingState;
using Metrics = exitguard::prometheus::Metrics;
using Labels = std::map<std::string, std::string>;

// One scrape of a registry, parsed: series as printed ("name{k=\"v\",...}", labels
// in prometheus-cpp's order, which is by name) → value; and family → type.
struct Scrape {
  std::map<std::string, double> values;
  std::map<std::string, std::string> types;
  std::string text;

  // The value of a series that must exist.
  double at(const std::string& series) const {
    INFO("series " << series);
    const auto it = values.find(series);
    REQUIRE(it != values.end());
    return it->second;
  }
};

Scrape scrape(const prometheus::Registry& registry) {
  Scrape s;
  s.text = prometheus::TextSerializer().Serialize(registry.Collect());
  std::istringstream in(s.text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      INFO(line);
      REQUIRE(s.types.emplace(name, type).second);
      continue;
    }
    const auto space = line.rfind(' ');
    INFO(line);
    REQUIRE(space != std::string::npos);
    REQUIRE(s.values.emplace(line.substr(0, space), std::stod(line.substr(space + 1))).second);
  }
  return s;
}

std::string series(const std::string& name, const Labels& labels = {}) {
  if (labels.empty()) return name;
  std::string out = name + "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + v + "\"";
    first = false;
  }
  return out + "}";
}

const std::vector<std::string> kinds = {"limit", "market"};
const std::vector<std::string> attempt_outcomes = {"filled", "partially_filled", "rejected", "in_doubt", "cancelled"};
const std::vector<std::string> duration_les = {"0.1", "0.25", "0.5", "1",  "2",  "5",  "10",
                                               "15",  "20",   "25",  "30", "45", "60", "+Inf"};
const std::vector<std::string> slippage_les = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.02",
                                               "0.03",   "0.05",  "0.075",  "0.1",   "0.2",  "+Inf"};

// Expected values of the labelled attempt series; every combination not listed must be 0.
using StepKind = std::pair<int, std::string>;
using StepKindOutcome = std::tuple<int, std::string, std::string>;

void check_attempt_series(const Scrape& s, const std::map<StepKind, double>& started,
                          const std::map<StepKindOutcome, double>& finished, const std::map<int, double>& retries) {
  for (int step = 0; step < 8; ++step) {
    const std::string st = std::to_string(step);
    const auto r = retries.find(step);
    CHECK(s.at(series("exitguard_exit_retries_total", {{"step", st}})) == (r == retries.end() ? 0 : r->second));
    for (const auto& kind : kinds) {
      const auto a = started.find({step, kind});
      CHECK(s.at(series("exitguard_exit_attempts_started_total", {{"step", st}, {"kind", kind}})) ==
            (a == started.end() ? 0 : a->second));
      for (const auto& outcome : attempt_outcomes) {
        const auto f = finished.find({step, kind, outcome});
        CHECK(s.at(series("exitguard_exit_attempts_total", {{"step", st}, {"kind", kind}, {"outcome", outcome}})) ==
              (f == finished.end() ? 0 : f->second));
      }
    }
  }
}

// Cumulative bucket counts, in `les` order.
void check_histogram(const Scrape& s, const std::string& name, const std::vector<std::string>& les,
                     const std::vector<double>& cumulative, double count, double sum) {
  REQUIRE(les.size() == cumulative.size());
  for (std::size_t i = 0; i < les.size(); ++i) {
    INFO(name << " le=" << les[i]);
    CHECK(s.at(series(name + "_bucket", {{"le", les[i]}})) == cumulative[i]);
  }
  CHECK(s.at(name + "_count") == count);
  CHECK(s.at(name + "_sum") == Approx(sum).margin(1e-12));
}

void check_states(const Scrape& s, BreakerState breaker, TradingState trading) {
  for (const auto st : {BreakerState::closed, BreakerState::open, BreakerState::half_open}) {
    INFO("breaker state " << exitguard::to_string(st));
    CHECK(s.at(series("exitguard_circuit_breaker_state", {{"state", std::string(exitguard::to_string(st))}})) ==
          (st == breaker ? 1 : 0));
  }
  for (const auto st : {TradingState::running, TradingState::reduce_only, TradingState::halted}) {
    INFO("trading state " << exitguard::to_string(st));
    CHECK(s.at(series("exitguard_trading_state", {{"state", std::string(exitguard::to_string(st))}})) ==
          (st == trading ? 1 : 0));
  }
}

// 4 + 3 + 3 + 1 unlabelled/outcome/refusal exit series, 16 + 14 histogram series,
// 16 + 80 + 8 attempt series, 4 counters, 3 + 3 state gauges.
constexpr std::size_t series_count = 4 + 3 + 3 + 1 + 16 + 14 + 16 + 80 + 8 + 4 + 3 + 3;

const std::vector<std::string> refusal_reasons = {"circuit_open", "trading_halted", "invalid_request"};

}  // namespace

TEST_CASE("prometheus::Metrics is a MetricsSink that cannot be copied", "[prometheus]") {
  STATIC_REQUIRE(std::is_base_of_v<exitguard::MetricsSink, Metrics>);
  STATIC_REQUIRE(std::is_constructible_v<Metrics, prometheus::Registry&>);
  STATIC_REQUIRE(std::is_constructible_v<Metrics, std::shared_ptr<prometheus::Registry>>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<std::shared_ptr<prometheus::Registry>, Metrics>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<Metrics>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<Metrics>);
  // A step label for every step a valid ladder can have.
  STATIC_REQUIRE(Metrics::steps == exitguard::max_ladder_steps);

  CHECK(Metrics::duration_buckets() == std::vector<double>{0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 25, 30, 45, 60});
  CHECK(Metrics::slippage_buckets() ==
        std::vector<double>{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2});
}

TEST_CASE("prometheus::Metrics registers every family, with every series at 0 from the start", "[prometheus]") {
  prometheus::Registry registry;
  Metrics metrics(registry);
  const Scrape s = scrape(registry);

  CHECK(s.types == std::map<std::string, std::string>{
                       {"exitguard_exits_attempted_total", "counter"},
                       {"exitguard_exits_first_attempt_total", "counter"},
                       {"exitguard_exits_required_retry_total", "counter"},
                       {"exitguard_exits_deadline_exceeded_total", "counter"},
                       {"exitguard_exits_finished_total", "counter"},
                       {"exitguard_exits_refused_total", "counter"},
                       {"exitguard_exits_in_flight", "gauge"},
                       {"exitguard_exit_duration_seconds", "histogram"},
                       {"exitguard_exit_slippage_ratio", "histogram"},
                       {"exitguard_exit_attempts_started_total", "counter"},
                       {"exitguard_exit_attempts_total", "counter"},
                       {"exitguard_exit_retries_total", "counter"},
                       {"exitguard_exit_escalations_total", "counter"},
                       {"exitguard_exit_attempts_in_doubt_total", "counter"},
                       {"exitguard_exit_late_fills_total", "counter"},
                       {"exitguard_circuit_breaker_trips_total", "counter"},
                       {"exitguard_circuit_breaker_state", "gauge"},
                       {"exitguard_trading_state", "gauge"},
                   });
  CHECK(s.values.size() == series_count);
  for (const auto& [name, value] : s.values) {
    INFO(name);
    const bool current_state = name == R"(exitguard_circuit_breaker_state{state="closed"})" ||
                               name == R"(exitguard_trading_state{state="running"})";
    CHECK(value == (current_state ? 1 : 0));
  }
  // Spot checks of the label spelling the dashboards use.
  CHECK(s.at(R"(exitguard_exit_attempts_total{kind="market",outcome="partially_filled",step="7"})") == 0);
  CHECK(s.at(R"(exitguard_exit_attempts_started_total{kind="limit",step="0"})") == 0);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="cancelled"})") == 0);
  for (const auto& reason : refusal_reasons)
    CHECK(s.at(series("exitguard_exits_refused_total", {{"reason", reason}})) == 0);
  CHECK(s.at(R"(exitguard_exit_duration_seconds_bucket{le="+Inf"})") == 0);
  CHECK(s.at(R"(exitguard_exit_slippage_ratio_bucket{le="0.0005"})") == 0);
}

TEST_CASE("prometheus::Metrics after a first-attempt fill, a lost confirmation and an outage pair", "[prometheus]") {
  auto registry = std::make_shared<prometheus::Registry>();
  Metrics metrics(registry);
  ExitFixture f({}, &metrics);
  metrics.watch(f.halt);

  // A: filled by its first attempt after 2 s, 20 bps worse than the signal.
  f.venue.script_for("A", 1, fill(2s, 1.0, 20));
  auto [ec_a, a] = f.run(f.open("A"));
  REQUIRE_FALSE(ec_a);
  REQUIRE(a.exit_time == 2s);

  // B: the first attempt is lost (in doubt at 8 s), a retry after a 1 s backoff fills
  // 2 s later, 30 bps worse: 11 s, 2 attempts.
  f.venue.script_for("B", 1, lost());
  f.venue.script_for("B", 2, fill(2s, 1.0, 30));
  auto [ec_b, b] = f.run(f.open("B"));
  REQUIRE_FALSE(ec_b);
  REQUIRE(b.exit_time == 11s);
  REQUIRE(b.attempts == 2);

  // C, D: the venue answers nothing for 45 s; both exits escalate and hit the 30 s
  // deadline; the second failure trips the breaker, which halts trading.
  f.venue.add_outage(Clock::now(), Clock::now() + 45s);
  auto c = f.start(f.open("C"));
  auto d = f.start(f.open("D"));
  f.driver.poll();  // both exits start: first attempts sent, nothing answered
  {
    const Scrape mid = scrape(*registry);
    CHECK(mid.at("exitguard_exits_in_flight") == 2);
    CHECK(mid.at("exitguard_exits_attempted_total") == 4);
  }
  auto [ec_c, rc] = f.finish(c);
  auto [ec_d, rd] = f.finish(d);
  REQUIRE(ec_c == error::deadline_exceeded);
  REQUIRE(ec_d == error::deadline_exceeded);
  REQUIRE(rc.exit_time == 30s);
  REQUIRE(rd.exit_time == 30s);
  REQUIRE(f.breaker.trips() == 1);
  REQUIRE(f.halt.state() == TradingState::halted);

  const Scrape s = scrape(*registry);
  INFO(s.text);
  CHECK(s.values.size() == series_count);  // no series beyond those created up front

  CHECK(s.at("exitguard_exits_attempted_total") == 4);
  CHECK(s.at("exitguard_exits_first_attempt_total") == 1);
  CHECK(s.at("exitguard_exits_required_retry_total") == 1);
  CHECK(s.at("exitguard_exits_deadline_exceeded_total") == 2);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="closed"})") == 2);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="failed"})") == 2);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="cancelled"})") == 0);
  CHECK(s.at("exitguard_exits_in_flight") == 0);

  // Durations 2, 11, 30, 30.
  check_histogram(s, "exitguard_exit_duration_seconds", duration_les,
                  {0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 4, 4, 4, 4}, 4, 2 + 11 + 30 + 30);
  // Slippage 0.002 (A) and 0.003 (B); C and D filled nothing and are not observed.
  check_histogram(s, "exitguard_exit_slippage_ratio", slippage_les, {0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2}, 2,
                  0.002 + 0.003);

  // Each outage exit: 2 limit attempts (1 retry), escalation, 3 market attempts (2
  // retries), every one in doubt.
  check_attempt_series(s, {{{0, "limit"}, 1 + 2 + 2 + 2}, {{1, "market"}, 3 + 3}},
                       {{{0, "limit", "filled"}, 2},
                        {{0, "limit", "in_doubt"}, 1 + 2 + 2},
                        {{1, "market", "in_doubt"}, 6}},
                       {{0, 1 + 1 + 1}, {1, 2 + 2}});
  CHECK(s.at("exitguard_exit_escalations_total") == 2);
  CHECK(s.at("exitguard_exit_attempts_in_doubt_total") == 1 + 5 + 5);
  CHECK(s.at("exitguard_exit_late_fills_total") == 0);
  CHECK(s.at("exitguard_circuit_breaker_trips_total") == 1);
  check_states(s, BreakerState::open, TradingState::halted);

  // The operator re-arms the breaker and reports it, then resumes trading (watched).
  f.breaker.reset("operator", "venue back");
  metrics.breaker_state(f.breaker.state());
  f.halt.resume("operator", "venue back");
  check_states(scrape(*registry), BreakerState::closed, TradingState::running);
}

TEST_CASE("prometheus::Metrics after a late fill, a partial fill, an escalation, a price improvement, a rejection, "
          "a refusal and a cancellation",
          "[prometheus]") {
  prometheus::Registry registry;
  Metrics metrics(registry);
  ExitFixture f({}, &metrics);
  metrics.watch(f.halt);

  // E: attempt 1 lands late at 12 s while attempt 2 is pending: closed by a late fill.
  f.venue.script_for("E", 1, land_late(12s));
  f.venue.script_for("E", 2, fill(5s));
  auto [ec_e, e] = f.run(f.open("E"));
  REQUIRE_FALSE(ec_e);
  REQUIRE(e.exit_time == 12s);
  // Attempt 2's transaction lands afterwards, on a used key: no second late fill.
  CHECK(f.driver.run_for(60s));

  // F: 40 % fills, then the remainder at once: 4 s, 2 attempts, no retry.
  f.venue.script_for("F", 1, fill(2s, 0.4));
  f.venue.script_for("F", 2, fill(2s));
  auto [ec_f, rf] = f.run(f.open("F"));
  REQUIRE_FALSE(ec_f);
  REQUIRE(rf.exit_time == 4s);

  // G: slippage_exceeded escalates at once; the market order fills 40 bps worse: 3 s.
  f.venue.script_for("G", 1, reject(error::slippage_exceeded, 1s));
  f.venue.script_for("G", 2, fill(2s, 1.0, 40));
  auto [ec_g, g] = f.run(f.open("G"));
  REQUIRE_FALSE(ec_g);
  REQUIRE(g.escalated);
  REQUIRE(g.exit_time == 3s);

  // H: signal at 94, filled at 95: price improvement, observed as 0 slippage.
  f.venue.script_for("H", 1, fill(2s));
  auto [ec_h, h] = f.run(f.open("H", 1000, 94.0));
  REQUIRE_FALSE(ec_h);
  REQUIRE(h.realized_slippage_bps < 0);

  // J: a permanent rejection: failed after 1 s, one attempt (the breaker counts 1).
  f.venue.script_for("J", 1, reject(error::insufficient_funds, 1s));
  auto [ec_j, j] = f.run(f.open("J"));
  REQUIRE(ec_j == error::insufficient_funds);

  // K: an operator halt; the exit is refused with nothing sent; trading resumes.
  f.halt.halt("operator", "maintenance");
  check_states(scrape(registry), BreakerState::closed, TradingState::halted);
  auto [ec_k, k] = f.run(f.open("K"));
  REQUIRE(ec_k == error::trading_halted);
  REQUIRE(k.attempts == 0);
  f.halt.resume("operator", "maintenance over");

  // I: cancelled by its caller 1 s into its first attempt.
  f.venue.script_for("I", 1, fill(5s));
  asio::cancellation_signal cancel;
  auto i = f.start(f.open("I"), cancel.slot());
  f.driver.advance(1s);
  cancel.emit(asio::cancellation_type::terminal);
  auto [ec_i, ri] = f.finish(i);
  REQUIRE(ec_i == asio::error::operation_aborted);
  CHECK(f.driver.run_for(60s));

  const Scrape s = scrape(registry);
  INFO(s.text);
  CHECK(s.values.size() == series_count);

  CHECK(s.at("exitguard_exits_attempted_total") == 7);
  CHECK(s.at("exitguard_exits_first_attempt_total") == 1);   // H
  CHECK(s.at("exitguard_exits_required_retry_total") == 3);  // E, F, G
  CHECK(s.at("exitguard_exits_deadline_exceeded_total") == 0);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="closed"})") == 4);     // E, F, G, H
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="failed"})") == 2);     // J, K
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="cancelled"})") == 1);  // I
  CHECK(s.at("exitguard_exits_in_flight") == 0);

  // Durations: E 12, F 4, G 3, H 2, J 1, I 1; K was refused before any attempt.
  check_histogram(s, "exitguard_exit_duration_seconds", duration_les,
                  {0, 0, 0, 2, 3, 5, 5, 6, 6, 6, 6, 6, 6, 6}, 6, 12 + 4 + 3 + 2 + 1 + 1);
  // Slippage: E 0, F 0, G 0.004, H 0 (improvement); J, K, I filled nothing.
  check_histogram(s, "exitguard_exit_slippage_ratio", slippage_les, {3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4}, 4, 0.004);

  check_attempt_series(s, {{{0, "limit"}, 2 + 2 + 1 + 1 + 1 + 1}, {{1, "market"}, 1}},
                       {{{0, "limit", "in_doubt"}, 2},
                        {{0, "limit", "partially_filled"}, 1},
                        {{0, "limit", "filled"}, 2},
                        {{0, "limit", "rejected"}, 2},
                        {{0, "limit", "cancelled"}, 1},
                        {{1, "market", "filled"}, 1}},
                       {{0, 1}});
  CHECK(s.at("exitguard_exit_escalations_total") == 1);
  CHECK(s.at("exitguard_exit_attempts_in_doubt_total") == 2);
  CHECK(s.at("exitguard_exit_late_fills_total") == 1);
  CHECK(s.at("exitguard_circuit_breaker_trips_total") == 0);
  check_states(s, BreakerState::closed, TradingState::running);
}

TEST_CASE("prometheus::Metrics state gauges: reported states, watch(), and what is ignored", "[prometheus]") {
  prometheus::Registry registry;
  Halt halt;

  SECTION("without watch(), the gauge shows what was last reported") {
    Metrics metrics(registry);
    metrics.trading_state(TradingState::reduce_only);
    metrics.breaker_state(BreakerState::half_open);
    check_states(scrape(registry), BreakerState::half_open, TradingState::reduce_only);
    halt.halt("operator", "not watched");
    check_states(scrape(registry), BreakerState::half_open, TradingState::reduce_only);
    metrics.trading_state(TradingState::halted);
    metrics.breaker_state(BreakerState::open);
    check_states(scrape(registry), BreakerState::open, TradingState::halted);
  }

  SECTION("watch() shows the current state at once, then follows every change; exits' reports are ignored") {
    halt.reduce_only("operator", "before watch");
    Metrics metrics(registry);
    check_states(scrape(registry), BreakerState::closed, TradingState::running);
    metrics.watch(halt);
    check_states(scrape(registry), BreakerState::closed, TradingState::reduce_only);
    halt.halt("operator", "stop");
    check_states(scrape(registry), BreakerState::closed, TradingState::halted);
    metrics.trading_state(TradingState::running);  // a stale report from an exit
    check_states(scrape(registry), BreakerState::closed, TradingState::halted);
    halt.resume("operator", "go");
    check_states(scrape(registry), BreakerState::closed, TradingState::running);
  }

  SECTION("a watched coordinator may outlive the Metrics") {
    {
      Metrics metrics(registry);
      metrics.watch(halt);
      halt.halt("operator", "while alive");
      check_states(scrape(registry), BreakerState::closed, TradingState::halted);
    }
    // The subscription is still there, and does nothing (ASan would flag a use after free).
    CHECK(halt.resume("operator", "after the Metrics"));
    CHECK(halt.state() == TradingState::running);
    check_states(scrape(registry), BreakerState::closed, TradingState::halted);
  }

  SECTION("values outside the bounded label sets are not counted") {
    Metrics metrics(registry);
    metrics.attempt_started(8, OrderKind::limit);
    metrics.attempt_started(0, static_cast<OrderKind>(7));
    metrics.attempt_finished(8, OrderKind::market, AttemptOutcome::filled);
    metrics.attempt_finished(0, OrderKind::limit, AttemptOutcome::pending);
    metrics.attempt_finished(0, OrderKind::limit, static_cast<AttemptOutcome>(42));
    metrics.retry(8);
    metrics.breaker_state(static_cast<BreakerState>(9));
    metrics.trading_state(static_cast<TradingState>(9));
    const Scrape s = scrape(registry);
    CHECK(s.values.size() == series_count);
    check_attempt_series(s, {}, {}, {});
    check_states(s, BreakerState::closed, TradingState::running);
  }
}

TEST_CASE("prometheus::Metrics summary rules: refused exits take no duration, improvement is 0, cancelled",
          "[prometheus]") {
  prometheus::Registry registry;
  Metrics metrics(registry);
  exitguard::ExitSummary refused;  // exit_failed, 0 attempts, 0 s, nothing filled
  refused.error = error::circuit_open;
  metrics.exit_started();
  metrics.exit_finished(refused);

  exitguard::ExitSummary improved;
  improved.final_state = S::position_closed;
  improved.attempts = 1;
  improved.first_attempt_success = true;
  improved.duration_seconds = 0.3;
  improved.filled_quantity = 10;
  improved.slippage_bps = -25;
  metrics.exit_started();
  metrics.exit_finished(improved);

  exitguard::ExitSummary cancelled;
  cancelled.final_state = S::exit_cancelled;
  cancelled.attempts = 2;
  cancelled.duration_seconds = 7;
  cancelled.filled_quantity = 4;  // a partial fill before the cancellation
  cancelled.slippage_bps = 120;
  metrics.exit_started();
  metrics.exit_finished(cancelled);

  const Scrape s = scrape(registry);
  CHECK(s.at("exitguard_exits_attempted_total") == 3);
  CHECK(s.at("exitguard_exits_first_attempt_total") == 1);
  CHECK(s.at("exitguard_exits_required_retry_total") == 0);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="closed"})") == 1);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="failed"})") == 1);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="cancelled"})") == 1);
  CHECK(s.at("exitguard_exits_in_flight") == 0);
  check_histogram(s, "exitguard_exit_duration_seconds", duration_les,
                  {0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2}, 2, 7.3);
  check_histogram(s, "exitguard_exit_slippage_ratio", slippage_les, {1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2}, 2, 0.012);
}

TEST_CASE("prometheus::Metrics counts refused exits by reason, apart from the failures that ran", "[prometheus]") {
  const auto [reason, count] = GENERATE(table<std::string, int>({
      {"circuit_open", 1},
      {"trading_halted", 3},
      {"invalid_request", 2},
  }));
  INFO("reason " << reason);
  prometheus::Registry registry;
  Metrics metrics(registry);
  for (int i = 0; i < count; ++i) {
    // As the executor reports a refusal: started, refused, finished (failed, nothing sent).
    metrics.exit_started();
    metrics.exit_refused(reason);
    exitguard::ExitSummary refused;
    refused.error = error::circuit_open;
    metrics.exit_finished(refused);
  }
  // Reasons outside the bounded set are not counted, and create no series.
  metrics.exit_refused("");
  metrics.exit_refused("Circuit_Open");
  metrics.exit_refused("deadline_exceeded");

  const Scrape s = scrape(registry);
  CHECK(s.values.size() == series_count);
  for (const auto& r : refusal_reasons) {
    INFO("series reason " << r);
    CHECK(s.at(series("exitguard_exits_refused_total", {{"reason", r}})) == (r == reason ? count : 0));
  }
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="failed"})") == count);
  CHECK(s.at("exitguard_exits_in_flight") == 0);
  CHECK(s.at("exitguard_exit_duration_seconds_count") == 0);
}

TEST_CASE("prometheus::Metrics lifetimes and registration errors", "[prometheus]") {
  SECTION("the shared_ptr constructor keeps the registry alive") {
    auto registry = std::make_shared<prometheus::Registry>();
    const std::weak_ptr<prometheus::Registry> weak = registry;
    auto metrics = std::make_unique<Metrics>(std::move(registry));
    CHECK_FALSE(weak.expired());
    metrics->exit_started();
    CHECK(scrape(*weak.lock()).at("exitguard_exits_attempted_total") == 1);
    metrics.reset();
    CHECK(weak.expired());
  }
  SECTION("a null registry is refused") {
    CHECK_THROWS_AS(Metrics(std::shared_ptr<prometheus::Registry>()), std::invalid_argument);
  }
  SECTION("a name already registered with another type is refused") {
    prometheus::Registry registry;
    prometheus::BuildGauge().Name("exitguard_exit_late_fills_total").Help("someone else's").Register(registry);
    CHECK_THROWS_AS(Metrics(registry), std::invalid_argument);
  }
  SECTION("two adapters on one registry share the same series") {
    prometheus::Registry registry;
    Metrics one(registry);
    Metrics two(registry);
    one.exit_started();
    two.exit_started();
    const Scrape s = scrape(registry);
    CHECK(s.values.size() == series_count);
    CHECK(s.at("exitguard_exits_attempted_total") == 2);
  }
}

TEST_CASE("prometheus::Metrics: concurrent reports from several threads are all counted", "[prometheus][threads]") {
  prometheus::Registry registry;
  Metrics metrics(registry);
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::latch go(threads + 1);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&metrics, &go, t] {
      go.arrive_and_wait();
      for (int n = 0; n < per_thread; ++n) {
        metrics.exit_started();
        metrics.attempt_started(static_cast<std::uint32_t>(t), OrderKind::limit);
        metrics.attempt_finished(static_cast<std::uint32_t>(t), OrderKind::limit, AttemptOutcome::filled);
        metrics.breaker_state(n % 2 == 0 ? BreakerState::open : BreakerState::half_open);
        exitguard::ExitSummary summary;
        summary.final_state = S::position_closed;
        summary.attempts = 1;
        summary.first_attempt_success = true;
        summary.duration_seconds = 1.5;
        summary.filled_quantity = 1;
        summary.slippage_bps = 10;
        metrics.exit_finished(summary);
      }
    });
  }
  // Scrapes run concurrently with the reports.
  go.arrive_and_wait();
  for (int n = 0; n < 20; ++n) CHECK(scrape(registry).values.size() == series_count);
  for (auto& th : pool) th.join();

  const Scrape s = scrape(registry);
  constexpr double total = threads * per_thread;
  CHECK(s.at("exitguard_exits_attempted_total") == total);
  CHECK(s.at("exitguard_exits_first_attempt_total") == total);
  CHECK(s.at(R"(exitguard_exits_finished_total{outcome="closed"})") == total);
  CHECK(s.at("exitguard_exits_in_flight") == 0);
  CHECK(s.at("exitguard_exit_duration_seconds_count") == total);
  CHECK(s.at(R"(exitguard_exit_duration_seconds_bucket{le="1"})") == 0);
  CHECK(s.at(R"(exitguard_exit_duration_seconds_bucket{le="2"})") == total);
  CHECK(s.at("exitguard_exit_duration_seconds_sum") == Approx(total * 1.5));
  CHECK(s.at(R"(exitguard_exit_slippage_ratio_bucket{le="0.001"})") == total);
  std::map<StepKind, double> started;
  std::map<StepKindOutcome, double> finished;
  for (int t = 0; t < threads; ++t) {
    started[{t, "limit"}] = per_thread;
    finished[{t, "limit", "filled"}] = per_thread;
  }
  check_attempt_series(s, started, finished, {});
  // Every thread's last report was half_open; the gauges settle on exactly one state.
  check_states(s, BreakerState::half_open, TradingState::running);
}
