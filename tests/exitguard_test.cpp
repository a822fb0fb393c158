// exitguard-test-set: sanitized
// Tests of exitguard/exitguard.hpp, the umbrella header: it compiles on its own,
// every main type is reachable through it (the sans-IO exit engine and exact
// quantities included), and they work together in a tiny exit run in virtual time
// (ManualClock + VirtualTimeDriver; no test sleeps), and once more through the engine.

// First include: proves the umbrella header compiles on its own.
#include <exitguard/exitguard.hpp>

#define CATCH_CONFIG_ENABLE_CHRONO_STRINGMAKER
#include <catch2/catch.hpp>

#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>

#include "support/quantity_string.hpp"

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

namespace {

namespace asio = boost::asio;
using exitguard::testing::ManualClock;
using namespace std::chrono_literals;

ManualClock::time_point at(std::chrono::nanoseconds since_epoch) { return ManualClock::time_point(since_epoch); }

}  // namespace

TEST_CASE("exitguard.hpp is self-contained and reaches every main type", "[umbrella]") {
  using steady = std::chrono::steady_clock;
  STATIC_REQUIRE(std::is_same_v<exitguard::RetryPolicy, exitguard::BasicRetryPolicy<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::BoundedRetryExecutor, exitguard::BasicBoundedRetryExecutor<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitAttemptTracker, exitguard::BasicExitAttemptTracker<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitDeadlineManager, exitguard::BasicExitDeadlineManager<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitStateMachine, exitguard::BasicExitStateMachine<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::BoundedRetryExecutor::clock_type, steady>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitStateMachine::clock_type, steady>);
  STATIC_REQUIRE(boost::system::is_error_code_enum<exitguard::error>::value);
  STATIC_REQUIRE(exitguard::Classifier<exitguard::DefaultClassifier>);
  // The orchestration layer is reachable through the umbrella too.
  STATIC_REQUIRE(std::is_same_v<exitguard::AdaptiveExitExecutor, exitguard::BasicAdaptiveExitExecutor<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitCircuitBreaker, exitguard::BasicExitCircuitBreaker<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::TradingHaltCoordinator, exitguard::BasicTradingHaltCoordinator<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitReport, exitguard::BasicExitReport<steady>>);
  STATIC_REQUIRE(std::is_polymorphic_v<exitguard::MetricsSink>);
  STATIC_REQUIRE(exitguard::default_logger_name == "exitguard");
  STATIC_REQUIRE(exitguard::to_string(exitguard::ExitTransitionState::position_closed) == "PositionClosed");
  STATIC_REQUIRE(exitguard::to_string(exitguard::AttemptOutcome::in_doubt) == "in_doubt");
  STATIC_REQUIRE(exitguard::to_string(exitguard::SubmitStatus::partially_filled) == "partially_filled");
  STATIC_REQUIRE(exitguard::RetryPolicy::exit_policy().max_attempts == 2);
  STATIC_REQUIRE(exitguard::ExitDeadlineManager::default_deadline == 30s);
  // The exit engine (exit_engine.hpp) and exact quantities (quantity.hpp) too.
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitEngine, exitguard::BasicExitEngine<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitEngineSettings, exitguard::BasicExitEngineSettings<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::RetryBudget, exitguard::BasicRetryBudget<steady>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::Quantity::rep, std::int64_t>);
  STATIC_REQUIRE(std::is_convertible_v<int, exitguard::Quantity>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<double, exitguard::Quantity>);
  STATIC_REQUIRE(exitguard::round_down_to_lot(1234, 100) == exitguard::Quantity(1200));
  STATIC_REQUIRE(exitguard::to_string(exitguard::ExitFailureCause::market) == "market");
  CHECK(exitguard::default_ladder<steady>().size() == 2);
}

