// exitguard-test-set: sanitized
#include <exitguard/metrics.hpp>

#include "support/exit_fixture.hpp"

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/error.hpp>
#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/venue.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace exit_fixture;
using exitguard::AttemptOutcome;
using exitguard::BreakerState;
using exitguard::error;
using exitguard::ExitSummary;
using exitguard::MetricsSink;
using exitguard::OrderKind;
using exitguard::TradingState;

// Records every event, one line each, in the order they came; keeps the summaries.
class RecordingSink final : public MetricsSink {
 public:
  void exit_started() override { add("exit_started"); }
  void attempt_started(std::uint32_t step, OrderKind kind) override {
    add("attempt_started " + std::to_string(step) + " " + std::string(exitguard::to_string(kind)));
  }
  void attempt_finished(std::uint32_t step, OrderKind kind, AttemptOutcome outcome) override {
    add("attempt_finished " + std::to_string(step) + " " + std::string(exitguard::to_string(kind)) + " " +
        std::string(exitguard::to_string(outcome)));
  }
  void retry(std::uint32_t step) override { add("retry " + std::to_string(step)); }
  void escalated(std::uint32_t to_step) override { add("escalated " + std::to_string(to_step)); }
  void attempt_in_doubt() override { add("attempt_in_doubt"); }
  void late_fill(double quantity) override {
    add("late_fill " + std::to_string(static_cast<long long>(quantity)));
    std::lock_guard lock(mutex_);
    late_fills.push_back(quantity);
  }
  void exit_finished(const ExitSummary& summary) override {
    add("exit_finished");
    std::lock_guard lock(mutex_);
    summaries.push_back(summary);
  }
  void exit_refused(std::string_view reason) override { add("exit_refused " + std::string(reason)); }
  void breaker_tripped() override { add("breaker_tripped"); }
  void breaker_state(BreakerState state) override {
    add("breaker_state " + std::string(exitguard::to_string(state)));
  }
  void trading_state(TradingState state) override {
    add("trading_state " + std::string(exitguard::to_string(state)));
  }

  // Takes the events recorded so far.
  std::vector<std::string> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(events_, {});
  }

  std::vector<ExitSummary> summaries;
  std::vector<double> late_fills;

 private:
  void add(std::string e) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(e));
  }
  std::mutex mutex_;
  std::vector<std::string> events_;
};

using Events = std::vector<std::string>;

}  // namespace

TEST_CASE("MetricsSink: every method has a do-nothing default", "[metrics]") {
  STATIC_REQUIRE(!std::is_abstract_v<MetricsSink>);
  STATIC_REQUIRE(std::has_virtual_destructor_v<MetricsSink>);
  STATIC_REQUIRE(std::is_default_constructible_v<MetricsSink>);

  const ExitSummary defaults;
  CHECK(defaults.final_state == exitguard::ExitTransitionState::exit_failed);
  CHECK_FALSE(defaults.error);
  CHECK(defaults.duration_seconds == 0);
  CHECK(defaults.slippage_bps == 0);
  CHECK(defaults.filled_quantity == 0);
  CHECK(defaults.attempts == 0);
  CHECK_FALSE(defaults.escalated);
  CHECK_FALSE(defaults.first_attempt_success);
  CHECK_FALSE(defaults.required_retry);
  CHECK_FALSE(defaults.deadline_exceeded);

  MetricsSink plain;
  MetricsSink& sink = plain;
  sink.exit_started();
  sink.attempt_started(0, OrderKind::limit);
  sink.attempt_finished(0, OrderKind::limit, AttemptOutcome::filled);
  sink.retry(0);
  sink.escalated(1);
  sink.attempt_in_doubt();
  sink.late_fill(1.0);
  sink.exit_finished(defaults);
  sink.exit_refused(exitguard::refusal_reason::circuit_open);
  sink.breaker_tripped();
  sink.breaker_state(BreakerState::open);
  sink.trading_state(TradingState::halted);
  SUCCEED("no-ops");
}

TEST_CASE("MetricsSink: the refusal reasons are the three label values, and exit_refused is overridable",
          "[metrics]") {
  STATIC_REQUIRE(exitguard::refusal_reason::circuit_open == "circuit_open");
  STATIC_REQUIRE(exitguard::refusal_reason::trading_halted == "trading_halted");
  STATIC_REQUIRE(exitguard::refusal_reason::invalid_request == "invalid_request");
  const auto reason = GENERATE(exitguard::refusal_reason::circuit_open, exitguard::refusal_reason::trading_halted,
                               exitguard::refusal_reason::invalid_request);
  RecordingSink recording;
  MetricsSink& sink = recording;
  sink.exit_refused(reason);
  CHECK(recording.take() == Events{"exit_refused " + std::string(reason)});
}

