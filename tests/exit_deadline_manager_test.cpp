// exitguard-test-set: optimized
// Tests of exitguard/exit_deadline_manager.hpp: one hard deadline per exit, the
// window reserved for the final step, and the budgets derived from them as the clock
// moves. Every question has an overload taking the time it is asked at (the exit
// engine reads no clock) and one asking Clock::now(); both are tested, and must
// agree. ManualClock makes every instant exact; no test sleeps.

// First include: proves the header compiles on its own.
#include <exitguard/exit_deadline_manager.hpp>

#define CATCH_CONFIG_ENABLE_CHRONO_STRINGMAKER
#include <catch2/catch.hpp>

#include "support/configuration_error.hpp"

#include <exitguard/testing/manual_clock.hpp>

#include <chrono>
#include <limits>
#include <type_traits>
#include <utility>

namespace {

using exitguard::testing::ManualClock;
using Manager = exitguard::BasicExitDeadlineManager<ManualClock>;
using namespace std::chrono_literals;

ManualClock::time_point at(std::chrono::nanoseconds since_epoch) { return ManualClock::time_point(since_epoch); }

// A clock with a floating-point representation: its durations can be NaN.
struct FloatClock {
  using rep = double;
  using period = std::ratio<1>;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<FloatClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return time_point(duration(0.0)); }
};

using exitguard::test::configuration_error_of;

}  // namespace

TEST_CASE("exit_deadline_manager.hpp is self-contained and declares the manager", "[deadline]") {
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitDeadlineManager::clock_type, std::chrono::steady_clock>);
  STATIC_REQUIRE(std::is_same_v<Manager::clock_type, ManualClock>);
  STATIC_REQUIRE(std::is_same_v<Manager::duration, ManualClock::duration>);
  STATIC_REQUIRE(std::is_same_v<Manager::time_point, ManualClock::time_point>);
  STATIC_REQUIRE(Manager::default_deadline == 30s);
  STATIC_REQUIRE(Manager::default_final_window == 10s);
  STATIC_REQUIRE(exitguard::ExitDeadlineManager::default_deadline == 30s);
  STATIC_REQUIRE(exitguard::ExitDeadlineManager::default_final_window == 10s);
  STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<Manager>);
  // A duration alone does not silently become a manager.
  STATIC_REQUIRE_FALSE(std::is_convertible_v<ManualClock::duration, Manager>);
  // Every question can be asked at a given time, without reading the clock.
  using T = ManualClock::time_point;
  using D = ManualClock::duration;
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Manager&>().elapsed(T{})), D>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Manager&>().remaining(T{})), D>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Manager&>().expired(T{})), bool>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Manager&>().step_deadline(D{}, true, T{})), T>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Manager&>().fits(D{}, T{}, T{})), bool>);
  STATIC_REQUIRE(noexcept(std::declval<const Manager&>().remaining(std::declval<T>())));
}

TEST_CASE("defaults: a 30 s deadline with the last 10 s reserved for the final step", "[deadline]") {
  ManualClock::reset();
  ManualClock::advance(2s);  // the exit signal comes at t = 2 s
  const Manager m;

  CHECK(m.signal_time() == at(2s));
  CHECK(m.deadline() == at(32s));
  CHECK(m.final_window_start() == at(22s));
  CHECK(m.elapsed() == 0s);
  CHECK(m.remaining() == 30s);
  CHECK_FALSE(m.expired());

  ManualClock::advance(10s);
  CHECK(m.elapsed() == 10s);
  CHECK(m.remaining() == 20s);
  CHECK_FALSE(m.expired());

  ManualClock::advance_to(at(32s) - 1ns);
  CHECK(m.elapsed() == 30s - 1ns);
  CHECK(m.remaining() == 1ns);
  CHECK_FALSE(m.expired());

  // Expired exactly at the deadline.
  ManualClock::advance(1ns);
  CHECK(m.elapsed() == 30s);
  CHECK(m.remaining() == 0ns);
  CHECK(m.expired());

  // After it, remaining stays at zero; elapsed keeps counting.
  ManualClock::advance(5s);
  CHECK(m.elapsed() == 35s);
  CHECK(m.remaining() == 0ns);
  CHECK(m.expired());

  // The instants themselves never move.
  CHECK(m.deadline() == at(32s));
  CHECK(m.final_window_start() == at(22s));
}

