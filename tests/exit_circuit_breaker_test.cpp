// exitguard-test-set: optimized
// Tests of exitguard/exit_circuit_breaker.hpp: counting consecutive failed exits,
// tripping (and what it does to trading), the latch, manual re-arm, the cooldown and
// its single half-open probe, settings validation, and concurrent use. Times come
// from ManualClock; no test sleeps.

// First include: proves the header compiles on its own.
#include <exitguard/exit_circuit_breaker.hpp>

#include <catch2/catch.hpp>

#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using exitguard::BreakerDecision;
using exitguard::BreakerOutcome;
using exitguard::BreakerPermit;
using exitguard::BreakerState;
using exitguard::TradingState;
using exitguard::testing::ManualClock;
using Coordinator = exitguard::BasicTradingHaltCoordinator<ManualClock>;
using Breaker = exitguard::BasicExitCircuitBreaker<ManualClock>;
using Settings = Breaker::settings_type;
using Transition = Breaker::transition_type;
using exitguard::error;
using namespace std::chrono_literals;

constexpr std::string_view breaker_name = "exit_circuit_breaker";

// One failed exit, as the executor reports it: ask, run, record.
void fail_one_exit(Breaker& breaker) {
  const auto permit = breaker.try_acquire();
  REQUIRE(permit == BreakerPermit::allowed);
  breaker.record_failure(permit);
}

void succeed_one_exit(Breaker& breaker) {
  const auto permit = breaker.try_acquire();
  REQUIRE(permit == BreakerPermit::allowed);
  breaker.record_success(permit);
}

// ManualClock's time, but now() can be armed to hold its first `parties` callers
// until all of them have arrived. try_acquire() reads the clock after it has read
// the breaker's state and before it competes for the probe, so arming it makes
// every caller look at the open breaker before any of them takes the probe: the
// worst interleaving for "exactly one probe", forced instead of hoped for.
struct RendezvousClock {
  using duration = ManualClock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<RendezvousClock>;
  [[maybe_unused]] static constexpr bool is_steady = true;

  static void arm(int parties) noexcept {
    arrived_.store(0);
    parties_.store(parties);
  }

  static time_point now() noexcept {
    const int parties = parties_.load();
    if (parties > 0 && arrived_.fetch_add(1) < parties) {
      while (arrived_.load() < parties) std::this_thread::yield();
    }
    return time_point(ManualClock::now().time_since_epoch());
  }

 private:
  static inline std::atomic<int> parties_{0};
  static inline std::atomic<int> arrived_{0};
};

Settings with_cooldown(ManualClock::duration cooldown) {
  Settings s;
  s.cooldown = cooldown;
  return s;
}

}  // namespace

TEST_CASE("Breaker names and default settings", "[breaker]") {
  ManualClock::reset();
  STATIC_REQUIRE(exitguard::to_string(BreakerState::closed) == "closed");
  STATIC_REQUIRE(exitguard::to_string(BreakerState::open) == "open");
  STATIC_REQUIRE(exitguard::to_string(BreakerState::half_open) == "half_open");
  STATIC_REQUIRE(exitguard::to_string(BreakerPermit::probe) == "probe");
  STATIC_REQUIRE(exitguard::exit_circuit_breaker_name == "exit_circuit_breaker");
  // The design document: "trips after 2-3 consecutive exit failures", "halts ALL trading".
  STATIC_REQUIRE(Settings{}.threshold == 2);
  STATIC_REQUIRE(Settings{}.trip_action == TradingState::halted);
  STATIC_REQUIRE_FALSE(Settings{}.cooldown.has_value());
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitCircuitBreaker,
                                exitguard::BasicExitCircuitBreaker<std::chrono::steady_clock>>);
  CHECK_FALSE(Settings{}.validate());
}

TEST_CASE("The breaker does not trip at 1 failure and trips at exactly 2 by default", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK_FALSE(breaker.is_open());
  CHECK_FALSE(breaker.opened_at().has_value());

  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == 1);
  CHECK(breaker.trips() == 0);
  CHECK(halt.state() == TradingState::running);
  CHECK(halt.changes() == 0);

  ManualClock::advance(7s);
  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.is_open());
  CHECK(breaker.consecutive_failures() == 2);
  CHECK(breaker.trips() == 1);
  CHECK(breaker.opened_at() == std::optional(ManualClock::time_point(7s)));

  // The trip halted trading through the coordinator, and says who and why.
  CHECK(halt.state() == TradingState::halted);
  CHECK_FALSE(halt.allows_exit());
  CHECK(halt.changes() == 1);
  const auto change = halt.last_change();
  CHECK(change.from == TradingState::running);
  CHECK(change.to == TradingState::halted);
  CHECK(change.who == breaker_name);
  CHECK(change.why == "2 consecutive failed exits");
  CHECK(change.when == ManualClock::time_point(7s));
}

TEST_CASE("The breaker trips at exactly N failures for threshold N", "[breaker]") {
  const auto threshold = GENERATE(1u, 3u, 7u, 1000u);
  ManualClock::reset();
  Coordinator halt;
  Settings settings;
  settings.threshold = threshold;
  Breaker breaker(halt, settings);

  for (std::uint32_t i = 1; i < threshold; ++i) fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == threshold - 1);
  CHECK(halt.state() == TradingState::running);

  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 1);
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.last_change().why == std::to_string(threshold) + " consecutive failed exits");
}

TEST_CASE("Without a cooldown the breaker stays open: latched until reset", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt);
  // An exit that started before the trip and ends after it.
  const auto late_permit = breaker.try_acquire();
  REQUIRE(late_permit == BreakerPermit::allowed);
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  REQUIRE(breaker.state() == BreakerState::open);

  for (int i = 0; i < 100; ++i) {
    ManualClock::advance(1h);
    const auto permit = breaker.try_acquire();
    CHECK(permit == BreakerPermit::refused);
    // A refused exit never ran: recording it changes nothing.
    breaker.record_success(permit);
    breaker.record_failure(permit);
    breaker.record_cancelled(permit);
  }
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.consecutive_failures() == 2);

  // The late exit's outcome neither closes nor re-trips the breaker.
  breaker.record_success(late_permit);
  CHECK(breaker.state() == BreakerState::open);
  breaker.record_failure(late_permit);
  breaker.record_failure(late_permit);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 1);
  CHECK(breaker.opened_at() == std::optional(ManualClock::time_point{}));
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.changes() == 1);
}

