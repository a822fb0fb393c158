// exitguard/prometheus/metrics.hpp — exitguard's events as Prometheus metrics.
//
// exitguard::prometheus::Metrics is a MetricsSink (<exitguard/metrics.hpp>) that
// counts what the exit executor reports in a prometheus-cpp Registry (prometheus-cpp
// `core` only: Registry, BuildCounter, BuildGauge, BuildHistogram). Serve that
// registry however you like (prometheus::Exposer from prometheus-cpp `pull`, a
// TextSerializer behind your own HTTP server, a push gateway).
//
// CMake: find_package(exitguard COMPONENTS prometheus) and link exitguard::prometheus
// (which brings prometheus-cpp::core). The core library never needs prometheus-cpp.
//
// The metric names are fixed (dashboards and alert rules use them); docs/metrics.md
// lists each one, its labels and buckets, and the PromQL for averages and p99.
//
// Name lookup: inside namespace exitguard, `prometheus::` names this namespace;
// write `::prometheus::Registry` for prometheus-cpp's types there.
#pragma once

#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/metrics.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/venue.hpp>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/labels.h>
#include <prometheus/registry.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exitguard::prometheus {

// Metrics — a thread-safe MetricsSink over a prometheus-cpp Registry.
//
// The constructor registers these families in the registry and creates every series
// at once, so that each exists (at 0) before the first exit, for rate() and alerts:
//
//   exitguard_exits_attempted_total                  counter   exits started
//   exitguard_exits_first_attempt_total              counter   exits closed by their first attempt
//   exitguard_exits_required_retry_total             counter   exits closed after more than one attempt
//   exitguard_exits_deadline_exceeded_total          counter   exits that hit their hard deadline
//   exitguard_exits_finished_total{outcome}          counter   closed | failed | cancelled
//   exitguard_exits_refused_total{reason}            counter   circuit_open | trading_halted |
//                                                              invalid_request: exits refused before
//                                                              their first attempt (also counted
//                                                              in finished{outcome="failed"})
//   exitguard_exits_in_flight                        gauge     exits started and not finished
//   exitguard_exit_duration_seconds                  histogram exit signal to terminal state, of
//                                                              exits that sent at least one attempt
//   exitguard_exit_slippage_ratio                    histogram realized slippage as a ratio (bps /
//                                                              10000), price improvement as 0, of
//                                                              exits that filled something
//   exitguard_exit_attempts_started_total{step,kind} counter   step "0".."7", kind limit | market
//   exitguard_exit_attempts_total{step,kind,outcome} counter   outcome filled | partially_filled |
//                                                              rejected | in_doubt | cancelled
//   exitguard_exit_retries_total{step}               counter   backoffs before another attempt
//   exitguard_exit_escalations_total                 counter   exits that moved to the market step
//   exitguard_exit_attempts_in_doubt_total           counter   attempts that went in doubt
//   exitguard_exit_late_fills_total                  counter   fills taken after their attempt
//                                                              was given up
//   exitguard_circuit_breaker_trips_total            counter   breaker trips seen by exits
//   exitguard_circuit_breaker_state{state}           gauge     closed | open | half_open: 1 for
//                                                              the current state, 0 for the others
//   exitguard_trading_state{state}                   gauge     running | reduce_only | halted: same
//
// Labels only ever take those bounded values (never a position or exit id): every
// step 0..7 (exitguard's ladder has at most 8 steps) × kind × outcome is created up
// front, 104 attempt series in all; the three refusal reasons too. An event outside
// those values (a step >= 8, an outcome of `pending`, an unnamed enum value, a
// refusal reason that is not one of refusal_reason's) is not counted.
//
// The state gauges start at closed = 1 and running = 1. The executor reports the
// breaker's state after each exit that the breaker counted; a breaker reset() is not
// an exit event, so whoever resets it reports the new state: `metrics.breaker_state(
// breaker.state())`. For the trading state, watch() the coordinator: from then on the
// gauge follows every change the coordinator makes (an operator's halt or resume
// too), and the executor's own trading_state() reports, which could arrive after a
// newer change, are ignored. Without watch() the gauge shows what exits last reported.
// The updates of each state gauge are serialised (the other two go to 0, then the
// current one to 1), so the three series always settle on exactly one 1; a scrape
// that races with a change may see it half done, as with any set of series.
//
// One Metrics per registry: a second one on the same registry gets the same families
// and series (prometheus-cpp merges them) and both would write them.
//
// Thread safety: every member may be called from any thread, concurrently, as the
// executor does from several exits' strands: prometheus-cpp counters and gauges are
// atomic, histograms lock; the two state gauges take a short mutex of their own.
// Scraping (Registry::Collect) may run concurrently with all of it. The registry
// must outlive the Metrics when given by reference (the shared_ptr constructor keeps
// it alive). A Metrics must outlive every exit that reports to it (as for any sink);
// a watched coordinator may outlive the Metrics: once the Metrics is gone, its
// subscription does nothing.
//
// Cancellation: nothing here waits or completes asynchronously; there is nothing to
// cancel. A cancelled exit is counted in exits_finished_total{outcome="cancelled"}.
class Metrics : public MetricsSink {
 public:
  // The ladder steps that have series ("0" .. "7"); exitguard::max_ladder_steps.
  static constexpr std::uint32_t steps = 8;

