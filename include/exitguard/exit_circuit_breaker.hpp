// exitguard/exit_circuit_breaker.hpp — stop trading after consecutive failed exits.
//
// One failed exit can be bad luck; several in a row mean the venue, the RPC or the
// market is broken, and every further position opened or exited the same way risks
// the same unbounded loss. BasicExitCircuitBreaker counts consecutive failed exits
// and, at a threshold (default 2, as the design document says: "trips after 2-3
// consecutive exit failures"), trips: it changes the trading state through the
// BasicTradingHaltCoordinator (by default to halted: "halts ALL trading").
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace exitguard {

enum class BreakerState : std::uint8_t {
  closed,     // exits run and are counted
  open,       // tripped: latched until reset(), or until a cooldown allows a probe
  half_open,  // one probe exit is under way; everyone else is refused
};

constexpr std::string_view to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::closed: return "closed";
    case BreakerState::open: return "open";
    case BreakerState::half_open: return "half_open";
  }
  return "unknown";
}

// The breaker's answer to an exit that asks to start.
enum class BreakerPermit : std::uint8_t {
  allowed,  // run, then record the outcome
  probe,    // run as the one half-open probe, then record the outcome
  refused,  // do not run (error::circuit_open); record nothing
};

constexpr std::string_view to_string(BreakerPermit p) noexcept {
  switch (p) {
    case BreakerPermit::allowed: return "allowed";
    case BreakerPermit::probe: return "probe";
    case BreakerPermit::refused: return "refused";
  }
  return "unknown";
}

template <class Clock>
struct BasicCircuitBreakerSettings {
  static constexpr std::uint32_t min_threshold = 1;
  static constexpr std::uint32_t max_threshold = 1000;

  // Consecutive failed exits that trip the breaker.
  std::uint32_t threshold = 2;
  // Without a cooldown the breaker stays open until reset() (latched). With one, the
  // first exit that asks once it has elapsed since the trip becomes the half-open probe.
  std::optional<typename Clock::duration> cooldown;
  // What trading becomes on a trip. halted is the design document's "halts ALL
  // trading": exits are refused too, even those that would reduce risk. reduce_only
  // keeps exits alive and refuses only new entries (NautilusTrader's REDUCING,
  // barter's Disabled): positions can still be closed while the cause is looked at.
  // running leaves trading alone: the breaker only reports.
  TradingState trip_action = TradingState::halted;

  // error::invalid_breaker_threshold, error::invalid_cooldown,
  // error::invalid_trading_state, or {}.
  boost::system::error_code validate() const noexcept {
    if (threshold < min_threshold || threshold > max_threshold) return error::invalid_breaker_threshold;
    if (cooldown && *cooldown <= Clock::duration::zero()) return error::invalid_cooldown;
    if (!is_valid(trip_action)) return error::invalid_trading_state;
    return {};
  }
};

// Who the breaker says it is when it changes the trading state.
inline constexpr std::string_view exit_circuit_breaker_name = "exit_circuit_breaker";

// A manual re-arm: who, why, when.
template <class Clock>
struct BasicBreakerReset {
  std::string who;
  std::string why;
  typename Clock::time_point when{};
};

