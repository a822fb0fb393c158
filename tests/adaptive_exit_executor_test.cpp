// exitguard-test-set: sanitized
#include <exitguard/adaptive_exit_executor.hpp>

#include "support/exit_fixture.hpp"
#include "support/quantity_string.hpp"

#include <exitguard/error.hpp>
#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/retry_policy.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
// g++ 12 at -O1 (the sanitizer builds) warns falsely that Asio's use_future leaves
// its async_completion uninitialized; the warning is reported inside this header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/use_future.hpp>
#pragma GCC diagnostic pop
#include <boost/system/system_error.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <limits>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using namespace exit_fixture;
using exitguard::error;
using exitguard::AttemptOutcome;
using exitguard::BreakerState;
using exitguard::OrderKind;
using exitguard::TradingState;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

// --- configuration helpers -------------------------------------------------------

// The error the executor's constructor throws for `s` (empty if it accepts it).
error_code construction_error(Settings s) {
  asio::io_context ioc;
  try {
    Exits exits(ioc.get_executor(), std::move(s));
  } catch (const exitguard::configuration_error& e) {
    return e.code();
  }
  return {};
}

// validate() names the error, and the constructor refuses the settings with it.
void require_refused(const Settings& s, error e) {
  CHECK(s.validate() == e);
  CHECK(construction_error(s) == e);
}

Step limit_step(Policy p, double bps = 100) { return Step{OrderKind::limit, bps, p}; }
Step market_step() { return Step{OrderKind::market, 500, exitguard::market_step_policy<Clock>()}; }

// "P<i>" (appended, not operator+: g++ 12 -Wrestrict misfires on "P" + std::string).
std::string position_name(std::size_t i) {
  std::string name = std::to_string(i);
  name.insert(name.begin(), 'P');
  return name;
}

// --- a token-style venue: async_submit only ----------------------------------------

// Fills every order in full after `latency` at `price`. No exclusive attempts, no
// position queries, no reference price: the minimum a venue must offer.
class TokenVenue {
 public:
  TokenVenue(asio::any_io_executor ex, Clock::duration latency, double price)
      : ex_(std::move(ex)), latency_(latency), price_(price) {}

  template <class Token>
  auto async_submit(exitguard::ExitOrder order, Token&& token) {
    return asio::async_initiate<Token, void(error_code, exitguard::SubmitOutcome)>(
        [this](auto handler, exitguard::ExitOrder o) { this->start(std::move(handler), std::move(o)); }, token,
        std::move(order));
  }

  std::vector<exitguard::ExitOrder> orders;
  std::vector<Clock::time_point> sent;
  exitguard::Quantity sold;

 private:
  template <class Handler>
  void start(Handler handler, exitguard::ExitOrder order) {
    orders.push_back(std::move(order));
    sent.push_back(Clock::now());
    const std::size_t n = orders.size();
    auto timer = std::make_shared<asio::basic_waitable_timer<Clock>>(ex_, latency_);
    timer->async_wait([this, timer, n, h = std::move(handler)](error_code) mutable {
      exitguard::SubmitOutcome out;
      out.status = exitguard::SubmitStatus::filled;
      out.filled_quantity = orders[n - 1].quantity;
      out.average_price = price_;
      out.transaction_id = "tok-" + std::to_string(n);
      sold += out.filled_quantity;
      auto handler_ex = asio::get_associated_executor(h, ex_);
      asio::post(handler_ex, [done = std::move(h), out]() mutable { std::move(done)(error_code{}, out); });
    });
  }

  asio::any_io_executor ex_;
  Clock::duration latency_;
  double price_;
};

static_assert(!exitguard::AwaitableVenue<TokenVenue>);
static_assert(!exitguard::QueriesPosition<TokenVenue>);
static_assert(!exitguard::DeclaresCapabilities<TokenVenue>);
static_assert(exitguard::ExitVenue<TokenVenue>);

// --- coroutines (free functions, parameters by value: see g++ 12's coroutine bugs) --

asio::awaitable<void> await_exit(Exits* exits, Venue* venue, exitguard::ExitRequest request,
                                 std::shared_ptr<ExitResult> out) {
  try {
    auto op = exitguard::execute_exit(*exits, *venue, std::move(request), asio::use_awaitable);
    Report report = co_await std::move(op);
    out->report = std::move(report);
  } catch (const boost::system::system_error& e) {
    out->ec = e.code();
  }
  ++out->calls;
}

asio::awaitable<void> await_exit_as_tuple(Exits* exits, Venue* venue, exitguard::ExitRequest request,
                                          std::shared_ptr<ExitResult> out) {
  auto op = exitguard::execute_exit(*exits, *venue, std::move(request), asio::as_tuple(asio::use_awaitable));
  std::tuple<error_code, Report> result = co_await std::move(op);
  out->ec = std::get<0>(result);
  out->report = std::move(std::get<1>(result));
  ++out->calls;
}

}  // namespace

// =====================================================================================
// Defaults and configuration
// =====================================================================================

TEST_CASE("AdaptiveExitExecutor defaults are the design document's numbers", "[adaptive_exit_executor][defaults]") {
  STATIC_REQUIRE(exitguard::max_ladder_steps == 8);
  STATIC_REQUIRE(std::is_same_v<exitguard::AdaptiveExitExecutor::clock_type, std::chrono::steady_clock>);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitReport, exitguard::BasicExitReport<std::chrono::steady_clock>>);

  const Settings s;
  REQUIRE(s.validate() == error_code{});
  REQUIRE(s.ladder.size() == 2);

  const Step& limit = s.ladder[0];
  CHECK(limit.kind == OrderKind::limit);
  CHECK(limit.max_slippage_bps == 100);
  CHECK(limit.policy.max_attempts == 2);
  CHECK(limit.policy.total_timeout == 20s);
  CHECK(limit.policy.attempt_timeout == 8s);
  CHECK(limit.policy.initial_backoff == 1s);
  CHECK(limit.policy.backoff_multiplier == 2.5);
  CHECK(limit.policy.max_backoff == 5s);
  CHECK(limit.policy.jitter == exitguard::Jitter::none);
  CHECK(limit.policy.min_attempt_window == 500ms);

  const Step& market = s.ladder[1];
  CHECK(market.kind == OrderKind::market);
  CHECK(market.max_slippage_bps == 500);
  CHECK(market.policy.max_attempts == 3);
  CHECK(market.policy.total_timeout == 30s);
  CHECK(market.policy.attempt_timeout == 5s);
  CHECK(market.policy.initial_backoff == 500ms);
  CHECK(market.policy.backoff_multiplier == 2.0);
  CHECK(market.policy.max_backoff == 2s);

  CHECK(s.deadline == 30s);
  CHECK(s.final_window == 10s);
  CHECK(s.audit_capacity == 128);
  CHECK(s.max_attempts_per_exit == 64);
  CHECK(s.late_answer_horizon == 90s);
  CHECK_FALSE(s.breaker_counts_market_rejections);
  REQUIRE(s.classifier);
  REQUIRE(s.escalates);
  CHECK(s.escalates(make_error_code(error::slippage_exceeded)));
  CHECK_FALSE(s.escalates(make_error_code(error::insufficient_funds)));
  CHECK(s.classifier(make_error_code(error::venue_unavailable)) == exitguard::FailureKind::transient);
  CHECK(s.classifier(make_error_code(error::insufficient_funds)) == exitguard::FailureKind::permanent);
  CHECK(s.classifier(make_error_code(error::slippage_exceeded)) == exitguard::FailureKind::permanent);
  CHECK_FALSE(s.on_late_fill_after_exit);

  asio::io_context ioc;
  Exits exits(ioc.get_executor());
  CHECK(exits.settings().deadline == 30s);
  CHECK(exits.settings().ladder.size() == 2);
  CHECK(exits.breaker() == nullptr);
  CHECK(exits.halt() == nullptr);
}

TEST_CASE("settings: the ladder's shape is validated", "[adaptive_exit_executor][config]") {
  SECTION("an empty ladder") {
    Settings s;
    s.ladder.clear();
    require_refused(s, error::invalid_ladder);
  }
  SECTION("nine steps") {
    Settings s;
    s.ladder.assign(8, limit_step(Policy::exit_policy()));
    s.ladder.push_back(market_step());
    REQUIRE(s.ladder.size() == 9);
    require_refused(s, error::invalid_ladder);
  }
  SECTION("eight steps are accepted") {
    Settings s;
    s.ladder.assign(7, limit_step(Policy::exit_policy()));
    s.ladder.push_back(market_step());
    CHECK(s.validate() == error_code{});
    CHECK(construction_error(s) == error_code{});
  }
  SECTION("the market step is not last") {
    Settings s;
    s.ladder = {market_step(), limit_step(Policy::exit_policy())};
    require_refused(s, error::invalid_ladder);
  }
  SECTION("two market steps") {
    Settings s;
    s.ladder = {market_step(), market_step()};
    require_refused(s, error::invalid_ladder);
  }
  SECTION("no market step at all") {
    Settings s;
    s.ladder = {limit_step(Policy::exit_policy())};
    require_refused(s, error::invalid_ladder);
  }
  SECTION("a ladder of one market step is accepted") {
    Settings s;
    s.ladder = {market_step()};
    CHECK(s.validate() == error_code{});
  }
}

TEST_CASE("settings: slippage must be above 0 and at most 10000 bps", "[adaptive_exit_executor][config]") {
  for (double bps : {0.0, -1.0, 10001.0, not_a_number}) {
    INFO("limit step slippage " << bps);
    Settings s;
    s.ladder[0].max_slippage_bps = bps;
    require_refused(s, error::invalid_slippage);
  }
  Settings market;
  market.ladder[1].max_slippage_bps = 0;
  require_refused(market, error::invalid_slippage);

  Settings ok;
  ok.ladder[1].max_slippage_bps = 10000;
  CHECK(ok.validate() == error_code{});
}

TEST_CASE("settings: an invalid step policy is refused with that policy's error", "[adaptive_exit_executor][config]") {
  SECTION("zero attempts") {
    Settings s;
    s.ladder[0].policy.max_attempts = 0;
    require_refused(s, error::invalid_max_attempts);
  }
  SECTION("an attempt timeout longer than the step's total") {
    Settings s;
    s.ladder[1].policy.attempt_timeout = 31s;
    require_refused(s, error::attempt_timeout_exceeds_total);
  }
  SECTION("a NaN backoff multiplier") {
    Settings s;
    s.ladder[0].policy.backoff_multiplier = not_a_number;
    require_refused(s, error::invalid_backoff_multiplier);
  }
  SECTION("a negative total timeout") {
    Settings s;
    s.ladder[0].policy.total_timeout = -1s;
    require_refused(s, error::invalid_total_timeout);
  }
}

