// exitguard-test-set: optimized
// Tests for exitguard/retry_policy.hpp: defaults, exit_policy, validate() (one test
// per refused setting), the backoff sequence and its jitter, and BasicRetryBudget,
// the one retry rule shared by BoundedRetryExecutor and the exit engine (it reads no
// clock: every time is passed in).
#include <exitguard/retry_policy.hpp>

#include <exitguard/bounded_retry_executor.hpp>

#include <boost/asio/io_context.hpp>

#define CATCH_CONFIG_ENABLE_OPTIONAL_STRINGMAKER
#define CATCH_CONFIG_ENABLE_CHRONO_STRINGMAKER
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <type_traits>
#include <vector>

namespace {

using namespace std::chrono_literals;
using exitguard::error;
using exitguard::Jitter;
using exitguard::RetryPolicy;
using ns = std::chrono::nanoseconds;

// A clock with a floating-point duration, so that NaN durations can be written.
struct FloatClock {
  using duration = std::chrono::duration<double>;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<FloatClock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return time_point(duration(0.0)); }
};
using FloatPolicy = exitguard::BasicRetryPolicy<FloatClock>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

boost::system::error_code validate_with(void (*change)(RetryPolicy&)) {
  RetryPolicy p;
  change(p);
  return p.validate();
}

}  // namespace

TEST_CASE("retry_policy.hpp compiles on its own and a policy is a constexpr aggregate", "[retry_policy]") {
  STATIC_REQUIRE(std::is_aggregate_v<RetryPolicy>);
  STATIC_REQUIRE(std::is_same_v<RetryPolicy::clock_type, std::chrono::steady_clock>);
  STATIC_REQUIRE(RetryPolicy{}.max_attempts == 3);
  STATIC_REQUIRE(RetryPolicy::exit_policy().max_attempts == 2);
  STATIC_REQUIRE(RetryPolicy{}.base_backoff(2) == 2500ms);
  STATIC_REQUIRE(exitguard::max_retry_attempts == 100);
}

TEST_CASE("a default policy is the design document's standard policy", "[retry_policy]") {
  const RetryPolicy p;
  CHECK(p.max_attempts == 3);
  CHECK(p.total_timeout == 30s);
  CHECK(p.attempt_timeout == 10s);
  CHECK(p.initial_backoff == 1s);
  CHECK(p.backoff_multiplier == 2.5);
  CHECK(p.max_backoff == 5s);
  CHECK(p.jitter == Jitter::none);
  CHECK(p.min_attempt_window == 500ms);
}

TEST_CASE("the default backoff is 1 s, 2.5 s, then capped at 5 s", "[retry_policy]") {
  const RetryPolicy p;
  CHECK(p.base_backoff(0) == 0ns);
  CHECK(p.base_backoff(1) == 1s);
  CHECK(p.base_backoff(2) == 2500ms);
  CHECK(p.base_backoff(3) == 5s);
  CHECK(p.base_backoff(4) == 5s);
  CHECK(p.base_backoff(100) == 5s);
  CHECK(p.base_backoff(std::numeric_limits<std::uint32_t>::max()) == 5s);
}

TEST_CASE("base_backoff grows by the multiplier until the cap", "[retry_policy]") {
  RetryPolicy p;
  p.initial_backoff = 100ms;
  p.backoff_multiplier = 2.0;
  p.max_backoff = 1s;
  CHECK(p.base_backoff(1) == 100ms);
  CHECK(p.base_backoff(2) == 200ms);
  CHECK(p.base_backoff(3) == 400ms);
  CHECK(p.base_backoff(4) == 800ms);
  CHECK(p.base_backoff(5) == 1s);
  p.backoff_multiplier = 1.0;  // constant backoff
  CHECK(p.base_backoff(1) == 100ms);
  CHECK(p.base_backoff(7) == 100ms);
  p.initial_backoff = 0ns;
  p.max_backoff = 0ns;  // no backoff at all
  CHECK(p.validate() == boost::system::error_code{});
  CHECK(p.base_backoff(1) == 0ns);
  CHECK(p.base_backoff(3) == 0ns);
}