// BasicExitCircuitBreaker — counts consecutive failed exits and trips at a threshold.
//
// Every exit calls try_acquire() before it starts and, if it ran, record_success() or
// record_failure() with the permit it got once it ends. A failed exit is one that
// ended ExitFailed or exceeded its deadline. An exit cancelled by its caller, or
// refused (by the breaker or by the trading state), records nothing: it says nothing
// about whether exits work.
//
// Closed: every exit is allowed; a success resets the count of consecutive failures;
// the failure that brings it to `threshold` trips the breaker: state open,
// opened_at = Clock::now(), trips + 1, and the trading state becomes the setting's
// trip_action (who "exit_circuit_breaker", why "<n> consecutive failed exits"). A
// trip only ever tightens trading: if an operator already set something stricter, it
// is left as it is.
//
// Open with trip_action reduce_only or running: exits stay allowed, so that
// positions can be closed; their outcomes neither close nor re-open the breaker (a
// failure is still counted, a success resets the count). Only reset() closes it.
//
// Open with trip_action halted: every exit is refused. Without a cooldown that lasts
// until reset(). With one, the first try_acquire() after the cooldown has elapsed
// gets `probe` and the breaker becomes half_open: exactly one caller, however many
// ask at once (a compare-exchange on the state decides). If the trading state is
// still the one this breaker set, it becomes reduce_only first, so that the probe
// exit may run; if trading still refuses exits after that (an operator halted it),
// no probe is handed out and the breaker stays open. Half open refuses everyone
// else. The probe's success closes the breaker and, if trading is still as the
// breaker left it, resumes it (running, why "half-open probe succeeded"); its
// failure trips the breaker again, with a new cooldown. The cooldown is not a
// timer: nothing happens when it elapses until someone asks.
//
// reset() is the operator's re-arm: closed, count 0. It does not resume trading: the
// operator resumes trading on the coordinator as a separate, deliberate step, after
// checking that the cause (venue, RPC, market) is gone — re-arming the breaker says
// "count again from zero", not "it is safe to trade".
//
// Thread safety: every member may be called from any thread. The hot path is
// lock-free: try_acquire() while closed is one atomic load, recording an outcome
// below the threshold one atomic operation; refusals and the race for the probe (a
// compare-exchange) are lock-free too. A trip, the probe's winner, a probe's outcome
// and reset() take a mutex that orders the breaker's changes of the trading state as
// the breaker's own changes happened. It is held while the coordinator notifies its
// subscribers; it is recursive, so a subscriber may call back into the breaker from
// the same thread, but it must not wait for another thread that does. opened_at()
// and last_reset() take a second, short mutex, never held during a notification.
// Exceptions thrown by the coordinator's subscribers propagate out of the call that
// tripped, probed or closed the breaker, after the breaker's own state has changed.
//
// Cancellation: nothing here waits or completes asynchronously; there is nothing to
// cancel. An exit cancelled by its caller counts neither as a success nor as a
// failure: it records nothing, except that a cancelled probe must be given back with
// record_cancelled() (otherwise the breaker stays half_open until reset()).
template <class Clock>
class BasicExitCircuitBreaker {
 public:
  using clock_type = Clock;
  using settings_type = BasicCircuitBreakerSettings<Clock>;
  using coordinator_type = BasicTradingHaltCoordinator<Clock>;
  using reset_type = BasicBreakerReset<Clock>;

  // Throws configuration_error for invalid settings (a trip_action that is not one of
  // the three trading states is error::invalid_trading_state). `halt` must outlive the
  // breaker.
  explicit BasicExitCircuitBreaker(coordinator_type& halt, settings_type settings = {})
      : halt_(halt), settings_(validated(std::move(settings))) {}
  BasicExitCircuitBreaker(const BasicExitCircuitBreaker&) = delete;
  BasicExitCircuitBreaker& operator=(const BasicExitCircuitBreaker&) = delete;