TEST_CASE("settings: the deadline and the final window", "[adaptive_exit_executor][config]") {
  SECTION("a zero deadline") {
    Settings s;
    s.deadline = 0s;
    require_refused(s, error::invalid_deadline);
  }
  SECTION("a negative deadline") {
    Settings s;
    s.deadline = -30s;
    require_refused(s, error::invalid_deadline);
  }
  SECTION("a final window as long as the deadline") {
    Settings s;
    s.final_window = 30s;
    require_refused(s, error::final_window_does_not_fit);
  }
  SECTION("a final window longer than the deadline") {
    Settings s;
    s.final_window = 31s;
    require_refused(s, error::final_window_does_not_fit);
  }
  SECTION("a zero final window") {
    Settings s;
    s.final_window = 0s;
    require_refused(s, error::final_window_does_not_fit);
  }
  SECTION("the market step cannot start an attempt in the final window") {
    Settings s;
    s.final_window = 2s;
    s.ladder[1].policy.min_attempt_window = 3s;  // valid for the policy (<= its 5 s attempt timeout)
    REQUIRE(s.ladder[1].policy.validate() == error_code{});
    require_refused(s, error::final_window_does_not_fit);
    s.ladder[1].policy.min_attempt_window = 2s;  // exactly the window: fits
    CHECK(s.validate() == error_code{});
  }
  SECTION("a deadline longer than 10 minutes") {
    Settings s;
    s.deadline = std::chrono::minutes(10) + 1s;
    s.late_answer_horizon = std::chrono::minutes(20);
    require_refused(s, error::deadline_too_long);
    s.deadline = std::chrono::minutes(10);  // the bound itself is accepted
    CHECK(s.validate() == error_code{});
  }
}

TEST_CASE("settings: the late-answer horizon and the exit's attempt limit", "[adaptive_exit_executor][config]") {
  SECTION("the horizon must be after the deadline") {
    Settings s;
    s.late_answer_horizon = s.deadline;
    require_refused(s, error::invalid_late_answer_horizon);
    s.late_answer_horizon = s.deadline + 1s;
    CHECK(s.validate() == error_code{});
  }
  SECTION("a longer deadline needs a longer horizon") {
    Settings s;
    s.deadline = std::chrono::minutes(5);  // the default horizon (90 s) is now before it
    require_refused(s, error::invalid_late_answer_horizon);
  }
  SECTION("the horizon is at most an hour") {
    Settings s;
    s.late_answer_horizon = std::chrono::hours(1) + 1s;
    require_refused(s, error::invalid_late_answer_horizon);
    s.late_answer_horizon = std::chrono::hours(1);
    CHECK(s.validate() == error_code{});
  }
  SECTION("the attempt limit is 1..1000") {
    Settings s;
    s.max_attempts_per_exit = 0;
    require_refused(s, error::invalid_exit_attempt_limit);
    s.max_attempts_per_exit = 1001;
    require_refused(s, error::invalid_exit_attempt_limit);
    s.max_attempts_per_exit = 1;
    CHECK(s.validate() == error_code{});
    s.max_attempts_per_exit = 1000;
    CHECK(s.validate() == error_code{});
  }
}

TEST_CASE("settings: the audit capacity", "[adaptive_exit_executor][config]") {
  Settings s;
  s.audit_capacity = 7;
  require_refused(s, error::invalid_audit_capacity);
  s.audit_capacity = 65537;
  require_refused(s, error::invalid_audit_capacity);
  s.audit_capacity = 8;
  CHECK(s.validate() == error_code{});
  s.audit_capacity = 65536;
  CHECK(s.validate() == error_code{});
}

TEST_CASE("an exit that ends at once does not complete inside execute_exit, even on its own thread",
          "[adaptive_exit_executor][completion]") {
  // Asio's rule for an initiating function: the handler is never called inside it.
  // Started from a handler running on the exit's io_context, an invalid request (or a
  // refusal) would otherwise end on the spot: the first hop is posted.
  Clock::reset();
  ExitFixture f;
  auto request = f.open("SOL-1", 1000);
  request.quantity = 0;  // invalid: the engine ends the exit as it starts
  int calls = 0;
  int calls_inside = -1;
  error_code result;
  asio::post(f.ioc, [&] {
    exitguard::execute_exit(f.exits, f.venue, request, [&](error_code ec, Report) {
      ++calls;
      result = ec;
    });
    calls_inside = calls;
  });
  REQUIRE(f.driver.run_until([&calls] { return calls > 0; }));
  CHECK(calls_inside == 0);
  CHECK(calls == 1);
  CHECK(result == error::invalid_quantity);
}

TEST_CASE("invalid requests end ExitFailed at once, with nothing sent", "[adaptive_exit_executor][request]") {
  Clock::reset();
  ExitFixture f;
  // Quantities are exact (no NaN or infinity): what is invalid is a quantity below
  // one lot, or a lot that is not positive.
  struct Case {
    exitguard::Quantity quantity;
    double price;
    exitguard::Quantity lot;
    error expected;
  };
  const Case cases[] = {
      {0, 95, 1, error::invalid_quantity},       {-1, 95, 1, error::invalid_quantity},
      {9, 95, 10, error::invalid_quantity},      {1000, 95, 0, error::invalid_lot_size},
      {1000, 95, -10, error::invalid_lot_size},  {1000, 0, 1, error::invalid_price},
      {1000, -95, 1, error::invalid_price},      {1000, not_a_number, 1, error::invalid_price},
      {1000, infinity, 1, error::invalid_price},
  };
  for (const Case& c : cases) {
    INFO("quantity " << exitguard::to_string(c.quantity) << ", signal price " << c.price << ", lot "
                     << exitguard::to_string(c.lot));
    auto request = f.open("SOL-1", 1000);
    request.quantity = c.quantity;
    request.signal_price = c.price;
    request.lot_size = c.lot;
    auto [ec, r] = f.run(request);
    CHECK(ec == c.expected);
    CHECK(r.error == c.expected);
    CHECK(r.final_state == S::exit_failed);
    CHECK(r.attempts == 0);
    CHECK(r.exit_time == 0s);
    CHECK(r.filled_quantity == 0);
    CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_failed});
  }
  CHECK(f.venue.submissions().empty());
  CHECK(f.breaker.consecutive_failures() == 0);  // a refused request says nothing about exits
}

// =====================================================================================
// The happy path
// =====================================================================================

TEST_CASE("happy path: one attempt closes the position at the fill time", "[adaptive_exit_executor][happy]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(fill(2s, 1.0, 20));  // 20 bps worse than the path's 95
  auto [ec, r] = f.run(f.open("SOL-1", 1000, 95));

  CHECK_FALSE(ec);
  CHECK(r.error == error_code{});
  CHECK(r.final_state == S::position_closed);
  CHECK(r.closed());
  CHECK(r.exit_time == 2s);
  CHECK(f.now() == 2s);
  CHECK(r.exit_id == 1);
  CHECK(r.position_id == "SOL-1");
  CHECK(r.attempts == 1);
  CHECK(r.requested_quantity == 1000);
  CHECK(r.filled_quantity == 1000);
  CHECK(r.average_price == Approx(95 * (1 - 0.002)).epsilon(1e-12));
  CHECK(r.realized_slippage_bps == Approx(20).epsilon(1e-9));
  CHECK_FALSE(r.escalated);
  CHECK_FALSE(r.breaker_tripped);
  CHECK(r.breaker_state == BreakerState::closed);
  CHECK(r.trading_state == TradingState::running);
  CHECK(r.reason == "position closed");
  CHECK(r.failure_cause == exitguard::ExitFailureCause::none);
  CHECK_FALSE(r.counts_for_breaker);
  CHECK(r.open_quantity == 0);
  CHECK(r.late_fills == 0);
  CHECK(r.anomalies == 0);
  CHECK(trail_states(r) ==
        std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted, S::position_closed});
  CHECK(r.audit_trail[0].reason == "exit signal");  // not the request's reason ("stop-loss")
  CHECK(r.audit_trail[1].time == at(0s));
  CHECK(r.audit_trail[1].attempt == 1);
  CHECK(r.audit_trail[2].time == at(2s));
  CHECK(r.audit_trail[2].transaction_id == "tx-1");

  REQUIRE(r.attempt_records.size() == 1);
  const auto& a = r.attempt_records[0];
  CHECK(a.number == 1);
  CHECK(a.step == 0);
  CHECK(a.kind == OrderKind::limit);
  CHECK(a.quantity == 1000);
  CHECK(a.outcome == AttemptOutcome::filled);
  CHECK(a.started == at(0s));
  CHECK(a.ended == at(2s));
  CHECK(a.filled_quantity == 1000);
  CHECK(a.transaction_id == "tx-1");
  CHECK_FALSE(a.late_fill);

  REQUIRE(f.venue.submissions().size() == 1);
  const auto& order = f.venue.submissions()[0].order;
  CHECK(order.exit_id == 1);
  CHECK(order.position_id == "SOL-1");
  CHECK(order.side == exitguard::Side::sell);
  CHECK(order.quantity == 1000);
  CHECK(order.kind == OrderKind::limit);
  CHECK(order.max_slippage_bps == 100);
  CHECK(order.limit_price == Approx(95 * 0.99).epsilon(1e-12));
  CHECK(order.attempt == 1);
  CHECK(order.step == 0);
  CHECK_FALSE(order.exclusivity_key.empty());
  CHECK(order.reduce_only);
  CHECK(f.venue.sold("SOL-1") == 1000);
  CHECK(f.venue.position("SOL-1") == 0);
  CHECK(f.breaker.consecutive_failures() == 0);

  // A second exit gets the next id.
  auto [ec2, r2] = f.run(f.open("SOL-2", 10));
  CHECK_FALSE(ec2);
  CHECK(r2.exit_id == 2);
}

TEST_CASE("prices are current: each limit price is derived from the reference price at its submit",
          "[adaptive_exit_executor][happy]") {
  Clock::reset();
  ExitFixture f({}, nullptr, {}, exitguard::testing::linear_price(95.0, -1.0 / 6.0));
  f.venue.push(lost());
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());
  CHECK_FALSE(ec);
  CHECK(r.exit_time == 11s);
  REQUIRE(f.venue.submissions().size() == 2);
  CHECK(f.venue.submissions()[0].order.limit_price == Approx(95.0 * 0.99).epsilon(1e-12));
  CHECK(f.venue.submissions()[1].sent == at(9s));
  CHECK(f.venue.submissions()[1].order.limit_price == Approx((95.0 - 9.0 / 6.0) * 0.99).epsilon(1e-12));
  // The fill is at the path's price when it landed (t = 11 s).
  CHECK(r.average_price == Approx(95.0 - 11.0 / 6.0).epsilon(1e-12));
  CHECK(r.realized_slippage_bps == Approx((11.0 / 6.0) / 95.0 * 1e4).epsilon(1e-9));
}

// =====================================================================================
// The ladder's budgets
// =====================================================================================

