// exitguard/exit_deadline_manager.hpp — one hard deadline per exit.
//
// BasicExitDeadlineManager holds an exit's hard deadline (by default 30 s after the
// exit signal) and the window before it that is reserved for the final (market)
// step. It answers the questions every wait of an exit asks: how much is left, when
// must a non-final step end, may another attempt still start. It arms no timer of
// its own: the exit's single timer waits on the instants it computes, so the
// deadline costs nothing extra on the happy path.
//
// Thread safety: none; a value owned by one exit. Cancellation: not applicable.
#pragma once

#include <exitguard/error.hpp>

#include <algorithm>
#include <chrono>

namespace exitguard {

template <class Clock>
class BasicExitDeadlineManager {
 public:
  using clock_type = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;

  static constexpr duration default_deadline = std::chrono::seconds(30);
  static constexpr duration default_final_window = std::chrono::seconds(10);

  // The first invalid setting, or an empty code.
  static boost::system::error_code validate(duration deadline, duration final_window) noexcept {
    if (!(deadline > duration::zero())) return error::invalid_deadline;
    if (!(final_window > duration::zero()) || !(final_window < deadline)) return error::final_window_does_not_fit;
    return {};
  }

  // Starts the clock at `signal_time` (the exit signal). Throws configuration_error
  // for an invalid setting.
  explicit BasicExitDeadlineManager(duration deadline = default_deadline,
                                    duration final_window = default_final_window,
                                    time_point signal_time = Clock::now())
      : signal_(signal_time), deadline_(), final_window_(final_window) {
    throw_if_invalid(validate(deadline, final_window));
    // A deadline beyond the clock's range saturates: signal_time + deadline would
    // overflow (undefined behaviour) and wrap into the past.
    deadline_ = signal_time > time_point{} && deadline > time_point::max() - signal_time ? time_point::max()
                                                                                          : signal_time + deadline;
  }

  time_point signal_time() const noexcept { return signal_; }
  time_point deadline() const noexcept { return deadline_; }
  // When non-final steps must have ended: the deadline less the reserved window.
  time_point final_window_start() const noexcept { return deadline_ - final_window_; }

  // Each question takes the time it is asked at (the exit engine reads no clock);
  // the overloads without it ask Clock::now(), for using the manager on its own.
  duration elapsed(time_point now) const noexcept { return now - signal_; }
  duration remaining(time_point now) const noexcept { return std::max(deadline_ - now, duration::zero()); }
  bool expired(time_point now) const noexcept { return now >= deadline_; }
  duration elapsed() const noexcept { return elapsed(Clock::now()); }
  duration remaining() const noexcept { return remaining(Clock::now()); }
  bool expired() const noexcept { return expired(Clock::now()); }

  // When a step that starts now and may take `budget` must end: never after the
  // deadline, and for a non-final step never inside the reserved final window.
  time_point step_deadline(duration budget, bool final_step, time_point now) const noexcept {
    const time_point limit = final_step ? deadline_ : final_window_start();
    // Compared before adding, so that a huge budget cannot overflow now + budget.
    return std::max(now, budget >= limit - now ? limit : now + budget);
  }
  time_point step_deadline(duration budget, bool final_step) const noexcept {
    return step_deadline(budget, final_step, Clock::now());
  }

  // True if an attempt needing at least `min_window` may start now and end by `end`.
  bool fits(duration min_window, time_point end, time_point now) const noexcept {
    return std::min(end, deadline_) - now >= min_window;
  }
  bool fits(duration min_window, time_point end) const noexcept { return fits(min_window, end, Clock::now()); }

 private:
  time_point signal_;
  time_point deadline_;
  duration final_window_;
};

using ExitDeadlineManager = BasicExitDeadlineManager<std::chrono::steady_clock>;

}  // namespace exitguard
