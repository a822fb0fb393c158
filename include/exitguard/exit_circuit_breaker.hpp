// exitguard/exit_circuit_breaker.hpp — stop trading after consecutive failed exits.
//
// One failed exit can be bad luck; several in a row mean the venue, the RPC or the
// market is broken, and every further position opened or exited the same way risks
// the same unbounded loss. BasicExitCircuitBreaker counts consecutive failed exits
// and, at a threshold (default 2, as the design document says: "trips after 2-3
// consecutive exit failures"), trips: it changes the trading state through the
// BasicTradingHaltCoordinator (by default to halted: "halts ALL trading"). It also
// gives the operator controls: a manual trip(), reset(), the trip's cause, the time
// left until a probe, a bounded history of its transitions and a subscription to
// them; and it keeps trading from being resumed while it is open (see the class).
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
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

// How an exit that got a permit ended, as the breaker counts it.
enum class BreakerOutcome : std::uint8_t {
  success,  // ended PositionClosed: the count of consecutive failures goes back to 0
  failure,  // ended ExitFailed or exceeded its deadline: counted; may trip the breaker
  neutral,  // cancelled by its caller, or refused after all: counts neither way, but a
            // half-open probe is given back
};

constexpr std::string_view to_string(BreakerOutcome o) noexcept {
  switch (o) {
    case BreakerOutcome::success: return "success";
    case BreakerOutcome::failure: return "failure";
    case BreakerOutcome::neutral: return "neutral";
  }
  return "unknown";
}

// What one record() or trip() did, decided in the same step that changed the
// breaker (the mutex-held section that performs a trip says whether it did), so that
// however many threads record at once, exactly one call reports each trip.
struct BreakerDecision {
  BreakerState state = BreakerState::closed;  // the state this call left the breaker in
  bool tripped = false;                       // this call tripped the breaker
  std::uint64_t trips = 0;                    // trips() as this call left it (this trip's number if tripped)
};

template <class Clock>
struct BasicCircuitBreakerSettings {
  static constexpr std::uint32_t min_threshold = 1;
  static constexpr std::uint32_t max_threshold = 1000;

  // Consecutive failed exits that trip the breaker.
  std::uint32_t threshold = 2;
  // Without a cooldown the breaker stays open until reset() (latched). With one, the
  // first exit that asks once it has elapsed since the trip becomes the half-open probe.
  // Only for trip_action halted: with reduce_only or running exits stay allowed while
  // the breaker is open, so there is nothing to probe (error::cooldown_unused).
  std::optional<typename Clock::duration> cooldown;
  // What trading becomes on a trip. halted is the design document's "halts ALL
  // trading": exits are refused too, even those that would reduce risk. reduce_only
  // keeps exits alive and refuses only new entries (NautilusTrader's REDUCING,
  // barter's Disabled): positions can still be closed while the cause is looked at.
  // running leaves trading alone: the breaker only reports.
  TradingState trip_action = TradingState::halted;