TEST_CASE("ladder: a venue that never answers spends every step's budget, then the deadline ends the exit",
          "[adaptive_exit_executor][ladder]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(lost());
  auto [ec, r] = f.run(f.open());

  CHECK(ec == error::deadline_exceeded);
  CHECK(ec == boost::system::errc::timed_out);
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.exit_time == 30s);
  CHECK(f.now() == 30s);
  CHECK(r.escalated);
  CHECK(r.attempts == 5);
  CHECK(r.filled_quantity == 0);
  CHECK(r.average_price == 0);

  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 5);
  const Clock::duration sent[] = {0s, 9s, 17s, 22500ms, 28500ms};
  const std::uint32_t steps[] = {0, 0, 1, 1, 1};
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("attempt " << i + 1);
    CHECK(subs[i].sent == at(sent[i]));
    CHECK(subs[i].order.attempt == i + 1);
    CHECK(subs[i].order.step == steps[i]);
    CHECK(subs[i].order.kind == (steps[i] == 0 ? OrderKind::limit : OrderKind::market));
    CHECK(subs[i].order.max_slippage_bps == (steps[i] == 0 ? 100 : 500));
    CHECK(subs[i].order.quantity == 1000);
    CHECK(subs[i].order.exclusivity_key == subs[0].order.exclusivity_key);  // nothing landed: one key
  }
  // Each attempt ended (timed out) at its own cut: 8 s, 17 s, 22 s, 27.5 s, and the deadline.
  const Clock::duration ended[] = {8s, 17s, 22s, 27500ms, 30s};
  REQUIRE(r.attempt_records.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    INFO("attempt " << i + 1);
    CHECK(r.attempt_records[i].outcome == AttemptOutcome::in_doubt);
    CHECK(r.attempt_records[i].error == error::attempt_timed_out);
    CHECK(r.attempt_records[i].ended == at(ended[i]));
  }
  CHECK(entered_at(r, S::emergency_escalation) == 17s);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::exit_submitted, S::exit_timed_out,
                                          S::emergency_escalation, S::market_exit_submitted, S::exit_timed_out,
                                          S::market_exit_submitted, S::exit_timed_out, S::market_exit_submitted,
                                          S::exit_timed_out, S::exit_failed});
  CHECK(r.audit_trail.back().time == at(30s));
  CHECK(r.failure_cause == exitguard::ExitFailureCause::infrastructure);
  CHECK(r.counts_for_breaker);
  CHECK(r.open_quantity == 1000);
  CHECK(r.breaker_state == BreakerState::closed);  // one failure: below the threshold of 2
  CHECK(f.breaker.consecutive_failures() == 1);
}

TEST_CASE("ladder: when the limit step's budget runs out before its attempts, it escalates at deadline - final window",
          "[adaptive_exit_executor][ladder]") {
  Clock::reset();
  Policy p = Policy::exit_policy();
  p.max_attempts = 10;         // more than the budget allows
  p.total_timeout = 30s;       // clamped to the final window's start (20 s)
  p.attempt_timeout = 8s;
  p.initial_backoff = 1s;
  p.backoff_multiplier = 1.0;  // a constant 1 s backoff
  p.max_backoff = 1s;
  Settings s;
  s.ladder = {limit_step(p), market_step()};
  ExitFixture f(s);
  f.venue.set_default(lost());
  auto [ec, r] = f.run(f.open());

  CHECK(ec == error::deadline_exceeded);
  CHECK(r.exit_time == 30s);
  CHECK(r.escalated);
  CHECK(entered_at(r, S::emergency_escalation) == 20s);
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 5);
  // Limit attempts at 0, 9 and 18 s; the third is clamped to the 2 s left in the step.
  CHECK(subs[0].sent == at(0s));
  CHECK(subs[1].sent == at(9s));
  CHECK(subs[2].sent == at(18s));
  CHECK(r.attempt_records[2].ended == at(20s));
  for (std::size_t i = 0; i < 3; ++i) CHECK(subs[i].order.step == 0);
  // Market attempts at 20 s and 25.5 s (5 s timeout, 0.5 s backoff); the second is cut at the deadline.
  CHECK(subs[3].sent == at(20s));
  CHECK(subs[3].order.kind == OrderKind::market);
  CHECK(subs[4].sent == at(25500ms));
  CHECK(r.attempt_records[4].ended == at(30s));
}

// =====================================================================================
// Partial fills
// =====================================================================================

TEST_CASE("partial fill: the remainder is sent at once, with no backoff", "[adaptive_exit_executor][partial]") {
  Clock::reset();
  ExitFixture f;
  f.venue.push(fill(2s, 0.4, 10));  // 400 at 95 * (1 - 0.001)
  f.venue.push(fill(2s, 1.0, 30));  // 600 at 95 * (1 - 0.003)
  auto [ec, r] = f.run(f.open("SOL-1", 1000, 95));

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK(r.exit_time == 4s);
  CHECK(r.attempts == 2);
  CHECK_FALSE(r.escalated);
  CHECK(r.filled_quantity == 1000);
  const double vwap = (400 * 95 * 0.999 + 600 * 95 * 0.997) / 1000;
  CHECK(r.average_price == Approx(vwap).epsilon(1e-12));
  CHECK(r.realized_slippage_bps == Approx(22).epsilon(1e-9));  // 0.4 * 10 + 0.6 * 30

  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[0].order.quantity == 1000);
  CHECK(subs[1].sent == at(2s));  // the same instant as the partial fill
  CHECK(subs[1].order.quantity == 600);
  CHECK(subs[1].order.step == 0);
  CHECK(subs[1].order.attempt == 2);
  // The first key landed: the remainder needs a fresh one.
  CHECK(subs[1].order.exclusivity_key != subs[0].order.exclusivity_key);

  REQUIRE(r.attempt_records.size() == 2);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::partially_filled);
  CHECK(r.attempt_records[0].filled_quantity == 400);
  CHECK(r.attempt_records[1].outcome == AttemptOutcome::filled);
  CHECK(r.attempt_records[1].filled_quantity == 600);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::partially_filled, S::exit_submitted, S::position_closed});
  CHECK(f.venue.sold("SOL-1") == 1000);
}

TEST_CASE("partial fill: the remainder does not spend an attempt of the step's retry budget",
          "[adaptive_exit_executor][partial]") {
  Clock::reset();
  Policy p = Policy::exit_policy();
  p.max_attempts = 1;
  Settings s;
  s.ladder = {limit_step(p), market_step()};
  ExitFixture f(s);
  f.venue.push(fill(2s, 0.4));
  f.venue.push(fill(2s, 0.5));  // 300 of the 600
  f.venue.push(fill(2s));       // the last 300
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.exit_time == 6s);
  CHECK(r.attempts == 3);
  CHECK_FALSE(r.escalated);  // every remainder stayed on the limit step
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 3);
  CHECK(subs[1].sent == at(2s));
  CHECK(subs[2].sent == at(4s));
  CHECK(subs[1].order.quantity == 600);
  CHECK(subs[2].order.quantity == 300);
  for (const auto& sub : subs) {
    CHECK(sub.order.step == 0);
    CHECK(sub.order.kind == OrderKind::limit);
  }
  CHECK(r.filled_quantity == 1000);
  CHECK(r.average_price == Approx(95).epsilon(1e-12));
}

// =====================================================================================
// Rejections
// =====================================================================================

TEST_CASE("rejection: a transient one is retried after the backoff", "[adaptive_exit_executor][reject]") {
  Clock::reset();
  ExitFixture f;
  f.venue.push(reject(error::venue_unavailable, 1s));
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK(r.attempts == 2);
  CHECK(r.exit_time == 4s);  // rejected at 1 s, 1 s backoff, sent at 2 s, filled at 4 s
  REQUIRE(f.venue.submissions().size() == 2);
  CHECK(f.venue.submissions()[1].sent == at(2s));
  CHECK(f.venue.submissions()[1].order.step == 0);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::rejected);
  CHECK(r.attempt_records[0].error == error::venue_unavailable);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_rejected, S::exit_submitted, S::position_closed});
}

TEST_CASE("rejection: a permanent one makes exactly one attempt and fails with its code",
          "[adaptive_exit_executor][reject]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  auto [ec, r] = f.run(f.open());

  CHECK(ec == error::insufficient_funds);
  CHECK(r.error == error::insufficient_funds);
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.attempts == 1);
  CHECK(r.exit_time == 1s);
  CHECK_FALSE(r.escalated);
  CHECK(f.venue.submissions().size() == 1);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_rejected, S::exit_failed});
  CHECK(r.failure_cause == exitguard::ExitFailureCause::venue);
  CHECK(r.counts_for_breaker);
  CHECK(f.breaker.consecutive_failures() == 1);
}

TEST_CASE("rejection: slippage_exceeded escalates at once to the market step", "[adaptive_exit_executor][reject]") {
  Clock::reset();
  ExitFixture f;
  f.venue.push(reject(error::slippage_exceeded, 1s));
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK(r.escalated);
  CHECK(r.attempts == 2);
  CHECK(r.exit_time == 3s);
  CHECK(entered_at(r, S::emergency_escalation) == 1s);
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[1].sent == at(1s));  // no backoff, and the limit step's second attempt is skipped
  CHECK(subs[1].order.step == 1);
  CHECK(subs[1].order.kind == OrderKind::market);
  CHECK(subs[1].order.max_slippage_bps == 500);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_rejected, S::emergency_escalation, S::market_exit_submitted,
                                          S::position_closed});
}

TEST_CASE("rejection: an exit failed only because the market moved does not count for the breaker",
          "[adaptive_exit_executor][reject][breaker]") {
  Clock::reset();
  const bool counted = GENERATE(false, true);
  INFO("breaker_counts_market_rejections " << counted);
  Settings s;
  s.breaker_counts_market_rejections = counted;
  ExitFixture f(s);
  f.venue.set_default(reject(error::slippage_exceeded, 1s));
  auto [ec, r] = f.run(f.open());

  // The limit attempt escalates at once; the market step re-quotes until no attempt
  // fits before the deadline (not 3 times, its policy's max_attempts): at 1 s, 2.5 s,
  // 4.5 s, then every 3 s (1 s answers, 2 s backoff) to 28.5 s, rejected at 29.5 s.
  CHECK(ec == error::deadline_exceeded);
  CHECK(r.escalated);
  CHECK(r.attempts == 12);
  CHECK(r.exit_time == 29500ms);
  CHECK(f.venue.submissions().back().sent == at(28500ms));
  CHECK(r.failure_cause == exitguard::ExitFailureCause::market);
  CHECK(r.counts_for_breaker == counted);
  CHECK(f.breaker.consecutive_failures() == (counted ? 1u : 0u));
}

// =====================================================================================
// In doubt (design principle 2)
// =====================================================================================

TEST_CASE("in doubt (a): with exclusive attempts the next attempt reuses the key, and a late landing sells nothing",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  REQUIRE(f.venue.capabilities().exclusive_attempts);  // the MockVenue default
  f.venue.push(land_late(20s));           // lost for now; lands at t = 20 s
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.exit_time == 11s);
  CHECK(r.attempts == 2);
  CHECK(r.filled_quantity == 1000);
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[1].sent == at(9s));  // 8 s timeout + 1 s backoff
  CHECK(subs[1].order.exclusivity_key == subs[0].order.exclusivity_key);
  CHECK(f.venue.queries().empty());  // exclusivity is enough: no reconciliation needed
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::in_doubt);

  // The first transaction lands late, on a used key: refused.
  CHECK(f.driver.run_for(60s));
  CHECK(f.venue.sold("SOL-1") == 1000);
  CHECK(f.venue.position("SOL-1") == 0);
  REQUIRE(f.venue.landings().size() == 2);
  CHECK(f.venue.landings()[1].at == at(20s));
  CHECK_FALSE(f.venue.landings()[1].applied);
}

