// exitguard/detail/attempt_slots.hpp — bookkeeping for attempts that may outlive their turn.
//
// Each attempt of a run gets a slot: its cancellation signal (which must outlive the
// operation, so it cannot live in a coroutine frame), its result once it comes,
// and whether the run gave up on it. A run waits for an attempt with one timer: the
// operation's completion cancels the timer, so the happy path costs one timer armed
// and cancelled. All of it is touched only on the run's strand.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <optional>
#include <vector>

namespace exitguard::detail {

template <class T>
struct attempt_result {
  boost::system::error_code ec;
  std::optional<T> value;
};

template <class T>
struct attempt_slot {
  boost::asio::cancellation_signal cancel;
  std::optional<attempt_result<T>> result;
  bool abandoned = false;  // the run stopped waiting: a result now is a late one
};

template <class T>
class attempt_slots {
 public:
  explicit attempt_slots(std::size_t capacity) : slots_(capacity) {}

  attempt_slot<T>& operator[](std::size_t i) noexcept { return slots_[i]; }
  std::size_t size() const noexcept { return slots_.size(); }

  // Records a completion. Returns false if it is a duplicate (only the first
  // completion of an attempt counts).
  bool record(std::size_t i, boost::system::error_code ec, std::optional<T> value) {
    auto& s = slots_[i];
    if (s.result) return false;
    s.result.emplace(attempt_result<T>{ec, std::move(value)});
    return true;
  }

  // Gives up on attempt i: a result that comes later is late. With `ask_to_stop`
  // the operation is also asked to stop (terminal cancellation) in case it can; an
  // exit leaves a timed-out submit running instead, so that a late fill still
  // reaches it.
  void abandon(std::size_t i, bool ask_to_stop = true) {
    auto& s = slots_[i];
    if (s.abandoned || s.result) return;
    s.abandoned = true;
    if (ask_to_stop) s.cancel.emit(boost::asio::cancellation_type::terminal);
  }

  // Asks every attempt still running to stop (the exit was cancelled or closed).
  void stop_all() {
    for (auto& s : slots_)
      if (!s.result) {
        s.abandoned = true;
        s.cancel.emit(boost::asio::cancellation_type::terminal);
      }
  }

 private:
  std::vector<attempt_slot<T>> slots_;
};

enum class wait_end { completed, expired, cancelled };

// True once the calling coroutine has been asked to stop.
inline boost::asio::awaitable<bool> stop_requested() {
  auto state = co_await boost::asio::this_coro::cancellation_state;
  co_return state.cancelled() != boost::asio::cancellation_type::none;
}

// Waits on `timer` until `deadline`, or until `ready()` holds (whoever makes it hold
// cancels the timer), or until the coroutine is cancelled. `ready()` wins ties.
template <class Timer, class Ready>
boost::asio::awaitable<wait_end> wait_until(Timer& timer, typename Timer::time_point deadline,
                                            Ready ready) {
  for (;;) {
    if (ready()) co_return wait_end::completed;
    // A cancellation that came while the timer was not armed (the wait that saw it
    // was woken by ready() instead) must not be slept through.
    const auto state = co_await boost::asio::this_coro::cancellation_state;
    if (state.cancelled() != boost::asio::cancellation_type::none) co_return wait_end::cancelled;
    timer.expires_at(deadline);
    auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ready()) co_return wait_end::completed;
    if (co_await stop_requested()) co_return wait_end::cancelled;
    if (!ec) co_return wait_end::expired;
    // Cancelled by a wake-up that did not make ready() hold: wait on.
  }
}

}  // namespace exitguard::detail