TEST_CASE("A success resets the consecutive count", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt);
  fail_one_exit(breaker);
  succeed_one_exit(breaker);
  CHECK(breaker.consecutive_failures() == 0);
  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == 1);
  CHECK(breaker.trips() == 0);
  CHECK(halt.state() == TradingState::running);

  fail_one_exit(breaker);  // the second in a row
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("Manual reset re-arms the breaker but leaves trading halted", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt);
  CHECK_FALSE(breaker.last_reset().has_value());
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  REQUIRE(breaker.state() == BreakerState::open);

  ManualClock::advance(90s);
  breaker.reset("alice", "RPC provider switched");
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == 0);
  CHECK_FALSE(breaker.opened_at().has_value());
  const auto record = breaker.last_reset();
  REQUIRE(record.has_value());
  CHECK(record->who == "alice");
  CHECK(record->why == "RPC provider switched");
  CHECK(record->when == ManualClock::time_point(90s));

  // Trading is resumed on the coordinator, deliberately, not by the re-arm.
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.last_change().who == breaker_name);
  CHECK(halt.changes() == 1);

  CHECK(breaker.try_acquire() == BreakerPermit::allowed);
  REQUIRE(halt.resume("alice", "venue healthy"));
  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::closed);
  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 2);
  CHECK(halt.state() == TradingState::halted);
}

TEST_CASE("trip_action reduce_only keeps exits alive and refuses entries", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Settings settings;
  settings.trip_action = TradingState::reduce_only;
  Breaker breaker(halt, settings);
  fail_one_exit(breaker);
  fail_one_exit(breaker);

  CHECK(breaker.state() == BreakerState::open);
  CHECK(halt.state() == TradingState::reduce_only);
  CHECK(halt.allows_exit());
  CHECK_FALSE(halt.allows_entry());
  CHECK(halt.last_change().who == breaker_name);

  // Exits keep running; their outcomes are counted but neither close nor re-open it.
  ManualClock::advance(1h);
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  CHECK(breaker.consecutive_failures() == 4);
  succeed_one_exit(breaker);
  CHECK(breaker.consecutive_failures() == 0);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 1);
  CHECK(breaker.opened_at() == std::optional(ManualClock::time_point{}));
  CHECK(halt.state() == TradingState::reduce_only);
  CHECK(halt.changes() == 1);
}

TEST_CASE("trip_action running opens the breaker and leaves trading alone", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Settings settings;
  settings.trip_action = TradingState::running;
  Breaker breaker(halt, settings);
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 1);
  CHECK(halt.state() == TradingState::running);
  CHECK(halt.changes() == 0);
  CHECK(breaker.try_acquire() == BreakerPermit::allowed);
}

TEST_CASE("A trip only tightens trading: an operator's stricter state stands", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;

  SECTION("operator halted, trip_action reduce_only: trading stays halted") {
    Settings settings;
    settings.trip_action = TradingState::reduce_only;
    Breaker breaker(halt, settings);
    REQUIRE(halt.halt("alice", "maintenance"));
    fail_one_exit(breaker);
    fail_one_exit(breaker);
    CHECK(breaker.state() == BreakerState::open);
    CHECK(halt.state() == TradingState::halted);
    CHECK(halt.last_change().who == "alice");
  }
  SECTION("operator reduce_only, trip_action halted: the breaker halts") {
    Breaker breaker(halt);
    REQUIRE(halt.reduce_only("alice", "winding down"));
    fail_one_exit(breaker);
    fail_one_exit(breaker);
    CHECK(halt.state() == TradingState::halted);
    CHECK(halt.last_change().who == breaker_name);
  }
}

TEST_CASE("With a cooldown: refused before it, one probe after it", "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(30s));
  ManualClock::advance(10s);
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  REQUIRE(breaker.state() == BreakerState::open);

  ManualClock::advance(30s - 1ns);
  CHECK(breaker.try_acquire() == BreakerPermit::refused);
  CHECK(breaker.state() == BreakerState::open);  // time alone changes nothing
  CHECK(halt.state() == TradingState::halted);

  ManualClock::advance(1ns);
  CHECK(breaker.try_acquire() == BreakerPermit::probe);
  CHECK(breaker.state() == BreakerState::half_open);
  CHECK(breaker.is_open());
  // Trading was the breaker's to change: reduce_only lets the probe exit through.
  CHECK(halt.state() == TradingState::reduce_only);
  CHECK(halt.allows_exit());
  CHECK_FALSE(halt.allows_entry());
  CHECK(halt.last_change().who == breaker_name);
  CHECK(halt.last_change().why == "half-open probe");

  for (int i = 0; i < 10; ++i) CHECK(breaker.try_acquire() == BreakerPermit::refused);
  ManualClock::advance(1h);
  CHECK(breaker.try_acquire() == BreakerPermit::refused);
  CHECK(breaker.state() == BreakerState::half_open);
}

TEST_CASE("A cooldown as long as the clock's range never elapses and never overflows",
          "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(ManualClock::duration::max()));
  ManualClock::advance(1s);  // now + max would overflow: it must saturate
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  ManualClock::advance(24h * 365 * 100);
  CHECK(breaker.try_acquire() == BreakerPermit::refused);
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("A successful probe closes the breaker and resumes trading", "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  ManualClock::advance(5s);
  const auto permit = breaker.try_acquire();
  REQUIRE(permit == BreakerPermit::probe);

  ManualClock::advance(2s);
  breaker.record_success(permit);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == 0);
  CHECK_FALSE(breaker.opened_at().has_value());
  CHECK(breaker.trips() == 1);
  CHECK(halt.state() == TradingState::running);
  const auto change = halt.last_change();
  CHECK(change.from == TradingState::reduce_only);
  CHECK(change.who == breaker_name);
  CHECK(change.why == "half-open probe succeeded");
  CHECK(change.when == ManualClock::time_point(7s));
  CHECK(halt.changes() == 3);  // halted, reduce_only, running

  CHECK(breaker.try_acquire() == BreakerPermit::allowed);
  fail_one_exit(breaker);
  CHECK(breaker.state() == BreakerState::closed);  // counting starts again from zero
}

