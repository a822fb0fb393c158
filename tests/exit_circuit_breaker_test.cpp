// Tests of exitguard/exit_circuit_breaker.hpp: counting consecutive failed exits,
// tripping (and what it does to trading), the latch, manual re-arm, the cooldown and
// its single half-open probe, settings validation, and concurrent use. Times come
// from ManualClock; no test sleeps.

// First include: proves the header compiles on its own.
#include <exitguard/exit_circuit_breaker.hpp>

#include <catch2/catch.hpp>

#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using exitguard::BreakerPermit;
using exitguard::BreakerState;
using exitguard::TradingState;
using exitguard::testing::ManualClock;
using Coordinator = exitguard::BasicTradingHaltCoordinator<ManualClock>;
using Breaker = exitguard::BasicExitCircuitBreaker<ManualClock>;
using Settings = Breaker::settings_type;
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

  SECTION("an operator halt after the trip: no probe while halted, no resume after it") {
    fail_one_exit(breaker);
    fail_one_exit(breaker);
    REQUIRE(halt.reduce_only("alice", "closing by hand"));
    REQUIRE(halt.halt("alice", "investigating"));
    ManualClock::advance(5s);
    // A probe could not run while trading is halted by someone else.
    CHECK(breaker.try_acquire() == BreakerPermit::refused);
    CHECK(breaker.state() == BreakerState::open);
    CHECK(halt.state() == TradingState::halted);
    CHECK(halt.last_change().who == "alice");

    REQUIRE(halt.reduce_only("alice", "exits only"));
    const auto permit = breaker.try_acquire();
    REQUIRE(permit == BreakerPermit::probe);
    CHECK(halt.last_change().who == "alice");  // untouched
    breaker.record_success(permit);
    CHECK(breaker.state() == BreakerState::closed);
    CHECK(halt.state() == TradingState::reduce_only);  // the operator resumes, not the probe
    CHECK(halt.last_change().who == "alice");
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
    std::vector<std::thread> workers;
    for (int i = 0; i < threads; ++i) {
      workers.emplace_back([&] {
        const auto permit = breaker.try_acquire();  // all asked while closed
        start.arrive_and_wait();
        breaker.record_failure(permit);
      });
    }
    for (auto& w : workers) w.join();
    INFO("round " << round);
    CHECK(breaker.state() == BreakerState::open);
    CHECK(breaker.trips() == 1);
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
}