TEST_CASE("settings and an explicit signal time", "[deadline]") {
  ManualClock::reset();
  ManualClock::advance(10s);

  SECTION("a signal time in the past: the budget already spent counts") {
    const Manager m(20s, 5s, at(4s));
    CHECK(m.signal_time() == at(4s));
    CHECK(m.deadline() == at(24s));
    CHECK(m.final_window_start() == at(19s));
    CHECK(m.elapsed() == 6s);
    CHECK(m.remaining() == 14s);
    CHECK_FALSE(m.expired());
  }
  SECTION("a signal time so old that the deadline has passed") {
    const Manager m(5s, 1s, at(1s));
    CHECK(m.deadline() == at(6s));
    CHECK(m.remaining() == 0ns);
    CHECK(m.expired());
    CHECK(m.elapsed() == 9s);
  }
  SECTION("the tightest valid settings: 1 ns window inside a 2 ns deadline") {
    const Manager m(2ns, 1ns);
    CHECK(m.deadline() == at(10s + 2ns));
    CHECK(m.final_window_start() == at(10s + 1ns));
    CHECK(m.remaining() == 2ns);
  }
  SECTION("a window 1 ns shorter than the deadline fits") {
    const Manager m(30s, 30s - 1ns);
    CHECK(m.final_window_start() == at(10s + 1ns));
  }
}

TEST_CASE("step_deadline caps non-final steps at the final window and the final step at the deadline",
          "[deadline]") {
  ManualClock::reset();
  const Manager m;  // signal at 0: window starts at 20 s, deadline at 30 s

  // At t = 0.
  CHECK(m.step_deadline(5s, false) == at(5s));
  CHECK(m.step_deadline(20s, false) == at(20s));
  CHECK(m.step_deadline(25s, false) == at(20s));  // capped at final_window_start
  CHECK(m.step_deadline(25s, true) == at(25s));
  CHECK(m.step_deadline(30s, true) == at(30s));
  CHECK(m.step_deadline(40s, true) == at(30s));   // capped at the deadline
  CHECK(m.step_deadline(0s, false) == at(0s));
  CHECK(m.step_deadline(-5s, false) == at(0s));   // never before now
  CHECK(m.step_deadline(-5s, true) == at(0s));

  // Inside the final window: a non-final step has no time left.
  ManualClock::advance_to(at(21s));
  CHECK(m.step_deadline(5s, false) == at(21s));
  CHECK(m.step_deadline(5s, true) == at(26s));
  CHECK(m.step_deadline(20s, true) == at(30s));

  // Past the deadline: nothing after now, for any step.
  ManualClock::advance_to(at(31s));
  CHECK(m.step_deadline(5s, false) == at(31s));
  CHECK(m.step_deadline(5s, true) == at(31s));
}

TEST_CASE("step_deadline with a budget too large to add to now is still capped", "[deadline]") {
  ManualClock::reset();
  ManualClock::advance(1s);
  const Manager m;  // deadline 31 s, window from 21 s
  ManualClock::advance(1ns);
  CHECK(m.step_deadline(ManualClock::duration::max(), false) == at(21s));
  CHECK(m.step_deadline(ManualClock::duration::max(), true) == at(31s));
  CHECK(m.step_deadline(ManualClock::duration::min(), true) == at(1s + 1ns));
}