TEST_CASE("metrics: a plain MetricsSink can be given to the executor", "[metrics]") {
  Clock::reset();
  MetricsSink plain;
  ExitFixture f({}, &plain);
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());
  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.exit_time == 2s);
}

TEST_CASE("metrics: an exit closed by its first attempt", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.set_default(fill(2s, 1.0, 20));
  auto [ec, r] = f.run(f.open());
  REQUIRE_FALSE(ec);

  CHECK(sink.take() == Events{"exit_started", "attempt_started 0 limit", "attempt_finished 0 limit filled",
                              "breaker_state closed", "exit_finished", "trading_state running"});
  REQUIRE(sink.summaries.size() == 1);
  const ExitSummary& s = sink.summaries[0];
  CHECK(s.final_state == S::position_closed);
  CHECK_FALSE(s.error);
  CHECK(s.duration_seconds == 2.0);
  CHECK(s.slippage_bps == Approx(20).epsilon(1e-9));
  CHECK(s.filled_quantity == 1000);
  CHECK(s.attempts == 1);
  CHECK_FALSE(s.escalated);
  CHECK(s.first_attempt_success);
  CHECK_FALSE(s.required_retry);
  CHECK_FALSE(s.deadline_exceeded);
}

TEST_CASE("metrics: a transient rejection, a retry, then a fill", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.push(reject(error::venue_unavailable, 1s));
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());
  REQUIRE_FALSE(ec);

  CHECK(sink.take() == Events{"exit_started", "attempt_started 0 limit", "attempt_finished 0 limit rejected",
                              "retry 0", "attempt_started 0 limit", "attempt_finished 0 limit filled",
                              "breaker_state closed", "exit_finished", "trading_state running"});
  REQUIRE(sink.summaries.size() == 1);
  const ExitSummary& s = sink.summaries[0];
  CHECK(s.final_state == S::position_closed);
  CHECK(s.attempts == 2);
  CHECK(s.duration_seconds == 4.0);
  CHECK_FALSE(s.first_attempt_success);
  CHECK(s.required_retry);
  CHECK_FALSE(s.deadline_exceeded);
}

TEST_CASE("metrics: a venue that never answers: in doubt, retries, escalation, deadline", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.set_default(lost());
  auto [ec, r] = f.run(f.open());
  REQUIRE(ec == error::deadline_exceeded);

  CHECK(sink.take() == Events{"exit_started",
                              "attempt_started 0 limit",
                              "attempt_finished 0 limit in_doubt",
                              "attempt_in_doubt",
                              "retry 0",
                              "attempt_started 0 limit",
                              "attempt_finished 0 limit in_doubt",
                              "attempt_in_doubt",
                              "escalated 1",
                              "attempt_started 1 market",
                              "attempt_finished 1 market in_doubt",
                              "attempt_in_doubt",
                              "retry 1",
                              "attempt_started 1 market",
                              "attempt_finished 1 market in_doubt",
                              "attempt_in_doubt",
                              "retry 1",
                              "attempt_started 1 market",
                              "attempt_finished 1 market in_doubt",
                              "attempt_in_doubt",
                              "breaker_state closed",
                              "exit_finished",
                              "trading_state running"});
  REQUIRE(sink.summaries.size() == 1);
  const ExitSummary& s = sink.summaries[0];
  CHECK(s.final_state == S::exit_failed);
  CHECK(s.error == error::deadline_exceeded);
  CHECK(s.deadline_exceeded);
  CHECK(s.duration_seconds == 30.0);
  CHECK(s.attempts == 5);
  CHECK(s.escalated);
  CHECK(s.filled_quantity == 0);
  CHECK(s.slippage_bps == 0);
  CHECK_FALSE(s.first_attempt_success);
  CHECK_FALSE(s.required_retry);
}