TEST_CASE("A failed probe re-opens the breaker with a new cooldown", "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  ManualClock::advance(5s);
  const auto permit = breaker.try_acquire();
  REQUIRE(permit == BreakerPermit::probe);

  ManualClock::advance(3s);
  breaker.record_failure(permit);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 2);
  CHECK(breaker.consecutive_failures() == 3);
  CHECK(breaker.opened_at() == std::optional(ManualClock::time_point(8s)));
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.last_change().who == breaker_name);
  CHECK(halt.last_change().why == "half-open probe failed, 3 consecutive failed exits");

  // The cooldown counts from the new trip, not the first.
  ManualClock::advance(5s - 1ns);
  CHECK(breaker.try_acquire() == BreakerPermit::refused);
  ManualClock::advance(1ns);
  CHECK(breaker.try_acquire() == BreakerPermit::probe);
  CHECK(halt.state() == TradingState::reduce_only);
}

TEST_CASE("Exactly one of 8 concurrent callers gets the probe", "[breaker][cooldown][concurrency]") {
  ManualClock::reset();
  constexpr int callers = 8;
  constexpr int rounds = 200;
  int rounds_with_one_probe = 0;
  for (int round = 0; round < rounds; ++round) {
    Coordinator halt;
    Breaker breaker(halt, with_cooldown(1s));
    fail_one_exit(breaker);
    fail_one_exit(breaker);
    ManualClock::advance(1s);

    std::atomic<int> probes{0};
    std::atomic<int> refusals{0};
    std::latch start(callers);
    std::vector<std::thread> threads;
    for (int i = 0; i < callers; ++i) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        switch (breaker.try_acquire()) {
          case BreakerPermit::probe: probes.fetch_add(1); break;
          case BreakerPermit::refused: refusals.fetch_add(1); break;
          case BreakerPermit::allowed: break;
        }
      });
    }
    for (auto& t : threads) t.join();

    INFO("round " << round);
    CHECK(probes.load() == 1);
    CHECK(refusals.load() == callers - 1);
    CHECK(breaker.state() == BreakerState::half_open);
    CHECK(halt.state() == TradingState::reduce_only);
    CHECK(halt.changes() == 2);  // the trip's halt, the one probe's reduce_only
    if (probes.load() == 1) ++rounds_with_one_probe;
  }
  CHECK(rounds_with_one_probe == rounds);
}

TEST_CASE("Exactly one probe even when all 8 callers see the open breaker before any takes it",
          "[breaker][cooldown][concurrency]") {
  ManualClock::reset();
  using RendezvousBreaker = exitguard::BasicExitCircuitBreaker<RendezvousClock>;
  using RendezvousCoordinator = exitguard::BasicTradingHaltCoordinator<RendezvousClock>;
  constexpr int callers = 8;
  constexpr int rounds = 200;
  int rounds_with_one_probe = 0;
  for (int round = 0; round < rounds; ++round) {
    RendezvousClock::arm(0);
    RendezvousCoordinator halt;
    RendezvousBreaker::settings_type settings;
    settings.cooldown = 1s;
    RendezvousBreaker breaker(halt, settings);
    for (int i = 0; i < 2; ++i) breaker.record_failure(breaker.try_acquire());
    REQUIRE(breaker.state() == BreakerState::open);
    ManualClock::advance(1s);

    RendezvousClock::arm(callers);
    std::atomic<int> probes{0};
    std::latch start(callers);
    std::vector<std::thread> threads;
    for (int i = 0; i < callers; ++i) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        if (breaker.try_acquire() == BreakerPermit::probe) probes.fetch_add(1);
      });
    }
    for (auto& t : threads) t.join();

    INFO("round " << round);
    CHECK(probes.load() == 1);
    CHECK(breaker.state() == BreakerState::half_open);
    CHECK(halt.state() == TradingState::reduce_only);
    if (probes.load() == 1) ++rounds_with_one_probe;
  }
  RendezvousClock::arm(0);
  CHECK(rounds_with_one_probe == rounds);
}

TEST_CASE("The breaker never undoes a trading state set by someone else", "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));

  SECTION("an operator halt before the trip: no probe while halted, and no loosening until reset") {
    // Two exits under way when the operator halts; both fail afterwards and trip it.
    const auto first = breaker.try_acquire();
    const auto second = breaker.try_acquire();
    REQUIRE(halt.halt("alice", "investigating"));
    breaker.record_failure(first);
    CHECK(breaker.record_failure(second).tripped);
    REQUIRE(breaker.state() == BreakerState::open);
    CHECK(halt.last_change().who == "alice");  // already halted: the trip tightens nothing
    ManualClock::advance(5s);
    // A probe could not run while trading is halted by someone else.
    CHECK(breaker.try_acquire() == BreakerPermit::refused);
    CHECK(breaker.state() == BreakerState::open);
    CHECK(breaker.history().size() == 1);  // closed -> open only: no probe was handed out
    CHECK(halt.state() == TradingState::halted);

    // Nor may the operator let exits (or entries) through while the breaker is open.
    const auto refused = halt.reduce_only("alice", "exits only");
    CHECK_FALSE(refused);
    CHECK(refused.error == exitguard::error::circuit_open);
    CHECK(halt.state() == TradingState::halted);
    CHECK(halt.last_change().who == "alice");
    CHECK(breaker.try_acquire() == BreakerPermit::refused);

    // Re-armed, trading is the operator's again; the re-arm itself changed nothing.
    breaker.reset("alice", "venue fixed");
    CHECK(halt.state() == TradingState::halted);
    REQUIRE(halt.reduce_only("alice", "exits only"));
    CHECK(breaker.try_acquire() == BreakerPermit::allowed);
  }
  SECTION("an operator halt while the probe runs stands after the probe succeeds") {
    fail_one_exit(breaker);
    fail_one_exit(breaker);
    ManualClock::advance(5s);
    const auto permit = breaker.try_acquire();
    REQUIRE(permit == BreakerPermit::probe);
    REQUIRE(halt.halt("alice", "venue incident"));
    breaker.record_success(permit);
    CHECK(breaker.state() == BreakerState::closed);
    CHECK(halt.state() == TradingState::halted);
    CHECK(halt.last_change().who == "alice");
  }
}

