// exitguard/testing/manual_clock.hpp — a clock that moves only when told to.
//
// ManualClock is a steady clock whose now() is set by the test (or by
// VirtualTimeDriver). Asio timers on it — `boost::asio::basic_waitable_timer<
// ManualClock>` and every exitguard `BasicX<ManualClock>` — expire when the clock is
// advanced past their expiry and the io_context is polled. Its wait traits tell
// Asio's reactor to never block (a zero wait), and remember the earliest pending
// expiry that the reactor reports, so that the driver can jump straight to it.
//
// Thread safety: now(), set() and advance() are atomic. The clock is one per
// process (Asio calls Clock::now() statically), so tests that use it must not run
// concurrently with each other; Catch2 runs test cases one after another.
#pragma once

#include <boost/asio/wait_traits.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>

namespace exitguard::testing {

class ManualClock {
 public:
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<ManualClock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept { return time_point(duration(now_.load(std::memory_order_acquire))); }

  // Moves the clock forward by `d` (negative steps are ignored: the clock is steady).
  static void advance(duration d) noexcept {
    if (d > duration::zero()) now_.fetch_add(d.count(), std::memory_order_acq_rel);
  }

  // Moves the clock forward to `t`; never backwards.
  static void advance_to(time_point t) noexcept {
    rep cur = now_.load(std::memory_order_acquire);
    const rep target = t.time_since_epoch().count();
    while (cur < target && !now_.compare_exchange_weak(cur, target, std::memory_order_acq_rel)) {
    }
  }

  // Puts the clock back to its epoch. Only between tests, with no timer pending.
  static void reset() noexcept {
    now_.store(0, std::memory_order_release);
    clear_next_expiry();
  }

  // The earliest expiry Asio reported since clear_next_expiry(), if any.
  static bool next_expiry(time_point& out) noexcept {
    const rep v = next_expiry_.load(std::memory_order_acquire);
    if (v == no_expiry) return false;
    out = time_point(duration(v));
    return true;
  }
  static void clear_next_expiry() noexcept { next_expiry_.store(no_expiry, std::memory_order_release); }

  // Called by the wait traits with the time left until a timer queue's earliest expiry.
  static void note_pending_wait(duration left) noexcept {
    if (left <= duration::zero()) return;
    const rep at = now_.load(std::memory_order_acquire) + left.count();
    rep cur = next_expiry_.load(std::memory_order_acquire);
    while (at < cur && !next_expiry_.compare_exchange_weak(cur, at, std::memory_order_acq_rel)) {
    }
  }

 private:
  static constexpr rep no_expiry = std::numeric_limits<rep>::max();
  static inline std::atomic<rep> now_{0};
  static inline std::atomic<rep> next_expiry_{no_expiry};
};

}  // namespace exitguard::testing

// Asio's reactor asks how long to block until the earliest timer; on a manual clock
// the answer is "not at all", and the question tells us when that timer is due.
template <>
struct boost::asio::wait_traits<exitguard::testing::ManualClock> {
  using clock = exitguard::testing::ManualClock;
  static clock::duration to_wait_duration(const clock::duration& d) {
    clock::note_pending_wait(d);
    return clock::duration::zero();
  }
  static clock::duration to_wait_duration(const clock::time_point& t) {
    return to_wait_duration(t - clock::now());
  }
};
