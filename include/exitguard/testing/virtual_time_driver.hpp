// exitguard/testing/virtual_time_driver.hpp — runs an io_context in virtual time.
//
// VirtualTimeDriver alternates io_context::poll() with advancing the ManualClock to
// the next timer expiry, so that a 30-second scenario runs in microseconds and
// deterministically. It never calls run(), which would spin on a clock whose waits
// are zero. When Asio reports no pending expiry but work remains (a thread, a work
// guard), the clock moves by `fallback_step` instead.
//
// Thread safety: drive an io_context from one thread only, and let no other thread
// run it while the driver does. Cancellation: the run_* functions stop early when
// their predicate holds or their limit is reached; nothing is cancelled for you.
#pragma once

#include <exitguard/testing/manual_clock.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>

namespace exitguard::testing {

class VirtualTimeDriver {
 public:
  using clock = ManualClock;
  using duration = clock::duration;
  using time_point = clock::time_point;

  explicit VirtualTimeDriver(boost::asio::io_context& ioc,
                             duration fallback_step = std::chrono::milliseconds(1)) noexcept
      : ioc_(ioc), fallback_step_(fallback_step) {}

  // Runs every handler that is ready now, without moving the clock.
  std::size_t poll() {
    if (ioc_.stopped()) ioc_.restart();
    clock::clear_next_expiry();
    const std::size_t n = ioc_.poll();
    handlers_ += n;
    return n;
  }

  // Runs until the io_context has no work left, or until `limit` of virtual time has
  // passed. Returns true if it ran out of work.
  bool run_for(duration limit) {
    return run_until_time(clock::now() + limit, [] { return false; });
  }

  // Runs until `done()` holds, the io_context has no work left, or `limit` has
  // passed. Returns true if `done()` holds.
  template <class Predicate>
  bool run_until(Predicate done, duration limit = std::chrono::hours(1)) {
    run_until_time(clock::now() + limit, done);
    return done();
  }

  // Runs the ready handlers and moves the clock forward by exactly `step`, stopping
  // at every timer expiry on the way so that each fires at its own time.
  void advance(duration step) {
    const time_point end = clock::now() + step;
    run_until_time(end, [] { return false; });
    clock::advance_to(end);
    poll();
  }

  // Handlers run through this driver so far.
  std::size_t handlers_run() const noexcept { return handlers_; }

 private:
  template <class Predicate>
  bool run_until_time(time_point end, Predicate done) {
    for (;;) {
      poll();
      if (done()) return false;
      if (ioc_.stopped()) return true;  // out of work
      if (clock::now() >= end) return false;
      time_point next;
      if (!clock::next_expiry(next) || next <= clock::now()) next = clock::now() + fallback_step_;
      clock::advance_to(next < end ? next : end);
    }
  }

  boost::asio::io_context& ioc_;
  duration fallback_step_;
  std::size_t handlers_ = 0;
};

}  // namespace exitguard::testing
