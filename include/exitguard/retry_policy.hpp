// exitguard/retry_policy.hpp — how often, how long and how far apart to retry.
//
// A BasicRetryPolicy is a plain aggregate: set its members, then let the component
// that uses it call validate() (they all do, at construction). A default-constructed
// policy is the design document's standard policy: 3 attempts within 30 s, backoff
// 1 s -> 2.5 s -> 5 s. `exit_policy()` is the stricter one for exits: 2 attempts
// within 20 s.
//
// Thread safety: a policy is a value; concurrent reads are safe.
#pragma once

#include <exitguard/error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace exitguard {

// How the delay between attempts is randomised (AWS's "Exponential Backoff And
// Jitter" vocabulary). `d` is the exponential delay, capped at max_backoff.
enum class Jitter {
  none,          // exactly d
  full,          // uniform in [0, d]
  equal,         // d/2 + uniform in [0, d/2]
  decorrelated,  // uniform in [initial_backoff, previous * backoff_multiplier], capped
};

constexpr std::string_view to_string(Jitter j) noexcept {
  switch (j) {
    case Jitter::none: return "none";
    case Jitter::full: return "full";
    case Jitter::equal: return "equal";
    case Jitter::decorrelated: return "decorrelated";
  }
  return "invalid";
}

// The largest max_attempts a policy accepts: every per-exit record is bounded by it.
inline constexpr std::uint32_t max_retry_attempts = 100;

template <class Clock>
struct BasicRetryPolicy {
  using clock_type = Clock;
  using duration = typename Clock::duration;

  std::uint32_t max_attempts = 3;
  duration total_timeout = std::chrono::seconds(30);
  duration attempt_timeout = std::chrono::seconds(10);
  duration initial_backoff = std::chrono::seconds(1);
  double backoff_multiplier = 2.5;
  duration max_backoff = std::chrono::seconds(5);
  Jitter jitter = Jitter::none;
  // An attempt starts only if at least this much time is left; it is then given
  // min(attempt_timeout, time left).
  duration min_attempt_window = std::chrono::milliseconds(500);

  // The design document's policy for exits: 2 attempts, 20 s in all.
  static constexpr BasicRetryPolicy exit_policy() noexcept {
    BasicRetryPolicy p;
    p.max_attempts = 2;
    p.total_timeout = std::chrono::seconds(20);
    p.attempt_timeout = std::chrono::seconds(8);
    return p;
  }

  // The first setting that makes no sense, or an empty error_code.
  boost::system::error_code validate() const noexcept {
    const duration zero = duration::zero();
    // Written as !(x > y) so that NaN durations (floating reps) are refused too.
    if (max_attempts < 1 || max_attempts > max_retry_attempts) return error::invalid_max_attempts;
    // The upper bound keeps `now() + total_timeout` and the sums of durations below
    // it from overflowing the clock's representation (undefined behaviour).
    if (!(total_timeout > zero) || !(total_timeout <= duration::max() / 4))
      return error::invalid_total_timeout;
    if (!(attempt_timeout > zero)) return error::invalid_attempt_timeout;
    if (attempt_timeout > total_timeout) return error::attempt_timeout_exceeds_total;
    if (!(initial_backoff >= zero)) return error::invalid_initial_backoff;
    if (!std::isfinite(backoff_multiplier) || backoff_multiplier < 1.0 || backoff_multiplier > 100.0)
      return error::invalid_backoff_multiplier;
    if (!(max_backoff >= initial_backoff) || !(max_backoff < total_timeout))
      return error::invalid_max_backoff;
    if (jitter != Jitter::none && jitter != Jitter::full && jitter != Jitter::equal &&
        jitter != Jitter::decorrelated)
      return error::invalid_jitter;
    if (!(min_attempt_window > zero) || min_attempt_window > attempt_timeout)
      return error::invalid_min_attempt_window;
    return {};
  }

  // The delay before retry number `retry` (1 = between attempts 1 and 2) without
  // jitter: initial_backoff * multiplier^(retry-1), capped at max_backoff.
  constexpr duration base_backoff(std::uint32_t retry) const noexcept {
    if (retry == 0) return zero_duration();
    double d = to_double(initial_backoff);
    const double cap = to_double(max_backoff);
    for (std::uint32_t i = 1; i < retry && d < cap; ++i) d *= backoff_multiplier;
    // Compared as durations too: beyond 2^53 ticks a double rounds past the cap.
    if (d >= cap) return max_backoff;
    return std::min(from_double(d), max_backoff);
  }

