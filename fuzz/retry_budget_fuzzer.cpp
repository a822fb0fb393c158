// fuzz/retry_budget_fuzzer.cpp — BasicRetryBudget with valid policies, at any time.
//
// Decodes a valid policy (built valid, as engine_harness.hpp's constructed_policy,
// on steady_clock's int64 nanoseconds or on a clock with double seconds), a start
// (ordinary, zero, or near the end of the clock), a hard limit (far, near, before the
// start, the clock's max), `unlimited_attempts`, a generator (FuzzGenerator), then
// a sequence of operations at times that never go back. Checks:
//   * end() is the earlier of the hard limit and start + total_timeout (never after
//     either), computed without overflow;
//   * can_start(now) exactly when attempts are left and at least min_attempt_window
//     is left before end();
//   * attempt_end(now) is never after end(), and (now <= end()) is
//     min(end(), now + attempt_timeout), not before now;
//   * next_start(now): empty once the attempts are spent; a value is never before now
//     nor after end() - min_attempt_window, at most max_backoff after now, and with
//     no jitter exactly base_backoff(spent()) after now;
//   * spent() counts the spend() calls: attempts_left() == unlimited || spent <
//     max_attempts.
// On the double clock the comparisons allow a few ulps of the times' magnitude.
//
// Input layout (little-endian; bytes past the end read as 0), mirrored by
// fuzz/corpus/make_engine_corpus.py:
//   u8 header      bit 0: unlimited attempts, bit 1: the double-seconds clock
//   policy         as constructed_policy (engine_harness.hpp), in ms
//   u8 hard limit  % 4: 0 start + 10 x total, 1 start + u16 ms, 2 start - u16 ms,
//                  3 the clock's max
//   u8 start       % 4: 0 10^12 ns, 1 the clock's max - u8 s, 2 u32 ms, 3 zero
//   u64 seed, u8 mode   the generator
//   ops            u8 each, % 4: 0 can_start / attempt_end at now; 1 spend() then
//                  next_start(now) (bit 2: and go to the time it gave); 2 + u8 ms;
//                  3 + u16 ms

#include <exitguard/retry_policy.hpp>

#include "fuzz_input.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

