// exitguard/exit_state_machine.hpp — the lifecycle of one exit, and its audit trail.
//
// ExitTransitionState names the states an exit goes through, from the open position
// to exactly one terminal state (PositionClosed, ExitFailed or ExitCancelled). The
// design document's lifecycle is generalised to any number of attempts and ladder
// steps, and it accepts late fills: an attempt that was given up (timed out,
// escalated) may still land, and reality wins. `exit_transition_table` is the one
// place in code that says which transitions are allowed; `is_valid_transition`
// reads it, and the tests and docs/state-machine.md enumerate it.
//
// BasicExitStateMachine holds the current state of one exit and refuses any
// transition the table does not allow, with `error::invalid_transition`. Every
// transition it is asked for, accepted or refused, is recorded in a bounded audit
// trail stamped with `Clock::now()`.
#pragma once

#include <exitguard/detail/bounded_ring.hpp>
#include <exitguard/error.hpp>

#include <boost/system/error_code.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exitguard {

// The states of one exit. The values index `exit_transition_table`: append only.
enum class ExitTransitionState : std::uint8_t {
  position_open,          // the position is open; no exit was asked for
  exit_signal_received,   // an exit was asked for (stop-loss, signal); nothing sent yet
  exit_submitted,         // an attempt of a non-market ladder step is in flight
  partially_filled,       // part of the position was sold; the rest is still open
  exit_timed_out,         // the attempt in flight got no answer in time: it is in doubt
  exit_rejected,          // the venue refused the attempt
  emergency_escalation,   // the exit moves to the ladder's final (market) step
  market_exit_submitted,  // an attempt of the market step is in flight
  position_closed,        // terminal: the whole position was sold
  exit_failed,            // terminal: the exit gave up, the position may still be open
  exit_cancelled,         // terminal: the caller cancelled the exit
};

inline constexpr std::size_t exit_transition_state_count = 11;

// Every state, in the order of its value: for loops over the table.
inline constexpr std::array<ExitTransitionState, exit_transition_state_count> exit_transition_states = {
    ExitTransitionState::position_open,        ExitTransitionState::exit_signal_received,
    ExitTransitionState::exit_submitted,       ExitTransitionState::partially_filled,
    ExitTransitionState::exit_timed_out,       ExitTransitionState::exit_rejected,
    ExitTransitionState::emergency_escalation, ExitTransitionState::market_exit_submitted,
    ExitTransitionState::position_closed,      ExitTransitionState::exit_failed,
    ExitTransitionState::exit_cancelled,
};

// The name used in logs, metrics and docs ("ExitSubmitted").
constexpr std::string_view to_string(ExitTransitionState s) noexcept {
  using S = ExitTransitionState;
  switch (s) {
    case S::position_open: return "PositionOpen";
    case S::exit_signal_received: return "ExitSignalReceived";
    case S::exit_submitted: return "ExitSubmitted";
    case S::partially_filled: return "PartiallyFilled";
    case S::exit_timed_out: return "ExitTimedOut";
    case S::exit_rejected: return "ExitRejected";
    case S::emergency_escalation: return "EmergencyEscalation";
    case S::market_exit_submitted: return "MarketExitSubmitted";
    case S::position_closed: return "PositionClosed";
    case S::exit_failed: return "ExitFailed";
    case S::exit_cancelled: return "ExitCancelled";
  }
  return "Unknown";
}

// A terminal state ends the exit: nothing may follow it.
constexpr bool is_terminal(ExitTransitionState s) noexcept {
  return s == ExitTransitionState::position_closed || s == ExitTransitionState::exit_failed ||
         s == ExitTransitionState::exit_cancelled;
}

namespace detail {

constexpr std::uint16_t exit_state_bit(ExitTransitionState s) noexcept {
  return static_cast<std::uint16_t>(1u << static_cast<unsigned>(s));
}

constexpr std::uint16_t exit_state_set(std::initializer_list<ExitTransitionState> states) noexcept {
  std::uint16_t set = 0;
  for (auto s : states) set = static_cast<std::uint16_t>(set | exit_state_bit(s));
  return set;
}

}  // namespace detail