TEST_CASE("in doubt: a submit that throws is an attempt in doubt, not a rejection",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  const bool on_call = GENERATE(false, true);
  INFO((on_call ? "submit() throws: nothing was sent" : "the awaitable throws when the answer is due"));
  ExitFixture f;
  Script throws;
  throws.fate = Fate::throws;
  throws.throw_on_call = on_call;
  f.venue.push(throws);
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.attempts == 2);
  REQUIRE(r.attempt_records.size() == 2);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::in_doubt);
  CHECK(r.attempt_records[0].error == error::operation_threw);
  // In doubt at 0 s (or 2 s); the venue's attempts are exclusive: the next one goes after the 1 s backoff.
  const Clock::duration doubt = on_call ? 0s : 2s;
  REQUIRE(f.venue.submissions().size() == 2);
  CHECK(f.venue.submissions()[1].sent == at(doubt + 1s));
  CHECK(f.venue.submissions()[1].order.exclusivity_key == f.venue.submissions()[0].order.exclusivity_key);
  CHECK(r.exit_time == doubt + 3s);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::exit_submitted, S::position_closed});
}

TEST_CASE("in doubt (b): reconciliation sizes the next attempt to what really remains",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  REQUIRE(f.venue.capabilities().queries_position);
  f.venue.push(in_doubt(3s, 2s, 0.4));  // lands 400 silently at 2 s, answers "in doubt" at 3 s
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  // In doubt at 3 s, 1 s backoff, query at 4 s answered at 4.2 s, the rest sent then and filled at 6.2 s.
  REQUIRE(f.venue.queries().size() == 1);
  CHECK(f.venue.queries()[0].sent == at(4s));
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[1].sent == at(4200ms));
  CHECK(subs[1].order.quantity == 600);
  CHECK(r.exit_time == 6200ms);
  CHECK(r.attempts == 2);
  CHECK(r.filled_quantity == 1000);
  CHECK(r.average_price == Approx(95).epsilon(1e-12));
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::in_doubt);
  CHECK(r.attempt_records[1].filled_quantity == 600);

  CHECK(f.driver.run_for(60s));
  CHECK(f.venue.sold("SOL-1") == 1000);
}

TEST_CASE("in doubt (b): an attempt landing after the reconciliation still never oversells",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.push(in_doubt(3s, 6s, 0.4));  // answers "in doubt" at 3 s, lands 400 at 6 s: after the query
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  // The query at 4 s saw 1000; attempt 2 asked for 1000 at 4.2 s but only 600 were
  // left when it landed at 6.2 s (reduce-only); a second query at 6.2 s finds 0 left.
  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK_FALSE(r.escalated);
  REQUIRE(f.venue.queries().size() == 2);
  CHECK(f.venue.queries()[1].sent == at(6200ms));
  CHECK(r.exit_time == 6400ms);
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[1].order.quantity == 1000);
  CHECK(r.attempts == 2);
  CHECK(r.filled_quantity == 1000);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::exit_submitted, S::partially_filled,
                                          S::position_closed});
  CHECK(f.driver.run_for(60s));
  CHECK(f.venue.sold("SOL-1") == 1000);
  CHECK(f.venue.position("SOL-1") == 0);
}

TEST_CASE("in doubt with neither exclusivity nor queries: nothing more is sent, ExitFailed at the deadline",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.set_position_query(false);
  f.venue.push(lost());
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK(ec == error::in_doubt_unresolvable);
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.exit_time == 30s);
  CHECK(r.attempts == 1);
  CHECK_FALSE(r.escalated);
  CHECK(f.venue.submissions().size() == 1);
  CHECK(f.venue.queries().empty());
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::exit_failed});
  CHECK(f.breaker.consecutive_failures() == 1);
}

TEST_CASE("in doubt with neither: a late landing before the deadline closes the exit at that instant",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.set_position_query(false);
  f.venue.push(land_late(12s));
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK(r.exit_time == 12s);
  CHECK(r.attempts == 1);
  CHECK(r.filled_quantity == 1000);
  CHECK_FALSE(r.escalated);
  CHECK(f.venue.submissions().size() == 1);
  REQUIRE(r.attempt_records.size() == 1);
  CHECK(r.attempt_records[0].late_fill);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::filled);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::position_closed});
  CHECK(r.audit_trail.back().attempt == 1);
  CHECK(r.audit_trail.back().transaction_id == "tx-1");
}

TEST_CASE("in doubt with neither: a late rejection resolves the doubt and the exit goes on",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.set_position_query(false);
  f.venue.push(reject(error::venue_unavailable, 12s));  // answers only after the 8 s timeout: certainly not filled
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[1].sent == at(12s));  // at once: the doubt resolved at 12 s
  CHECK(subs[1].order.step == 0);
  CHECK(r.exit_time == 14s);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::rejected);
  CHECK(f.venue.sold("SOL-1") == 1000);
}

TEST_CASE("in doubt with neither: a late partial fill resolves the doubt and the remainder goes at once",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.set_position_query(false);
  f.venue.push(land_late(12s, 0.4));  // 400 land at 12 s, long after the 8 s timeout
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[1].sent == at(12s));
  CHECK(subs[1].order.quantity == 600);
  CHECK(subs[1].order.exclusivity_key != subs[0].order.exclusivity_key);  // the first key landed
  CHECK(r.exit_time == 14s);
  CHECK(r.attempts == 2);
  CHECK(r.filled_quantity == 1000);
  CHECK(r.attempt_records[0].late_fill);
  CHECK(r.attempt_records[0].filled_quantity == 400);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::partially_filled, S::exit_submitted,
                                          S::position_closed});
  CHECK(f.venue.sold("SOL-1") == 1000);
}

// =====================================================================================
// Late fills
// =====================================================================================

TEST_CASE("late fill after abandon: the abandoned attempt's landing closes the exit, counted once",
          "[adaptive_exit_executor][late_fill]") {
  Clock::reset();
  Settings s;
  int after_exit_calls = 0;
  s.on_late_fill_after_exit = [&after_exit_calls](const exitguard::LateFillAfterExit&) { ++after_exit_calls; };
  ExitFixture f(s);
  f.venue.push(land_late(12s));  // abandoned at 8 s, lands at 12 s
  f.venue.push(fill(5s));        // attempt 2, sent at 9 s, would land at 14 s
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK(r.exit_time == 12s);
  CHECK(r.attempts == 2);
  CHECK(r.filled_quantity == 1000);
  CHECK(r.average_price == 95);
  CHECK_FALSE(r.escalated);
  REQUIRE(r.attempt_records.size() == 2);
  CHECK(r.attempt_records[0].late_fill);
  CHECK(r.attempt_records[0].filled_quantity == 1000);
  CHECK(r.attempt_records[0].transaction_id == "tx-1");
  CHECK(r.attempt_records[1].filled_quantity == 0);
  CHECK_FALSE(r.attempt_records[1].late_fill);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::exit_submitted, S::position_closed});
  CHECK(r.audit_trail.back().attempt == 1);
  CHECK(r.audit_trail.back().transaction_id == "tx-1");
  // The closed exit asked attempt 2 to stop.
  CHECK(f.venue.pending_answers() == 0);

  // Attempt 2's transaction still lands at 14 s, on the used key: refused, nothing more sold.
  CHECK(f.driver.run_for(60s));
  REQUIRE(f.venue.landings().size() == 2);
  CHECK(f.venue.landings()[1].at == at(14s));
  CHECK_FALSE(f.venue.landings()[1].applied);
  CHECK(f.venue.sold("SOL-1") == 1000);
  CHECK(after_exit_calls == 0);
}

TEST_CASE("late partial fill while a later attempt on the same key is pending: the remainder still goes",
          "[adaptive_exit_executor][late_fill]") {
  Clock::reset();
  ExitFixture f;
  f.venue.push(land_late(12s, 0.4));  // attempt 1: 400 land at 12 s, using the exit's key
  f.venue.push(fill(5s));             // attempt 2 (same key, sent at 9 s): refused at 14 s, the key is used
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());

  // Attempt 2's refusal says nothing about the venue: it lost the race to attempt 1.
  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 3);
  CHECK(subs[1].order.exclusivity_key == subs[0].order.exclusivity_key);
  CHECK(subs[2].sent == at(14s));
  CHECK(subs[2].order.quantity == 600);
  CHECK(subs[2].order.exclusivity_key != subs[0].order.exclusivity_key);
  CHECK(r.exit_time == 16s);
  CHECK(r.attempts == 3);
  CHECK(r.filled_quantity == 1000);
  CHECK(r.attempt_records[0].late_fill);
  CHECK(r.attempt_records[1].outcome == AttemptOutcome::rejected);
  CHECK(f.venue.sold("SOL-1") == 1000);
}

TEST_CASE("late fill after abandon without exclusivity: the pending attempt fills nothing more",
          "[adaptive_exit_executor][late_fill]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.push(land_late(12s));
  f.venue.push(fill(5s));  // attempt 2, sent at 9.2 s after a query saw 1000 left
  auto [ec, r] = f.run(f.open());

  CHECK_FALSE(ec);
  CHECK(r.exit_time == 12s);
  CHECK(r.filled_quantity == 1000);
  REQUIRE(f.venue.submissions().size() == 2);
  CHECK(f.venue.submissions()[1].sent == at(9200ms));
  CHECK(f.driver.run_for(60s));
  REQUIRE(f.venue.landings().size() == 2);
  CHECK_FALSE(f.venue.landings()[1].applied);  // reduce-only: nothing left to sell
  CHECK(f.venue.sold("SOL-1") == 1000);
}

TEST_CASE("late fill after the exit ended: on_late_fill_after_exit is told once, nothing double counted",
          "[adaptive_exit_executor][late_fill]") {
  Clock::reset();
  std::vector<exitguard::LateFillAfterExit> told;
  Settings s;
  s.on_late_fill_after_exit = [&told](const exitguard::LateFillAfterExit& fill) { told.push_back(fill); };
  ExitFixture f(s);
  f.venue.push(land_late(40s));  // lands 10 s after the deadline
  f.venue.set_default(lost());
  auto [ec, r] = f.run(f.open());

  CHECK(ec == error::deadline_exceeded);
  CHECK(r.exit_time == 30s);
  CHECK(r.filled_quantity == 0);
  CHECK(told.empty());

  // (Not run out of work: the lost attempts 2-5 stay pending, so that a late answer would still be taken.)
  f.driver.run_for(120s);
  REQUIRE(told.size() == 1);
  CHECK(told[0].exit_id == r.exit_id);
  CHECK(told[0].position_id == "SOL-1");
  CHECK(told[0].attempt == 1);
  CHECK(told[0].transaction_id == "tx-1");
  CHECK(told[0].quantity == 1000);
  CHECK(told[0].price == 95);
  CHECK(told[0].filled_quantity == 1000);  // the corrected total
  CHECK(f.venue.sold("SOL-1") == 1000);  // the later attempts shared its key: none could land too
}

// =====================================================================================
// Trading halts
// =====================================================================================

