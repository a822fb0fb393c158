#include <exitguard/adaptive_exit_executor.hpp>

#include "support/exit_fixture.hpp"

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

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <future>
#include <limits>
#include <memory>
#include <set>
#include <string>
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
  double sold = 0;

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
static_assert(!exitguard::DeclaresExclusiveAttempts<TokenVenue>);

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

TEST_CASE("invalid requests end ExitFailed at once, with nothing sent", "[adaptive_exit_executor][request]") {
  Clock::reset();
  ExitFixture f;
  struct Case {
    double quantity;
    double price;
    error expected;
  };
  const Case cases[] = {
      {0, 95, error::invalid_quantity},  {-1, 95, error::invalid_quantity}, {not_a_number, 95, error::invalid_quantity},
      {infinity, 95, error::invalid_quantity}, {1000, 0, error::invalid_price},  {1000, -95, error::invalid_price},
      {1000, not_a_number, error::invalid_price},
  };
  for (const Case& c : cases) {
    INFO("quantity " << c.quantity << ", signal price " << c.price);
    auto request = f.open("SOL-1", 1000);
    request.quantity = c.quantity;
    request.signal_price = c.price;
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
  CHECK(trail_states(r) ==
        std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted, S::position_closed});
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
  CHECK(r.filled_quantity == Approx(1000).epsilon(1e-12));
  const double vwap = (400 * 95 * 0.999 + 600 * 95 * 0.997) / 1000;
  CHECK(r.average_price == Approx(vwap).epsilon(1e-12));
  CHECK(r.realized_slippage_bps == Approx(22).epsilon(1e-9));  // 0.4 * 10 + 0.6 * 30

  const auto& subs = f.venue.submissions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[0].order.quantity == 1000);
  CHECK(subs[1].sent == at(2s));  // the same instant as the partial fill
  CHECK(subs[1].order.quantity == Approx(600).epsilon(1e-12));
  CHECK(subs[1].order.step == 0);
  CHECK(subs[1].order.attempt == 2);
  // The first key landed: the remainder needs a fresh one.
  CHECK(subs[1].order.exclusivity_key != subs[0].order.exclusivity_key);

  REQUIRE(r.attempt_records.size() == 2);
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::partially_filled);
  CHECK(r.attempt_records[0].filled_quantity == Approx(400).epsilon(1e-12));
  CHECK(r.attempt_records[1].outcome == AttemptOutcome::filled);
  CHECK(r.attempt_records[1].filled_quantity == Approx(600).epsilon(1e-12));
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::partially_filled, S::exit_submitted, S::position_closed});
  CHECK(f.venue.sold("SOL-1") == Approx(1000).epsilon(1e-12));
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
  CHECK(subs[1].order.quantity == Approx(600).epsilon(1e-12));
  CHECK(subs[2].order.quantity == Approx(300).epsilon(1e-12));
  for (const auto& sub : subs) {
    CHECK(sub.order.step == 0);
    CHECK(sub.order.kind == OrderKind::limit);
  }
  CHECK(r.filled_quantity == Approx(1000).epsilon(1e-12));
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

// =====================================================================================
// In doubt (design principle 2)
// =====================================================================================