// THE transition table: row `from` is the set (bit `to`) of states allowed after
// `from`. docs/state-machine.md draws it; tests/exit_state_machine_test.cpp checks
// it pair by pair against an explicit copy, so a change here must be made there too.
inline constexpr std::array<std::uint16_t, exit_transition_state_count> exit_transition_table = [] {
  using S = ExitTransitionState;
  using detail::exit_state_set;
  std::array<std::uint16_t, exit_transition_state_count> t{};
  auto row = [&t](S from) -> std::uint16_t& { return t[static_cast<std::size_t>(from)]; };

  row(S::position_open) = exit_state_set({S::exit_signal_received});
  // EmergencyEscalation directly: a ladder whose first step is the market step.
  // ExitFailed directly: refused before sending (trading halted, no time left).
  row(S::exit_signal_received) = exit_state_set(
      {S::exit_submitted, S::emergency_escalation, S::exit_failed, S::exit_cancelled});
  // An attempt in flight, limit or market, ends in one of the attempt's outcomes.
  row(S::exit_submitted) =
      exit_state_set({S::position_closed, S::partially_filled, S::exit_timed_out, S::exit_rejected,
                      S::exit_failed, S::exit_cancelled});
  row(S::market_exit_submitted) = row(S::exit_submitted);
  // Another partial fill (possibly a late one) stays here; the remainder is sent at
  // once, on the same step or the market step.
  row(S::partially_filled) =
      exit_state_set({S::partially_filled, S::exit_submitted, S::market_exit_submitted,
                      S::emergency_escalation, S::position_closed, S::exit_failed, S::exit_cancelled});
  // In doubt: the next attempt may be sent (principle 2 permitting), and the abandoned
  // one may still land, in part or in full.
  row(S::exit_timed_out) =
      exit_state_set({S::exit_submitted, S::market_exit_submitted, S::emergency_escalation,
                      S::partially_filled, S::position_closed, S::exit_failed, S::exit_cancelled});
  // After a rejection, during the backoff, an earlier attempt in doubt may still land.
  row(S::exit_rejected) =
      exit_state_set({S::exit_submitted, S::market_exit_submitted, S::emergency_escalation,
                      S::partially_filled, S::position_closed, S::exit_failed, S::exit_cancelled});
  // Attempts given up before the escalation may still land while it is under way.
  row(S::emergency_escalation) =
      exit_state_set({S::market_exit_submitted, S::partially_filled, S::position_closed,
                      S::exit_failed, S::exit_cancelled});
  // position_closed, exit_failed, exit_cancelled: terminal, empty rows.
  return t;
}();

constexpr bool is_valid_transition(ExitTransitionState from, ExitTransitionState to) noexcept {
  const auto row = static_cast<std::size_t>(from);
  return row < exit_transition_table.size() &&
         static_cast<std::size_t>(to) < exit_transition_state_count &&
         (exit_transition_table[row] & detail::exit_state_bit(to)) != 0;
}

// A terminal state is exactly one with nothing allowed out of it.
static_assert([] {
  for (auto s : exit_transition_states)
    if (is_terminal(s) != (exit_transition_table[static_cast<std::size_t>(s)] == 0)) return false;
  return true;
}());

// The events an exit engine takes (exit_engine.hpp). The values index
// `exit_event_table`: append only.
enum class ExitEvent : std::uint8_t {
  start,         // the exit signal (or its refusal by the breaker or the trading state)
  quote,         // the venue's reference price for the next order
  answer,        // an attempt's answer, in time or late
  fill,          // a fill report for an attempt (deduplicated by fill id)
  position,      // the answer to a position query
  attempt_dead,  // an attempt can no longer land (its blockhash expired, the venue cancelled it)
  timer,         // the engine's timer expired
  halt,          // trading no longer allows exits
  cancel,        // the caller cancels the exit (terminal or partial)
};

inline constexpr std::size_t exit_event_count = 9;

inline constexpr std::array<ExitEvent, exit_event_count> exit_events = {
    ExitEvent::start,        ExitEvent::quote, ExitEvent::answer, ExitEvent::fill,   ExitEvent::position,
    ExitEvent::attempt_dead, ExitEvent::timer, ExitEvent::halt,   ExitEvent::cancel,
};