TEST_CASE("exit_policy is 2 attempts within 20 s, first backoff 1 s", "[retry_policy]") {
  const auto p = RetryPolicy::exit_policy();
  CHECK(p.max_attempts == 2);
  CHECK(p.total_timeout == 20s);
  CHECK(p.attempt_timeout <= p.total_timeout);
  CHECK(p.base_backoff(1) == 1s);
  CHECK(p.jitter == Jitter::none);
}

TEST_CASE("the default and exit policies are valid", "[retry_policy]") {
  CHECK(RetryPolicy{}.validate() == boost::system::error_code{});
  CHECK_FALSE(RetryPolicy{}.validate());
  CHECK_FALSE(RetryPolicy::exit_policy().validate());
  CHECK_FALSE(FloatPolicy{}.validate());
  CHECK_FALSE(FloatPolicy::exit_policy().validate());
}

TEST_CASE("validate: max_attempts must be 1..100", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.max_attempts = 0; }) == error::invalid_max_attempts);
  CHECK(validate_with([](RetryPolicy& p) { p.max_attempts = 101; }) == error::invalid_max_attempts);
  CHECK(validate_with([](RetryPolicy& p) { p.max_attempts = std::numeric_limits<std::uint32_t>::max(); }) ==
        error::invalid_max_attempts);
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.max_attempts = 1; }));
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.max_attempts = 100; }));
}

TEST_CASE("validate: total_timeout must be positive", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.total_timeout = 0s; }) == error::invalid_total_timeout);
  CHECK(validate_with([](RetryPolicy& p) { p.total_timeout = -1s; }) == error::invalid_total_timeout);
  CHECK(validate_with([](RetryPolicy& p) { p.total_timeout = ns::min(); }) == error::invalid_total_timeout);
}

TEST_CASE("validate: total_timeout so long that now() + it could overflow is refused", "[retry_policy][validate]") {
  // now() + ns::max() overflows the clock's integer: undefined behaviour. The
  // policy accepts at most a quarter of the clock's range.
  CHECK(validate_with([](RetryPolicy& p) { p.total_timeout = ns::max(); }) == error::invalid_total_timeout);
  CHECK(validate_with([](RetryPolicy& p) { p.total_timeout = ns::max() / 4 + ns(1); }) ==
        error::invalid_total_timeout);
  CHECK_FALSE(validate_with([](RetryPolicy& p) {
    p.total_timeout = ns::max() / 4;
    p.attempt_timeout = p.total_timeout;
    p.max_backoff = p.total_timeout - ns(1);
    p.backoff_multiplier = 100.0;
  }));
  // And the longest accepted policy computes its backoff without overflow.
  RetryPolicy p;
  p.total_timeout = ns::max() / 4;
  p.max_backoff = p.total_timeout - ns(1);
  p.backoff_multiplier = 100.0;
  REQUIRE_FALSE(p.validate());
  CHECK(p.base_backoff(100) > ns::zero());
  CHECK(p.base_backoff(100) <= p.max_backoff);
  CHECK(p.base_backoff(100) == p.max_backoff);
  std::mt19937_64 gen(5);
  for (Jitter j : {Jitter::full, Jitter::equal, Jitter::decorrelated}) {
    p.jitter = j;
    ns previous = 0ns;
    for (std::uint32_t r = 1; r <= 20; ++r) {
      previous = p.backoff(r, previous, gen);
      CHECK(previous >= ns::zero());
      CHECK(previous <= p.max_backoff);
    }
  }
  // On a floating-point clock, an infinite total is refused too.
  FloatPolicy f;
  f.total_timeout = FloatClock::duration(kInf);
  CHECK(f.validate() == error::invalid_total_timeout);
}

TEST_CASE("validate: attempt_timeout must be positive", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.attempt_timeout = 0s; }) == error::invalid_attempt_timeout);
  CHECK(validate_with([](RetryPolicy& p) { p.attempt_timeout = -1ns; }) == error::invalid_attempt_timeout);
}

TEST_CASE("validate: attempt_timeout must not exceed total_timeout", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.attempt_timeout = 30s + 1ns; }) ==
        error::attempt_timeout_exceeds_total);
  CHECK(validate_with([](RetryPolicy& p) { p.attempt_timeout = 31s; }) == error::attempt_timeout_exceeds_total);
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.attempt_timeout = 30s; }));
}