namespace {

using exitguard_fuzz::FuzzGenerator;
using exitguard_fuzz::FuzzInput;

struct FloatClock {
  using duration = std::chrono::duration<double>;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<FloatClock>;
  static time_point now() noexcept { return time_point(duration(0.0)); }
};

template <class Clock>
typename Clock::duration ms(std::int64_t v) {
  return std::chrono::duration_cast<typename Clock::duration>(std::chrono::milliseconds(v));
}

template <class Clock>
exitguard::BasicRetryPolicy<Clock> constructed_policy(FuzzInput& in) {
  exitguard::BasicRetryPolicy<Clock> p;
  p.max_attempts = 1 + in.byte() % 6;
  const std::int64_t total = 1 + in.take<std::uint16_t>();
  p.total_timeout = ms<Clock>(total);
  const std::int64_t attempt = 1 + in.take<std::uint16_t>() % total;
  p.attempt_timeout = ms<Clock>(attempt);
  const std::int64_t initial = in.take<std::uint16_t>() % total;
  p.initial_backoff = ms<Clock>(initial);
  p.max_backoff = ms<Clock>(initial + in.take<std::uint16_t>() % (total - initial));
  p.backoff_multiplier = 1.0 + 99.0 * in.byte() / 255.0;
  p.jitter = static_cast<exitguard::Jitter>(in.byte() % 4);
  p.min_attempt_window = ms<Clock>(1 + in.take<std::uint16_t>() % attempt);
  return p;
}

template <class Clock>
typename Clock::time_point add(typename Clock::time_point t, typename Clock::duration d) {
  using tp = typename Clock::time_point;
  if (d > Clock::duration::zero() && t > tp::max() - d) return tp::max();
  if (d < Clock::duration::zero() && t < tp::min() - d) return tp::min();
  return t + d;
}

template <class Clock>
void run(FuzzInput& in, bool unlimited) {
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  constexpr bool floating = std::is_floating_point_v<typename duration::rep>;

  const auto policy = constructed_policy<Clock>(in);
  EXITGUARD_FUZZ_CHECK(!policy.validate());

  const std::uint8_t hard_tag = in.byte() % 4;
  const std::uint16_t hard_ms = hard_tag == 1 || hard_tag == 2 ? in.take<std::uint16_t>() : 0;
  time_point start{};
  switch (in.byte() % 4) {
    case 0: start = time_point(std::chrono::duration_cast<duration>(std::chrono::seconds(1000))); break;
    case 1: start = time_point::max() - std::chrono::duration_cast<duration>(std::chrono::seconds(in.byte())); break;
    case 2: start = time_point(ms<Clock>(in.take<std::uint32_t>())); break;
    default: start = time_point{}; break;
  }
  time_point hard{};
  switch (hard_tag) {
    case 0: hard = add<Clock>(start, policy.total_timeout * 10); break;
    case 1: hard = add<Clock>(start, ms<Clock>(hard_ms)); break;
    case 2: hard = add<Clock>(start, -ms<Clock>(hard_ms)); break;
    default: hard = time_point::max(); break;
  }
  const std::uint64_t seed = in.take<std::uint64_t>();
  FuzzGenerator gen(in.byte(), seed);

  // A few ulps of the times' magnitude on the double clock, none on the int one.
  auto slack = [&](time_point a) -> duration {
    if constexpr (floating) {
      const double m = std::max(std::abs(a.time_since_epoch().count()), std::abs(hard.time_since_epoch().count()));
      return duration(8 * std::numeric_limits<double>::epsilon() * m);
    } else {
      (void)a;
      return duration::zero();
    }
  };

  exitguard::BasicRetryBudget<Clock> budget(policy, start, hard, unlimited);
  const time_point end = budget.end();
  EXITGUARD_FUZZ_CHECK(end <= hard);
  const time_point start_plus_total = add<Clock>(start, policy.total_timeout);
  EXITGUARD_FUZZ_CHECK(end <= start_plus_total);
  EXITGUARD_FUZZ_CHECK(end == std::min(hard, start_plus_total) || (floating && end - std::min(hard, start_plus_total) <= slack(end) && std::min(hard, start_plus_total) - end <= slack(end)));

  std::uint32_t spends = 0;
  time_point now = start;
  for (int i = 0; i < 256 && in.remaining() > 0; ++i) {
    const std::uint8_t op = in.byte();
    EXITGUARD_FUZZ_CHECK(budget.spent() == spends);
    EXITGUARD_FUZZ_CHECK(budget.attempts_left() == (unlimited || spends < policy.max_attempts));
    switch (op % 4) {
      case 0: {
        const bool time_left = now < end && end - now >= policy.min_attempt_window;
        EXITGUARD_FUZZ_CHECK(budget.can_start(now) == (budget.attempts_left() && time_left));
        const time_point a = budget.attempt_end(now);
        EXITGUARD_FUZZ_CHECK(a <= end);
        if (now <= end) {
          EXITGUARD_FUZZ_CHECK(a >= now);
          EXITGUARD_FUZZ_CHECK(a - now <= policy.attempt_timeout + slack(a));
          const time_point expected = end - now <= policy.attempt_timeout ? end : now + policy.attempt_timeout;
          EXITGUARD_FUZZ_CHECK(a == expected);
        }
        break;
      }
      case 1: {
        budget.spend();
        ++spends;
        const bool left = budget.attempts_left();
        const auto next = budget.next_start(now, gen);
        if (!left) EXITGUARD_FUZZ_CHECK(!next.has_value());
        if (next) {
          EXITGUARD_FUZZ_CHECK(*next >= now);
          EXITGUARD_FUZZ_CHECK(*next <= end);
          EXITGUARD_FUZZ_CHECK(*next - now <= policy.max_backoff + slack(*next));
          EXITGUARD_FUZZ_CHECK(end - *next + slack(*next) >= policy.min_attempt_window);
          if (policy.jitter == exitguard::Jitter::none) {
            const duration base = policy.base_backoff(std::min(spends, exitguard::max_retry_attempts));
            const duration d = *next - now;
            EXITGUARD_FUZZ_CHECK(d == base || (floating && d - base <= slack(*next) && base - d <= slack(*next)));
          }
          if (op & 4) now = *next;
        }
        break;
      }
      case 2: now = add<Clock>(now, ms<Clock>(in.byte())); break;
      default: now = add<Clock>(now, ms<Clock>(in.take<std::uint16_t>())); break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  const std::uint8_t header = in.byte();
  if (header & 2)
    run<FloatClock>(in, (header & 1) != 0);
  else
    run<std::chrono::steady_clock>(in, (header & 1) != 0);
  return 0;
}
