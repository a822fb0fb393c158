// strategy_test — unit-testing an exit strategy against MockVenue, in virtual time.
//
// This is how a user tests their own strategy: a StopLossStrategy that watches
// prices and closes its position through exitguard when the stop is hit. The
// venue is exitguard::testing::MockVenue scripted with the faults to survive; the
// clock is the ManualClock, so a 30-second crash runs in microseconds. Build it as
// a Catch2 test (it brings its own main).

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>

#include <boost/asio/io_context.hpp>

#include <optional>
#include <string>

namespace {

using namespace std::chrono_literals;
using exitguard::testing::ManualClock;
using exitguard::testing::MockFate;
using Venue = exitguard::testing::MockVenue;
using Exits = exitguard::BasicAdaptiveExitExecutor<ManualClock>;
using Report = exitguard::BasicExitReport<ManualClock>;

// The user's strategy: exit when the price is `stop_pct` below the entry.
class StopLossStrategy {
 public:
  StopLossStrategy(Exits& exits, Venue& venue, std::string id, exitguard::Quantity quantity, double entry,
                   double stop_pct)
      : exits_(exits), venue_(venue), id_(std::move(id)), quantity_(quantity), entry_(entry), stop_pct_(stop_pct) {}

  // Called on every price update.
  void on_price(double price) {
    if (exiting_ || price > entry_ * (1 - stop_pct_ / 100)) return;
    exiting_ = true;
    exitguard::execute_exit(exits_, venue_, exitguard::ExitRequest{id_, exitguard::Side::sell, quantity_, price},
                            [this](boost::system::error_code, Report r) { report_ = std::move(r); });
  }

  const std::optional<Report>& report() const { return report_; }
  double loss_pct() const { return report_ ? (entry_ - report_->average_price) / entry_ * 100 : 0; }

 private:
  Exits& exits_;
  Venue& venue_;
  std::string id_;
  exitguard::Quantity quantity_;
  double entry_, stop_pct_;
  bool exiting_ = false;
  std::optional<Report> report_;
};

Venue::script_type confirm_after(ManualClock::duration d) {
  Venue::script_type s;
  s.latency = d;
  return s;
}

// A crash: 95 at t = 0, then down 1/6 per second.
struct Crash {
  // First member: the clock must be back at zero before the venue notes its start.
  struct ClockReset {
    ClockReset() { ManualClock::reset(); }
  } clock_reset;
  boost::asio::io_context ioc;
  exitguard::testing::VirtualTimeDriver driver{ioc};
  Venue venue{ioc.get_executor(), exitguard::testing::linear_price(95.0, -1.0 / 6.0)};
  exitguard::BasicTradingHaltCoordinator<ManualClock> halt;
  exitguard::BasicExitCircuitBreaker<ManualClock> breaker{halt};
  Exits exits{ioc.get_executor(), {}, &breaker, &halt};
};

}  // namespace

TEST_CASE("the stop-loss closes the position on the first attempt when the venue is healthy") {
  Crash crash;
  crash.venue.open_position("SOL", 1000);
  crash.venue.set_default(confirm_after(2s));
  StopLossStrategy strategy(crash.exits, crash.venue, "SOL", 1000, 100.0, 5.0);

  strategy.on_price(crash.venue.reference_price("SOL"));
  crash.driver.run_until([&] { return strategy.report().has_value(); });

  REQUIRE(strategy.report()->closed());
  CHECK(strategy.report()->attempts == 1);
  CHECK(strategy.report()->exit_time == 2s);
  CHECK(crash.venue.sold("SOL") == 1000);
  CHECK(strategy.loss_pct() == Approx(5.0 + 2.0 / 6.0).epsilon(1e-9));
}

TEST_CASE("a lost confirmation costs seconds, not minutes, and nothing is sold twice") {
  Crash crash;
  crash.venue.open_position("SOL", 1000);
  Venue::script_type lost;
  lost.fate = MockFate::land_late;
  lost.lands_after = 25s;  // the first transaction lands after the second was sent
  crash.venue.push(lost);
  crash.venue.set_default(confirm_after(2s));
  StopLossStrategy strategy(crash.exits, crash.venue, "SOL", 1000, 100.0, 5.0);

  strategy.on_price(crash.venue.reference_price("SOL"));
  crash.driver.run_until([&] { return strategy.report().has_value(); });
  crash.driver.run_for(60s);  // let the first transaction land

  REQUIRE(strategy.report()->closed());
  CHECK(strategy.report()->exit_time <= 30s);
  CHECK(strategy.loss_pct() < 7.0);
  CHECK(crash.venue.sold("SOL") == 1000);  // the late landing sold nothing more
}

TEST_CASE("during an outage both exits end by the deadline and the breaker halts trading") {
  Crash crash;
  crash.venue.add_outage(ManualClock::now(), ManualClock::now() + 45s);
  crash.venue.open_position("SOL", 1000);
  crash.venue.open_position("ETH", 500);
  StopLossStrategy sol(crash.exits, crash.venue, "SOL", 1000, 100.0, 5.0);
  StopLossStrategy eth(crash.exits, crash.venue, "ETH", 500, 100.0, 5.0);

  sol.on_price(95.0);
  eth.on_price(95.0);
  crash.driver.run_until([&] { return sol.report() && eth.report(); });

  for (const auto* s : {&sol, &eth}) {
    CHECK(s->report()->final_state == exitguard::ExitTransitionState::exit_failed);
    CHECK(s->report()->error == exitguard::error::deadline_exceeded);
    CHECK(s->report()->exit_time == 30s);
    CHECK(s->report()->escalated);
  }
  CHECK(crash.breaker.is_open());
  CHECK(crash.halt.state() == exitguard::TradingState::halted);
  CHECK_FALSE(crash.halt.allows_entry());
}