TEST_CASE("A cancelled probe is given back and the next caller probes", "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  ManualClock::advance(5s);
  const auto permit = breaker.try_acquire();
  REQUIRE(permit == BreakerPermit::probe);
  REQUIRE(halt.state() == TradingState::reduce_only);

  breaker.record_cancelled(permit);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 1);  // not a trip: the cancelled exit says nothing
  CHECK(breaker.consecutive_failures() == 2);
  CHECK(breaker.opened_at() == std::optional(ManualClock::time_point{}));
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.last_change().why == "half-open probe given back");

  CHECK(breaker.try_acquire() == BreakerPermit::probe);  // the cooldown is still elapsed
  CHECK(halt.state() == TradingState::reduce_only);

  // A cancelled ordinary exit counts neither way.
  breaker.reset("alice", "test");
  fail_one_exit(breaker);
  const auto ordinary = breaker.try_acquire();
  REQUIRE(ordinary == BreakerPermit::allowed);
  breaker.record_cancelled(ordinary);
  CHECK(breaker.consecutive_failures() == 1);
  CHECK(breaker.state() == BreakerState::closed);
}

TEST_CASE("A reset during the probe closes the breaker, and the probe's outcome is then an ordinary one",
          "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  ManualClock::advance(5s);
  const auto permit = breaker.try_acquire();
  REQUIRE(permit == BreakerPermit::probe);
  breaker.reset("alice", "manual re-arm");
  REQUIRE(breaker.state() == BreakerState::closed);
  const auto changes_before = halt.changes();

  breaker.record_failure(permit);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == 1);
  CHECK(breaker.trips() == 1);
  CHECK(halt.changes() == changes_before);
}

TEST_CASE("A subscriber may call back into the breaker while it trips", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt);
  std::vector<std::pair<BreakerState, BreakerState>> transitions;
  breaker.subscribe([&](const Transition& t) { transitions.emplace_back(t.from, t.to); });
  std::optional<BreakerState> seen_state;
  std::optional<ManualClock::time_point> seen_opened_at;
  halt.subscribe([&](const Coordinator::change_type& change) {
    if (change.to != TradingState::halted) return;
    seen_state = breaker.state();
    seen_opened_at = breaker.opened_at();
    breaker.reset("auto_rearm", "test re-entrancy");  // from the same thread: no deadlock
  });
  ManualClock::advance(3s);
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  CHECK(seen_state == std::optional(BreakerState::open));
  CHECK(seen_opened_at == std::optional(ManualClock::time_point(3s)));
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.last_reset()->who == "auto_rearm");
  CHECK(halt.state() == TradingState::halted);
  // The re-arm made from inside the trip is delivered after the trip, not before.
  using Pair = std::pair<BreakerState, BreakerState>;
  CHECK(transitions ==
        std::vector<Pair>{{BreakerState::closed, BreakerState::open}, {BreakerState::open, BreakerState::closed}});
}

TEST_CASE("Concurrent failures trip the breaker exactly once", "[breaker][concurrency]") {
  ManualClock::reset();
  constexpr int threads = 8;
  for (int round = 0; round < 50; ++round) {
    Coordinator halt;
    Settings settings;
    settings.threshold = 5;
    Breaker breaker(halt, settings);
    std::latch start(threads);
    std::atomic<int> reported_trips{0};
    std::vector<std::thread> workers;
    for (int i = 0; i < threads; ++i) {
      workers.emplace_back([&] {
        const auto permit = breaker.try_acquire();  // all asked while closed
        start.arrive_and_wait();
        if (breaker.record_failure(permit).tripped) reported_trips.fetch_add(1);
      });
    }
    for (auto& w : workers) w.join();
    INFO("round " << round);
    CHECK(breaker.state() == BreakerState::open);
    CHECK(breaker.trips() == 1);
    CHECK(reported_trips.load() == 1);
    CHECK(breaker.consecutive_failures() == threads);
    CHECK(halt.changes() == 1);
    // The count the trip saw: at least the threshold, more if other failures landed
    // before it took the lock.
    const auto why = halt.last_change().why;
    const auto n = std::stoi(why);
    CHECK(why == std::to_string(n) + " consecutive failed exits");
    CHECK(n >= 5);
    CHECK(n <= threads);
  }
}

TEST_CASE("Concurrent exits, probes and resets keep the breaker consistent", "[breaker][concurrency]") {
  ManualClock::reset();
  Coordinator halt;
  Settings settings = with_cooldown(1ms);
  settings.threshold = 3;
  Breaker breaker(halt, settings);
  constexpr int workers = 4;
  constexpr int exits_per_worker = 2000;  // exits that ran; refusals are not counted
  std::atomic<int> finished{0};
  std::atomic<int> probes{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < exits_per_worker;) {
        const auto permit = breaker.try_acquire();
        if (permit == BreakerPermit::refused) {
          std::this_thread::yield();  // let the operator's thread move the clock
          continue;
        }
        if (permit == BreakerPermit::probe) probes.fetch_add(1);
        ++i;
        // A deterministic mix: most exits fail, so the breaker trips and probes often.
        if ((i + w) % 4 == 0)
          breaker.record_success(permit);
        else if ((i + w) % 7 == 0)
          breaker.record_cancelled(permit);
        else
          breaker.record_failure(permit);
      }
      finished.fetch_add(1);
    });
  }
  // The operator's thread: time passes (cooldowns elapse), re-arms, resumes.
  for (int i = 0; finished.load() < workers; ++i) {
    ManualClock::advance(1ms);
    if (i % 50 == 0) {
      breaker.reset("operator", "stress");
      halt.resume("operator", "stress");
    }
    std::this_thread::yield();
  }
  for (auto& t : threads) t.join();

  // Consistency after the storm: opened_at exists exactly when the breaker is not
  // closed, and the trading state is one of the three.
  const auto state = breaker.state();
  CHECK(breaker.opened_at().has_value() == (state != BreakerState::closed));
  CHECK(exitguard::is_valid(halt.state()));
  // The storm did go through trips and probes (most exits fail).
  CHECK(breaker.trips() > 10);
  CHECK(probes.load() > 0);
  CHECK(halt.changes() > 10);
}