  // exitguard_exit_duration_seconds: a fill takes seconds; the default deadline is
  // 30 s (limit step 20 s, market window 10 s); 45 and 60 catch longer deadlines.
  static std::vector<double> duration_buckets() {
    return {0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 25, 30, 45, 60};
  }

  // exitguard_exit_slippage_ratio: 5 bps .. 20 %; 0.01 and 0.05 are the default
  // ladder's caps (100 bps limit, 500 bps market).
  static std::vector<double> slippage_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2};
  }

  // Registers the families in `registry`, which must outlive this object. Throws
  // std::invalid_argument (from prometheus-cpp) if the registry already holds one
  // of these names with another metric type or with constant labels.
  explicit Metrics(::prometheus::Registry& registry) : state_(std::make_shared<state>(registry)) {}

  // As above, and keeps the registry alive. Throws std::invalid_argument if null.
  explicit Metrics(std::shared_ptr<::prometheus::Registry> registry)
      : state_(std::make_shared<state>(non_null(registry))) {
    state_->keep_alive = std::move(registry);
  }

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;
  ~Metrics() override = default;

  // Follows `halt`'s trading state from now on: shows its current state at once and
  // subscribes to its changes (the subscription is never removed; after this object
  // is destroyed it does nothing). Watch one coordinator, the one the executor uses.
  template <class Clock>
  void watch(BasicTradingHaltCoordinator<Clock>& halt) {
    {
      std::lock_guard lock(state_->mutex);
      state_->watching = true;
    }
    std::weak_ptr<state> weak = state_;
    // The subscriber is only ever called by `halt` itself, so `halt` is alive then. It
    // reads state() rather than the change: concurrent changes may be notified in
    // either order, and the last notification to take the mutex reads the newest.
    halt.subscribe([weak, &halt](const typename BasicTradingHaltCoordinator<Clock>::change_type&) {
      if (const auto s = weak.lock()) s->show_trading([&halt] { return halt.state(); });
    });
    state_->show_trading([&halt] { return halt.state(); });
  }

  // --- MetricsSink ------------------------------------------------------------

  void exit_started() override {
    state_->exits_attempted->Increment();
    state_->in_flight->Increment();
  }

  void attempt_started(std::uint32_t step, OrderKind kind) override {
    if (auto* c = state_->started(step, kind)) c->Increment();
  }

  void attempt_finished(std::uint32_t step, OrderKind kind, AttemptOutcome outcome) override {
    if (auto* c = state_->finished(step, kind, outcome)) c->Increment();
  }

  void retry(std::uint32_t step) override {
    if (step < steps) state_->retries[step]->Increment();
  }

  void escalated(std::uint32_t /*to_step*/) override { state_->escalations->Increment(); }

  void attempt_in_doubt() override { state_->in_doubt->Increment(); }

  void late_fill(double /*quantity*/) override { state_->late_fills->Increment(); }

  void exit_finished(const ExitSummary& summary) override {
    state& s = *state_;
    s.in_flight->Decrement();
    s.exits_finished[outcome_index(summary.final_state)]->Increment();
    if (summary.first_attempt_success) s.exits_first_attempt->Increment();
    if (summary.required_retry) s.exits_required_retry->Increment();
    if (summary.deadline_exceeded) s.exits_deadline_exceeded->Increment();
    // An exit refused before its first attempt (breaker open, trading halted, invalid
    // request) took no time worth measuring: it would only drag the average to 0.
    if (summary.attempts > 0 && std::isfinite(summary.duration_seconds) && summary.duration_seconds >= 0)
      s.duration->Observe(summary.duration_seconds);
    // Price improvement counts as 0 so that _sum never decreases (counter semantics).
    if (summary.filled_quantity > 0) {
      const double bps = summary.slippage_bps;
      s.slippage->Observe(std::isfinite(bps) && bps > 0 ? bps / 10000.0 : 0.0);
    }
  }

  void exit_refused(std::string_view reason) override {
    if (auto* c = state_->refused(reason)) c->Increment();
  }

  void breaker_tripped() override { state_->breaker_trips->Increment(); }

  void breaker_state(BreakerState st) override {
    const auto i = static_cast<std::size_t>(st);
    if (i >= 3) return;
    std::lock_guard lock(state_->mutex);
    show_one(state_->breaker_states, i);
  }

  // Ignored once a coordinator is watched (see the class comment).
  void trading_state(TradingState st) override {
    if (!is_valid(st)) return;
    std::lock_guard lock(state_->mutex);
    if (state_->watching) return;
    show_one(state_->trading_states, static_cast<std::size_t>(st));
  }

 private:
  using Counter = ::prometheus::Counter;
  using Gauge = ::prometheus::Gauge;
  using Histogram = ::prometheus::Histogram;

  static constexpr std::size_t kinds = 2;     // limit, market
  static constexpr std::size_t outcomes = 5;  // AttemptOutcome filled .. cancelled
  // The values of exits_refused_total's label `reason`.
  static constexpr std::array<std::string_view, 3> refusal_reasons = {
      refusal_reason::circuit_open, refusal_reason::trading_halted, refusal_reason::invalid_request};

  static ::prometheus::Registry& non_null(const std::shared_ptr<::prometheus::Registry>& r) {
    if (!r) throw std::invalid_argument("exitguard::prometheus::Metrics: null registry");
    return *r;
  }

  // exits_finished_total's outcome: closed, failed, cancelled.
  static std::size_t outcome_index(ExitTransitionState s) noexcept {
    if (s == ExitTransitionState::position_closed) return 0;
    if (s == ExitTransitionState::exit_cancelled) return 2;
    return 1;
  }

  // Called with the state mutex held.
  static void show_one(const std::array<Gauge*, 3>& gauges, std::size_t current) {
    for (std::size_t i = 0; i < gauges.size(); ++i)
      if (i != current) gauges[i]->Set(0);
    gauges[current]->Set(1);
  }

  struct state {
    explicit state(::prometheus::Registry& r) {
      auto counter = [&r](const char* name, const char* help) -> ::prometheus::Family<Counter>& {
        return ::prometheus::BuildCounter().Name(name).Help(help).Register(r);
      };
      exits_attempted = &counter("exitguard_exits_attempted_total", "Exits started.").Add({});
      exits_first_attempt =
          &counter("exitguard_exits_first_attempt_total", "Exits that closed the position with their first attempt.")
               .Add({});
      exits_required_retry =
          &counter("exitguard_exits_required_retry_total",
                   "Exits that closed the position after more than one attempt.")
               .Add({});
      exits_deadline_exceeded =
          &counter("exitguard_exits_deadline_exceeded_total",
                   "Exits that reached their hard deadline with the position still open.")
               .Add({});
      auto& finished_family = counter("exitguard_exits_finished_total", "Exits that ended, by outcome.");
      exits_finished = {&finished_family.Add({{"outcome", "closed"}}), &finished_family.Add({{"outcome", "failed"}}),
                        &finished_family.Add({{"outcome", "cancelled"}})};
      auto& refused_family = counter("exitguard_exits_refused_total",
                                     "Exits refused before their first attempt, by reason (also counted as failed "
                                     "in exitguard_exits_finished_total).");
      for (std::size_t i = 0; i < refusal_reasons.size(); ++i)
        exits_refused[i] = &refused_family.Add({{"reason", std::string(refusal_reasons[i])}});

      in_flight = &::prometheus::BuildGauge()
                       .Name("exitguard_exits_in_flight")
                       .Help("Exits started and not yet finished.")
                       .Register(r)
                       .Add({});

      duration = &::prometheus::BuildHistogram()
                      .Name("exitguard_exit_duration_seconds")
                      .Help("Time from the exit signal to the exit's terminal state, for exits that sent at least "
                            "one attempt.")
                      .Register(r)
                      .Add({}, duration_buckets());
      slippage = &::prometheus::BuildHistogram()
                      .Name("exitguard_exit_slippage_ratio")
                      .Help("Realized slippage against the signal price as a ratio (bps / 10000; price improvement "
                            "counts as 0), for exits that filled something.")
                      .Register(r)
                      .Add({}, slippage_buckets());

      auto& started_family =
          counter("exitguard_exit_attempts_started_total", "Exit attempts sent, by ladder step and order kind.");
      auto& attempts_family =
          counter("exitguard_exit_attempts_total", "Exit attempts that ended, by ladder step, order kind and outcome.");
      auto& retries_family =
          counter("exitguard_exit_retries_total", "Backoffs before another attempt in the same ladder step.");
      static constexpr const char* kind_names[kinds] = {"limit", "market"};
      static constexpr const char* outcome_names[outcomes] = {"filled", "partially_filled", "rejected", "in_doubt",
                                                              "cancelled"};
      for (std::uint32_t step = 0; step < steps; ++step) {
        const std::string step_name = std::to_string(step);
        retries[step] = &retries_family.Add({{"step", step_name}});
        for (std::size_t k = 0; k < kinds; ++k) {
          attempts_started[step][k] = &started_family.Add({{"step", step_name}, {"kind", kind_names[k]}});
          for (std::size_t o = 0; o < outcomes; ++o)
            attempts[step][k][o] =
                &attempts_family.Add({{"step", step_name}, {"kind", kind_names[k]}, {"outcome", outcome_names[o]}});
        }
      }

      escalations = &counter("exitguard_exit_escalations_total", "Exits that escalated to the ladder's market step.")
                         .Add({});
      in_doubt = &counter("exitguard_exit_attempts_in_doubt_total",
                          "Exit attempts that timed out or were not confirmed: they may still land.")
                      .Add({});
      late_fills = &counter("exitguard_exit_late_fills_total",
                            "Fills taken after their attempt had been given up (each counted once).")
                        .Add({});
      breaker_trips = &counter("exitguard_circuit_breaker_trips_total",
                               "Exit circuit breaker trips (consecutive failed exits reaching the threshold).")
                           .Add({});

      auto& breaker_family = ::prometheus::BuildGauge()
                                 .Name("exitguard_circuit_breaker_state")
                                 .Help("Exit circuit breaker state: 1 for the current state, 0 for the others.")
                                 .Register(r);
      breaker_states = {&breaker_family.Add({{"state", "closed"}}), &breaker_family.Add({{"state", "open"}}),
                        &breaker_family.Add({{"state", "half_open"}})};
      auto& trading_family = ::prometheus::BuildGauge()
                                 .Name("exitguard_trading_state")
                                 .Help("Trading state: 1 for the current state, 0 for the others.")
                                 .Register(r);
      trading_states = {&trading_family.Add({{"state", "running"}}), &trading_family.Add({{"state", "reduce_only"}}),
                        &trading_family.Add({{"state", "halted"}})};
      show_one(breaker_states, static_cast<std::size_t>(BreakerState::closed));
      show_one(trading_states, static_cast<std::size_t>(TradingState::running));
    }

    Counter* started(std::uint32_t step, OrderKind kind) const noexcept {
      const auto k = static_cast<std::size_t>(kind);
      return step < steps && k < kinds ? attempts_started[step][k] : nullptr;
    }

    Counter* refused(std::string_view reason) const noexcept {
      for (std::size_t i = 0; i < refusal_reasons.size(); ++i)
        if (reason == refusal_reasons[i]) return exits_refused[i];
      return nullptr;
    }

    Counter* finished(std::uint32_t step, OrderKind kind, AttemptOutcome outcome) const noexcept {
      const auto k = static_cast<std::size_t>(kind);
      const auto o = static_cast<std::size_t>(outcome);
      // AttemptOutcome: pending = 0 (not an end), filled = 1 .. cancelled = 5.
      if (step >= steps || k >= kinds || o < 1 || o > outcomes) return nullptr;
      return attempts[step][k][o - 1];
    }

    template <class ReadState>
    void show_trading(ReadState read) {
      std::lock_guard lock(mutex);
      const TradingState st = read();
      if (is_valid(st)) show_one(trading_states, static_cast<std::size_t>(st));
    }

    std::shared_ptr<::prometheus::Registry> keep_alive;  // set by the shared_ptr constructor
    Counter* exits_attempted = nullptr;
    Counter* exits_first_attempt = nullptr;
    Counter* exits_required_retry = nullptr;
    Counter* exits_deadline_exceeded = nullptr;
    std::array<Counter*, 3> exits_finished{};  // closed, failed, cancelled
    std::array<Counter*, 3> exits_refused{};   // refusal_reasons' order
    Gauge* in_flight = nullptr;
    Histogram* duration = nullptr;
    Histogram* slippage = nullptr;
    std::array<std::array<Counter*, kinds>, steps> attempts_started{};
    std::array<std::array<std::array<Counter*, outcomes>, kinds>, steps> attempts{};
    std::array<Counter*, steps> retries{};
    Counter* escalations = nullptr;
    Counter* in_doubt = nullptr;
    Counter* late_fills = nullptr;
    Counter* breaker_trips = nullptr;
    std::array<Gauge*, 3> breaker_states{};  // closed, open, half_open (BreakerState's order)
    std::array<Gauge*, 3> trading_states{};  // running, reduce_only, halted (TradingState's order)
    // Orders the updates of the two state gauges; guards `watching`.
    std::mutex mutex;
    bool watching = false;
  };

  std::shared_ptr<state> state_;
};

}  // namespace exitguard::prometheus