TEST_CASE("metrics: a partial fill and its remainder", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.push(fill(2s, 0.4));
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());
  REQUIRE_FALSE(ec);
  // The remainder goes at once: no retry event.
  CHECK(sink.take() == Events{"exit_started", "attempt_started 0 limit", "attempt_finished 0 limit partially_filled",
                              "attempt_started 0 limit", "attempt_finished 0 limit filled", "breaker_state closed",
                              "exit_finished", "trading_state running"});
  REQUIRE(sink.summaries.size() == 1);
  CHECK(sink.summaries[0].attempts == 2);
  CHECK(sink.summaries[0].required_retry);
  CHECK(sink.summaries[0].filled_quantity == Approx(1000).epsilon(1e-12));
  CHECK(sink.summaries[0].duration_seconds == 4.0);
}

TEST_CASE("metrics: slippage_exceeded escalates", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.push(reject(error::slippage_exceeded, 1s));
  f.venue.set_default(fill(2s, 1.0, 50));
  auto [ec, r] = f.run(f.open());
  REQUIRE_FALSE(ec);
  CHECK(sink.take() == Events{"exit_started", "attempt_started 0 limit", "attempt_finished 0 limit rejected",
                              "escalated 1", "attempt_started 1 market", "attempt_finished 1 market filled",
                              "breaker_state closed", "exit_finished", "trading_state running"});
  REQUIRE(sink.summaries.size() == 1);
  CHECK(sink.summaries[0].escalated);
  CHECK(sink.summaries[0].slippage_bps == Approx(50).epsilon(1e-9));
  CHECK(sink.summaries[0].duration_seconds == 3.0);
}

TEST_CASE("metrics: a late fill that closes the exit while a later attempt is pending", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.push(land_late(12s));
  f.venue.push(fill(5s));
  auto [ec, r] = f.run(f.open());
  REQUIRE_FALSE(ec);
  CHECK(sink.take() == Events{"exit_started",
                              "attempt_started 0 limit",
                              "attempt_finished 0 limit in_doubt",
                              "attempt_in_doubt",
                              "retry 0",
                              "attempt_started 0 limit",
                              "late_fill 1000",
                              "attempt_finished 0 limit in_doubt",  // attempt 2, abandoned: the position closed
                              "attempt_in_doubt",
                              "breaker_state closed",
                              "exit_finished",
                              "trading_state running"});
  REQUIRE(sink.summaries.size() == 1);
  CHECK(sink.summaries[0].final_state == S::position_closed);
  CHECK(sink.summaries[0].duration_seconds == 12.0);
  CHECK(sink.summaries[0].attempts == 2);
  CHECK_FALSE(sink.summaries[0].escalated);
  // Attempt 2's transaction lands on a used key afterwards: no second late fill.
  CHECK(f.driver.run_for(60s));
  CHECK(sink.take().empty());
  CHECK(sink.late_fills == std::vector<double>{1000});
}

TEST_CASE("metrics: a late fill after the exit ended is reported once, to on_late_fill_after_exit", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  Settings s;
  std::vector<exitguard::LateFillAfterExit> after_exit;
  s.on_late_fill_after_exit = [&after_exit](const exitguard::LateFillAfterExit& fill) { after_exit.push_back(fill); };
  ExitFixture f(s, &sink);
  f.venue.push(land_late(40s));
  f.venue.set_default(lost());
  auto [ec, r] = f.run(f.open());
  REQUIRE(ec == error::deadline_exceeded);
  const Events during = sink.take();
  REQUIRE_FALSE(during.empty());
  CHECK(during.back() == "trading_state running");
  CHECK(after_exit.empty());
  f.driver.run_for(120s);  // the lost attempts stay pending: the io_context keeps work
  // After its completion an exit calls no sink (it may be gone: adaptive_exit_executor.hpp,
  // "Lifetimes"); the fill that lands at 40 s, before the late-answer horizon (90 s),
  // is told once to on_late_fill_after_exit, with the corrected total.
  CHECK(sink.take().empty());
  REQUIRE(after_exit.size() == 1);
  CHECK(after_exit[0].exit_id == r.exit_id);
  CHECK(after_exit[0].position_id == "SOL-1");
  CHECK(after_exit[0].attempt == 1);
  CHECK(after_exit[0].transaction_id == "tx-1");
  CHECK(after_exit[0].quantity == 1000);
  CHECK(after_exit[0].filled_quantity == 1000);
  CHECK(after_exit[0].price == 95.0);
  REQUIRE(sink.summaries.size() == 1);  // the exit's summary is not sent again
  CHECK(sink.late_fills.empty());
}