TEST_CASE("the exit policy validates and the default deadline manager holds the document's numbers",
          "[umbrella]") {
  const auto policy = exitguard::RetryPolicy::exit_policy();
  CHECK_FALSE(policy.validate());
  CHECK(policy.max_attempts == 2);
  CHECK(policy.total_timeout == 20s);

  const exitguard::ExitDeadlineManager deadline;
  CHECK(deadline.deadline() - deadline.signal_time() == 30s);
  CHECK(deadline.deadline() - deadline.final_window_start() == 10s);
  CHECK_FALSE(deadline.expired());

  // Each component refuses a bad setting with its stable id.
  auto bad = policy;
  bad.max_attempts = 0;
  CHECK(bad.validate() == exitguard::error::invalid_max_attempts);
  CHECK(exitguard::ExitDeadlineManager::validate(30s, 30s) == exitguard::error::final_window_does_not_fit);
  CHECK_THROWS_AS(exitguard::ExitAttemptTracker(0), exitguard::configuration_error);
  CHECK_THROWS_AS(exitguard::ExitStateMachine(0), exitguard::configuration_error);
}

TEST_CASE("a tiny exit: one attempt under the exit policy, tracked, timed and audited", "[umbrella]") {
  ManualClock::reset();
  ManualClock::advance(1s);  // the exit signal

  asio::io_context ioc;
  exitguard::testing::VirtualTimeDriver driver(ioc);

  const exitguard::BasicExitDeadlineManager<ManualClock> deadline;
  exitguard::BasicExitAttemptTracker<ManualClock> tracker(4);
  exitguard::BasicExitStateMachine<ManualClock> machine;
  const exitguard::BasicBoundedRetryExecutor<ManualClock>::policy_type policy =
      exitguard::BasicRetryPolicy<ManualClock>::exit_policy();
  exitguard::BasicBoundedRetryExecutor<ManualClock> executor(ioc.get_executor(), policy);

  REQUIRE_FALSE(machine.transition(exitguard::ExitTransitionState::exit_signal_received, "stop-loss"));

  exitguard::ExitOrder order;
  order.exit_id = 1;
  order.position_id = "SOL-1";
  order.quantity = 1000;  // base units
  order.limit_price = 94.05;
  order.max_slippage_bps = 100.0;
  order.attempt = 1;
  order.exclusivity_key = "nonce-1";
  REQUIRE(deadline.fits(policy.min_attempt_window, deadline.step_deadline(policy.total_timeout, false)));
  REQUIRE_FALSE(tracker.begin(order, ManualClock::now()));
  REQUIRE_FALSE(machine.transition(exitguard::ExitTransitionState::exit_submitted, "limit", 1, 0));

  // The venue confirms 2 s after the submit.
  auto submit = [&order]() -> asio::awaitable<exitguard::SubmitOutcome> {
    asio::basic_waitable_timer<ManualClock> confirmation(co_await asio::this_coro::executor);
    confirmation.expires_after(2s);
    co_await confirmation.async_wait(asio::use_awaitable);
    exitguard::SubmitOutcome out;
    out.status = exitguard::SubmitStatus::filled;
    out.filled_quantity = order.quantity;
    out.average_price = 94.5;
    out.transaction_id = "sig-1";
    co_return out;
  };

  std::optional<boost::system::error_code> ec;
  exitguard::RetryResult<exitguard::SubmitOutcome> result;
  executor.async_execute(submit, [&](boost::system::error_code e, exitguard::RetryResult<exitguard::SubmitOutcome> r) {
    ec = e;
    result = std::move(r);
  });
  REQUIRE(driver.run_until([&] { return ec.has_value(); }, 60s));

  CHECK_FALSE(*ec);
  CHECK(result.attempts == 1);
  REQUIRE(result.value);
  CHECK(ManualClock::now() == at(3s));

  const exitguard::SubmitOutcome& filled = *result.value;
  CHECK(tracker.settle(1, exitguard::AttemptOutcome::filled, filled.filled_quantity, filled.average_price,
                       filled.transaction_id, filled.error, ManualClock::now()) == 1000);
  REQUIRE_FALSE(machine.transition(exitguard::ExitTransitionState::position_closed, "filled", 1, 0, "sig-1"));

  CHECK(tracker.filled_quantity() == 1000);
  CHECK(tracker.average_price() == 94.5);
  REQUIRE(tracker.find(1)->ended);
  CHECK(*tracker.find(1)->ended == at(3s));
  CHECK(deadline.elapsed() == 2s);
  CHECK(deadline.remaining() == 28s);
  CHECK_FALSE(deadline.expired());
  CHECK(machine.is_terminal());
  CHECK(machine.state() == exitguard::ExitTransitionState::position_closed);
  REQUIRE(machine.audit_trail().size() == 3);
  CHECK(machine.audit_trail().back().time == at(3s));
  CHECK(machine.audit_trail().back().transaction_id == "sig-1");

  // Nothing is left pending on the io_context.
  CHECK(driver.run_for(1s));
}