TEST_CASE("validate: initial_backoff must not be negative", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.initial_backoff = -1ns; }) == error::invalid_initial_backoff);
  CHECK(validate_with([](RetryPolicy& p) { p.initial_backoff = -1s; }) == error::invalid_initial_backoff);
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.initial_backoff = 0s; }));
}

TEST_CASE("validate: backoff_multiplier must be finite, in [1, 100]", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.backoff_multiplier = kNaN; }) == error::invalid_backoff_multiplier);
  CHECK(validate_with([](RetryPolicy& p) { p.backoff_multiplier = kInf; }) == error::invalid_backoff_multiplier);
  CHECK(validate_with([](RetryPolicy& p) { p.backoff_multiplier = -kInf; }) == error::invalid_backoff_multiplier);
  CHECK(validate_with([](RetryPolicy& p) { p.backoff_multiplier = 0.5; }) == error::invalid_backoff_multiplier);
  CHECK(validate_with([](RetryPolicy& p) { p.backoff_multiplier = 0.0; }) == error::invalid_backoff_multiplier);
  CHECK(validate_with([](RetryPolicy& p) { p.backoff_multiplier = 101.0; }) == error::invalid_backoff_multiplier);
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.backoff_multiplier = 1.0; }));
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.backoff_multiplier = 100.0; }));
}

TEST_CASE("validate: max_backoff must be at least initial_backoff and below total_timeout", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.max_backoff = 999ms; }) == error::invalid_max_backoff);
  CHECK(validate_with([](RetryPolicy& p) { p.max_backoff = -1s; }) == error::invalid_max_backoff);
  CHECK(validate_with([](RetryPolicy& p) { p.max_backoff = 30s; }) == error::invalid_max_backoff);
  CHECK(validate_with([](RetryPolicy& p) { p.max_backoff = 40s; }) == error::invalid_max_backoff);
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.max_backoff = 1s; }));
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.max_backoff = 30s - 1ns; }));
}

TEST_CASE("validate: jitter must be a known kind", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.jitter = static_cast<Jitter>(42); }) == error::invalid_jitter);
  CHECK(validate_with([](RetryPolicy& p) { p.jitter = static_cast<Jitter>(-1); }) == error::invalid_jitter);
  for (Jitter j : {Jitter::none, Jitter::full, Jitter::equal, Jitter::decorrelated}) {
    RetryPolicy p;
    p.jitter = j;
    CHECK_FALSE(p.validate());
  }
}

TEST_CASE("validate: min_attempt_window must be positive and at most attempt_timeout", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.min_attempt_window = 0s; }) == error::invalid_min_attempt_window);
  CHECK(validate_with([](RetryPolicy& p) { p.min_attempt_window = -1ms; }) == error::invalid_min_attempt_window);
  CHECK(validate_with([](RetryPolicy& p) { p.min_attempt_window = 10s + 1ns; }) ==
        error::invalid_min_attempt_window);
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.min_attempt_window = 10s; }));
  CHECK_FALSE(validate_with([](RetryPolicy& p) { p.min_attempt_window = 1ns; }));
}

TEST_CASE("validate: every refused setting is an invalid_configuration", "[retry_policy][validate]") {
  CHECK(validate_with([](RetryPolicy& p) { p.max_attempts = 0; }) == exitguard::condition::invalid_configuration);
  CHECK(validate_with([](RetryPolicy& p) { p.jitter = static_cast<Jitter>(42); }) ==
        exitguard::condition::invalid_configuration);
  CHECK(validate_with([](RetryPolicy& p) { p.min_attempt_window = 0s; }) ==
        exitguard::condition::invalid_configuration);
}