TEST_CASE("Invalid breaker settings are refused", "[breaker][config]") {
  ManualClock::reset();
  using exitguard::error;
  Coordinator halt;
  const auto refused_with = [&](const Settings& s, error e) {
    CHECK(s.validate() == e);
    try {
      Breaker breaker(halt, s);
      FAIL("constructor accepted invalid settings");
    } catch (const exitguard::configuration_error& ex) {
      CHECK(ex.code() == e);
      CHECK(ex.code() == exitguard::condition::invalid_configuration);
    }
  };

  Settings s;
  s.threshold = 0;
  refused_with(s, error::invalid_breaker_threshold);
  s.threshold = 1001;
  refused_with(s, error::invalid_breaker_threshold);
  s.threshold = 1000;
  CHECK_FALSE(s.validate());
  s.threshold = 1;
  CHECK_FALSE(s.validate());

  s = Settings{};
  s.cooldown = ManualClock::duration::zero();
  refused_with(s, error::invalid_cooldown);
  s.cooldown = -1s;
  refused_with(s, error::invalid_cooldown);
  s.cooldown = 1ns;
  CHECK_FALSE(s.validate());
  CHECK_NOTHROW(Breaker(halt, s));

  s = Settings{};
  s.trip_action = static_cast<TradingState>(42);
  refused_with(s, error::invalid_trading_state);
  s.cooldown = 1s;  // the unnamed state is what is wrong first
  refused_with(s, error::invalid_trading_state);

  // A cooldown is only used to hand out a probe while exits are refused.
  s = Settings{};
  s.cooldown = 1s;
  s.trip_action = TradingState::reduce_only;
  refused_with(s, error::cooldown_unused);
  s.trip_action = TradingState::running;
  refused_with(s, error::cooldown_unused);
}

// --- Outcome and trip decided in one step -------------------------------------------

TEST_CASE("record() reports the outcome's effect, and the trip only from the call that tripped", "[breaker]") {
  ManualClock::reset();
  // threshold 2; `before` failures are recorded first, then one `outcome`.
  using Row = std::tuple<const char*, std::uint32_t, BreakerOutcome, bool, BreakerState, std::uint32_t>;
  const auto [name, before, outcome, tripped, state, consecutive] = GENERATE(table<const char*, std::uint32_t,
                                                                                    BreakerOutcome, bool, BreakerState,
                                                                                    std::uint32_t>({
      Row{"a first failure", 0, BreakerOutcome::failure, false, BreakerState::closed, 1},
      Row{"the failure that reaches the threshold", 1, BreakerOutcome::failure, true, BreakerState::open, 2},
      Row{"a failure after the trip", 2, BreakerOutcome::failure, false, BreakerState::open, 3},
      Row{"a success", 1, BreakerOutcome::success, false, BreakerState::closed, 0},
      Row{"a neutral outcome", 1, BreakerOutcome::neutral, false, BreakerState::closed, 1},
      Row{"an outcome that is not one of the three", 1, static_cast<BreakerOutcome>(7), false, BreakerState::closed, 1},
  }));
  INFO(name);
  Coordinator halt;
  Breaker breaker(halt);
  // Permits taken while closed: an exit that started before the trip may end after it.
  std::vector<BreakerPermit> permits;
  for (std::uint32_t i = 0; i <= before; ++i) permits.push_back(breaker.try_acquire());
  for (std::uint32_t i = 0; i < before; ++i) breaker.record(permits[i], BreakerOutcome::failure);
  const auto trips_before = breaker.trips();

  const BreakerDecision d = breaker.record(permits[before], outcome, error::deadline_exceeded);
  CHECK(d.tripped == tripped);
  CHECK(d.state == state);
  CHECK(d.trips == breaker.trips());
  CHECK(breaker.trips() == trips_before + (tripped ? 1 : 0));
  CHECK(breaker.state() == state);
  CHECK(breaker.consecutive_failures() == consecutive);
  if (tripped) {
    REQUIRE(breaker.last_trip().has_value());
    CHECK(breaker.last_trip()->cause == error::deadline_exceeded);
  }

  // A refused permit never ran: it records nothing, whatever the outcome.
  const auto refused = breaker.record(BreakerPermit::refused, BreakerOutcome::failure);
  CHECK_FALSE(refused.tripped);
  CHECK(refused.state == state);
  CHECK(breaker.consecutive_failures() == consecutive);
}

TEST_CASE("The thin wrappers are record() with success, failure and neutral", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt);
  STATIC_REQUIRE(std::is_same_v<decltype(breaker.record_success(BreakerPermit::allowed)), BreakerDecision>);
  STATIC_REQUIRE(std::is_same_v<decltype(breaker.record_failure(BreakerPermit::allowed)), BreakerDecision>);
  STATIC_REQUIRE(std::is_same_v<decltype(breaker.record_cancelled(BreakerPermit::allowed)), BreakerDecision>);
  STATIC_REQUIRE(exitguard::to_string(BreakerOutcome::neutral) == "neutral");

  CHECK_FALSE(breaker.record_failure(breaker.try_acquire()).tripped);
  CHECK(breaker.record_cancelled(breaker.try_acquire()).state == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == 1);
  CHECK(breaker.record_success(breaker.try_acquire()).state == BreakerState::closed);
  CHECK(breaker.consecutive_failures() == 0);
  CHECK_FALSE(breaker.record_failure(breaker.try_acquire(), error::insufficient_funds).tripped);
  const auto d = breaker.record_failure(breaker.try_acquire(), error::venue_unavailable);
  CHECK(d.tripped);
  CHECK(d.trips == 1);
  CHECK(breaker.last_trip()->cause == error::venue_unavailable);  // the tripping failure's, not the first's
}

// --- Manual trip -------------------------------------------------------------------

TEST_CASE("A manual trip opens the breaker with the operator's who and why", "[breaker][operator]") {
  ManualClock::reset();
  const auto [action, trading_after] = GENERATE(table<TradingState, TradingState>({
      {TradingState::halted, TradingState::halted},
      {TradingState::reduce_only, TradingState::reduce_only},
      {TradingState::running, TradingState::running},
  }));
  INFO("trip_action " << exitguard::to_string(action));
  Coordinator halt;
  Settings settings;
  settings.trip_action = action;
  Breaker breaker(halt, settings);
  fail_one_exit(breaker);  // one failure: far from the threshold of 2 it does not matter
  ManualClock::advance(4s);

  const auto d = breaker.trip("alice", "venue incident INC-7");
  CHECK(d.tripped);
  CHECK(d.state == BreakerState::open);
  CHECK(d.trips == 1);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.trips() == 1);
  CHECK(breaker.consecutive_failures() == 1);
  CHECK(breaker.opened_at() == std::optional(ManualClock::time_point(4s)));
  const auto trip = breaker.last_trip();
  REQUIRE(trip.has_value());
  CHECK(trip->from == BreakerState::closed);
  CHECK(trip->to == BreakerState::open);
  CHECK(trip->who == "alice");
  CHECK(trip->why == "venue incident INC-7");
  CHECK(trip->when == ManualClock::time_point(4s));
  CHECK_FALSE(trip->cause);
  CHECK(trip->trips == 1);

  // The trip action, with the operator's who and why.
  CHECK(halt.state() == trading_after);
  if (trading_after == TradingState::running) {
    CHECK(halt.changes() == 0);
  } else {
    CHECK(halt.changes() == 1);
    CHECK(halt.last_change().who == "alice");
    CHECK(halt.last_change().why == "venue incident INC-7");
  }

  // Already open: a second trip changes nothing.
  ManualClock::advance(1s);
  const auto again = breaker.trip("bob", "me too");
  CHECK_FALSE(again.tripped);
  CHECK(again.trips == 1);
  CHECK(breaker.last_trip()->who == "alice");
  CHECK(breaker.history().size() == 1);

  breaker.reset("alice", "incident over");
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.last_trip()->who == "alice");  // kept after the re-arm, for the incident record
}