  BreakerPermit try_acquire() {
    auto word = word_.load(std::memory_order_acquire);
    for (;;) {
      switch (state_of(word)) {
        case BreakerState::closed: return BreakerPermit::allowed;
        case BreakerState::half_open: return BreakerPermit::refused;
        case BreakerState::open: break;
      }
      if (settings_.trip_action != TradingState::halted) return BreakerPermit::allowed;
      if (!settings_.cooldown) return BreakerPermit::refused;
      // probe_due_ is stored before the word that opened the breaker is published, so
      // it belongs to the trip we saw or to a later one; if later, the
      // compare-exchange below fails and we look again.
      if (Clock::now() < probe_due_.load(std::memory_order_acquire)) return BreakerPermit::refused;
      // Exactly one caller wins this. The generation in the word makes it fail if the
      // breaker moved on since we looked (even through half_open and back to open).
      const auto probing = next_word(word, BreakerState::half_open);
      if (word_.compare_exchange_strong(word, probing, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
        if (let_probe_through(probing)) return BreakerPermit::probe;
        return state() == BreakerState::closed ? BreakerPermit::allowed : BreakerPermit::refused;
      }
    }
  }

  // An exit that got `allowed` or `probe` ended well. `refused` is ignored.
  void record_success(BreakerPermit permit) {
    if (permit == BreakerPermit::refused) return;
    if (permit == BreakerPermit::probe && close_after_probe()) return;
    // Skip the store when already 0: a successful exit should not write a shared line.
    if (consecutive_.load(std::memory_order_relaxed) != 0) consecutive_.store(0, std::memory_order_release);
  }

  // An exit that got `allowed` or `probe` failed (ExitFailed or deadline exceeded).
  // `refused` is ignored.
  void record_failure(BreakerPermit permit) {
    if (permit == BreakerPermit::refused) return;
    if (permit == BreakerPermit::probe && reopen_after_probe()) return;
    const auto failures = consecutive_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (failures >= settings_.threshold && state() == BreakerState::closed) trip();
  }

  // An exit that got a permit ended without an outcome that says anything about
  // exits: cancelled by its caller, or refused by the trading state after all. For
  // `allowed` and `refused` this does nothing (calling it is optional). A `probe` is
  // given back: the breaker returns to open, its cooldown still elapsed, so the next
  // try_acquire() gets the probe; trading goes back to the trip action if the breaker
  // still owns it. A probe that is neither recorded nor given back keeps the breaker
  // half_open, refusing every exit, until reset().
  void record_cancelled(BreakerPermit permit) {
    if (permit != BreakerPermit::probe) return;
    std::lock_guard sequence(trading_mutex_);
    {
      std::lock_guard lock(data_mutex_);
      const auto word = word_.load(std::memory_order_acquire);
      if (state_of(word) != BreakerState::half_open) return;
      word_.store(next_word(word, BreakerState::open), std::memory_order_release);
    }
    const auto action = settings_.trip_action;
    halt_.set_state_if(
        [this, action](const auto& last) { return set_by_breaker(last) && is_stricter(action, last.to); },
        action, exit_circuit_breaker_name, "half-open probe given back");
  }

  // Manual re-arm: closed, count 0. Trading is left as it is (see the class comment).
  void reset(std::string_view who, std::string_view why) {
    reset_type record{std::string(who), std::string(why), Clock::now()};
    std::lock_guard sequence(trading_mutex_);
    std::lock_guard lock(data_mutex_);
    word_.store(next_word(word_.load(std::memory_order_acquire), BreakerState::closed),
                std::memory_order_release);
    consecutive_.store(0, std::memory_order_release);
    opened_at_.reset();
    last_reset_ = std::move(record);
  }

  BreakerState state() const noexcept { return state_of(word_.load(std::memory_order_acquire)); }
  // Tripped and not re-armed yet: open or half_open.
  bool is_open() const noexcept { return state() != BreakerState::closed; }
  std::uint32_t consecutive_failures() const noexcept { return consecutive_.load(std::memory_order_acquire); }
  std::uint64_t trips() const noexcept { return trips_.load(std::memory_order_acquire); }

  // When the breaker last tripped, while it is open or half_open; nullopt when closed.
  std::optional<typename Clock::time_point> opened_at() const {
    std::lock_guard lock(data_mutex_);
    return opened_at_;
  }

  // The latest reset(), if any.
  std::optional<reset_type> last_reset() const {
    std::lock_guard lock(data_mutex_);
    return last_reset_;
  }

  const settings_type& settings() const noexcept { return settings_; }

 private:
  // The state lives in the low byte of one atomic word; the rest counts every
  // transition, so that a compare-exchange cannot mistake a later `open` for the one
  // it looked at (ABA).
  static constexpr BreakerState state_of(std::uint64_t word) noexcept {
    return static_cast<BreakerState>(word & 0xffu);
  }
  static constexpr std::uint64_t next_word(std::uint64_t word, BreakerState s) noexcept {
    return ((word >> 8) + 1) << 8 | static_cast<std::uint64_t>(s);
  }

  static settings_type validated(settings_type settings) {
    throw_if_invalid(settings.validate());
    return settings;
  }

  bool set_by_breaker(const typename coordinator_type::change_type& last) const noexcept {
    return last.who == exit_circuit_breaker_name;
  }

  // Called with trading_mutex_ held, after the breaker's own state has changed.
  void tighten_trading(std::uint32_t failures, std::string_view prefix) {
    if (settings_.trip_action == TradingState::running) return;
    const auto action = settings_.trip_action;
    auto why = std::string(prefix) + std::to_string(failures) + " consecutive failed exits";
    halt_.set_state_if([action](const auto& last) { return is_stricter(action, last.to); }, action,
                       exit_circuit_breaker_name, why);
  }

  // Opens the breaker if it is still closed with the count at the threshold: a
  // concurrent failure may have tripped it already, a reset may have zeroed the count.
  void trip() {
    std::lock_guard sequence(trading_mutex_);
    std::uint32_t failures = 0;
    {
      std::lock_guard lock(data_mutex_);
      const auto word = word_.load(std::memory_order_acquire);
      failures = consecutive_.load(std::memory_order_acquire);
      if (state_of(word) != BreakerState::closed || failures < settings_.threshold) return;
      open(word);
    }
    tighten_trading(failures, "");
  }

  // Called with data_mutex_ held.
  void open(std::uint64_t word) {
    const auto now = Clock::now();
    opened_at_ = now;
    if (settings_.cooldown)
      probe_due_.store(saturating_add(now, *settings_.cooldown), std::memory_order_release);
    trips_.fetch_add(1, std::memory_order_acq_rel);
    word_.store(next_word(word, BreakerState::open), std::memory_order_release);
  }

  // now + d, or the clock's last instant if that would overflow (a cooldown may be
  // as long as duration::max(): "never", in effect).
  static typename Clock::time_point saturating_add(typename Clock::time_point now,
                                                   typename Clock::duration d) noexcept {
    constexpr auto last = Clock::time_point::max();
    if (now.time_since_epoch() > Clock::duration::zero() && d > last - now) return last;
    return now + d;
  }

  // Called by the one caller that won the probe. True if the probe may run.
  bool let_probe_through(std::uint64_t probing) {
    std::lock_guard sequence(trading_mutex_);
    // A reset() between our compare-exchange and this lock closed the breaker: the
    // trading state is the operator's business again.
    if (word_.load(std::memory_order_acquire) != probing) return false;
    halt_.set_state_if([this](const auto& last) { return set_by_breaker(last); }, TradingState::reduce_only,
                       exit_circuit_breaker_name, "half-open probe");
    if (halt_.allows_exit()) return true;
    // Someone else (an operator) stopped trading: the probe could not run, and a probe
    // that never reports would keep the breaker half open for ever. Stay open; the
    // first caller once exits are allowed again gets the probe. (A compare-exchange:
    // a subscriber of the change above may have reset the breaker.)
    auto expected = probing;
    word_.compare_exchange_strong(expected, next_word(probing, BreakerState::open), std::memory_order_acq_rel,
                                  std::memory_order_acquire);
    return false;
  }

  // False if the breaker is not half_open (a reset() came first): the outcome is then
  // counted like any other.
  bool close_after_probe() {
    std::lock_guard sequence(trading_mutex_);
    {
      std::lock_guard lock(data_mutex_);
      const auto word = word_.load(std::memory_order_acquire);
      if (state_of(word) != BreakerState::half_open) return false;
      consecutive_.store(0, std::memory_order_release);
      opened_at_.reset();
      word_.store(next_word(word, BreakerState::closed), std::memory_order_release);
    }
    // Only undo the breaker's own doing: an operator's halt since then stands.
    halt_.set_state_if([this](const auto& last) { return set_by_breaker(last); }, TradingState::running,
                       exit_circuit_breaker_name, "half-open probe succeeded");
    return true;
  }

  bool reopen_after_probe() {
    std::lock_guard sequence(trading_mutex_);
    std::uint32_t failures = 0;
    {
      std::lock_guard lock(data_mutex_);
      const auto word = word_.load(std::memory_order_acquire);
      if (state_of(word) != BreakerState::half_open) return false;
      failures = consecutive_.fetch_add(1, std::memory_order_acq_rel) + 1;
      open(word);
    }
    tighten_trading(failures, "half-open probe failed, ");
    return true;
  }

  coordinator_type& halt_;
  const settings_type settings_;
  std::atomic<std::uint64_t> word_{static_cast<std::uint64_t>(BreakerState::closed)};
  std::atomic<std::uint32_t> consecutive_{0};
  std::atomic<std::uint64_t> trips_{0};
  // When the current trip's cooldown ends: read lock-free by try_acquire().
  std::atomic<typename Clock::time_point> probe_due_{};
  // Orders the breaker's changes of the trading state; recursive so that a subscriber
  // called during such a change may call back into the breaker.
  std::recursive_mutex trading_mutex_;
  mutable std::mutex data_mutex_;
  std::optional<typename Clock::time_point> opened_at_;
  std::optional<reset_type> last_reset_;
};

using ExitCircuitBreaker = BasicExitCircuitBreaker<std::chrono::steady_clock>;

}  // namespace exitguard