  // The delay before retry number `retry`, with this policy's jitter drawn from
  // `gen` (any uniform random bit generator: inject a seeded one for repeatable
  // runs). `previous` is the delay used before the previous retry (decorrelated
  // jitter needs it; zero for the first retry).
  template <class URBG>
  duration backoff(std::uint32_t retry, duration previous, URBG& gen) const {
    const duration d = base_backoff(retry);
    auto uniform = [&gen](double lo, double hi) {
      return hi <= lo ? lo : std::uniform_real_distribution<double>(lo, hi)(gen);
    };
    switch (jitter) {
      case Jitter::none: return d;
      case Jitter::full: return std::min(from_double(uniform(0.0, to_double(d))), d);
      case Jitter::equal: return std::min(from_double(to_double(d) / 2 + uniform(0.0, to_double(d) / 2)), d);
      case Jitter::decorrelated: {
        const double lo = to_double(initial_backoff);
        const double prev = previous > zero_duration() ? to_double(previous) : lo;
        const duration b = from_double(std::min(uniform(lo, prev * backoff_multiplier), to_double(max_backoff)));
        return std::max(initial_backoff, std::min(b, max_backoff));
      }
    }
    return d;
  }

 private:
  static constexpr duration zero_duration() noexcept { return duration::zero(); }
  static constexpr double to_double(duration d) noexcept { return static_cast<double>(d.count()); }
  static constexpr duration from_double(double v) noexcept {
    return duration(static_cast<typename duration::rep>(v));
  }
};

// BasicRetryBudget — the one retry rule: one policy's attempts and time, from a start.
//
// Both BoundedRetryExecutor (one run) and the exit engine (each ladder step) ask it
// the same questions, with the time passed in (it reads no clock):
//   - may an attempt start now? (`can_start`: attempts left, and at least
//     min_attempt_window before the end);
//   - until when may it run? (`attempt_end`: attempt_timeout, clamped to the end);
//   - after a failure, when may the next one start? (`next_start`: now + the
//     policy's backoff, or nothing if backoff + min_attempt_window would not fit
//     before the end: then the budget is spent now, never by waiting it out).
// The end is the earlier of start + total_timeout and a hard limit (an exit's
// deadline, or the start of its final window). `unlimited_attempts` is for the
// exit's final step, which re-quotes until its time is up whatever max_attempts says.
//
// Thread safety: a value used by one run. Cancellation: nothing to cancel.
template <class Clock>
class BasicRetryBudget {
 public:
  using policy_type = BasicRetryPolicy<Clock>;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;

  BasicRetryBudget(const policy_type& policy, time_point start, time_point hard_limit,
                   bool unlimited_attempts = false) noexcept
      : policy_(&policy),
        end_(policy.total_timeout >= hard_limit - start ? hard_limit : start + policy.total_timeout),
        unlimited_(unlimited_attempts) {}

  const policy_type& policy() const noexcept { return *policy_; }
  time_point end() const noexcept { return end_; }
  std::uint32_t spent() const noexcept { return spent_; }
  bool attempts_left() const noexcept { return unlimited_ || spent_ < policy_->max_attempts; }
  bool time_left(time_point now) const noexcept { return now < end_ && end_ - now >= policy_->min_attempt_window; }
  bool can_start(time_point now) const noexcept { return attempts_left() && time_left(now); }
  time_point attempt_end(time_point now) const noexcept {
    return policy_->attempt_timeout >= end_ - now ? end_ : now + policy_->attempt_timeout;
  }

  // An attempt of this budget failed (or ended in doubt): it is spent.
  void spend() noexcept { ++spent_; }

  // When the next attempt may start after `spent()` failures, drawing jitter from
  // `gen`; empty if it would not fit (the budget ends now).
  template <class URBG>
  std::optional<time_point> next_start(time_point now, URBG& gen) {
    if (!attempts_left()) return std::nullopt;
    const duration delay = policy_->backoff(std::min(spent_, max_retry_attempts), previous_, gen);
    previous_ = delay;
    if (now >= end_ || end_ - now < delay || end_ - now - delay < policy_->min_attempt_window) return std::nullopt;
    return now + delay;
  }

 private:
  const policy_type* policy_;
  time_point end_;
  bool unlimited_;
  std::uint32_t spent_ = 0;
  duration previous_{};
};

using RetryPolicy = BasicRetryPolicy<std::chrono::steady_clock>;
using RetryBudget = BasicRetryBudget<std::chrono::steady_clock>;

}  // namespace exitguard