TEST_CASE("halt: an exit started while trading is halted fails at once, with nothing sent",
          "[adaptive_exit_executor][halt]") {
  Clock::reset();
  ExitFixture f;
  f.halt.halt("ops", "maintenance");
  auto [ec, r] = f.run(f.open());
  CHECK(ec == error::trading_halted);
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.attempts == 0);
  CHECK(r.exit_time == 0s);
  CHECK(r.trading_state == TradingState::halted);
  CHECK(f.venue.submissions().empty());
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_failed});
  CHECK(f.breaker.consecutive_failures() == 0);  // a refusal is not a failed exit
}

TEST_CASE("halt while an attempt is pending: its answer is still taken", "[adaptive_exit_executor][halt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(fill(2s));
  auto result = f.start(f.open());
  f.driver.advance(1s);
  REQUIRE(f.venue.pending_answers() == 1);
  f.halt.halt("ops", "venue incident");
  auto [ec, r] = f.finish(result);
  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK(r.exit_time == 2s);
  CHECK(r.trading_state == TradingState::halted);
  CHECK(f.venue.sold("SOL-1") == 1000);
}

TEST_CASE("halt while an attempt is pending: no new attempt, ExitFailed trading_halted",
          "[adaptive_exit_executor][halt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.push(lost());
  f.venue.set_default(fill(2s));
  auto result = f.start(f.open());
  f.driver.advance(1s);
  f.halt.halt("ops", "venue incident");
  auto [ec, r] = f.finish(result);
  CHECK(ec == error::trading_halted);
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.attempts == 1);
  // Timed out at 8 s: the halt is taken with that event (the driver checks the trading
  // state before every event), and with nothing left in flight the exit ends then; it
  // does not wait out a backoff that can lead to no attempt.
  CHECK(r.exit_time == 8s);
  CHECK(f.venue.submissions().size() == 1);
  CHECK(r.trading_state == TradingState::halted);
  CHECK(r.failure_cause == exitguard::ExitFailureCause::refused);
  CHECK_FALSE(r.counts_for_breaker);  // the halt, not the venue, stopped it
  CHECK(f.breaker.consecutive_failures() == 0);
  // "trading halted" is a note: it changes no state.
  const auto notes = audit_notes(r);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].reason == "trading halted");
  CHECK(notes[0].error == error::trading_halted);
}

TEST_CASE("halt: under ReduceOnly exits proceed", "[adaptive_exit_executor][halt]") {
  Clock::reset();
  ExitFixture f;
  f.halt.reduce_only("ops", "no new entries");
  f.venue.push(reject(error::venue_unavailable, 1s));
  f.venue.set_default(fill(2s));
  auto [ec, r] = f.run(f.open());
  CHECK_FALSE(ec);
  CHECK(r.final_state == S::position_closed);
  CHECK(r.attempts == 2);
  CHECK(r.exit_time == 4s);
  CHECK(r.trading_state == TradingState::reduce_only);
}

// =====================================================================================
// Circuit breaker
// =====================================================================================

TEST_CASE("breaker: two failed exits trip it and halt trading, the third is refused",
          "[adaptive_exit_executor][breaker]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(reject(error::insufficient_funds, 1s));

  auto [ec1, r1] = f.run(f.open("A"));
  CHECK(ec1 == error::insufficient_funds);
  CHECK_FALSE(r1.breaker_tripped);
  CHECK(r1.breaker_state == BreakerState::closed);
  CHECK(r1.trading_state == TradingState::running);

  auto [ec2, r2] = f.run(f.open("B"));
  CHECK(ec2 == error::insufficient_funds);
  CHECK(r2.breaker_tripped);
  CHECK(r2.breaker_state == BreakerState::open);
  CHECK(r2.trading_state == TradingState::halted);
  CHECK(f.breaker.trips() == 1);
  CHECK(f.halt.state() == TradingState::halted);
  CHECK(f.halt.last_change().who == exitguard::exit_circuit_breaker_name);

  auto [ec3, r3] = f.run(f.open("C"));
  CHECK(ec3 == error::circuit_open);
  CHECK(r3.final_state == S::exit_failed);
  CHECK(r3.attempts == 0);
  CHECK(r3.exit_time == 0s);
  CHECK(r3.breaker_tripped);
  CHECK(f.venue.submissions().size() == 2);  // nothing sent for C
  CHECK(f.breaker.trips() == 1);

  // Trading cannot be resumed while the breaker that halted it is open: reset it first.
  const auto refused = f.halt.resume("ops", "too early");
  CHECK_FALSE(refused);
  CHECK(refused.error == error::circuit_open);
  CHECK(f.halt.state() == TradingState::halted);
  f.breaker.reset("ops", "venue fixed");
  CHECK(f.breaker.state() == BreakerState::closed);
  CHECK(f.halt.state() == TradingState::halted);  // two deliberate steps
  CHECK(f.halt.resume("ops", "venue fixed"));
  f.venue.set_default(fill(2s));
  auto [ec4, r4] = f.run(f.open("D"));
  CHECK_FALSE(ec4);
  CHECK(r4.closed());
}

TEST_CASE("breaker: a cancelled exit counts neither way, a success resets the count",
          "[adaptive_exit_executor][breaker]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  CHECK(f.run(f.open("A")).first == error::insufficient_funds);
  CHECK(f.breaker.consecutive_failures() == 1);

  // Cancelled mid-attempt.
  f.venue.set_default(fill(5s));
  asio::cancellation_signal cancel;
  auto b = f.start(f.open("B"), cancel.slot());
  f.driver.advance(1s);
  cancel.emit(asio::cancellation_type::terminal);
  auto [ecb, rb] = f.finish(b);
  CHECK(ecb == asio::error::operation_aborted);
  CHECK(f.breaker.consecutive_failures() == 1);
  CHECK(f.breaker.state() == BreakerState::closed);

  // A success resets the count.
  f.venue.set_default(fill(2s));
  CHECK_FALSE(f.run(f.open("C")).first);
  CHECK(f.breaker.consecutive_failures() == 0);

  // Two more failures are needed to trip it.
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  auto [ecd, rd] = f.run(f.open("D"));
  CHECK_FALSE(rd.breaker_tripped);
  auto [ece, re] = f.run(f.open("E"));
  CHECK(re.breaker_tripped);
  CHECK(f.breaker.trips() == 1);
}

TEST_CASE("breaker: a cancelled half-open probe is given back", "[adaptive_exit_executor][breaker]") {
  Clock::reset();
  BreakerSettings bs;
  bs.cooldown = 60s;
  ExitFixture f({}, nullptr, bs);
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  f.run(f.open("A"));
  f.run(f.open("B"));
  REQUIRE(f.breaker.state() == BreakerState::open);
  REQUIRE(f.halt.state() == TradingState::halted);

  f.driver.advance(60s);  // the cooldown has elapsed: the next exit is the probe
  f.venue.set_default(fill(5s));
  asio::cancellation_signal cancel;
  auto probe = f.start(f.open("C"), cancel.slot());
  f.driver.poll();
  REQUIRE(f.breaker.state() == BreakerState::half_open);
  f.driver.advance(1s);
  cancel.emit(asio::cancellation_type::terminal);
  auto [ec, r] = f.finish(probe);
  CHECK(ec == asio::error::operation_aborted);
  // The probe said nothing about exits: the breaker is open again, trading as it left it.
  CHECK(f.breaker.state() == BreakerState::open);
  CHECK(f.halt.state() == TradingState::halted);

  // The next exit becomes the probe, and its success closes the breaker.
  f.venue.set_default(fill(2s));
  auto [ec2, r2] = f.run(f.open("D"));
  CHECK_FALSE(ec2);
  CHECK(r2.closed());
  CHECK(f.breaker.state() == BreakerState::closed);
  CHECK(f.halt.state() == TradingState::running);
}

// =====================================================================================
// Cancellation
// =====================================================================================

TEST_CASE("cancellation mid-attempt: ExitCancelled at that instant, the pending submit is cancelled",
          "[adaptive_exit_executor][cancel]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(fill(5s));
  asio::cancellation_signal cancel;
  auto result = f.start(f.open(), cancel.slot());
  f.driver.advance(1s);
  REQUIRE_FALSE(result->done());
  REQUIRE(f.venue.pending_answers() == 1);

  cancel.emit(asio::cancellation_type::terminal);
  f.driver.poll();
  REQUIRE(result->done());
  auto [ec, r] = f.finish(result);
  CHECK(ec == asio::error::operation_aborted);
  CHECK(r.final_state == S::exit_cancelled);
  CHECK(r.exit_time == 1s);
  CHECK(r.attempts == 1);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::cancelled);
  CHECK(f.venue.pending_answers() == 0);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_cancelled});
  // Nothing of the exit is left waiting: the io_context runs out of work (the
  // broadcast transaction's own landing at 5 s is the venue's last event).
  CHECK(f.driver.run_for(std::chrono::hours(1)));
  CHECK(f.now() == 5s);
  CHECK(result->calls == 1);
}

TEST_CASE("cancellation mid-backoff: ExitCancelled at that instant, nothing more sent",
          "[adaptive_exit_executor][cancel]") {
  Clock::reset();
  ExitFixture f;
  f.venue.push(reject(error::venue_unavailable, 1s));
  f.venue.set_default(fill(2s));
  asio::cancellation_signal cancel;
  auto result = f.start(f.open(), cancel.slot());
  f.driver.advance(1500ms);  // rejected at 1 s, backing off until 2 s
  REQUIRE_FALSE(result->done());
  REQUIRE(f.venue.pending_answers() == 0);

  cancel.emit(asio::cancellation_type::terminal);
  auto [ec, r] = f.finish(result);
  CHECK(ec == asio::error::operation_aborted);
  CHECK(r.final_state == S::exit_cancelled);
  CHECK(r.exit_time == 1500ms);
  CHECK(r.attempts == 1);
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_rejected, S::exit_cancelled});
  CHECK(f.driver.run_for(std::chrono::hours(1)));
  CHECK(f.now() == 1500ms);  // no timer of the exit was left behind
  CHECK(f.venue.submissions().size() == 1);
}

TEST_CASE("cancellation while waiting on an unresolvable doubt stops the abandoned submit too",
          "[adaptive_exit_executor][cancel]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.set_position_query(false);
  f.venue.push(lost());
  asio::cancellation_signal cancel;
  auto result = f.start(f.open(), cancel.slot());
  f.driver.advance(15s);
  REQUIRE_FALSE(result->done());
  REQUIRE(f.venue.pending_answers() == 1);  // the lost submit, parked at the venue

  cancel.emit(asio::cancellation_type::terminal);
  auto [ec, r] = f.finish(result);
  CHECK(ec == asio::error::operation_aborted);
  CHECK(r.final_state == S::exit_cancelled);
  CHECK(r.exit_time == 15s);
  // The abandoned submit may still land (reality wins): the cancelled exit keeps
  // taking its answer until the late-answer horizon (90 s after the signal), then
  // stops it and lets go; nothing of the exit is left waiting after that.
  CHECK(f.venue.pending_answers() == 1);
  f.driver.advance(74s);
  CHECK(f.venue.pending_answers() == 1);
  CHECK(f.driver.run_for(std::chrono::hours(1)));
  CHECK(f.venue.pending_answers() == 0);
  CHECK(f.now() == 90s);
  CHECK(f.venue.submissions().size() == 1);
  CHECK(result->calls == 1);
}