TEST_CASE("validate: NaN durations are refused on a floating-point clock", "[retry_policy][validate]") {
  using d = FloatClock::duration;
  FloatPolicy p;
  REQUIRE_FALSE(p.validate());
  SECTION("total_timeout") {
    p.total_timeout = d(kNaN);
    CHECK(p.validate() == error::invalid_total_timeout);
  }
  SECTION("attempt_timeout") {
    p.attempt_timeout = d(kNaN);
    CHECK(p.validate() == error::invalid_attempt_timeout);
  }
  SECTION("initial_backoff") {
    p.initial_backoff = d(kNaN);
    CHECK(p.validate() == error::invalid_initial_backoff);
  }
  SECTION("max_backoff") {
    p.max_backoff = d(kNaN);
    CHECK(p.validate() == error::invalid_max_backoff);
  }
  SECTION("min_attempt_window") {
    p.min_attempt_window = d(kNaN);
    CHECK(p.validate() == error::invalid_min_attempt_window);
  }
  SECTION("negative and zero floating durations too") {
    p.total_timeout = d(-0.0);
    CHECK(p.validate() == error::invalid_total_timeout);
    p.total_timeout = d(30.0);
    p.attempt_timeout = d(-1e-9);
    CHECK(p.validate() == error::invalid_attempt_timeout);
  }
}

TEST_CASE("the executor refuses an invalid policy with configuration_error", "[retry_policy][validate]") {
  boost::asio::io_context ioc;
  auto expect_refused = [&ioc](const RetryPolicy& p, error expected) {
    try {
      exitguard::BoundedRetryExecutor ex(ioc.get_executor(), p);
      FAIL("the executor accepted an invalid policy");
    } catch (const exitguard::configuration_error& e) {
      CHECK(e.code() == expected);
      CHECK(e.code() == exitguard::condition::invalid_configuration);
    }
  };
  RetryPolicy p;
  p.max_attempts = 0;
  expect_refused(p, error::invalid_max_attempts);
  p = RetryPolicy{};
  p.attempt_timeout = 31s;
  expect_refused(p, error::attempt_timeout_exceeds_total);
  p = RetryPolicy{};
  p.backoff_multiplier = kNaN;
  expect_refused(p, error::invalid_backoff_multiplier);
  p = RetryPolicy{};
  p.jitter = static_cast<Jitter>(42);
  expect_refused(p, error::invalid_jitter);
  CHECK_NOTHROW(exitguard::BoundedRetryExecutor(ioc.get_executor(), RetryPolicy{}));
}

TEST_CASE("Jitter::none: the backoff is the base backoff", "[retry_policy][jitter]") {
  const RetryPolicy p;
  std::mt19937_64 gen(7);
  const auto before = gen;
  for (std::uint32_t r = 1; r <= 5; ++r) CHECK(p.backoff(r, p.base_backoff(r - 1), gen) == p.base_backoff(r));
  CHECK(gen == before);  // no randomness was drawn
}

TEST_CASE("Jitter::full: the backoff is in [0, d]", "[retry_policy][jitter]") {
  RetryPolicy p;
  p.jitter = Jitter::full;
  std::mt19937_64 gen(12345);
  std::set<ns::rep> distinct;
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t r = 1 + static_cast<std::uint32_t>(i % 4);
    const ns b = p.backoff(r, 0ns, gen);
    INFO("retry " << r << " backoff " << b.count() << " ns");
    CHECK(b >= 0ns);
    CHECK(b <= p.base_backoff(r));
    distinct.insert(b.count());
  }
  CHECK(distinct.size() > 900);  // it is random, not a constant
}

TEST_CASE("Jitter::equal: the backoff is in [d/2, d]", "[retry_policy][jitter]") {
  RetryPolicy p;
  p.jitter = Jitter::equal;
  std::mt19937_64 gen(99);
  bool below_three_quarters = false;
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t r = 1 + static_cast<std::uint32_t>(i % 4);
    const ns d = p.base_backoff(r);
    const ns b = p.backoff(r, 0ns, gen);
    INFO("retry " << r << " backoff " << b.count() << " ns");
    CHECK(b >= d / 2);
    CHECK(b <= d);
    if (b < d * 3 / 4) below_three_quarters = true;
  }
  CHECK(below_three_quarters);
}