TEST_CASE("fits: an attempt may start only if its minimum window ends by the step's end and the deadline",
          "[deadline]") {
  ManualClock::reset();
  const Manager m;  // deadline at 30 s

  CHECK(m.fits(500ms, at(20s)));
  CHECK(m.fits(20s, at(20s)));         // exactly enough
  CHECK_FALSE(m.fits(20s + 1ns, at(20s)));
  CHECK(m.fits(30s, at(40s)));         // the end is capped at the deadline...
  CHECK_FALSE(m.fits(30s + 1ns, at(40s)));  // ...so this does not fit

  ManualClock::advance_to(at(29500ms));
  CHECK(m.fits(500ms, at(40s)));
  CHECK_FALSE(m.fits(500ms + 1ns, at(40s)));
  CHECK_FALSE(m.fits(500ms, at(29s)));  // the step already ended

  ManualClock::advance_to(at(31s));
  CHECK_FALSE(m.fits(0ns, at(40s)));  // past the deadline nothing fits
  CHECK_FALSE(m.fits(1ns, at(40s)));
}

TEST_CASE("an invalid deadline is refused with invalid_deadline", "[deadline][config]") {
  ManualClock::reset();

  CHECK(Manager::validate(0s, 10s) == exitguard::error::invalid_deadline);
  CHECK(Manager::validate(-1ns, 10s) == exitguard::error::invalid_deadline);
  CHECK(Manager::validate(-30s, 10s) == exitguard::error::invalid_deadline);
  CHECK(Manager::validate(ManualClock::duration::min(), 10s) == exitguard::error::invalid_deadline);
  // The deadline is checked first: both invalid reports the deadline.
  CHECK(Manager::validate(0s, 0s) == exitguard::error::invalid_deadline);

  const auto zero = configuration_error_of([] { Manager m(0s); });
  CHECK(zero == exitguard::error::invalid_deadline);
  CHECK(zero.value() == 310);
  CHECK(zero.category() == exitguard::error_category());
  CHECK(zero == exitguard::condition::invalid_configuration);

  const auto negative = configuration_error_of([] { Manager m(-1s, 10s); });
  CHECK(negative == exitguard::error::invalid_deadline);
  CHECK(negative.category() == exitguard::error_category());

  CHECK_THROWS_WITH(Manager(0s), Catch::Matchers::StartsWith("exitguard.invalid_deadline"));
}

TEST_CASE("a final window that does not fit inside the deadline is refused with final_window_does_not_fit",
          "[deadline][config]") {
  ManualClock::reset();
  const auto does_not_fit = exitguard::error::final_window_does_not_fit;

  CHECK(Manager::validate(30s, 0s) == does_not_fit);
  CHECK(Manager::validate(30s, -1ns) == does_not_fit);
  CHECK(Manager::validate(30s, -10s) == does_not_fit);
  CHECK(Manager::validate(30s, 30s) == does_not_fit);  // equal: no time left for the other steps
  CHECK(Manager::validate(30s, 30s + 1ns) == does_not_fit);
  CHECK(Manager::validate(30s, 60s) == does_not_fit);
  CHECK(Manager::validate(30s, ManualClock::duration::max()) == does_not_fit);
  CHECK_FALSE(Manager::validate(30s, 30s - 1ns));
  CHECK_FALSE(Manager::validate(30s, 10s));
  CHECK_FALSE(Manager::validate(Manager::default_deadline, Manager::default_final_window));

  for (const auto window : {0ns, -1ns, std::chrono::nanoseconds(30s), std::chrono::nanoseconds(31s)}) {
    INFO("final window " << window.count() << " ns");
    const auto ec = configuration_error_of([window] { Manager m(30s, window); });
    CHECK(ec == does_not_fit);
    CHECK(ec.value() == 311);
    CHECK(ec.category() == exitguard::error_category());
    CHECK(ec == exitguard::condition::invalid_configuration);
  }
  CHECK_THROWS_AS(Manager(30s, 30s), boost::system::system_error);
  CHECK_THROWS_WITH(Manager(30s, 30s), Catch::Matchers::StartsWith("exitguard.final_window_does_not_fit"));
  CHECK_NOTHROW(Manager(30s, 30s - 1ns));
}

