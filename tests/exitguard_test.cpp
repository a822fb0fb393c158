// Tests of exitguard/exitguard.hpp, the umbrella header: it compiles on its own,
// every main type is reachable through it, and they work together in a tiny exit
// run in virtual time (ManualClock + VirtualTimeDriver; no test sleeps).

// First include: proves the umbrella header compiles on its own.
#include <exitguard/exitguard.hpp>

#define CATCH_CONFIG_ENABLE_CHRONO_STRINGMAKER
#include <catch2/catch.hpp>

#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>
#include <type_traits>

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
  order.quantity = 1000.0;
  order.limit_price = 94.05;
  order.max_slippage_bps = 100.0;
  order.attempt = 1;
  order.exclusivity_key = "nonce-1";
  REQUIRE(deadline.fits(policy.min_attempt_window, deadline.step_deadline(policy.total_timeout, false)));
  REQUIRE_FALSE(tracker.begin(order));
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

  CHECK(tracker.complete(1, *result.value) == 1000.0);
  REQUIRE_FALSE(machine.transition(exitguard::ExitTransitionState::position_closed, "filled", 1, 0, "sig-1"));

  CHECK(tracker.filled_quantity() == 1000.0);
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