TEST_CASE("Jitter::decorrelated: the backoff is in [initial, min(cap, previous * multiplier)]",
          "[retry_policy][jitter]") {
  RetryPolicy p;
  p.jitter = Jitter::decorrelated;
  p.initial_backoff = 100ms;
  p.backoff_multiplier = 3.0;
  p.max_backoff = 5s;
  std::mt19937_64 gen(2024);
  for (int run = 0; run < 100; ++run) {
    ns previous = 0ns;
    for (std::uint32_t r = 1; r <= 8; ++r) {
      const ns b = p.backoff(r, previous, gen);
      const ns prev_or_initial = previous > 0ns ? previous : p.initial_backoff;
      const ns hi = std::min(p.max_backoff, ns(static_cast<ns::rep>(
                                                static_cast<double>(prev_or_initial.count()) * p.backoff_multiplier)));
      INFO("run " << run << " retry " << r << " previous " << previous.count() << " backoff " << b.count());
      CHECK(b >= p.initial_backoff);
      CHECK(b <= hi);
      previous = b;
    }
  }
}

TEST_CASE("jitter: the same seed gives the same sequence, another seed another", "[retry_policy][jitter]") {
  for (Jitter j : {Jitter::full, Jitter::equal, Jitter::decorrelated}) {
    INFO("jitter " << exitguard::to_string(j));
    RetryPolicy p;
    p.jitter = j;
    auto sequence = [&p](std::uint64_t seed) {
      std::mt19937_64 gen(seed);
      std::vector<ns> out;
      ns previous = 0ns;
      for (std::uint32_t r = 1; r <= 10; ++r) out.push_back(previous = p.backoff(r, previous, gen));
      return out;
    };
    CHECK(sequence(42) == sequence(42));
    CHECK(sequence(42) != sequence(43));
  }
}

TEST_CASE("jitter names", "[retry_policy][jitter]") {
  STATIC_REQUIRE(exitguard::to_string(Jitter::none) == "none");
  STATIC_REQUIRE(exitguard::to_string(Jitter::full) == "full");
  STATIC_REQUIRE(exitguard::to_string(Jitter::equal) == "equal");
  STATIC_REQUIRE(exitguard::to_string(Jitter::decorrelated) == "decorrelated");
  CHECK(exitguard::to_string(static_cast<Jitter>(42)) == "invalid");
}

TEST_CASE("a floating-point clock computes the same backoff", "[retry_policy]") {
  FloatPolicy p;
  CHECK(p.base_backoff(1) == FloatClock::duration(1.0));
  CHECK(p.base_backoff(2) == FloatClock::duration(2.5));
  CHECK(p.base_backoff(3) == FloatClock::duration(5.0));
  p.jitter = Jitter::full;
  std::mt19937_64 gen(1);
  for (int i = 0; i < 100; ++i) {
    const auto b = p.backoff(2, FloatClock::duration(0.0), gen);
    CHECK(b.count() >= 0.0);
    CHECK(b.count() <= 2.5);
  }
}

// ---------------------------------------------------------------------------
// BasicRetryBudget: the one retry rule
// ---------------------------------------------------------------------------

namespace {

using exitguard::RetryBudget;
using TimePoint = std::chrono::steady_clock::time_point;
using OptionalTime = std::optional<TimePoint>;

TimePoint at(ns since_epoch) { return TimePoint(since_epoch); }

// max_attempts 3, 10 s in all, attempts of at most 5 s, at least 2 s each; backoff
// 1 s, 2.5 s, then 3 s (the cap).
RetryPolicy small_policy() {
  RetryPolicy p;
  p.max_attempts = 3;
  p.total_timeout = 10s;
  p.attempt_timeout = 5s;
  p.initial_backoff = 1s;
  p.backoff_multiplier = 2.5;
  p.max_backoff = 3s;
  p.min_attempt_window = 2s;
  return p;
}

}  // namespace

TEST_CASE("a retry budget reads no clock and holds nothing but its policy's rule", "[retry_budget]") {
  STATIC_REQUIRE(std::is_same_v<RetryBudget, exitguard::BasicRetryBudget<std::chrono::steady_clock>>);
  STATIC_REQUIRE(std::is_same_v<RetryBudget::policy_type, RetryPolicy>);
  STATIC_REQUIRE(std::is_same_v<RetryBudget::time_point, TimePoint>);
  STATIC_REQUIRE(std::is_nothrow_constructible_v<RetryBudget, const RetryPolicy&, TimePoint, TimePoint>);
  STATIC_REQUIRE(std::is_nothrow_constructible_v<RetryBudget, const RetryPolicy&, TimePoint, TimePoint, bool>);
  STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<RetryBudget>);
  const RetryPolicy p = small_policy();
  const RetryBudget b(p, at(1s), TimePoint::max());
  CHECK(&b.policy() == &p);
  CHECK(b.spent() == 0);
  CHECK(b.attempts_left());
}