TEST_CASE("NaN durations are refused", "[deadline][config]") {
  using FloatManager = exitguard::BasicExitDeadlineManager<FloatClock>;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  using D = FloatClock::duration;

  CHECK(FloatManager::validate(D(nan), D(10.0)) == exitguard::error::invalid_deadline);
  CHECK(FloatManager::validate(D(30.0), D(nan)) == exitguard::error::final_window_does_not_fit);
  CHECK(FloatManager::validate(D(nan), D(nan)) == exitguard::error::invalid_deadline);
  CHECK_FALSE(FloatManager::validate(D(30.0), D(10.0)));

  const auto ec = configuration_error_of([&] { FloatManager m(D(30.0), D(nan)); });
  CHECK(ec == exitguard::error::final_window_does_not_fit);
}

TEST_CASE("a deadline too far away to represent saturates instead of overflowing", "[deadline]") {
  ManualClock::reset();
  ManualClock::advance(1s);
  const Manager m(ManualClock::duration::max(), 10s);

  CHECK(m.signal_time() == at(1s));
  CHECK(m.deadline() == ManualClock::time_point::max());
  CHECK(m.final_window_start() == ManualClock::time_point::max() - 10s);
  CHECK_FALSE(m.expired());
  CHECK(m.remaining() == ManualClock::time_point::max() - at(1s));
  CHECK(m.step_deadline(30s, false) == at(31s));
  CHECK(m.fits(30s, at(31s)));
}

TEST_CASE("the steady_clock manager starts its deadline at steady_clock::now()", "[deadline]") {
  const auto before = std::chrono::steady_clock::now();
  const exitguard::ExitDeadlineManager m;
  const auto after = std::chrono::steady_clock::now();
  CHECK(m.signal_time() >= before);
  CHECK(m.signal_time() <= after);
  CHECK(m.deadline() - m.signal_time() == std::chrono::seconds(30));
  CHECK(m.deadline() - m.final_window_start() == std::chrono::seconds(10));
  CHECK(m.remaining() <= std::chrono::seconds(30));
  CHECK_FALSE(m.expired());
}

TEST_CASE("elapsed, remaining and expired at a given time read no clock", "[deadline][now]") {
  // The clock stands still at 1 h: an answer read from it would show.
  ManualClock::reset();
  ManualClock::advance(1h);
  const Manager m(30s, 10s, at(2s));  // deadline at 32 s, window from 22 s

  const auto [now, elapsed, remaining, expired] =
      GENERATE(table<std::chrono::nanoseconds, std::chrono::nanoseconds, std::chrono::nanoseconds, bool>({
          {2s, 0s, 30s, false},
          {12s, 10s, 20s, false},
          {22s, 20s, 10s, false},
          {32s - 1ns, 30s - 1ns, 1ns, false},
          {32s, 30s, 0s, true},  // expired exactly at the deadline
          {37s, 35s, 0s, true},  // remaining stays at zero; elapsed keeps counting
      }));
  INFO("asked at " << now.count() << " ns");
  CHECK(m.elapsed(at(now)) == elapsed);
  CHECK(m.remaining(at(now)) == remaining);
  CHECK(m.expired(at(now)) == expired);
  // Asked without a time, the manager reads the clock: at 1 h it is long expired.
  CHECK(m.expired());
  CHECK(m.remaining() == 0s);
  CHECK(m.elapsed() == 1h - 2s);
}

TEST_CASE("step_deadline at a given time caps non-final steps at the final window and the final step at the deadline",
          "[deadline][now]") {
  ManualClock::reset();
  ManualClock::advance(1h);
  const Manager m(30s, 10s, at(0s));  // window from 20 s, deadline at 30 s

  const auto [now, budget, final_step, end] =
      GENERATE(table<std::chrono::nanoseconds, std::chrono::nanoseconds, bool, std::chrono::nanoseconds>({
          {0s, 5s, false, 5s},
          {0s, 20s, false, 20s},
          {0s, 25s, false, 20s},  // capped at final_window_start
          {0s, 25s, true, 25s},
          {0s, 40s, true, 30s},   // capped at the deadline
          {0s, 0s, false, 0s},
          {0s, -5s, true, 0s},    // never before now
          {21s, 5s, false, 21s},  // inside the final window: no time for a non-final step
          {21s, 5s, true, 26s},
          {21s, 20s, true, 30s},
          {31s, 5s, false, 31s},  // past the deadline: nothing after now
          {31s, 5s, true, 31s},
          {1s, std::chrono::nanoseconds::max(), true, 30s},   // too large to add to now
          {1s, std::chrono::nanoseconds::max(), false, 20s},
          {1s, std::chrono::nanoseconds::min(), true, 1s},
      }));
  INFO("at " << now.count() << " ns, budget " << budget.count() << " ns, final " << final_step);
  CHECK(m.step_deadline(budget, final_step, at(now)) == at(end));
}

