// exitguard/trading_halt_coordinator.hpp — the system-wide trading state.
//
// TradingState says what the whole bot may do: run normally, only reduce positions
// (new entries refused, exits allowed) or nothing at all. BasicTradingHaltCoordinator
// holds that state, records who changed it, why and when, and tells subscribers.
// The exit circuit breaker changes it when it trips; operators change it by hand
// (resume() is the manual re-arm of trading). Guards (add_guard()) may refuse a
// change: the circuit breaker installs one so that trading cannot be made less
// strict than its trip action while it is open.
#pragma once

#include <exitguard/error.hpp>

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exitguard {

// Ordered from the most to the least permissive: a larger value refuses more.
enum class TradingState : std::uint8_t {
  running,      // entries and exits allowed
  reduce_only,  // new entries refused, exits allowed
  halted,       // everything refused
};

// The name used in logs, metrics and docs ("reduce_only").
constexpr std::string_view to_string(TradingState s) noexcept {
  switch (s) {
    case TradingState::running: return "running";
    case TradingState::reduce_only: return "reduce_only";
    case TradingState::halted: return "halted";
  }
  return "unknown";
}

// True for the three named states: an enum with a fixed underlying type can hold
// any std::uint8_t, and an unnamed value must never become the trading state.
constexpr bool is_valid(TradingState s) noexcept {
  return s == TradingState::running || s == TradingState::reduce_only ||
         s == TradingState::halted;
}

// True if `to` refuses strictly more than `from` (running < reduce_only < halted).
constexpr bool is_stricter(TradingState to, TradingState from) noexcept {
  return static_cast<std::uint8_t>(to) > static_cast<std::uint8_t>(from);
}

// One change of the trading state: from, to, who made it, why, and when (Clock::now()).
template <class Clock>
struct BasicTradingStateChange {
  TradingState from = TradingState::running;
  TradingState to = TradingState::running;
  std::string who;
  std::string why;
  typename Clock::time_point when{};
};

// A change that a guard refused: what was asked (from, to, who, why, when) and the
// guard's error (error::circuit_open for the circuit breaker's guard).
template <class Clock>
struct BasicTradingStateRefusal {
  TradingState from = TradingState::running;
  TradingState to = TradingState::running;
  std::string who;
  std::string why;
  typename Clock::time_point when{};
  boost::system::error_code error;
};

// What set_state() and its shorthands did. Converts to true only if the state
// changed. False with an empty `error`: the state already was the one asked for (a
// no-op), or set_state_if()'s predicate said no. False with an error: a guard
// refused the change (error::circuit_open from a circuit breaker); the state is
// unchanged and the refusal is recorded (last_refusal()).
struct TradingStateResult {
  bool changed = false;
  boost::system::error_code error;
  explicit constexpr operator bool() const noexcept { return changed; }
};

// BasicTradingHaltCoordinator — the one trading state of the process, and its history.
//
// It starts running. set_state() (and its shorthands halt(), reduce_only(), resume())
// changes the state, records the change (from, to, who, why, Clock::now()) and then
// calls every subscriber with it, in subscription order. Asking for the state it is
// already in is a no-op that returns false and notifies nobody, so a change count is
// a count of real changes. Every exit asks allows_exit() and every entry
// allows_entry() before it starts: both are a single atomic load.
//
// Guards: add_guard() installs a function that sees every change about to be made
// and may refuse it with an error. A refused change changes nothing, notifies
// nobody, and is recorded (last_refusal(), refusals()) with who asked and why. The
// exit circuit breaker installs one for its lifetime: while it is open (or half
// open), trading cannot be made less strict than its trip action — with the default
// trip action, halted, neither resume() nor reduce_only() goes through — and the
// call returns error::circuit_open. The operator re-arms the breaker (reset()) first,
// then resumes trading: two deliberate steps (docs/runbook.md). Making trading
// stricter (halt()) is never refused by the breaker.
//
// Thread safety: every member may be called from any thread. Reads of the state are
// atomic loads; changes, guards and subscriptions are serialised by an internal
// mutex, so changes() and last_change() always agree with state(), and a guard's
// verdict and the change it allows cannot be separated by another change. Guards
// are called with that mutex held, in the thread asking for the change; after
// remove_guard() returns, its guard is never called again. Subscribers are called
// after that mutex is released, in the thread that made the change: they may call
// back into the coordinator (a nested change is notified before the outer call
// returns), and when several threads change the state at once, subscribers may run
// concurrently and see those changes in either order — each change carries its own
// `from` and `to`, and state() is the truth. A subscriber removed while a change is
// being notified may still receive that one change. A subscriber should not throw;
// if one does, the remaining subscribers are still called and the first exception is
// rethrown by the call that made the change (which has taken effect regardless).
//
// Cancellation: nothing here waits or completes asynchronously; there is nothing to
// cancel.
template <class Clock>
class BasicTradingHaltCoordinator {
 public:
  using clock_type = Clock;
  using change_type = BasicTradingStateChange<Clock>;
  using refusal_type = BasicTradingStateRefusal<Clock>;
  using subscriber = std::function<void(const change_type&)>;
  // Sees a change about to be made (from, to, who, why, when); returns an error to
  // refuse it, {} to let it through. Called with the coordinator's mutex held: it
  // must be quick and must not call into this coordinator. If it throws, the
  // exception propagates out of the call that asked for the change, which is not made.
  using guard = std::function<boost::system::error_code(const change_type&)>;

  BasicTradingHaltCoordinator() : subscribers_(std::make_shared<const subscriber_list>()) {}
  BasicTradingHaltCoordinator(const BasicTradingHaltCoordinator&) = delete;
  BasicTradingHaltCoordinator& operator=(const BasicTradingHaltCoordinator&) = delete;

  TradingState state() const noexcept { return state_.load(std::memory_order_acquire); }

  // New positions may be opened only while running.
  bool allows_entry() const noexcept { return state() == TradingState::running; }

  // Exits may run while running or reduce_only; a halt stops them too.
  bool allows_exit() const noexcept {
    const auto s = state();
    return s == TradingState::running || s == TradingState::reduce_only;
  }

  // Moves to `to`, records who/why/when, notifies the subscribers; true (changed) if
  // it did. Changes nothing and returns false if the state already is `to`, or, with
  // the guard's error (error::circuit_open), if a guard refuses (see the class
  // comment). Throws boost::system::system_error (error::invalid_trading_state) if
  // `to` is not one of the three named states.
  TradingStateResult set_state(TradingState to, std::string_view who, std::string_view why) {
    return set_state_if([](const change_type&) { return true; }, to, who, why);
  }

  // As set_state(), but only if `allowed(last_change())` is true, evaluated under the
  // same lock as the change so that nothing can come between the test and the change.
  // This is how the circuit breaker undoes only what it did itself, and never an
  // operator's later halt. `allowed` must not call into this coordinator. The guard
  // whose id is `exempt_guard` (0: none) is not asked: a guard's owner uses it for its
  // own changes (the breaker's half-open probe). The other guards are.
  template <class Predicate>
    requires std::predicate<Predicate&, const change_type&>
  TradingStateResult set_state_if(Predicate allowed, TradingState to, std::string_view who, std::string_view why,
                                  std::uint64_t exempt_guard = 0) {
    if (!is_valid(to)) throw boost::system::system_error(make_error_code(error::invalid_trading_state));
    change_type change;
    std::shared_ptr<const subscriber_list> to_notify;
    {
      std::lock_guard lock(mutex_);
      if (last_.to == to || !allowed(std::as_const(last_))) return {};
      // Built before anything is modified: if an allocation throws, nothing changed.
      change = change_type{last_.to, to, std::string(who), std::string(why), Clock::now()};
      for (const auto& entry : guards_) {
        if (entry.first == exempt_guard) continue;
        if (const auto refused = entry.second(std::as_const(change))) {
          refusal_type refusal{change.from, change.to, std::move(change.who), std::move(change.why), change.when,
                               refused};
          last_refusal_ = std::move(refusal);
          refusals_.fetch_add(1, std::memory_order_release);
          return {false, refused};
        }
      }
      last_ = change;
      state_.store(to, std::memory_order_release);
      changes_.fetch_add(1, std::memory_order_release);
      to_notify = subscribers_;
    }
    notify(*to_notify, change);
    return {true, {}};
  }

  TradingStateResult halt(std::string_view who, std::string_view why) {
    return set_state(TradingState::halted, who, why);
  }
  TradingStateResult reduce_only(std::string_view who, std::string_view why) {
    return set_state(TradingState::reduce_only, who, why);
  }
  // The manual re-arm of trading, after an operator has looked at why it stopped.
  // Refused (error::circuit_open) while a circuit breaker on this coordinator is
  // open: reset() the breaker first.
  TradingStateResult resume(std::string_view who, std::string_view why) {
    return set_state(TradingState::running, who, why);
  }

  // The latest change; before any, {running, running, "", "", epoch}.
  change_type last_change() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

  // How many changes were made (no-ops are not changes).
  std::uint64_t changes() const noexcept { return changes_.load(std::memory_order_acquire); }

  // The latest change a guard refused (who asked, why, when, the guard's error), if any.
  std::optional<refusal_type> last_refusal() const {
    std::lock_guard lock(mutex_);
    return last_refusal_;
  }

  // How many changes guards refused.
  std::uint64_t refusals() const noexcept { return refusals_.load(std::memory_order_acquire); }

  // Installs a guard, asked before every later change (in installation order; the
  // first error refuses); returns its id (never 0). Throws std::invalid_argument for
  // an empty function.
  std::uint64_t add_guard(guard g) {
    if (!g) throw std::invalid_argument("exitguard: empty trading state guard");
    std::lock_guard lock(mutex_);
    const auto id = next_guard_id_++;
    guards_.emplace_back(id, std::move(g));
    return id;
  }

  // Removes a guard; false if `id` is not installed. Once it returns, the guard is
  // not called again (guards are only called with the mutex held).
  bool remove_guard(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    for (auto it = guards_.begin(); it != guards_.end(); ++it) {
      if (it->first != id) continue;
      guards_.erase(it);
      return true;
    }
    return false;
  }

  // Adds a subscriber, called after every later change; returns its id (never 0).
  // Throws std::invalid_argument for an empty function.
  std::uint64_t subscribe(subscriber s) {
    if (!s) throw std::invalid_argument("exitguard: empty trading state subscriber");
    std::lock_guard lock(mutex_);
    // Copy on write: a change in progress keeps notifying the list it took.
    auto next = std::make_shared<subscriber_list>(*subscribers_);
    const auto id = next_id_++;
    next->emplace_back(id, std::move(s));
    subscribers_ = std::move(next);
    return id;
  }

  // Removes a subscriber; false if `id` is not subscribed.
  bool unsubscribe(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<subscriber_list>();
    next->reserve(subscribers_->size());
    for (const auto& entry : *subscribers_)
      if (entry.first != id) next->push_back(entry);
    if (next->size() == subscribers_->size()) return false;
    subscribers_ = std::move(next);
    return true;
  }

 private:
  using subscriber_list = std::vector<std::pair<std::uint64_t, subscriber>>;

  static void notify(const subscriber_list& list, const change_type& change) {
    std::exception_ptr first_error;
    for (const auto& entry : list) {
      try {
        entry.second(change);
      } catch (...) {
        // One faulty subscriber must not keep the others from hearing of a halt.
        if (!first_error) first_error = std::current_exception();
      }
    }
    if (first_error) std::rethrow_exception(first_error);
  }

  std::atomic<TradingState> state_{TradingState::running};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<std::uint64_t> refusals_{0};
  mutable std::mutex mutex_;
  change_type last_;
  std::optional<refusal_type> last_refusal_;
  std::shared_ptr<const subscriber_list> subscribers_;
  std::uint64_t next_id_ = 1;
  std::vector<std::pair<std::uint64_t, guard>> guards_;
  std::uint64_t next_guard_id_ = 1;
};

using TradingHaltCoordinator = BasicTradingHaltCoordinator<std::chrono::steady_clock>;

}  // namespace exitguard