TEST_CASE("the budget ends at start + total_timeout or at the hard limit, whichever is earlier", "[retry_budget]") {
  const auto [start, hard_limit, end] = GENERATE(table<ns, ns, ns>({
      {0s, ns::max(), 10s},
      {5s, ns::max(), 15s},
      {5s, 20s, 15s},
      {5s, 15s, 15s},  // both the same
      {5s, 12s, 12s},  // an exit's deadline, or the start of its final window
      {5s, 5s, 5s},    // no time at all
      {5s, 3s, 3s},    // a hard limit already past
  }));
  INFO("start " << start.count() << " ns, hard limit " << hard_limit.count() << " ns");
  const RetryPolicy p = small_policy();
  const RetryBudget b(p, at(start), at(hard_limit));
  CHECK(b.end() == at(end));
}

TEST_CASE("the budget's end is computed without overflow near the clock's end", "[retry_budget]") {
  RetryPolicy p;
  p.total_timeout = ns::max() / 4;  // the longest a policy accepts
  p.attempt_timeout = p.total_timeout;
  REQUIRE_FALSE(p.validate());
  const TimePoint start = TimePoint::max() - 1h;
  const RetryBudget b(p, start, TimePoint::max());
  CHECK(b.end() == TimePoint::max());
  CHECK(b.can_start(start));
  CHECK(b.attempt_end(start) == TimePoint::max());
}

TEST_CASE("can_start: an attempt left, and at least min_attempt_window before the end", "[retry_budget]") {
  const auto [spent, now, attempts_left, time_left] = GENERATE(table<std::uint32_t, ns, bool, bool>({
      {0, 0s, true, true},
      {0, 8s, true, true},         // exactly the 2 s window left
      {0, 8s + 1ns, true, false},  // one nanosecond less
      {0, 10s, true, false},       // at the end
      {0, 11s, true, false},       // past it
      {2, 0s, true, true},
      {3, 0s, false, true},        // max_attempts spent
      {4, 0s, false, true},
      {3, 9s, false, false},
  }));
  INFO(spent << " spent, at " << now.count() << " ns");
  const RetryPolicy p = small_policy();
  RetryBudget b(p, at(0s), TimePoint::max());  // ends at 10 s
  for (std::uint32_t i = 0; i < spent; ++i) b.spend();
  CHECK(b.spent() == spent);
  CHECK(b.attempts_left() == attempts_left);
  CHECK(b.time_left(at(now)) == time_left);
  CHECK(b.can_start(at(now)) == (attempts_left && time_left));
}

TEST_CASE("attempt_end: attempt_timeout, clamped to the budget's end", "[retry_budget]") {
  const auto [now, end] = GENERATE(table<ns, ns>({
      {0s, 5s},
      {4s, 9s},
      {5s, 10s},  // exactly at the end
      {6s, 10s},  // clamped
      {8s, 10s},
      {10s, 10s},
  }));
  INFO("at " << now.count() << " ns");
  const RetryPolicy p = small_policy();
  const RetryBudget b(p, at(0s), TimePoint::max());
  CHECK(b.attempt_end(at(now)) == at(end));
  SECTION("and to the hard limit") {
    const RetryBudget capped(p, at(0s), at(7s));
    CHECK(capped.attempt_end(at(now)) == at(std::min(end, ns(7s))));
  }
}