  // error::invalid_breaker_threshold, error::invalid_cooldown,
  // error::invalid_trading_state, error::cooldown_unused, or {}.
  boost::system::error_code validate() const noexcept {
    if (threshold < min_threshold || threshold > max_threshold) return error::invalid_breaker_threshold;
    // Written so that a NaN cooldown (a floating-point duration) is refused too.
    if (cooldown && !(*cooldown > Clock::duration::zero())) return error::invalid_cooldown;
    if (!is_valid(trip_action)) return error::invalid_trading_state;
    if (cooldown && trip_action != TradingState::halted) return error::cooldown_unused;
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

// One change of the breaker's state. `who` is exit_circuit_breaker_name for the
// breaker's own changes (a trip by failed exits, the probe and its outcome), the
// operator's for trip() and reset(). `cause` is, for a trip by a failed exit, the
// error that exit failed with (as given to record(); may be empty); empty otherwise.
// `trips` is trips() once this transition was made.
template <class Clock>
struct BasicBreakerTransition {
  BreakerState from = BreakerState::closed;
  BreakerState to = BreakerState::closed;
  typename Clock::time_point when{};
  std::string who;
  std::string why;
  boost::system::error_code cause;
  std::uint64_t trips = 0;
};

// BasicExitCircuitBreaker — counts consecutive failed exits and trips at a threshold.
//
// Every exit calls try_acquire() before it starts and, if it ran, record() with the
// permit it got and its outcome once it ends: `failure` for one that ended ExitFailed
// or exceeded its deadline (with its error as `cause`), `success` for one that closed
// the position, `neutral` for one cancelled by its caller or refused after all (by
// the trading state): it says nothing about whether exits work. record() returns a
// BreakerDecision: `tripped` is true for exactly the one call that tripped the
// breaker (never read trips() before and after: another exit's trip may fall in
// between). record_success(), record_failure() and record_cancelled() are the same
// as record() with success, failure and neutral.
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
// timer: nothing happens when it elapses until someone asks (remaining_cooldown()
// says how long is left).
//
// Operator controls. trip(who, why) opens the breaker by hand: a trip like any other
// (trips + 1, the trip action applied to trading with that who and why) but latched
// until reset(), cooldown or not. reset() is the operator's re-arm: closed, count 0.
// It does not resume trading: the operator resumes trading on the coordinator as a
// separate, deliberate step, after checking that the cause (venue, RPC, market) is
// gone — re-arming the breaker says "count again from zero", not "it is safe to
// trade". last_trip() says who or what tripped it, why, when and with which error.
//
// The resume rule: while the breaker is open or half open, trading cannot be made
// less strict than its trip action. The breaker installs a guard on the coordinator
// (removed by its destructor) that refuses such a change — the coordinator's
// resume(), reduce_only() or set_state() returns error::circuit_open, leaves the
// state as it is and records the refusal with who and why (last_refusal()). With the
// default trip action, halted, an operator can therefore not open the way for new
// entries (nor for exits) while the breaker would refuse every exit: reset() first,
// then resume. Making trading stricter is always allowed, and the breaker's own
// changes (the probe's reduce_only) are exempt from its guard.
//
// Transitions. Every change of state (closed → open on a trip, open → half_open for
// a probe, half_open → closed or open for its outcome or its return, any → closed
// on reset()) is recorded as a BasicBreakerTransition: history() keeps the newest
// history_capacity (64) of them, oldest dropped, and subscribe() calls a function
// with each one, in the order they happened. A probe that could not be handed out
// (trading refused exits) is not a transition: the breaker stayed open.
//
// Thread safety: every member may be called from any thread. The hot path is
// lock-free: try_acquire() while closed is one atomic load, recording an outcome
// below the threshold one atomic operation; refusals and the race for the probe (a
// compare-exchange) are lock-free too. A trip, the probe's winner, a probe's outcome,
// trip() and reset() take a mutex that orders the breaker's transitions and its
// changes of the trading state as they happened. It is held while the coordinator
// and this breaker notify their subscribers; it is recursive, so a subscriber may
// call back into the breaker from the same thread (a transition made that way is
// delivered to every subscriber after the one being delivered), but it must not
// wait for another thread that does. Subscribers are called in the thread that made
// the transition; one removed while a transition is delivered may still receive it.
// opened_at(), last_reset(), last_trip(), history(), subscribe() and unsubscribe()
// take a second, short mutex, never held during a notification; the coordinator's
// guard reads only atomics. Exceptions thrown by subscribers (the coordinator's or
// this breaker's) propagate out of the call that made the transition, after the
// breaker's own state has changed and every subscriber has been called; the first
// is rethrown. If that call is the try_acquire() that won the probe, the probe is
// given back first, so that the breaker is not left half open.
//
// Cancellation: nothing here waits or completes asynchronously; there is nothing to
// cancel. An exit cancelled by its caller is recorded as `neutral`: it counts
// neither as a success nor as a failure, except that a cancelled probe is given back
// (otherwise the breaker would stay half_open until reset()).
template <class Clock>
class BasicExitCircuitBreaker {
 public:
  using clock_type = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using settings_type = BasicCircuitBreakerSettings<Clock>;
  using coordinator_type = BasicTradingHaltCoordinator<Clock>;
  using reset_type = BasicBreakerReset<Clock>;
  using transition_type = BasicBreakerTransition<Clock>;
  using subscriber = std::function<void(const transition_type&)>;

  // How many transitions history() keeps (the newest).
  static constexpr std::size_t history_capacity = 64;

  // Throws configuration_error for invalid settings (a trip_action that is not one of
  // the three trading states is error::invalid_trading_state, a cooldown without
  // trip_action halted error::cooldown_unused). `halt` must outlive the breaker;
  // the breaker's guard is installed on it from now until the breaker is destroyed.
  explicit BasicExitCircuitBreaker(coordinator_type& halt, settings_type settings = {})
      : halt_(halt),
        settings_(validated(std::move(settings))),
        subscribers_(std::make_shared<const subscriber_list>()),
        guard_id_(halt_.add_guard([this](const typename coordinator_type::change_type& c) { return guard(c); })) {}
  BasicExitCircuitBreaker(const BasicExitCircuitBreaker&) = delete;
  BasicExitCircuitBreaker& operator=(const BasicExitCircuitBreaker&) = delete;
  // Removes the guard: from then on the coordinator's resume() is the operator's alone.
  ~BasicExitCircuitBreaker() { halt_.remove_guard(guard_id_); }

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

  // Records how an exit that got `permit` ended (see BreakerOutcome); `cause` is the
  // error a failed exit ended with, remembered in the transition if this call trips
  // the breaker. A `refused` permit (the exit never ran) records nothing, as does an
  // outcome that is not one of the three. `tripped` in the answer is true only for
  // the call that tripped the breaker: the failure that reached the threshold while
  // it was closed, or a failed probe. A probe's outcome after a reset() (the breaker
  // is no longer half open) is counted like any other exit's.
  BreakerDecision record(BreakerPermit permit, BreakerOutcome outcome, boost::system::error_code cause = {}) {
    if (permit == BreakerPermit::refused) return snapshot();
    switch (outcome) {
      case BreakerOutcome::success:
        if (permit == BreakerPermit::probe)
          if (auto closed = close_after_probe()) return *closed;
        // Skip the store when already 0: a successful exit should not write a shared line.
        if (consecutive_.load(std::memory_order_relaxed) != 0) consecutive_.store(0, std::memory_order_release);
        return snapshot();
      case BreakerOutcome::failure: {
        if (permit == BreakerPermit::probe)
          if (auto reopened = reopen_after_probe(cause)) return *reopened;
        const auto failures = consecutive_.fetch_add(1, std::memory_order_acq_rel) + 1;
        if (failures >= settings_.threshold && state() == BreakerState::closed) return trip_after_failure(cause);
        return snapshot();
      }
      case BreakerOutcome::neutral:
        if (permit == BreakerPermit::probe) give_back_probe();
        return snapshot();
    }
    return snapshot();
  }

  // record(permit, BreakerOutcome::success).
  BreakerDecision record_success(BreakerPermit permit) { return record(permit, BreakerOutcome::success); }

  // record(permit, BreakerOutcome::failure, cause).
  BreakerDecision record_failure(BreakerPermit permit, boost::system::error_code cause = {}) {
    return record(permit, BreakerOutcome::failure, cause);
  }

  // record(permit, BreakerOutcome::neutral): for `allowed` and `refused` this does
  // nothing (calling it is optional). A `probe` is given back: the breaker returns to
  // open, its cooldown still elapsed, so the next try_acquire() gets the probe;
  // trading goes back to the trip action if the breaker still owns it. A probe that
  // is neither recorded nor given back keeps the breaker half_open, refusing every
  // exit, until reset().
  BreakerDecision record_cancelled(BreakerPermit permit) { return record(permit, BreakerOutcome::neutral); }

  // Manual trip: opens the breaker now, whatever the count, with the operator's who
  // and why (in the transition, last_trip() and the trading change), and applies the
  // trip action to trading as a trip does. It counts as a trip (trips + 1, `tripped`)
  // and is latched: no cooldown probe, only reset() closes it. Already open: nothing
  // changes (tripped false). Half open: the probe is overtaken (its outcome is then
  // counted like any other exit's).
  BreakerDecision trip(std::string who, std::string why) {
    std::lock_guard sequence(trading_mutex_);
    std::uint64_t trips = 0;
    {
      std::lock_guard lock(data_mutex_);
      if (published_ == BreakerState::open) return snapshot();
      trips = open(word_.load(std::memory_order_acquire), who, why, {}, /*latched=*/true);
    }
    std::exception_ptr first;
    try {
      tighten_trading(who, why);
    } catch (...) {
      first = std::current_exception();
    }
    deliver(first);
    if (first) std::rethrow_exception(first);
    return {BreakerState::open, true, trips};
  }

  // Manual re-arm: closed, count 0. Trading is left as it is (see the class comment):
  // resume it on the coordinator afterwards, which the breaker's guard allows again.
  void reset(std::string_view who, std::string_view why) {
    reset_type record{std::string(who), std::string(why), Clock::now()};
    std::string transition_who(who);
    std::string transition_why(why);
    std::lock_guard sequence(trading_mutex_);
    {
      std::lock_guard lock(data_mutex_);
      word_.store(next_word(word_.load(std::memory_order_acquire), BreakerState::closed),
                  std::memory_order_release);
      consecutive_.store(0, std::memory_order_release);
      opened_at_.reset();
      const auto when = record.when;
      last_reset_ = std::move(record);
      if (published_ != BreakerState::closed)
        record_transition_locked(BreakerState::closed, when, std::move(transition_who), std::move(transition_why),
                                 {}, trips_.load(std::memory_order_acquire));
    }
    std::exception_ptr first;
    deliver(first);
    if (first) std::rethrow_exception(first);
  }

  BreakerState state() const noexcept { return state_of(word_.load(std::memory_order_acquire)); }
  // Tripped and not re-armed yet: open or half_open.
  bool is_open() const noexcept { return state() != BreakerState::closed; }
  std::uint32_t consecutive_failures() const noexcept { return consecutive_.load(std::memory_order_acquire); }
  std::uint64_t trips() const noexcept { return trips_.load(std::memory_order_acquire); }

  // When the breaker last tripped, while it is open or half_open; nullopt when closed.
  std::optional<time_point> opened_at() const {
    std::lock_guard lock(data_mutex_);
    return opened_at_;
  }

  // How long until the next try_acquire() may get the half-open probe: zero once it
  // is due (the probe is then handed out if trading lets exits through). nullopt when
  // there is no probe to wait for: closed, half_open (the probe is under way), or
  // latched — no cooldown, a manual trip(), or a cooldown longer than the clock's
  // range.
  std::optional<duration> remaining_cooldown() const {
    if (!settings_.cooldown || state() != BreakerState::open) return std::nullopt;
    const auto due = probe_due_.load(std::memory_order_acquire);
    if (due == time_point::max()) return std::nullopt;
    const auto now = Clock::now();
    if (now >= due) return duration::zero();
    return due - now;
  }

  // The latest trip (its transition to open: who, why, when, cause, trips), whether
  // the breaker has been re-armed since or not; nullopt before the first trip. While
  // the breaker is open, it is the trip that opened it.
  std::optional<transition_type> last_trip() const {
    std::lock_guard lock(data_mutex_);
    return last_trip_;
  }

  // The latest reset(), if any.
  std::optional<reset_type> last_reset() const {
    std::lock_guard lock(data_mutex_);
    return last_reset_;
  }

  // The newest transitions, oldest first: at most history_capacity (64); older ones
  // are dropped. A copy, taken under the breaker's mutex.
  std::vector<transition_type> history() const {
    std::lock_guard lock(data_mutex_);
    return {history_.begin(), history_.end()};
  }

  // Adds a subscriber, called with every later transition, in order (see the class
  // comment); returns its id (never 0). Throws std::invalid_argument for an empty
  // function.
  std::uint64_t subscribe(subscriber s) {
    if (!s) throw std::invalid_argument("exitguard: empty circuit breaker subscriber");
    std::lock_guard lock(data_mutex_);
    // Copy on write: a delivery in progress keeps the list it took.
    auto next = std::make_shared<subscriber_list>(*subscribers_);
    const auto id = next_subscriber_id_++;
    next->emplace_back(id, std::move(s));
    subscribers_ = std::move(next);
    return id;
  }

  // Removes a subscriber; false if `id` is not subscribed.
  bool unsubscribe(std::uint64_t id) {
    std::lock_guard lock(data_mutex_);
    auto next = std::make_shared<subscriber_list>();
    next->reserve(subscribers_->size());
    for (const auto& entry : *subscribers_)
      if (entry.first != id) next->push_back(entry);
    if (next->size() == subscribers_->size()) return false;
    subscribers_ = std::move(next);
    return true;
  }

  const settings_type& settings() const noexcept { return settings_; }

 private:
  using subscriber_list = std::vector<std::pair<std::uint64_t, subscriber>>;

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

  static std::string failures_why(std::string_view prefix, std::uint32_t failures) {
    return std::string(prefix) + std::to_string(failures) + " consecutive failed exits";
  }

  BreakerDecision snapshot() const noexcept { return {state(), false, trips()}; }

  bool set_by_breaker(const typename coordinator_type::change_type& last) const noexcept {
    return last.who == exit_circuit_breaker_name;
  }

  // The coordinator's guard: called with the coordinator's mutex held; atomics only.
  boost::system::error_code guard(const typename coordinator_type::change_type& change) const noexcept {
    if (state() != BreakerState::closed && is_stricter(settings_.trip_action, change.to)) return error::circuit_open;
    return {};
  }

  // Called with trading_mutex_ held, after the breaker's own state has changed.
  void tighten_trading(std::string_view who, std::string_view why) {
    if (settings_.trip_action == TradingState::running) return;
    const auto action = settings_.trip_action;
    halt_.set_state_if([action](const auto& last) { return is_stricter(action, last.to); }, action, who, why,
                       guard_id_);
  }

  // Called with trading_mutex_ and data_mutex_ held: appends a transition from the
  // last published state to `to` to the history and to the deliveries pending.
  void record_transition_locked(BreakerState to, time_point when, std::string who, std::string why,
                                boost::system::error_code cause, std::uint64_t trips) {
    transition_type t{published_, to, when, std::move(who), std::move(why), cause, trips};
    history_.push_back(t);
    if (history_.size() > history_capacity) history_.pop_front();
    pending_.push_back(std::move(t));
    published_ = to;
  }

  // Called with trading_mutex_ held: calls the subscribers with every pending
  // transition, in order. A call made from a subscriber (same thread, the mutex is
  // recursive) only queues its transitions: the outermost delivery sends them, after
  // the one in progress, so every subscriber sees every transition in order. Keeps
  // the first exception a subscriber throws in `first`.
  void deliver(std::exception_ptr& first) {
    if (delivering_) return;
    struct delivering_scope {
      bool& flag;
      explicit delivering_scope(bool& f) : flag(f) { flag = true; }
      ~delivering_scope() { flag = false; }
      delivering_scope(const delivering_scope&) = delete;
      delivering_scope& operator=(const delivering_scope&) = delete;
    } scope(delivering_);
    while (!pending_.empty()) {
      const transition_type t = std::move(pending_.front());
      pending_.pop_front();
      std::shared_ptr<const subscriber_list> list;
      {
        std::lock_guard lock(data_mutex_);
        list = subscribers_;
      }
      for (const auto& entry : *list) {
        try {
          entry.second(t);
        } catch (...) {
          if (!first) first = std::current_exception();
        }
      }
    }
  }

  // Opens the breaker if it is still closed with the count at the threshold: a
  // concurrent failure may have tripped it already, a reset may have zeroed the count.
  BreakerDecision trip_after_failure(boost::system::error_code cause) {
    std::lock_guard sequence(trading_mutex_);
    std::string why;
    std::uint64_t trips = 0;
    {
      std::lock_guard lock(data_mutex_);
      const auto word = word_.load(std::memory_order_acquire);
      const auto failures = consecutive_.load(std::memory_order_acquire);
      if (state_of(word) != BreakerState::closed || failures < settings_.threshold) return snapshot();
      why = failures_why("", failures);
      trips = open(word, std::string(exit_circuit_breaker_name), why, cause, /*latched=*/false);
    }
    std::exception_ptr first;
    try {
      tighten_trading(exit_circuit_breaker_name, why);
    } catch (...) {
      first = std::current_exception();
    }
    deliver(first);
    if (first) std::rethrow_exception(first);
    return {BreakerState::open, true, trips};
  }

  // Called with trading_mutex_ and data_mutex_ held: the trip itself. Returns its
  // number (trips()).
  std::uint64_t open(std::uint64_t word, std::string who, std::string why, boost::system::error_code cause,
                     bool latched) {
    const auto now = Clock::now();
    opened_at_ = now;
    const bool probes = settings_.cooldown && !latched;
    probe_due_.store(probes ? saturating_add(now, *settings_.cooldown) : time_point::max(),
                     std::memory_order_release);
    const auto trips = trips_.fetch_add(1, std::memory_order_acq_rel) + 1;
    word_.store(next_word(word, BreakerState::open), std::memory_order_release);
    record_transition_locked(BreakerState::open, now, std::move(who), std::move(why), cause, trips);
    last_trip_ = history_.back();
    return trips;
  }

  // now + d, or the clock's last instant if that would overflow (a cooldown may be
  // as long as duration::max(): "never", in effect).
  static time_point saturating_add(time_point now, duration d) noexcept {
    constexpr auto last = time_point::max();
    if (now.time_since_epoch() > duration::zero() && d > last - now) return last;
    return now + d;
  }

  // Called by the one caller that won the probe. True if the probe may run.
  bool let_probe_through(std::uint64_t probing) {
    std::lock_guard sequence(trading_mutex_);
    // A reset() or trip() between our compare-exchange and this lock moved the
    // breaker on: no probe.
    if (word_.load(std::memory_order_acquire) != probing) return false;
    if (!halt_.allows_exit() && !set_by_breaker(halt_.last_change())) {
      // Someone else (an operator) stopped exits: the probe could not run, and a probe
      // that never reports would keep the breaker half open for ever. Stay open,
      // without a transition; the first caller once exits are allowed again gets the
      // probe.
      auto expected = probing;
      word_.compare_exchange_strong(expected, next_word(probing, BreakerState::open), std::memory_order_acq_rel,
                                    std::memory_order_acquire);
      return false;
    }
    {
      std::lock_guard lock(data_mutex_);
      record_transition_locked(BreakerState::half_open, Clock::now(), std::string(exit_circuit_breaker_name),
                               "half-open probe", {}, trips_.load(std::memory_order_acquire));
    }
    std::exception_ptr first;
    try {
      halt_.set_state_if([this](const auto& last) { return set_by_breaker(last); }, TradingState::reduce_only,
                         exit_circuit_breaker_name, "half-open probe", guard_id_);
    } catch (...) {
      first = std::current_exception();
    }
    // Exits still refused (an operator halted in between): give the probe back.
    if (!first && !halt_.allows_exit())
      return_probe(probing, "half-open probe could not run: trading refuses exits", first);
    deliver(first);
    if (first) {
      // The caller would never learn it holds the probe: give it back, so that the
      // breaker is not left half open.
      std::exception_ptr ignored;
      if (return_probe(probing, "half-open probe given back: a subscriber threw", ignored)) deliver(ignored);
      std::rethrow_exception(first);
    }
    // A subscriber may have reset the breaker meanwhile.
    return word_.load(std::memory_order_acquire) == probing;
  }

  // Called with trading_mutex_ held: the probe handed out with breaker word
  // `probing` goes back: open again (its cooldown still elapsed), trading back to the
  // trip action if the breaker still owns it. False (nothing done) if the breaker
  // has moved on since. Keeps the first exception in `first`.
  bool return_probe(std::uint64_t probing, std::string_view why, std::exception_ptr& first) {
    {
      std::lock_guard lock(data_mutex_);
      auto expected = probing;
      if (published_ != BreakerState::half_open ||
          !word_.compare_exchange_strong(expected, next_word(probing, BreakerState::open), std::memory_order_acq_rel,
                                         std::memory_order_acquire))
        return false;
      record_transition_locked(BreakerState::open, Clock::now(), std::string(exit_circuit_breaker_name),
                               std::string(why), {}, trips_.load(std::memory_order_acquire));
    }
    const auto action = settings_.trip_action;
    try {
      halt_.set_state_if(
          [this, action](const auto& last) { return set_by_breaker(last) && is_stricter(action, last.to); }, action,
          exit_circuit_breaker_name, why, guard_id_);
    } catch (...) {
      if (!first) first = std::current_exception();
    }
    return true;
  }

  void give_back_probe() {
    std::lock_guard sequence(trading_mutex_);
    const auto word = word_.load(std::memory_order_acquire);
    if (state_of(word) != BreakerState::half_open) return;
    std::exception_ptr first;
    if (!return_probe(word, "half-open probe given back", first)) return;
    deliver(first);
    if (first) std::rethrow_exception(first);
  }

  // nullopt if the breaker is not half_open (a reset() came first): the outcome is
  // then counted like any other.
  std::optional<BreakerDecision> close_after_probe() {
    std::lock_guard sequence(trading_mutex_);
    std::uint64_t trips = 0;
    {
      std::lock_guard lock(data_mutex_);
      const auto word = word_.load(std::memory_order_acquire);
      if (state_of(word) != BreakerState::half_open || published_ != BreakerState::half_open) return std::nullopt;
      consecutive_.store(0, std::memory_order_release);
      opened_at_.reset();
      word_.store(next_word(word, BreakerState::closed), std::memory_order_release);
      trips = trips_.load(std::memory_order_acquire);
      record_transition_locked(BreakerState::closed, Clock::now(), std::string(exit_circuit_breaker_name),
                               "half-open probe succeeded", {}, trips);
    }
    std::exception_ptr first;
    try {
      // Only undo the breaker's own doing: an operator's halt since then stands.
      halt_.set_state_if([this](const auto& last) { return set_by_breaker(last); }, TradingState::running,
                         exit_circuit_breaker_name, "half-open probe succeeded", guard_id_);
    } catch (...) {
      first = std::current_exception();
    }
    deliver(first);
    if (first) std::rethrow_exception(first);
    return BreakerDecision{BreakerState::closed, false, trips};
  }

  std::optional<BreakerDecision> reopen_after_probe(boost::system::error_code cause) {
    std::lock_guard sequence(trading_mutex_);
    std::string why;
    std::uint64_t trips = 0;
    {
      std::lock_guard lock(data_mutex_);
      const auto word = word_.load(std::memory_order_acquire);
      if (state_of(word) != BreakerState::half_open || published_ != BreakerState::half_open) return std::nullopt;
      const auto failures = consecutive_.fetch_add(1, std::memory_order_acq_rel) + 1;
      why = failures_why("half-open probe failed, ", failures);
      trips = open(word, std::string(exit_circuit_breaker_name), why, cause, /*latched=*/false);
    }
    std::exception_ptr first;
    try {
      tighten_trading(exit_circuit_breaker_name, why);
    } catch (...) {
      first = std::current_exception();
    }
    deliver(first);
    if (first) std::rethrow_exception(first);
    return BreakerDecision{BreakerState::open, true, trips};
  }

  coordinator_type& halt_;
  const settings_type settings_;
  std::atomic<std::uint64_t> word_{static_cast<std::uint64_t>(BreakerState::closed)};
  std::atomic<std::uint32_t> consecutive_{0};
  std::atomic<std::uint64_t> trips_{0};
  // When the current trip's cooldown ends (time_point::max(): never): read lock-free
  // by try_acquire() and remaining_cooldown().
  std::atomic<time_point> probe_due_{time_point::max()};
  // Orders the breaker's transitions and its changes of the trading state; recursive
  // so that a subscriber called during such a change may call back into the breaker.
  // Guards pending_ and delivering_.
  std::recursive_mutex trading_mutex_;
  std::deque<transition_type> pending_;
  bool delivering_ = false;
  // Guards what follows. Changes of published_ and history_ are made with both
  // mutexes held, so their order is trading_mutex_'s.
  mutable std::mutex data_mutex_;
  std::optional<time_point> opened_at_;
  std::optional<reset_type> last_reset_;
  std::optional<transition_type> last_trip_;
  // The state as the transitions recorded it: the compare-exchange that wins a probe
  // changes word_ first, and the probe is published (or not) under the mutexes.
  BreakerState published_ = BreakerState::closed;
  std::deque<transition_type> history_;
  std::shared_ptr<const subscriber_list> subscribers_;
  std::uint64_t next_subscriber_id_ = 1;
  // Last: the guard reads settings_ and word_, and may be called as soon as installed.
  const std::uint64_t guard_id_;
};

using ExitCircuitBreaker = BasicExitCircuitBreaker<std::chrono::steady_clock>;

}  // namespace exitguard