TEST_CASE("A manual trip is latched even with a cooldown, and overtakes a probe", "[breaker][operator][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  ManualClock::advance(5s);
  const auto probe = breaker.try_acquire();
  REQUIRE(probe == BreakerPermit::probe);
  REQUIRE(halt.state() == TradingState::reduce_only);

  const auto d = breaker.trip("alice", "stop probing");
  CHECK(d.tripped);
  CHECK(d.trips == 2);
  CHECK(breaker.state() == BreakerState::open);
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.last_change().who == "alice");
  CHECK_FALSE(breaker.remaining_cooldown().has_value());

  // The overtaken probe's success is an ordinary exit's: it closes nothing.
  const auto late = breaker.record_success(probe);
  CHECK_FALSE(late.tripped);
  CHECK(breaker.state() == BreakerState::open);
  ManualClock::advance(24h);
  CHECK(breaker.try_acquire() == BreakerPermit::refused);
  CHECK(breaker.state() == BreakerState::open);
  breaker.reset("alice", "done");
  CHECK(breaker.try_acquire() == BreakerPermit::allowed);
}

TEST_CASE("The trip's cause and why are those of the failure that tripped it", "[breaker]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  CHECK_FALSE(breaker.last_trip().has_value());
  breaker.record_failure(breaker.try_acquire(), error::insufficient_funds);
  ManualClock::advance(2s);
  CHECK(breaker.record_failure(breaker.try_acquire(), error::deadline_exceeded).tripped);
  auto trip = breaker.last_trip();
  REQUIRE(trip.has_value());
  CHECK(trip->cause == error::deadline_exceeded);
  CHECK(trip->who == breaker_name);
  CHECK(trip->why == "2 consecutive failed exits");
  CHECK(trip->when == ManualClock::time_point(2s));

  // A failed probe trips it again, with its own cause.
  ManualClock::advance(5s);
  const auto probe = breaker.try_acquire();
  REQUIRE(probe == BreakerPermit::probe);
  const auto d = breaker.record(probe, BreakerOutcome::failure, error::venue_unavailable);
  CHECK(d.tripped);
  CHECK(d.trips == 2);
  trip = breaker.last_trip();
  CHECK(trip->from == BreakerState::half_open);
  CHECK(trip->cause == error::venue_unavailable);
  CHECK(trip->why == "half-open probe failed, 3 consecutive failed exits");
  CHECK(trip->trips == 2);
}

// --- History and subscription --------------------------------------------------------

TEST_CASE("The history keeps the newest 64 transitions, oldest dropped", "[breaker][history]") {
  ManualClock::reset();
  STATIC_REQUIRE(Breaker::history_capacity == 64);
  const int cycles = GENERATE(1, 31, 32, 33, 100);  // each: a trip, then a reset
  INFO(cycles << " trip and reset cycles");
  Coordinator halt;
  Settings settings;
  settings.threshold = 1;
  Breaker breaker(halt, settings);
  CHECK(breaker.history().empty());
  for (int c = 1; c <= cycles; ++c) {
    ManualClock::advance(1s);
    fail_one_exit(breaker);
    breaker.reset("operator", "reset " + std::to_string(c));
  }
  const auto h = breaker.history();
  const auto total = static_cast<std::size_t>(cycles) * 2;
  REQUIRE(h.size() == std::min<std::size_t>(total, Breaker::history_capacity));
  // Newest last: the last reset.
  CHECK(h.back().to == BreakerState::closed);
  CHECK(h.back().why == "reset " + std::to_string(cycles));
  CHECK(h.back().when == ManualClock::time_point(std::chrono::seconds(cycles)));
  // Oldest first: transition number total - size + 1, a trip (odd) of its cycle.
  const auto first_number = total - h.size() + 1;
  CHECK(h.front().to == BreakerState::open);
  CHECK(h.front().trips == (first_number + 1) / 2);
  if (total <= Breaker::history_capacity) CHECK(h.front().from == BreakerState::closed);
  for (std::size_t i = 1; i < h.size(); ++i) {
    INFO("transition " << i);
    CHECK(h[i].from == h[i - 1].to);
    CHECK(h[i].when >= h[i - 1].when);
  }
}