TEST_CASE("next_start: now + the backoff, or nothing if the backoff and the window would not fit", "[retry_budget]") {
  // Ends at 10 s; min_attempt_window 2 s; backoffs 1 s, 2.5 s, 3 s.
  const auto [spent, now, next] = GENERATE(table<std::uint32_t, ns, OptionalTime>({
      {0, 0s, at(0s)},         // no failure yet: no backoff
      {1, 0s, at(1s)},
      {2, 0s, at(2500ms)},
      {1, 7s, at(8s)},         // 8 s + the 2 s window = the end exactly
      {1, 7s + 1ns, std::nullopt},
      {2, 5500ms, at(8s)},
      {2, 5500ms + 1ns, std::nullopt},
      {1, 10s, std::nullopt},  // at the end
      {1, 12s, std::nullopt},  // past it
      {3, 0s, std::nullopt},   // no attempt left, however much time is
  }));
  INFO(spent << " spent, at " << now.count() << " ns");
  const RetryPolicy p = small_policy();
  RetryBudget b(p, at(0s), TimePoint::max());
  for (std::uint32_t i = 0; i < spent; ++i) b.spend();
  std::mt19937_64 gen(1);
  CHECK(b.next_start(at(now), gen) == next);
  // Whenever there is a next start, an attempt can start then.
  if (next) CHECK(b.can_start(*next));
}

TEST_CASE("next_start never lets a backoff run past the end: the budget is spent at once", "[retry_budget]") {
  RetryPolicy p = small_policy();
  p.max_attempts = 5;  // ends at 10 s; the third backoff is the 3 s cap; 2 s window
  RetryBudget b(p, at(0s), TimePoint::max());
  std::mt19937_64 gen(1);
  for (int i = 0; i < 3; ++i) b.spend();
  // At 6 s an attempt could still start (4 s left)...
  REQUIRE(b.can_start(at(6s)));
  // ...but not after the backoff (9 s leaves 1 s): nothing to wait for, it ends now.
  CHECK(b.next_start(at(6s), gen) == std::nullopt);
  // A second earlier, the backoff ends with exactly the window left.
  RetryBudget earlier(p, at(0s), TimePoint::max());
  for (int i = 0; i < 3; ++i) earlier.spend();
  CHECK(earlier.next_start(at(5s), gen) == OptionalTime(at(8s)));
}

TEST_CASE("a run under the budget never starts an attempt that does not fit, whatever the jitter",
          "[retry_budget]") {
  const Jitter jitter = GENERATE(Jitter::none, Jitter::full, Jitter::equal, Jitter::decorrelated);
  const std::uint64_t seed = GENERATE(1u, 2u, 3u, 42u);
  const ns latency = GENERATE(ns(0), ns(300ms), ns(5s));  // each attempt fails after this long (5 s: cut)
  INFO("jitter " << exitguard::to_string(jitter) << ", seed " << seed << ", latency " << latency.count() << " ns");
  RetryPolicy p;
  p.max_attempts = 100;
  p.total_timeout = 20s;
  p.attempt_timeout = 4s;
  p.initial_backoff = 200ms;
  p.backoff_multiplier = 1.5;
  p.max_backoff = 2s;
  p.min_attempt_window = 1s;
  p.jitter = jitter;
  REQUIRE_FALSE(p.validate());
  const TimePoint start = at(3s);
  RetryBudget b(p, start, at(21s));  // a hard limit before start + total_timeout
  REQUIRE(b.end() == at(21s));
  std::mt19937_64 gen(seed);
  TimePoint now = start;
  std::uint32_t attempts = 0;
  while (b.can_start(now)) {
    ++attempts;
    const TimePoint cut = b.attempt_end(now);
    CHECK(cut <= b.end());
    CHECK(cut - now >= p.min_attempt_window);
    CHECK(cut - now <= p.attempt_timeout);
    now = std::min(now + latency, cut);  // it fails (or is cut)
    b.spend();
    const auto next = b.next_start(now, gen);
    if (!next) break;
    CHECK(*next >= now);
    CHECK(*next - now <= p.max_backoff);
    CHECK(b.end() - *next >= p.min_attempt_window);
    now = *next;
  }
  CHECK(attempts >= 1);
  CHECK(b.spent() == attempts);
  CHECK(attempts <= p.max_attempts);
  CHECK(now <= b.end());
}