// =====================================================================================
// Completion tokens and venue styles
// =====================================================================================

TEST_CASE("completion token: use_awaitable from a coroutine", "[adaptive_exit_executor][token]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(fill(2s));
  auto ok = std::make_shared<ExitResult>();
  asio::co_spawn(f.ioc, await_exit(&f.exits, &f.venue, f.open("A"), ok), asio::detached);
  auto [ec, r] = f.finish(ok);
  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.exit_time == 2s);
  CHECK(r.position_id == "A");

  // A failed exit is thrown as system_error with its code.
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  auto failed = std::make_shared<ExitResult>();
  asio::co_spawn(f.ioc, await_exit(&f.exits, &f.venue, f.open("B"), failed), asio::detached);
  REQUIRE(f.driver.run_until([&failed] { return failed->done(); }));
  CHECK(failed->calls == 1);
  CHECK(failed->ec == error::insufficient_funds);
}

TEST_CASE("completion token: as_tuple(use_awaitable)", "[adaptive_exit_executor][token]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  auto out = std::make_shared<ExitResult>();
  asio::co_spawn(f.ioc, await_exit_as_tuple(&f.exits, &f.venue, f.open(), out), asio::detached);
  auto [ec, r] = f.finish(out);
  CHECK(ec == error::insufficient_funds);
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.error == error::insufficient_funds);
  CHECK(r.exit_time == 1s);
}

TEST_CASE("completion token: use_future", "[adaptive_exit_executor][token]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(fill(2s));
  std::future<Report> ok = exitguard::execute_exit(f.exits, f.venue, f.open("A"), asio::use_future);
  REQUIRE(f.driver.run_until([&ok] { return ok.wait_for(0s) == std::future_status::ready; }));
  Report r = ok.get();
  check_audit(r);
  CHECK(r.closed());
  CHECK(r.exit_time == 2s);

  f.venue.set_default(reject(error::insufficient_funds, 1s));
  std::future<Report> failed = exitguard::execute_exit(f.exits, f.venue, f.open("B"), asio::use_future);
  REQUIRE(f.driver.run_until([&failed] { return failed.wait_for(0s) == std::future_status::ready; }));
  error_code thrown;
  try {
    failed.get();
  } catch (const boost::system::system_error& e) {
    thrown = e.code();
  }
  CHECK(thrown == error::insufficient_funds);
}

TEST_CASE("completion token: deferred starts nothing until invoked", "[adaptive_exit_executor][token]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(fill(2s));
  auto op = exitguard::execute_exit(f.exits, f.venue, f.open(), asio::deferred);
  f.driver.advance(5s);
  CHECK(f.venue.submissions().empty());

  auto result = std::make_shared<ExitResult>();
  std::move(op)([result](error_code ec, Report report) {
    ++result->calls;
    result->ec = ec;
    result->report = std::move(report);
  });
  auto [ec, r] = f.finish(result);
  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.exit_time == 2s);  // measured from when it was started, at 5 s
  CHECK(f.now() == 7s);
  REQUIRE(f.venue.submissions().size() == 1);
  CHECK(f.venue.submissions()[0].sent == at(5s));
}

TEST_CASE("a token-style venue (async_submit only) works like the awaitable MockVenue",
          "[adaptive_exit_executor][token]") {
  Clock::reset();
  ExitFixture f;
  TokenVenue venue(f.ioc.get_executor(), 3s, 94.5);
  exitguard::ExitRequest request;
  request.position_id = "TOK-1";
  request.quantity = 250;
  request.signal_price = 95;
  auto [ec, r] = f.finish(f.start_on(venue, request));
  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.exit_time == 3s);
  CHECK(r.attempts == 1);
  CHECK(r.filled_quantity == 250);
  CHECK(r.average_price == 94.5);
  CHECK(r.realized_slippage_bps == Approx(0.5 / 95 * 1e4).epsilon(1e-9));
  CHECK(r.attempt_records[0].transaction_id == "tok-1");
  REQUIRE(venue.orders.size() == 1);
  CHECK(venue.orders[0].quantity == 250);
  // No reference price offered: the limit is derived from the signal price (no order
  // goes out without a finite positive limit price).
  CHECK(venue.orders[0].limit_price == Approx(95 * 0.99).epsilon(1e-12));
  CHECK(venue.sold == 250);
  CHECK(f.driver.run_for(std::chrono::hours(1)));
}

// =====================================================================================
// Bounded audit trail
// =====================================================================================

TEST_CASE("the audit trail is bounded by audit_capacity", "[adaptive_exit_executor][audit]") {
  Clock::reset();
  Settings s;
  s.audit_capacity = 8;
  ExitFixture f(s);
  f.venue.set_default(lost());
  auto result = f.start(f.open());
  REQUIRE(f.driver.run_until([&result] { return result->done(); }));
  const Report& r = result->report;
  CHECK(result->ec == error::deadline_exceeded);
  REQUIRE(r.audit_trail.size() == 8);  // 13 transitions, the 5 oldest dropped
  check_audit(r, 5);
  CHECK(r.audit_trail.back().to == S::exit_failed);
  CHECK(r.audit_trail.front().to == S::emergency_escalation);
}

// =====================================================================================
// Several threads
// =====================================================================================

TEST_CASE("multi-threaded: 100 concurrent exits on 4 threads all close", "[adaptive_exit_executor][threads]") {
  using SteadyVenue = exitguard::testing::BasicMockVenue<std::chrono::steady_clock>;
  constexpr std::size_t exits_n = 100;
  asio::io_context ioc(4);
  exitguard::ExitSettings settings;
  settings.logger = quiet_logger();
  exitguard::AdaptiveExitExecutor exits(ioc.get_executor(), settings);

  std::vector<std::unique_ptr<SteadyVenue>> venues;
  for (std::size_t i = 0; i < exits_n; ++i) {
    // Each venue has its own strand (get_executor()); the exits call its members only
    // there: with strand checks on, a call made anywhere else throws.
    venues.push_back(std::make_unique<SteadyVenue>(ioc.get_executor(), exitguard::testing::constant_price(95)));
    auto script = SteadyVenue::script_type{};
    script.fate = Fate::fill;
    script.latency = std::chrono::milliseconds(1);
    venues.back()->set_default(script);
    venues.back()->open_position(position_name(i), 10);
    venues.back()->set_strand_checks(true);
  }

  std::vector<std::optional<std::pair<error_code, exitguard::ExitReport>>> results(exits_n);
  std::atomic<int> calls{0};
  for (std::size_t i = 0; i < exits_n; ++i) {
    asio::post(ioc, [&, i] {
      exitguard::ExitRequest request;
      request.position_id = position_name(i);
      request.quantity = 10;
      request.signal_price = 95;
      exitguard::execute_exit(exits, *venues[i], request, [&results, &calls, i](error_code ec, exitguard::ExitReport r) {
        results[i].emplace(ec, std::move(r));
        calls.fetch_add(1, std::memory_order_relaxed);
      });
    });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&ioc] { ioc.run(); });
  for (auto& t : threads) t.join();
  for (auto& v : venues) v->set_strand_checks(false);  // the io_context has stopped: read the books from here

  CHECK(calls.load() == static_cast<int>(exits_n));
  std::set<std::uint64_t> ids;
  for (std::size_t i = 0; i < exits_n; ++i) {
    INFO("exit " << i);
    REQUIRE(results[i]);
    const auto& [ec, r] = *results[i];
    CHECK_FALSE(ec);
    CHECK(r.final_state == S::position_closed);
    CHECK(r.attempts == 1);
    CHECK(r.filled_quantity == 10);
    CHECK(r.position_id == position_name(i));
    CHECK(r.anomalies == 0);  // an off-strand venue call would have thrown (contained and audited)
    CHECK_FALSE(audit_has_error(r, error::callback_threw));
    check_audit(r);
    ids.insert(r.exit_id);
    CHECK(venues[i]->sold(position_name(i)) == 10);
  }
  CHECK(ids.size() == exits_n);
  CHECK(*ids.begin() == 1);
  CHECK(*ids.rbegin() == exits_n);
  venues.clear();  // before the io_context
}

// =====================================================================================
// Regressions: containment, deadlines, late answers, lifetimes
// =====================================================================================

namespace {

// Counts what the metrics sink is told (single-threaded tests).
struct CountingSink final : exitguard::MetricsSink {
  int started = 0;
  int finished = 0;
  int refused = 0;
  std::vector<exitguard::ExitSummary> summaries;
  int in_flight() const { return started - finished; }
  void exit_started() override { ++started; }
  void exit_finished(const exitguard::ExitSummary& s) override {
    ++finished;
    summaries.push_back(s);
  }
  void exit_refused(std::string_view) override { ++refused; }
};

// A request for `quantity` of `id` (the position opened at `venue`).
template <class V>
exitguard::ExitRequest opened(V& venue, std::string id, exitguard::Quantity quantity = 1000) {
  venue.open_position(id, quantity);
  exitguard::ExitRequest r;
  r.position_id = std::move(id);
  r.quantity = quantity;
  r.signal_price = 95;
  return r;
}

// Two failed exits trip the fixture's breaker (it needs a 60 s cooldown); then the
// cooldown passes: the next exit is the half-open probe.
void trip_and_cool_down(ExitFixture& f) {
  f.venue.set_default(reject(error::insufficient_funds, 1s));
  CHECK(f.run(f.open("A")).first == error::insufficient_funds);
  CHECK(f.run(f.open("B")).first == error::insufficient_funds);
  REQUIRE(f.breaker.state() == BreakerState::open);
  REQUIRE(f.halt.state() == TradingState::halted);
  f.driver.advance(60s);
}

BreakerSettings with_cooldown() {
  BreakerSettings bs;
  bs.cooldown = 60s;
  return bs;
}

// A MockVenue whose reference_price throws.
struct ThrowingPriceVenue : Venue {
  using Venue::Venue;
  double reference_price(const std::string&) const { throw std::runtime_error("reference_price: feed down"); }
};

// A MockVenue whose capabilities() throws.
struct ThrowingExclusivityVenue : Venue {
  using Venue::Venue;
  exitguard::VenueCapabilities capabilities() const { throw std::runtime_error("capabilities: config unreadable"); }
};

static_assert(exitguard::ProvidesReferencePrice<ThrowingPriceVenue>);
static_assert(exitguard::DeclaresCapabilities<ThrowingExclusivityVenue>);

// The checks every containment regression makes on the probe exit's report.
void check_contained(const Report& r, const CountingSink& sink) {
  CHECK(r.exit_id != 0);
  CHECK(r.attempts >= 1);
  CHECK(r.attempt_records.size() == r.attempts);
  CHECK(audit_has_error(r, error::callback_threw));
  CHECK(r.anomalies >= 1);
  CHECK(sink.in_flight() == 0);
  CHECK(sink.started == sink.finished);
}

}  // namespace