TEST_CASE("Subscribers see every transition, in order, with who, why, cause and trips", "[breaker][history]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  std::vector<Transition> first_seen;
  std::vector<Transition> second_seen;
  const auto first = breaker.subscribe([&](const Transition& t) { first_seen.push_back(t); });
  const auto second = breaker.subscribe([&](const Transition& t) { second_seen.push_back(t); });
  CHECK(first != 0);
  CHECK(second != first);

  breaker.record_failure(breaker.try_acquire(), error::venue_unavailable);
  breaker.record_failure(breaker.try_acquire(), error::deadline_exceeded);  // t = 0: trip 1
  ManualClock::advance(5s);
  auto probe = breaker.try_acquire();  // t = 5
  REQUIRE(probe == BreakerPermit::probe);
  ManualClock::advance(1s);
  breaker.record_failure(probe, error::deadline_exceeded);  // t = 6: trip 2
  ManualClock::advance(5s);
  probe = breaker.try_acquire();  // t = 11
  breaker.record_cancelled(probe);
  probe = breaker.try_acquire();
  ManualClock::advance(1s);
  breaker.record_success(probe);  // t = 12
  breaker.trip("alice", "drill");  // trip 3
  ManualClock::advance(1s);
  breaker.reset("bob", "drill over");  // t = 13

  using S = BreakerState;
  using T = ManualClock::time_point;
  const std::vector<std::tuple<S, S, T, std::string, std::string, boost::system::error_code, std::uint64_t>>
      expected = {
          {S::closed, S::open, T(0s), "exit_circuit_breaker", "2 consecutive failed exits", error::deadline_exceeded, 1},
          {S::open, S::half_open, T(5s), "exit_circuit_breaker", "half-open probe", {}, 1},
          {S::half_open, S::open, T(6s), "exit_circuit_breaker", "half-open probe failed, 3 consecutive failed exits",
           error::deadline_exceeded, 2},
          {S::open, S::half_open, T(11s), "exit_circuit_breaker", "half-open probe", {}, 2},
          {S::half_open, S::open, T(11s), "exit_circuit_breaker", "half-open probe given back", {}, 2},
          {S::open, S::half_open, T(11s), "exit_circuit_breaker", "half-open probe", {}, 2},
          {S::half_open, S::closed, T(12s), "exit_circuit_breaker", "half-open probe succeeded", {}, 2},
          {S::closed, S::open, T(12s), "alice", "drill", {}, 3},
          {S::open, S::closed, T(13s), "bob", "drill over", {}, 3},
      };
  const auto as_tuples = [](const std::vector<Transition>& v) {
    std::vector<std::tuple<S, S, T, std::string, std::string, boost::system::error_code, std::uint64_t>> out;
    for (const auto& t : v) out.emplace_back(t.from, t.to, t.when, t.who, t.why, t.cause, t.trips);
    return out;
  };
  CHECK(as_tuples(first_seen) == expected);
  CHECK(as_tuples(second_seen) == expected);
  CHECK(as_tuples(breaker.history()) == expected);

  CHECK(breaker.unsubscribe(second));
  CHECK_FALSE(breaker.unsubscribe(second));
  CHECK_FALSE(breaker.unsubscribe(12345));
  breaker.trip("alice", "after unsubscribe");
  CHECK(first_seen.size() == expected.size() + 1);
  CHECK(second_seen.size() == expected.size());
  CHECK_THROWS_AS(breaker.subscribe(Breaker::subscriber{}), std::invalid_argument);
}

TEST_CASE("A subscriber that re-arms the breaker: every subscriber sees the trip before the re-arm",
          "[breaker][history]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt);
  std::vector<std::pair<BreakerState, BreakerState>> seen_by_second;
  breaker.subscribe([&](const Transition& t) {
    if (t.to == BreakerState::open) breaker.reset("auto_rearm", "from a subscriber");
  });
  breaker.subscribe([&](const Transition& t) { seen_by_second.emplace_back(t.from, t.to); });
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  using Pair = std::pair<BreakerState, BreakerState>;
  CHECK(seen_by_second == std::vector<Pair>{{BreakerState::closed, BreakerState::open},
                                            {BreakerState::open, BreakerState::closed}});
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.history().size() == 2);
}

TEST_CASE("A throwing breaker subscriber does not keep the others from hearing of a trip", "[breaker][history]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  int after = 0;
  breaker.subscribe([](const Transition& t) {
    if (t.to == BreakerState::open || t.to == BreakerState::half_open) throw std::runtime_error("pager down");
  });
  breaker.subscribe([&](const Transition&) { ++after; });
  fail_one_exit(breaker);
  CHECK_THROWS_WITH(fail_one_exit(breaker), "pager down");
  CHECK(after == 1);
  CHECK(breaker.state() == BreakerState::open);  // the trip took effect regardless
  CHECK(halt.state() == TradingState::halted);

  // The probe's winner would never learn it holds the probe: it is given back.
  ManualClock::advance(5s);
  CHECK_THROWS_WITH(breaker.try_acquire(), "pager down");
  CHECK(breaker.state() == BreakerState::open);
  CHECK(halt.state() == TradingState::halted);
  CHECK(breaker.history().back().why == "half-open probe given back: a subscriber threw");
}

// --- Remaining cooldown ------------------------------------------------------------

TEST_CASE("remaining_cooldown counts down to the probe", "[breaker][cooldown]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(30s));
  CHECK_FALSE(breaker.remaining_cooldown().has_value());  // closed
  ManualClock::advance(10s);
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  CHECK(breaker.remaining_cooldown() == std::optional<ManualClock::duration>(30s));
  ManualClock::advance(12s);
  CHECK(breaker.remaining_cooldown() == std::optional<ManualClock::duration>(18s));
  ManualClock::advance(18s - 1ns);
  CHECK(breaker.remaining_cooldown() == std::optional<ManualClock::duration>(1ns));
  CHECK(breaker.try_acquire() == BreakerPermit::refused);
  ManualClock::advance(1ns);
  CHECK(breaker.remaining_cooldown() == std::optional<ManualClock::duration>(0ns));  // a probe is due
  ManualClock::advance(1h);
  CHECK(breaker.remaining_cooldown() == std::optional<ManualClock::duration>(0ns));
  const auto probe = breaker.try_acquire();
  REQUIRE(probe == BreakerPermit::probe);
  CHECK_FALSE(breaker.remaining_cooldown().has_value());  // half open: the probe is under way
  ManualClock::advance(3s);
  breaker.record_failure(probe);
  CHECK(breaker.remaining_cooldown() == std::optional<ManualClock::duration>(30s));  // from the new trip
  breaker.reset("alice", "test");
  CHECK_FALSE(breaker.remaining_cooldown().has_value());
}

TEST_CASE("remaining_cooldown is empty while the breaker is latched", "[breaker][cooldown]") {
  ManualClock::reset();
  const auto [name, cooldown, manual] = GENERATE(table<const char*, std::optional<ManualClock::duration>, bool>({
      {"no cooldown", std::nullopt, false},
      {"a manual trip", ManualClock::duration(30s), true},
      {"a cooldown beyond the clock's range", ManualClock::duration::max(), false},
  }));
  INFO(name);
  Coordinator halt;
  Settings settings;
  settings.cooldown = cooldown;
  Breaker breaker(halt, settings);
  ManualClock::advance(1s);
  if (manual) {
    breaker.trip("alice", "latched");
  } else {
    fail_one_exit(breaker);
    fail_one_exit(breaker);
  }
  REQUIRE(breaker.state() == BreakerState::open);
  CHECK_FALSE(breaker.remaining_cooldown().has_value());
  ManualClock::advance(24h * 365);
  CHECK_FALSE(breaker.remaining_cooldown().has_value());
  CHECK(breaker.try_acquire() == BreakerPermit::refused);
}