TEST_CASE("fits at a given time: the minimum window must end by the step's end and the deadline",
          "[deadline][now]") {
  ManualClock::reset();
  ManualClock::advance(1h);
  const Manager m(30s, 10s, at(0s));  // deadline at 30 s

  const auto [now, min_window, end, fits] =
      GENERATE(table<std::chrono::nanoseconds, std::chrono::nanoseconds, std::chrono::nanoseconds, bool>({
          {0s, 500ms, 20s, true},
          {0s, 20s, 20s, true},  // exactly enough
          {0s, 20s + 1ns, 20s, false},
          {0s, 30s, 40s, true},  // the end is capped at the deadline...
          {0s, 30s + 1ns, 40s, false},  // ...so this does not fit
          {29500ms, 500ms, 40s, true},
          {29500ms, 500ms + 1ns, 40s, false},
          {29500ms, 500ms, 29s, false},  // the step already ended
          {31s, 0ns, 40s, false},        // past the deadline nothing fits
          {31s, 1ns, 40s, false},
      }));
  INFO("at " << now.count() << " ns, window " << min_window.count() << " ns, end " << end.count() << " ns");
  CHECK(m.fits(min_window, at(end), at(now)) == fits);
}

TEST_CASE("asked without a time, every question gives the answer for Clock::now()", "[deadline][now]") {
  ManualClock::reset();
  const Manager m(30s, 10s, at(2s));
  const auto now = GENERATE(as<std::chrono::nanoseconds>{}, 0s, 2s, 12s, 22s, 32s - 1ns, 32s, 40s);
  INFO("the clock at " << now.count() << " ns");
  ManualClock::advance_to(at(now));
  REQUIRE(ManualClock::now() == at(now));
  CHECK(m.elapsed() == m.elapsed(at(now)));
  CHECK(m.remaining() == m.remaining(at(now)));
  CHECK(m.expired() == m.expired(at(now)));
  for (const auto budget : {std::chrono::nanoseconds(1s), std::chrono::nanoseconds(15s),
                            std::chrono::nanoseconds(40s)}) {
    INFO("budget " << budget.count() << " ns");
    CHECK(m.step_deadline(budget, false) == m.step_deadline(budget, false, at(now)));
    CHECK(m.step_deadline(budget, true) == m.step_deadline(budget, true, at(now)));
    CHECK(m.fits(500ms, at(2s) + budget) == m.fits(500ms, at(2s) + budget, at(now)));
  }
}

TEST_CASE("a saturated deadline answers at a given time without overflowing", "[deadline][now]") {
  ManualClock::reset();
  const Manager m(ManualClock::duration::max(), 10s, at(1s));
  REQUIRE(m.deadline() == ManualClock::time_point::max());
  const auto late = ManualClock::time_point::max() - 1s;
  CHECK_FALSE(m.expired(late));
  CHECK(m.remaining(late) == 1s);
  CHECK(m.expired(ManualClock::time_point::max()));
  CHECK(m.remaining(ManualClock::time_point::max()) == 0s);
  CHECK(m.step_deadline(30s, true, at(5s)) == at(35s));
  CHECK(m.step_deadline(ManualClock::duration::max(), true, at(5s)) == ManualClock::time_point::max());
  CHECK(m.fits(30s, at(36s), at(5s)));
  CHECK_FALSE(m.fits(30s, at(34s), at(5s)));
}
