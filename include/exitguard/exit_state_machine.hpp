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

#include <exitguard/error.hpp>

#include <boost/system/error_code.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

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

// One transition that was asked for, accepted or refused. For a refused one, `to`
// is the state asked for and the machine stayed in `from`.
template <class Clock>
struct BasicAuditEntry {
  typename Clock::time_point time;
  ExitTransitionState from;
  ExitTransitionState to;
  std::uint32_t attempt;       // the exit's attempt number, 0 if none applies
  std::uint32_t step;          // the escalation ladder step, 0 if none applies
  std::string reason;          // why, in a few words
  std::string transaction_id;  // the venue's id of the attempt, if any
  bool accepted;
};

// BasicExitStateMachine — the state of one exit, moved only along the table.
//
// It starts in PositionOpen. transition() moves to the state asked for if the table
// allows it and returns an empty error_code; otherwise it returns
// error::invalid_transition and leaves the state as it was. Either way it appends an
// audit entry stamped with Clock::now(). The audit trail keeps the newest
// `audit_capacity` entries: when full, the oldest entry is dropped and counted, so
// memory per exit stays bounded whatever the caller does.
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
  using audit_entry = BasicAuditEntry<Clock>;

  static constexpr std::size_t default_audit_capacity = 128;
  static constexpr std::size_t min_audit_capacity = 8;
  static constexpr std::size_t max_audit_capacity = 65536;

  // Throws configuration_error(error::invalid_audit_capacity) unless
  // min_audit_capacity <= audit_capacity <= max_audit_capacity.
  explicit BasicExitStateMachine(std::size_t audit_capacity = default_audit_capacity)
      : audit_capacity_(audit_capacity) {
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
  // with Clock::now(). Returns {} or error::invalid_transition (state unchanged).
  // Strong guarantee: if recording throws (std::bad_alloc), nothing has changed.
  boost::system::error_code transition(ExitTransitionState to, std::string_view reason,
                                       std::uint32_t attempt = 0, std::uint32_t step = 0,
                                       std::string_view transaction_id = {}) {
    const bool accepted = is_valid_transition(state_, to);
    record(audit_entry{Clock::now(), state_, to, attempt, step, std::string(reason),
                       std::string(transaction_id), accepted});
    if (!accepted) {
      ++refused_transitions_;
      return error::invalid_transition;
    }
    state_ = to;
    return {};
  }

  // Oldest first; at most audit_capacity() entries.
  const std::deque<audit_entry>& audit_trail() const noexcept { return audit_trail_; }
  std::size_t audit_capacity() const noexcept { return audit_capacity_; }
  // How many of the oldest entries were dropped to keep the trail bounded.
  std::size_t dropped_audit_entries() const noexcept { return dropped_audit_entries_; }
  // How many transitions were refused (also recorded, until dropped, in the trail).
  std::size_t refused_transitions() const noexcept { return refused_transitions_; }

 private:
  void record(audit_entry&& entry) {
    audit_trail_.push_back(std::move(entry));  // may throw: nothing changed yet
    if (audit_trail_.size() > audit_capacity_) {
      audit_trail_.pop_front();
      ++dropped_audit_entries_;
    }
  }

  ExitTransitionState state_ = ExitTransitionState::position_open;
  std::size_t audit_capacity_;
  std::deque<audit_entry> audit_trail_;
  std::size_t dropped_audit_entries_ = 0;
  std::size_t refused_transitions_ = 0;
};

using ExitStateMachine = BasicExitStateMachine<std::chrono::steady_clock>;

}  // namespace exitguard