TEST_CASE("A NaN cooldown on a floating-point clock is refused", "[breaker][config]") {
  struct FloatClock {  // the settings use only the clock's duration
    using duration = std::chrono::duration<double>;
  };
  exitguard::BasicCircuitBreakerSettings<FloatClock> s;
  s.cooldown = FloatClock::duration(std::numeric_limits<double>::quiet_NaN());
  CHECK(s.validate() == error::invalid_cooldown);
  s.cooldown = FloatClock::duration(-0.0);
  CHECK(s.validate() == error::invalid_cooldown);
  s.cooldown = FloatClock::duration(0.5);
  CHECK_FALSE(s.validate());
}

TEST_CASE("A cooldown is accepted only with trip_action halted", "[breaker][config]") {
  const auto [action, cooldown, expected] =
      GENERATE(table<TradingState, std::optional<ManualClock::duration>, boost::system::error_code>({
          {TradingState::halted, ManualClock::duration(1s), {}},
          {TradingState::halted, std::nullopt, {}},
          {TradingState::reduce_only, std::nullopt, {}},
          {TradingState::running, std::nullopt, {}},
          {TradingState::reduce_only, ManualClock::duration(1s), error::cooldown_unused},
          {TradingState::running, ManualClock::duration(1s), error::cooldown_unused},
          {TradingState::running, ManualClock::duration::max(), error::cooldown_unused},
      }));
  INFO("trip_action " << exitguard::to_string(action) << ", cooldown " << cooldown.has_value());
  Settings s;
  s.trip_action = action;
  s.cooldown = cooldown;
  CHECK(s.validate() == expected);
  Coordinator halt;
  if (expected) {
    CHECK_THROWS_AS(Breaker(halt, s), exitguard::configuration_error);
  } else {
    CHECK_NOTHROW(Breaker(halt, s));
  }
}

// --- The resume rule -----------------------------------------------------------------

TEST_CASE("While the breaker is open, trading cannot be made less strict than its trip action",
          "[breaker][operator][resume]") {
  ManualClock::reset();
  const auto action = GENERATE(TradingState::halted, TradingState::reduce_only, TradingState::running);
  const auto requested = GENERATE(TradingState::running, TradingState::reduce_only, TradingState::halted);
  const bool shorthand = GENERATE(false, true);
  INFO("trip_action " << exitguard::to_string(action) << ", operator asks for " << exitguard::to_string(requested)
                      << (shorthand ? " (shorthand)" : " (set_state)"));
  const auto ask = [&](Coordinator& halt, std::string_view why) {
    if (!shorthand) return halt.set_state(requested, "alice", why);
    switch (requested) {
      case TradingState::running: return halt.resume("alice", why);
      case TradingState::reduce_only: return halt.reduce_only("alice", why);
      case TradingState::halted: break;
    }
    return halt.halt("alice", why);
  };

  Coordinator halt;
  Settings settings;
  settings.trip_action = action;
  Breaker breaker(halt, settings);
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  REQUIRE(breaker.state() == BreakerState::open);
  const auto tripped_to = halt.state();
  REQUIRE(tripped_to == action);
  const auto changes = halt.changes();

  ManualClock::advance(3s);
  const auto result = ask(halt, "while open");
  const bool refused = exitguard::is_stricter(action, requested);
  if (requested == tripped_to) {
    CHECK_FALSE(result);  // a no-op, not a refusal
    CHECK_FALSE(result.error);
    CHECK(halt.refusals() == 0);
  } else if (refused) {
    CHECK_FALSE(result);
    CHECK(result.error == error::circuit_open);
    CHECK(halt.state() == tripped_to);
    CHECK(halt.changes() == changes);
    CHECK(halt.refusals() == 1);
    const auto refusal = halt.last_refusal();
    REQUIRE(refusal.has_value());
    CHECK(refusal->from == tripped_to);
    CHECK(refusal->to == requested);
    CHECK(refusal->who == "alice");
    CHECK(refusal->why == "while open");
    CHECK(refusal->when == ManualClock::time_point(3s));
    CHECK(refusal->error == error::circuit_open);
  } else {
    CHECK(result);
    CHECK(halt.state() == requested);
    CHECK(halt.refusals() == 0);
  }

  // Re-armed: the reset alone does not loosen trading; the operator's request then goes through.
  if (refused) {
    breaker.reset("alice", "cause fixed");
    CHECK(halt.state() == tripped_to);
    CHECK(ask(halt, "after reset"));
    CHECK(halt.state() == requested);
    CHECK(halt.refusals() == 1);
  }
}

TEST_CASE("While the probe runs the operator cannot resume, and its outcome still decides", "[breaker][resume]") {
  ManualClock::reset();
  Coordinator halt;
  Breaker breaker(halt, with_cooldown(5s));
  fail_one_exit(breaker);
  fail_one_exit(breaker);
  ManualClock::advance(5s);
  const auto probe = breaker.try_acquire();
  REQUIRE(probe == BreakerPermit::probe);
  REQUIRE(halt.state() == TradingState::reduce_only);  // the breaker's own loosening is exempt

  CHECK(halt.resume("alice", "looks fine").error == error::circuit_open);
  CHECK(halt.state() == TradingState::reduce_only);
  CHECK(halt.halt("alice", "not so fast"));  // stricter: always allowed
  CHECK(halt.reduce_only("alice", "let the probe run").error == error::circuit_open);
  breaker.record_success(probe);
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(halt.state() == TradingState::halted);  // the operator's halt stands
  CHECK(halt.resume("alice", "venue healthy"));
  CHECK(halt.state() == TradingState::running);
}

TEST_CASE("The breaker's guard lives as long as the breaker, and each breaker guards", "[breaker][resume]") {
  ManualClock::reset();
  Coordinator halt;
  {
    Breaker breaker(halt);
    breaker.trip("alice", "drill");
    CHECK(halt.resume("alice", "too early").error == error::circuit_open);
  }
  CHECK(halt.resume("alice", "the breaker is gone"));

  Breaker strict(halt);
  Settings soft_settings;
  soft_settings.trip_action = TradingState::reduce_only;
  Breaker soft(halt, soft_settings);
  soft.trip("alice", "soft");
  strict.trip("alice", "strict");
  REQUIRE(halt.state() == TradingState::halted);
  strict.reset("alice", "strict fixed");
  CHECK(halt.resume("alice", "still soft").error == error::circuit_open);
  CHECK(halt.reduce_only("alice", "exits only"));
  soft.reset("alice", "soft fixed");
  CHECK(halt.resume("alice", "both fixed"));
}