constexpr std::string_view to_string(ExitEvent e) noexcept {
  switch (e) {
    case ExitEvent::start: return "start";
    case ExitEvent::quote: return "quote";
    case ExitEvent::answer: return "answer";
    case ExitEvent::fill: return "fill";
    case ExitEvent::position: return "position";
    case ExitEvent::attempt_dead: return "attempt_dead";
    case ExitEvent::timer: return "timer";
    case ExitEvent::halt: return "halt";
    case ExitEvent::cancel: return "cancel";
  }
  return "unknown";
}

namespace detail {
constexpr std::uint16_t exit_event_set(std::initializer_list<ExitEvent> events) noexcept {
  std::uint16_t set = 0;
  for (auto e : events) set = static_cast<std::uint16_t>(set | (1u << static_cast<unsigned>(e)));
  return set;
}
}  // namespace detail

// THE event table: row `state` is the set (bit `event`) of events the engine takes
// in that state; any other event is refused with error::event_not_allowed and
// audited, and changes nothing. In a terminal state only what reality may still
// report is taken (answers, fills and deaths of attempts that were given up: "reality
// wins"), and the timer (the late-answer horizon). docs/state-machine.md draws it.
inline constexpr std::array<std::uint16_t, exit_transition_state_count> exit_event_table = [] {
  using S = ExitTransitionState;
  using E = ExitEvent;
  using detail::exit_event_set;
  std::array<std::uint16_t, exit_transition_state_count> t{};
  auto row = [&t](S s) -> std::uint16_t& { return t[static_cast<std::size_t>(s)]; };
  row(S::position_open) = exit_event_set({E::start});
  // Nothing sent yet: the engine waits for a quote for its first order.
  row(S::exit_signal_received) = exit_event_set({E::quote, E::timer, E::halt, E::cancel});
  // An attempt in flight; no quote or position query is outstanding meanwhile.
  row(S::exit_submitted) =
      exit_event_set({E::answer, E::fill, E::attempt_dead, E::timer, E::halt, E::cancel});
  row(S::market_exit_submitted) = row(S::exit_submitted);
  // Between attempts: a quote or a position query may be outstanding, and attempts
  // given up earlier may still answer.
  for (S s : {S::partially_filled, S::exit_timed_out, S::exit_rejected, S::emergency_escalation})
    row(s) = exit_event_set(
        {E::quote, E::answer, E::fill, E::position, E::attempt_dead, E::timer, E::halt, E::cancel});
  for (S s : {S::position_closed, S::exit_failed, S::exit_cancelled})
    row(s) = exit_event_set({E::answer, E::fill, E::attempt_dead, E::timer});
  return t;
}();

constexpr bool is_allowed_event(ExitTransitionState state, ExitEvent event) noexcept {
  const auto row = static_cast<std::size_t>(state);
  return row < exit_event_table.size() && static_cast<unsigned>(event) < exit_event_count &&
         (exit_event_table[row] & (1u << static_cast<unsigned>(event))) != 0;
}

// One transition that was asked for, accepted or refused, or one event that was
// refused (then `event` is set and from == to). For a refused transition, `to` is
// the state asked for and the machine stayed in `from`. `reason` must have static
// storage duration (a string literal): audit entries are cheap to make and copy.
template <class Clock>
struct BasicAuditEntry {
  typename Clock::time_point time;
  ExitTransitionState from;
  ExitTransitionState to;
  std::uint32_t attempt;       // the exit's attempt number, 0 if none applies
  std::uint32_t step;          // the escalation ladder step, 0 if none applies
  std::string_view reason;     // why, in a few words (a literal)
  std::string transaction_id;  // the venue's id of the attempt, if any
  bool accepted;
  boost::system::error_code error{};     // the error behind it, if any (a rejection, a malformed answer)
  std::optional<ExitEvent> event{};      // set for an event the state did not allow
};

// BasicExitStateMachine — the state of one exit, moved only along the table.
//
// It starts in PositionOpen. transition() moves to the state asked for if the table
// allows it and returns an empty error_code; otherwise it returns
// error::invalid_transition and leaves the state as it was. Either way it appends an
// audit entry stamped with the time given (or Clock::now() for the overload without
// one; the exit engine always passes its time and never reads a clock). The audit
// trail keeps the newest `audit_capacity` entries: when full, the oldest entry is
// dropped and counted, so memory per exit stays bounded whatever the caller does.
//
// Thread safety: none. One exit's machine is driven from that exit's strand; distinct
// machines are independent. Const members may be called concurrently with each other.
//
// Cancellation: nothing here waits or completes asynchronously; cancelling an exit is
// the transition to ExitCancelled.
template <class Clock>
class BasicExitStateMachine {
 public:
  using clock_type = Clock;
  using time_point = typename Clock::time_point;
  using audit_entry = BasicAuditEntry<Clock>;