TEST_CASE("in doubt (a): with exclusive attempts the next attempt reuses the key, and a late landing sells nothing",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  REQUIRE(f.venue.exclusive_attempts());  // the MockVenue default
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

TEST_CASE("in doubt (b): reconciliation sizes the next attempt to what really remains",
          "[adaptive_exit_executor][in_doubt]") {
  Clock::reset();
  ExitFixture f;
  f.venue.set_exclusive_attempts(false);
  REQUIRE(f.venue.can_query_position());
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
  CHECK(subs[1].order.quantity == Approx(600).epsilon(1e-12));
  CHECK(r.exit_time == 6200ms);
  CHECK(r.attempts == 2);
  CHECK(r.filled_quantity == Approx(1000).epsilon(1e-12));
  CHECK(r.average_price == Approx(95).epsilon(1e-12));
  CHECK(r.attempt_records[0].outcome == AttemptOutcome::in_doubt);
  CHECK(r.attempt_records[1].filled_quantity == Approx(600).epsilon(1e-12));

  CHECK(f.driver.run_for(60s));
  CHECK(f.venue.sold("SOL-1") == Approx(1000).epsilon(1e-12));
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
  CHECK(r.filled_quantity == Approx(1000).epsilon(1e-12));
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::exit_submitted, S::partially_filled,
                                          S::position_closed});
  CHECK(f.driver.run_for(60s));
  CHECK(f.venue.sold("SOL-1") == Approx(1000).epsilon(1e-12));
  CHECK(f.venue.position("SOL-1") == Approx(0).margin(1e-9));
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
  CHECK(subs[1].order.quantity == Approx(600).epsilon(1e-12));
  CHECK(subs[1].order.exclusivity_key != subs[0].order.exclusivity_key);  // the first key landed
  CHECK(r.exit_time == 14s);
  CHECK(r.attempts == 2);
  CHECK(r.filled_quantity == Approx(1000).epsilon(1e-12));
  CHECK(r.attempt_records[0].late_fill);
  CHECK(r.attempt_records[0].filled_quantity == Approx(400).epsilon(1e-12));
  CHECK(trail_states(r) == std::vector<S>{S::position_open, S::exit_signal_received, S::exit_submitted,
                                          S::exit_timed_out, S::partially_filled, S::exit_submitted,
                                          S::position_closed});
  CHECK(f.venue.sold("SOL-1") == Approx(1000).epsilon(1e-12));
}

// =====================================================================================
// Late fills
// =====================================================================================

TEST_CASE("late fill after abandon: the abandoned attempt's landing closes the exit, counted once",
          "[adaptive_exit_executor][late_fill]") {
  Clock::reset();
  Settings s;
  int after_exit_calls = 0;
  s.on_late_fill_after_exit = [&after_exit_calls](std::uint64_t, const std::string&, double, double) {
    ++after_exit_calls;
  };
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
  CHECK(subs[2].order.quantity == Approx(600).epsilon(1e-12));
  CHECK(subs[2].order.exclusivity_key != subs[0].order.exclusivity_key);
  CHECK(r.exit_time == 16s);
  CHECK(r.attempts == 3);
  CHECK(r.filled_quantity == Approx(1000).epsilon(1e-12));
  CHECK(r.attempt_records[0].late_fill);
  CHECK(r.attempt_records[1].outcome == AttemptOutcome::rejected);
  CHECK(f.venue.sold("SOL-1") == Approx(1000).epsilon(1e-12));
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
  struct Told {
    std::uint64_t exit_id;
    std::string position_id;
    double quantity;
    double price;
  };
  std::vector<Told> told;
  Settings s;
  s.on_late_fill_after_exit = [&told](std::uint64_t id, const std::string& pos, double qty, double price) {
    told.push_back({id, pos, qty, price});
  };
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
  CHECK(told[0].quantity == 1000);
  CHECK(told[0].price == 95);
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
  CHECK(r.exit_time == 9s);  // timed out at 8 s; the check before the next attempt (after the backoff) refuses it
  CHECK(f.venue.submissions().size() == 1);
  CHECK(r.trading_state == TradingState::halted);
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
  CHECK(f.venue.pending_answers() == 0);
  CHECK(f.driver.run_for(std::chrono::hours(1)));
  CHECK(f.now() == 15s);
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
  CHECK(venue.orders[0].limit_price == 0);  // no reference price offered
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
    // Each venue confined to its own strand; MockVenue is not thread-safe.
    venues.push_back(std::make_unique<SteadyVenue>(asio::make_strand(ioc), exitguard::testing::constant_price(95)));
    auto script = SteadyVenue::script_type{};
    script.fate = Fate::fill;
    script.latency = std::chrono::milliseconds(1);
    venues.back()->set_default(script);
    venues.back()->open_position(position_name(i), 10);
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
    check_audit(r);
    ids.insert(r.exit_id);
    CHECK(venues[i]->sold(position_name(i)) == 10);
  }
  CHECK(ids.size() == exits_n);
  CHECK(*ids.begin() == 1);
  CHECK(*ids.rbegin() == exits_n);
  venues.clear();  // before the io_context
}