TEST_CASE("metrics: two failed exits trip the breaker, the refused third reports no breaker state", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.set_default(reject(error::insufficient_funds, 1s));

  f.run(f.open("A"));
  CHECK(sink.take() == Events{"exit_started", "attempt_started 0 limit", "attempt_finished 0 limit rejected",
                              "breaker_state closed", "exit_finished", "trading_state running"});
  f.run(f.open("B"));
  CHECK(sink.take() == Events{"exit_started", "attempt_started 0 limit", "attempt_finished 0 limit rejected",
                              "breaker_tripped", "breaker_state open", "exit_finished", "trading_state halted"});
  f.run(f.open("C"));
  // Refused by the open breaker: reported as a refusal (once), and not as a breaker state.
  CHECK(sink.take() == Events{"exit_started", "exit_refused circuit_open", "exit_finished", "trading_state halted"});

  REQUIRE(sink.summaries.size() == 3);
  CHECK(sink.summaries[0].error == error::insufficient_funds);
  CHECK(sink.summaries[0].duration_seconds == 1.0);
  CHECK(sink.summaries[0].attempts == 1);
  CHECK_FALSE(sink.summaries[0].deadline_exceeded);
  CHECK(sink.summaries[1].error == error::insufficient_funds);
  CHECK(sink.summaries[2].error == error::circuit_open);
  CHECK(sink.summaries[2].attempts == 0);
  CHECK(sink.summaries[2].duration_seconds == 0.0);
  CHECK(sink.summaries[2].final_state == S::exit_failed);
}

TEST_CASE("metrics: a cancelled exit reports no breaker state", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.set_default(fill(5s));
  asio::cancellation_signal cancel;
  auto result = f.start(f.open(), cancel.slot());
  f.driver.advance(1s);
  cancel.emit(asio::cancellation_type::terminal);
  auto [ec, r] = f.finish(result);
  REQUIRE(ec == asio::error::operation_aborted);
  CHECK(sink.take() == Events{"exit_started", "attempt_started 0 limit", "attempt_finished 0 limit cancelled",
                              "exit_finished", "trading_state running"});
  REQUIRE(sink.summaries.size() == 1);
  CHECK(sink.summaries[0].final_state == S::exit_cancelled);
  CHECK(sink.summaries[0].error == asio::error::operation_aborted);
  CHECK(sink.summaries[0].duration_seconds == 1.0);
}

TEST_CASE("metrics: exits refused by a halt or for an invalid request report exit_refused once", "[metrics]") {
  Clock::reset();
  RecordingSink sink;
  ExitFixture f({}, &sink);
  f.venue.set_default(fill(2s));

  // Trading halted: refused before anything is sent; the breaker does not count it.
  f.halt.halt("operator", "maintenance");
  auto [ec_h, h] = f.run(f.open("H"));
  REQUIRE(ec_h == error::trading_halted);
  CHECK(sink.take() == Events{"exit_started", "exit_refused trading_halted", "exit_finished", "trading_state halted"});
  CHECK(h.attempts == 0);
  CHECK(h.failure_cause == exitguard::ExitFailureCause::refused);
  CHECK_FALSE(h.counts_for_breaker);
  REQUIRE(f.halt.resume("operator", "maintenance over"));

  // An invalid request (no quantity): refused; nothing is sent, nothing is counted.
  auto bad = f.open("Q");
  bad.quantity = 0;
  auto [ec_q, q] = f.run(bad);
  REQUIRE(ec_q == error::invalid_quantity);
  CHECK(sink.take() == Events{"exit_started", "exit_refused invalid_request", "exit_finished", "trading_state running"});
  CHECK(q.attempts == 0);
  CHECK(q.failure_cause == exitguard::ExitFailureCause::invalid_request);
  CHECK_FALSE(q.counts_for_breaker);
  CHECK(f.breaker.state() == BreakerState::closed);

  // An exit that runs and fails is not a refusal.
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  auto [ec_r, rr] = f.run(f.open("R"));
  REQUIRE(ec_r == error::insufficient_funds);
  for (const auto& e : sink.take()) CHECK(e.rfind("exit_refused", 0) != 0);
  CHECK(rr.counts_for_breaker);

  REQUIRE(sink.summaries.size() == 3);
  CHECK(sink.summaries[0].error == error::trading_halted);
  CHECK(sink.summaries[0].attempts == 0);
  CHECK(sink.summaries[1].error == error::invalid_quantity);
  CHECK(sink.summaries[1].attempts == 0);
  CHECK(sink.summaries[2].attempts == 1);
}