  static constexpr std::size_t default_audit_capacity = 128;
  static constexpr std::size_t min_audit_capacity = 8;
  static constexpr std::size_t max_audit_capacity = 65536;

  // Throws configuration_error(error::invalid_audit_capacity) unless
  // min_audit_capacity <= audit_capacity <= max_audit_capacity.
  explicit BasicExitStateMachine(std::size_t audit_capacity = default_audit_capacity)
      : trail_(audit_capacity) {
    throw_if_invalid(validate_audit_capacity(audit_capacity));
  }

  static boost::system::error_code validate_audit_capacity(std::size_t capacity) noexcept {
    if (capacity < min_audit_capacity || capacity > max_audit_capacity)
      return error::invalid_audit_capacity;
    return {};
  }

  ExitTransitionState state() const noexcept { return state_; }
  bool is_terminal() const noexcept { return exitguard::is_terminal(state_); }

  // Moves to `to` if the table allows it; either way appends an audit entry stamped
  // `now`. Returns {} or error::invalid_transition (state unchanged).
  // Strong guarantee: if recording throws (std::bad_alloc), nothing has changed.
  boost::system::error_code transition(ExitTransitionState to, time_point now, std::string_view reason,
                                       std::uint32_t attempt = 0, std::uint32_t step = 0,
                                       std::string_view transaction_id = {},
                                       boost::system::error_code why = {}) {
    const bool accepted = is_valid_transition(state_, to);
    trail_.push(audit_entry{now, state_, to, attempt, step, reason, std::string(transaction_id), accepted, why});
    if (!accepted) {
      ++refused_transitions_;
      return error::invalid_transition;
    }
    state_ = to;
    return {};
  }

  // The same, stamped with Clock::now(): for using the machine on its own.
  boost::system::error_code transition(ExitTransitionState to, std::string_view reason, std::uint32_t attempt = 0,
                                       std::uint32_t step = 0, std::string_view transaction_id = {}) {
    return transition(to, Clock::now(), reason, attempt, step, transaction_id);
  }

  // Records something that changed no state: an event the table refused (`event`
  // set), or a fact worth keeping (a malformed answer, a late fill after the end).
  void note(time_point now, std::string_view reason, boost::system::error_code why, std::uint32_t attempt = 0,
            std::uint32_t step = 0, std::string_view transaction_id = {}, std::optional<ExitEvent> refused = {}) {
    trail_.push(audit_entry{now, state_, state_, attempt, step, reason, std::string(transaction_id),
                            !refused.has_value(), why, refused});
    if (refused) ++refused_events_;
  }

  // Oldest first; at most audit_capacity() entries.
  std::vector<audit_entry> audit_trail() const { return trail_.linear(); }
  // Entry i of the trail, oldest first (i < audit_size()).
  const audit_entry& audit_entry_at(std::size_t i) const noexcept { return trail_[i]; }
  std::size_t audit_size() const noexcept { return trail_.size(); }
  // Every entry ever recorded, dropped ones included: a cursor for incremental readers.
  std::size_t audit_recorded() const noexcept { return trail_.pushed(); }
  std::size_t audit_capacity() const noexcept { return trail_.capacity(); }
  // How many of the oldest entries were dropped to keep the trail bounded.
  std::size_t dropped_audit_entries() const noexcept { return trail_.dropped(); }
  // How many transitions were refused (also recorded, until dropped, in the trail).
  std::size_t refused_transitions() const noexcept { return refused_transitions_; }
  // How many events the table refused.
  std::size_t refused_events() const noexcept { return refused_events_; }

 private:
  ExitTransitionState state_ = ExitTransitionState::position_open;
  detail::bounded_ring<audit_entry> trail_;
  std::size_t refused_transitions_ = 0;
  std::size_t refused_events_ = 0;
};

using ExitStateMachine = BasicExitStateMachine<std::chrono::steady_clock>;

}  // namespace exitguard