TEST_CASE("a classifier that throws: the exit ends with a full report, the breaker and the gauge are told",
          "[adaptive_exit_executor][regression][containment]") {
  Clock::reset();
  CountingSink sink;
  Settings s;
  // Throws for venue_unavailable only: the exits that trip the breaker are classified as usual.
  s.classifier = [](const error_code& ec) {
    if (ec == error::venue_unavailable) throw std::runtime_error("classifier bug");
    return exitguard::DefaultClassifier{}(ec);
  };
  ExitFixture f(s, &sink, with_cooldown());
  trip_and_cool_down(f);

  // The probe: its first answer's classifier throws (the rejection is then taken as in
  // doubt); the venue's attempts are exclusive, so the next one goes and fills.
  f.venue.push(reject(error::venue_unavailable, 1s));
  f.venue.set_default(fill(2s));
  auto probe = f.start(f.open("C"));
  f.driver.poll();
  REQUIRE(f.breaker.state() == BreakerState::half_open);
  auto [ec, r] = f.finish(probe);
  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.attempts == 2);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::in_doubt);  // not a permanent rejection
  check_contained(r, sink);
  // The probe's success was recorded: the breaker closed and trading resumed.
  CHECK(f.breaker.state() == BreakerState::closed);
  CHECK(f.halt.state() == TradingState::running);
  CHECK(sink.started == 3);
}

TEST_CASE("a reference_price that throws: the exit ends with a full report, the breaker and the gauge are told",
          "[adaptive_exit_executor][regression][containment]") {
  Clock::reset();
  CountingSink sink;
  ExitFixture f({}, &sink, with_cooldown());
  trip_and_cool_down(f);

  ThrowingPriceVenue venue(f.ioc.get_executor(), exitguard::testing::constant_price(95.0));
  venue.set_default(fill(2s));
  auto probe = f.start_on(venue, opened(venue, "C"));
  f.driver.poll();
  REQUIRE(f.breaker.state() == BreakerState::half_open);
  auto [ec, r] = f.finish(probe);
  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.attempts == 1);
  check_contained(r, sink);
  CHECK(audit_has_error(r, error::invalid_reference_price));
  // No price from the venue: the limit is derived from the signal price.
  REQUIRE(venue.submissions().size() == 1);
  CHECK(venue.submissions()[0].order.limit_price == Approx(95 * 0.99).epsilon(1e-12));
  CHECK(f.breaker.state() == BreakerState::closed);
  CHECK(f.halt.state() == TradingState::running);
}

TEST_CASE("a capabilities() that throws: the exit guarantees nothing, ends with a full report, the breaker and the gauge are told",
          "[adaptive_exit_executor][regression][containment]") {
  Clock::reset();
  CountingSink sink;
  ExitFixture f({}, &sink, with_cooldown());
  trip_and_cool_down(f);

  ThrowingExclusivityVenue venue(f.ioc.get_executor(), exitguard::testing::constant_price(95.0));
  // A throwing capabilities() promises neither exclusivity nor reduce-only: after the
  // attempt in doubt the exit asks for the position (asking is not a guarantee) but
  // never sends past the doubt, and fails in_doubt_unresolvable at its deadline.
  venue.push(lost());
  venue.set_default(fill(2s));
  auto probe = f.start_on(venue, opened(venue, "C"));
  f.driver.poll();
  REQUIRE(f.breaker.state() == BreakerState::half_open);
  auto [ec, r] = f.finish(probe);
  CHECK(ec == exitguard::error::in_doubt_unresolvable);
  CHECK_FALSE(r.closed());
  CHECK(r.attempts == 1);
  check_contained(r, sink);
  CHECK(venue.queries().size() >= 1);
  CHECK(venue.sold("C") == 0);  // the lost attempt never landed: nothing sold, and nothing sent twice
  CHECK(f.breaker.state() == BreakerState::open);  // the probe failed
}

TEST_CASE("an exit whose time ran out reports deadline_exceeded", "[adaptive_exit_executor][regression][deadline]") {
  Clock::reset();
  SECTION("a full outage: every attempt times out until the deadline") {
    CountingSink sink;
    ExitFixture f({}, &sink);
    f.venue.add_outage(at(0s), at(std::chrono::hours(1)));
    auto [ec, r] = f.run(f.open());
    CHECK(ec == error::deadline_exceeded);  // never attempts_exhausted: time ran out
    CHECK(r.error == error::deadline_exceeded);
    CHECK(r.final_state == S::exit_failed);
    CHECK(r.exit_time == 30s);
    CHECK(r.escalated);
    CHECK(r.attempts == 5);
    CHECK(r.open_quantity == 1000);
    CHECK(r.failure_cause == exitguard::ExitFailureCause::infrastructure);
    CHECK(r.counts_for_breaker);
    CHECK(f.breaker.consecutive_failures() == 1);
    // The exits_deadline_exceeded metric's path.
    REQUIRE(sink.summaries.size() == 1);
    CHECK(sink.summaries[0].deadline_exceeded);
    CHECK(sink.summaries[0].error == error::deadline_exceeded);
    CHECK(sink.summaries[0].attempts == 5);
    CHECK(sink.in_flight() == 0);
  }
  SECTION("the exit's attempt limit reached with time left is attempts_exhausted, not a deadline") {
    CountingSink sink;
    Settings s;
    s.max_attempts_per_exit = 3;
    ExitFixture f(s, &sink);
    f.venue.add_outage(at(0s), at(std::chrono::hours(1)));
    auto [ec, r] = f.run(f.open());
    CHECK(ec == error::attempts_exhausted);
    CHECK(r.attempts == 3);
    CHECK(r.exit_time < 30s);
    REQUIRE(sink.summaries.size() == 1);
    CHECK_FALSE(sink.summaries[0].deadline_exceeded);
  }
}

TEST_CASE("a landing after a cancelled exit is recorded", "[adaptive_exit_executor][regression][late_fill]") {
  Clock::reset();
  std::vector<exitguard::LateFillAfterExit> told;
  Settings s;
  s.on_late_fill_after_exit = [&told](const exitguard::LateFillAfterExit& fill) { told.push_back(fill); };
  ExitFixture f(s);
  f.venue.push(fill(2s, 0.4));    // attempt 1: 400 at 2 s
  f.venue.push(land_late(20s));   // attempt 2 (the 600 left, sent at 2 s): times out at 10 s, lands at 22 s
  f.venue.set_default(fill(2s));
  asio::cancellation_signal cancel;
  auto result = f.start(f.open(), cancel.slot());
  f.driver.advance(10500ms);  // attempt 2 in doubt since 10 s, backing off until 11 s
  REQUIRE_FALSE(result->done());
  cancel.emit(asio::cancellation_type::terminal);
  auto [ec, r] = f.finish(result);
  CHECK(ec == asio::error::operation_aborted);
  CHECK(r.final_state == S::exit_cancelled);
  CHECK(r.exit_time == 10500ms);
  CHECK(r.filled_quantity == 400);
  CHECK(told.empty());

  // Attempt 2 was given up, not stopped: it may still land, and does at 22 s.
  CHECK(f.driver.run_for(std::chrono::hours(1)));
  REQUIRE(told.size() == 1);
  CHECK(told[0].exit_id == r.exit_id);
  CHECK(told[0].position_id == "SOL-1");
  CHECK(told[0].attempt == 2);
  CHECK(told[0].transaction_id == "tx-2");
  CHECK(told[0].quantity == 600);
  CHECK(told[0].price == 95);
  CHECK(told[0].filled_quantity == 1000);  // the corrected total, not this fill
  CHECK(f.venue.sold("SOL-1") == 1000);
  CHECK(f.venue.submissions().size() == 2);
  CHECK(f.breaker.consecutive_failures() == 0);  // cancelled: neither way
}

TEST_CASE("a deferred exit started after the executor object is destroyed completes",
          "[adaptive_exit_executor][regression][lifetime]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_default(fill(2s));
  auto exits = std::make_unique<Exits>(f.ioc.get_executor(), quiet({}), &f.breaker, &f.halt);
  auto op = exitguard::execute_exit(*exits, f.venue, f.open(), asio::deferred);
  exits.reset();  // the deferred operation keeps what its exit needs

  auto result = std::make_shared<ExitResult>();
  std::move(op)([result](error_code ec, Report report) {
    ++result->calls;
    result->ec = ec;
    result->report = std::move(report);
  });
  auto [ec, r] = f.finish(result);
  CHECK_FALSE(ec);
  CHECK(r.closed());
  CHECK(r.exit_id == 1);
  CHECK(r.exit_time == 2s);
  CHECK(f.venue.sold("SOL-1") == 1000);
  CHECK(f.driver.run_for(std::chrono::hours(1)));
}

namespace {

// Counts calls into a sink that may be destroyed; the counters outlive it.
struct SinkCalls {
  int total = 0;
  bool destroyed = false;
};

struct ObservedSink final : exitguard::MetricsSink {
  explicit ObservedSink(SinkCalls& c) : calls(&c) {}
  ~ObservedSink() override { calls->destroyed = true; }
  void hit() { ++calls->total; }
  void exit_started() override { hit(); }
  void attempt_started(std::uint32_t, OrderKind) override { hit(); }
  void attempt_finished(std::uint32_t, OrderKind, AttemptOutcome) override { hit(); }
  void retry(std::uint32_t) override { hit(); }
  void escalated(std::uint32_t) override { hit(); }
  void attempt_in_doubt() override { hit(); }
  void late_fill(double) override { hit(); }
  void exit_finished(const exitguard::ExitSummary&) override { hit(); }
  void exit_refused(std::string_view) override { hit(); }
  void breaker_tripped() override { hit(); }
  void breaker_state(BreakerState) override { hit(); }
  void trading_state(TradingState) override { hit(); }
  SinkCalls* calls;
};

}  // namespace

TEST_CASE("late answers after completion never call the metrics sink",
          "[adaptive_exit_executor][regression][lifetime]") {
  Clock::reset();
  SinkCalls calls;
  auto sink = std::make_unique<ObservedSink>(calls);
  int late_fills_told = 0;
  Settings s;
  s.on_late_fill_after_exit = [&late_fills_told](const exitguard::LateFillAfterExit&) { ++late_fills_told; };
  ExitFixture f(s, sink.get());
  f.venue.push(land_late(40s));  // lands 10 s after the deadline
  f.venue.set_default(lost());   // attempts 2-5 stay outstanding until the late-answer horizon
  auto [ec, r] = f.run(f.open());
  CHECK(ec == error::deadline_exceeded);
  CHECK(calls.total > 0);

  // The sink goes once the exit has completed (as its owner may do); what comes
  // later — attempt 1's landing at 40 s, the horizon at 90 s that stops attempts
  // 2-5 and their aborted answers — must not reach it (ASan: no use after free).
  const int before = calls.total;
  sink.reset();
  REQUIRE(calls.destroyed);
  CHECK(f.driver.run_for(std::chrono::hours(1)));
  CHECK(late_fills_told == 1);  // late answers did arrive
  CHECK(f.venue.pending_answers() == 0);
  CHECK(f.now() == 90s);
  CHECK(calls.total == before);
}

namespace {

// A token-style venue that keeps every handler it is given and never completes one.
class HoardingVenue {
 public:
  template <class Token>
  auto async_submit(exitguard::ExitOrder order, Token&& token) {
    return asio::async_initiate<Token, void(error_code, exitguard::SubmitOutcome)>(
        [this](auto handler, exitguard::ExitOrder o) {
          orders.push_back(std::move(o));
          handlers_.push_back(std::make_unique<holder<decltype(handler)>>(std::move(handler)));
        },
        token, std::move(order));
  }
  std::size_t held() const { return handlers_.size(); }
  std::vector<exitguard::ExitOrder> orders;