TEST_CASE("the same tiny exit through the sans-IO exit engine: events in, commands out", "[umbrella][engine]") {
  using Engine = exitguard::BasicExitEngine<ManualClock>;
  using exitguard::ExitOutputKind;
  const exitguard::BasicExitEngineSettings<ManualClock> settings;  // the default ladder, 30 s
  REQUIRE_FALSE(settings.validate());

  exitguard::ExitRequest request;
  request.position_id = "SOL-1";
  request.quantity = 1000;
  request.signal_price = 95.0;
  request.reason = "stop-loss";
  Engine engine(settings, request, 1, exitguard::VenueCapabilities{});
  const auto drain = [&engine] {
    std::vector<ExitOutputKind> kinds;
    while (auto out = engine.poll()) kinds.push_back(out->kind);
    return kinds;
  };

  // The signal at 1 s: the engine asks for a quote first, then sends the limit order.
  engine.start(at(1s));
  CHECK(drain() == std::vector<ExitOutputKind>{ExitOutputKind::quote});
  engine.handle_quote(95.0, at(1s));
  CHECK(drain() == std::vector<ExitOutputKind>{ExitOutputKind::submit});
  REQUIRE(engine.pending_attempt() == 1u);
  const exitguard::ExitOrder order = engine.order(1);
  CHECK(order.quantity == 1000);
  CHECK(order.kind == exitguard::OrderKind::limit);
  CHECK(order.limit_price == Approx(94.05));  // 100 bps under the quote
  CHECK(order.reduce_only);
  CHECK(order.exclusivity_key == "exit-1-0");
  // The attempt's timeout (8 s) comes before the deadline (31 s).
  CHECK(engine.poll_timeout() == at(9s));

  // Filled 2 s later: closed, completed and released in the same step.
  exitguard::AttemptAnswer answer;
  answer.outcome.status = exitguard::SubmitStatus::filled;
  answer.outcome.filled_quantity = 1000;
  answer.outcome.average_price = 94.5;
  answer.outcome.transaction_id = "sig-1";
  engine.handle_answer(1, answer, at(3s));
  CHECK(drain() == std::vector<ExitOutputKind>{ExitOutputKind::attempt_finished, ExitOutputKind::complete,
                                               ExitOutputKind::release});
  CHECK(engine.is_complete());
  CHECK(engine.is_released());
  CHECK_FALSE(engine.poll_timeout());

  const auto report = engine.report();
  CHECK(report.closed());
  CHECK_FALSE(report.error);
  CHECK(report.failure_cause == exitguard::ExitFailureCause::none);
  CHECK_FALSE(report.counts_for_breaker);
  CHECK(report.attempts == 1);
  CHECK(report.filled_quantity == 1000);
  CHECK(report.open_quantity == 0);
  CHECK(report.average_price == 94.5);
  CHECK(report.exit_time == 2s);
  CHECK(report.late_fills == 0);
  CHECK(report.anomalies == 0);
  REQUIRE(report.audit_trail.size() == 3);
  CHECK(report.audit_trail.front().reason == "exit signal");
  CHECK(report.audit_trail.back().to == exitguard::ExitTransitionState::position_closed);
  CHECK(report.audit_trail.back().transaction_id == "sig-1");
}