TEST_CASE("next_start draws its jitter from the generator given: repeatable per seed", "[retry_budget]") {
  RetryPolicy p = small_policy();
  p.max_attempts = 10;
  p.total_timeout = 60s;
  p.max_backoff = 5s;
  auto starts = [&p](Jitter jitter, std::uint64_t seed) {
    p.jitter = jitter;
    RetryBudget b(p, at(0s), TimePoint::max());
    std::mt19937_64 gen(seed);
    std::vector<TimePoint> out;
    TimePoint now = at(0s);
    for (int i = 0; i < 5; ++i) {
      b.spend();
      const auto next = b.next_start(now, gen);
      REQUIRE(next.has_value());
      out.push_back(now = *next);
    }
    return out;
  };
  for (Jitter j : {Jitter::full, Jitter::equal, Jitter::decorrelated}) {
    INFO("jitter " << exitguard::to_string(j));
    CHECK(starts(j, 7) == starts(j, 7));
    CHECK(starts(j, 7) != starts(j, 8));
  }
  // Without jitter, nothing is drawn and the seed does not matter.
  CHECK(starts(Jitter::none, 7) == starts(Jitter::none, 8));
  CHECK(starts(Jitter::none, 7) == std::vector{at(1s), at(3500ms), at(8500ms), at(13500ms), at(18500ms)});
}

TEST_CASE("next_start feeds each backoff to the next: the policy's own sequence", "[retry_budget]") {
  // Decorrelated jitter depends on the previous delay: the budget must remember it.
  const Jitter jitter = GENERATE(Jitter::none, Jitter::full, Jitter::equal, Jitter::decorrelated);
  INFO("jitter " << exitguard::to_string(jitter));
  RetryPolicy p = small_policy();
  p.max_attempts = 8;
  p.total_timeout = 120s;
  p.max_backoff = 10s;
  p.jitter = jitter;
  REQUIRE_FALSE(p.validate());
  RetryBudget b(p, at(0s), TimePoint::max());
  std::mt19937_64 by_budget(99);
  std::mt19937_64 by_policy(99);
  ns previous = 0ns;
  for (std::uint32_t retry = 1; retry < p.max_attempts; ++retry) {
    INFO("retry " << retry);
    b.spend();
    const TimePoint now = at(std::chrono::seconds(retry * 12));
    const auto next = b.next_start(now, by_budget);
    previous = p.backoff(retry, previous, by_policy);
    REQUIRE(next.has_value());
    CHECK(*next - now == previous);
  }
}

TEST_CASE("unlimited_attempts: the final step retries until its time is up, whatever max_attempts says",
          "[retry_budget]") {
  RetryPolicy p;
  p.max_attempts = 2;
  p.total_timeout = 10s;
  p.attempt_timeout = 1s;
  p.initial_backoff = 500ms;
  p.backoff_multiplier = 1.0;
  p.max_backoff = 500ms;
  p.min_attempt_window = 500ms;
  REQUIRE_FALSE(p.validate());
  const bool unlimited = GENERATE(false, true);
  INFO((unlimited ? "unlimited" : "limited to max_attempts"));
  RetryBudget b(p, at(0s), at(10s), unlimited);
  std::mt19937_64 gen(1);
  std::vector<TimePoint> starts;
  TimePoint now = at(0s);
  while (b.can_start(now)) {
    starts.push_back(now);
    b.spend();  // fails at once
    const auto next = b.next_start(now, gen);
    if (!next) break;
    now = *next;
  }
  if (unlimited) {
    // Every 500 ms from 0 to 9.5 s: the last one still has its 500 ms window.
    REQUIRE(starts.size() == 20);
    CHECK(starts.back() == at(9500ms));
    CHECK(b.attempts_left());
    CHECK_FALSE(b.can_start(at(9500ms) + 1ns));
  } else {
    CHECK(starts == std::vector{at(0s), at(500ms)});
    CHECK_FALSE(b.attempts_left());
  }
  CHECK(b.spent() == starts.size());
}

TEST_CASE("an unlimited budget past max_retry_attempts failures still computes its backoff", "[retry_budget]") {
  RetryPolicy p;
  p.max_attempts = 1;
  REQUIRE_FALSE(p.validate());
  RetryBudget b(p, at(0s), TimePoint::max(), true);
  for (int i = 0; i < 1000; ++i) b.spend();
  CHECK(b.spent() == 1000);
  std::mt19937_64 gen(1);
  CHECK(b.next_start(at(0s), gen) == OptionalTime(at(p.max_backoff)));
}