 private:
  struct holder_base {
    virtual ~holder_base() = default;
  };
  template <class H>
  struct holder final : holder_base {
    explicit holder(H h) : handler(std::move(h)) {}
    H handler;
  };
  std::vector<std::unique_ptr<holder_base>> handlers_;
};

// Counts the bytes allocated through it and not yet freed (the exit's state is
// allocated with its handler's associated allocator).
struct LiveBytes {
  std::size_t live = 0;
  std::size_t allocations = 0;
};

template <class T>
struct CountingAllocator {
  using value_type = T;
  explicit CountingAllocator(LiveBytes* b) noexcept : bytes(b) {}
  template <class U>
  CountingAllocator(const CountingAllocator<U>& o) noexcept : bytes(o.bytes) {}  // NOLINT: rebinding
  T* allocate(std::size_t n) {
    bytes->live += n * sizeof(T);
    ++bytes->allocations;
    return std::allocator<T>{}.allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    bytes->live -= n * sizeof(T);
    std::allocator<T>{}.deallocate(p, n);
  }
  template <class U>
  bool operator==(const CountingAllocator<U>& o) const noexcept {
    return bytes == o.bytes;
  }
  LiveBytes* bytes;
};

}  // namespace

TEST_CASE("a venue that keeps a handler forever does not keep the exit alive past the io_context",
          "[adaptive_exit_executor][regression][lifetime]") {
  Clock::reset();
  const bool complete_first = GENERATE(false, true);
  INFO((complete_first ? "the exit completed (before its late-answer horizon)" : "the exit in flight"));
  LiveBytes bytes;
  int calls = 0;
  error_code result;
  {
    auto ioc = std::make_unique<asio::io_context>();
    auto venue = std::make_unique<HoardingVenue>();
    {
      exitguard::testing::VirtualTimeDriver driver(*ioc);
      Exits exits(ioc->get_executor(), quiet({}));
      exitguard::ExitRequest request;
      request.position_id = "H-1";
      request.quantity = 100;
      request.signal_price = 95;
      exitguard::execute_exit(exits, *venue, request,
                              asio::bind_allocator(CountingAllocator<void>(&bytes), [&calls, &result](error_code ec, Report) {
                                ++calls;
                                result = ec;
                              }));
      if (complete_first) {
        // Not exclusive, no queries: nothing after the first attempt's doubt; failed at the deadline.
        REQUIRE(driver.run_until([&calls] { return calls > 0; }));
        CHECK(result == error::in_doubt_unresolvable);
        driver.advance(10s);  // still before the 90 s horizon: the exit waits for a late answer
      } else {
        driver.advance(3s);
        CHECK(calls == 0);
      }
      REQUIRE(venue->held() == 1);
      CHECK(bytes.allocations > 0);
      CHECK(bytes.live > 0);  // the exit is alive, waiting
    }
    ioc.reset();  // the io_context first: its pending timer wait was the exit's last owner
    CHECK(bytes.live == 0);  // nothing of the exit's state is left
    CHECK(venue->held() == 1);  // the venue still holds its handler: only the exit's small link
    venue.reset();  // then the venue, with the handler
  }
  CHECK(calls == (complete_first ? 1 : 0));
  CHECK(bytes.live == 0);
}

namespace {

// A token-style venue with exclusive attempts whose n-th answer is `answers[n-1]`
// (the last one repeated), after `latency`; a filled answer fills the order in full.
class AnsweringVenue {
 public:
  AnsweringVenue(asio::any_io_executor ex, std::vector<exitguard::SubmitOutcome> answers)
      : ex_(std::move(ex)), answers_(std::move(answers)) {}

  exitguard::VenueCapabilities capabilities() const { return {exclusive, false, false}; }

  template <class Token>
  auto async_submit(exitguard::ExitOrder order, Token&& token) {
    return asio::async_initiate<Token, void(error_code, exitguard::SubmitOutcome)>(
        [this](auto handler, exitguard::ExitOrder o) { this->start(std::move(handler), std::move(o)); }, token,
        std::move(order));
  }

  bool exclusive = true;
  std::vector<exitguard::ExitOrder> orders;

 private:
  template <class Handler>
  void start(Handler handler, exitguard::ExitOrder order) {
    orders.push_back(std::move(order));
    const std::size_t n = orders.size();
    exitguard::SubmitOutcome out = answers_[std::min(n, answers_.size()) - 1];
    if (out.status == exitguard::SubmitStatus::filled) {
      out.filled_quantity = orders[n - 1].quantity;
      out.average_price = 95;
    }
    out.transaction_id = "ans-" + std::to_string(n);
    auto timer = std::make_shared<asio::basic_waitable_timer<Clock>>(ex_, 1s);
    timer->async_wait([this, timer, out, h = std::move(handler)](error_code) mutable {
      auto handler_ex = asio::get_associated_executor(h, ex_);
      asio::post(handler_ex, [done = std::move(h), out]() mutable { std::move(done)(error_code{}, out); });
    });
  }

  asio::any_io_executor ex_;
  std::vector<exitguard::SubmitOutcome> answers_;
};

static_assert(exitguard::DeclaresCapabilities<AnsweringVenue>);

}  // namespace

TEST_CASE("an in_doubt answer with an error code stays in doubt", "[adaptive_exit_executor][regression][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  exitguard::SubmitOutcome doubt;
  doubt.status = exitguard::SubmitStatus::in_doubt;
  doubt.error = make_error_code(error::insufficient_funds);  // permanent, were it a rejection
  exitguard::SubmitOutcome filled;
  filled.status = exitguard::SubmitStatus::filled;
  AnsweringVenue venue(f.ioc.get_executor(), {doubt, filled});
  exitguard::ExitRequest request;
  request.position_id = "D-1";
  request.quantity = 100;
  request.signal_price = 95;

  SECTION("with exclusive attempts the exit goes on, and closes") {
    auto [ec, r] = f.finish(f.start_on(venue, request));
    CHECK_FALSE(ec);  // not failed with insufficient_funds: the explicit status wins
    CHECK(r.closed());
    CHECK(r.attempts == 2);
    REQUIRE(r.attempt_records.size() == 2);
    CHECK(r.attempt_records[0].outcome == AttemptOutcome::in_doubt);
    CHECK(r.attempt_records[0].error == error::insufficient_funds);
    CHECK(r.attempt_records[1].outcome == AttemptOutcome::filled);
    CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                            S::exit_timed_out, S::exit_submitted, S::position_closed});
    REQUIRE(venue.orders.size() == 2);
    CHECK(venue.orders[1].exclusivity_key == venue.orders[0].exclusivity_key);
  }
  SECTION("without exclusivity nothing more is sent: in_doubt_unresolvable, not the error code") {
    venue.exclusive = false;
    auto [ec, r] = f.finish(f.start_on(venue, request));
    CHECK(ec == error::in_doubt_unresolvable);
    CHECK(r.attempts == 1);
    CHECK(r.attempt_records[0].outcome == AttemptOutcome::in_doubt);
    CHECK(r.failure_cause == exitguard::ExitFailureCause::infrastructure);
    CHECK(venue.orders.size() == 1);
  }
}

namespace {

// A MockVenue that hears when its exits take no more answers.
struct FinishListeningVenue : Venue {
  using Venue::Venue;
  std::vector<exitguard::ExitFinished> finished;
  void exit_finished(const exitguard::ExitFinished& f) { finished.push_back(f); }
};

static_assert(exitguard::HearsExitFinished<FinishListeningVenue>);

}  // namespace

TEST_CASE("exit_finished is told once, when the exit takes no more answers, with its keys and unanswered attempts",
          "[adaptive_exit_executor][venue]") {
  Clock::reset();
  ExitFixture f;
  FinishListeningVenue venue(f.ioc.get_executor(), exitguard::testing::constant_price(95.0));
  SECTION("every attempt answered: at completion") {
    venue.push(fill(2s, 0.4));  // partial: the key rotates
    venue.set_default(fill());
    auto [ec, r] = f.finish(f.start_on(venue, opened(venue, "P")));
    CHECK_FALSE(ec);
    f.driver.poll();
    REQUIRE(venue.finished.size() == 1);
    const auto& done = venue.finished.front();
    CHECK(done.exit_id == r.exit_id);
    CHECK(done.position_id == "P");
    CHECK(done.attempts == 2);
    CHECK(done.unanswered_attempts == 0);
    CHECK(done.filled_quantity == 1000);
    const std::string prefix = f.exits.keys().prefix() + "-" + std::to_string(r.exit_id);
    CHECK(done.exclusivity_keys == std::vector<std::string>{prefix + "-0", prefix + "-1"});
  }
  SECTION("an attempt never answered: at the late-answer horizon, not before") {
    venue.push(lost());
    venue.set_default(fill());
    auto [ec, r] = f.finish(f.start_on(venue, opened(venue, "P")));
    CHECK_FALSE(ec);  // exclusive: the second attempt closed it
    f.driver.poll();
    CHECK(venue.finished.empty());  // attempt 1 may still answer
    CHECK(f.driver.run_for(120s));
    REQUIRE(venue.finished.size() == 1);
    CHECK(venue.finished.front().unanswered_attempts == 1);
    CHECK(venue.finished.front().attempts == 2);
  }
}

TEST_CASE("without reduce-only a position report does not free the next attempt: the exit asks again, never sends twice",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  f.venue.set_reduce_only_enforced(false);
  REQUIRE_FALSE(f.venue.capabilities().enforces_reduce_only);
  SECTION("the attempt never lands: in_doubt_unresolvable at the deadline, nothing sold") {
    f.venue.push(lost());
    f.venue.set_default(fill());
    auto [ec, r] = f.run(f.open());
    CHECK(ec == exitguard::error::in_doubt_unresolvable);
    CHECK(r.attempts == 1);
    CHECK(f.venue.submissions().size() == 1);
    CHECK(f.venue.queries().size() >= 2);  // asked again once per attempt_timeout
    CHECK(f.venue.sold("SOL-1") == 0);
  }
  SECTION("it lands late without an answer: a report finds the sale and the exit closes, sold once") {
    f.venue.push(in_doubt(1s, 12s));  // in doubt at once, lands silently 12 s after its submit
    f.venue.set_default(fill());
    auto [ec, r] = f.run(f.open());
    CHECK_FALSE(ec);
    CHECK(r.closed());
    CHECK(r.attempts == 1);
    CHECK(f.venue.submissions().size() == 1);
    CHECK(f.venue.sold("SOL-1") == 1000);
    CHECK(r.filled_quantity == 1000);
  }
  // Every order the driver sent carried its time in force and a wall-clock not_after.
  for (const auto& sub : f.venue.submissions()) {
    CHECK(sub.order.time_in_force > std::chrono::nanoseconds::zero());
    CHECK(sub.order.not_after > std::chrono::system_clock::now() - std::chrono::minutes(5));
    CHECK(sub.order.not_after <= std::chrono::system_clock::now() + sub.order.time_in_force);
  }
}
