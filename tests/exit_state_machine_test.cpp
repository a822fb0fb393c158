// exitguard-test-set: optimized
// Tests of exitguard/exit_state_machine.hpp: the transition table, the event table,
// the machine that enforces the first, and its bounded audit trail. Audit timestamps
// are passed in or come from ManualClock, so they are asserted exactly; no test
// sleeps. docs/state-machine.md is checked against both tables.

// First include: proves the header compiles on its own.
#include <exitguard/exit_state_machine.hpp>

#include <catch2/catch.hpp>

#include <exitguard/testing/manual_clock.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using exitguard::ExitEvent;
using exitguard::ExitTransitionState;
using S = ExitTransitionState;
using E = ExitEvent;
using exitguard::testing::ManualClock;
using Machine = exitguard::BasicExitStateMachine<ManualClock>;
using namespace std::chrono_literals;

ManualClock::time_point at(std::chrono::nanoseconds since_epoch) {
  return ManualClock::time_point(since_epoch);
}

std::string pair_name(S from, S to) {
  return std::string(exitguard::to_string(from)) + " -> " + std::string(exitguard::to_string(to));
}

// The table as specified, written out independently of the header so that changing
// the header's table without updating this list fails "the table is exactly ...".
const std::set<std::pair<S, S>>& expected_transitions() {
  static const std::set<std::pair<S, S>> table = {
      {S::position_open, S::exit_signal_received},

      {S::exit_signal_received, S::exit_submitted},
      {S::exit_signal_received, S::emergency_escalation},
      {S::exit_signal_received, S::exit_failed},
      {S::exit_signal_received, S::exit_cancelled},

      {S::exit_submitted, S::position_closed},
      {S::exit_submitted, S::partially_filled},
      {S::exit_submitted, S::exit_timed_out},
      {S::exit_submitted, S::exit_rejected},
      {S::exit_submitted, S::exit_failed},
      {S::exit_submitted, S::exit_cancelled},

      {S::market_exit_submitted, S::position_closed},
      {S::market_exit_submitted, S::partially_filled},
      {S::market_exit_submitted, S::exit_timed_out},
      {S::market_exit_submitted, S::exit_rejected},
      {S::market_exit_submitted, S::exit_failed},
      {S::market_exit_submitted, S::exit_cancelled},

      {S::partially_filled, S::partially_filled},
      {S::partially_filled, S::exit_submitted},
      {S::partially_filled, S::market_exit_submitted},
      {S::partially_filled, S::emergency_escalation},
      {S::partially_filled, S::position_closed},
      {S::partially_filled, S::exit_failed},
      {S::partially_filled, S::exit_cancelled},

      {S::exit_timed_out, S::exit_submitted},
      {S::exit_timed_out, S::market_exit_submitted},
      {S::exit_timed_out, S::emergency_escalation},
      {S::exit_timed_out, S::partially_filled},
      {S::exit_timed_out, S::position_closed},
      {S::exit_timed_out, S::exit_failed},
      {S::exit_timed_out, S::exit_cancelled},

      {S::exit_rejected, S::exit_submitted},
      {S::exit_rejected, S::market_exit_submitted},
      {S::exit_rejected, S::emergency_escalation},
      {S::exit_rejected, S::partially_filled},
      {S::exit_rejected, S::position_closed},
      {S::exit_rejected, S::exit_failed},
      {S::exit_rejected, S::exit_cancelled},

      {S::emergency_escalation, S::market_exit_submitted},
      {S::emergency_escalation, S::partially_filled},
      {S::emergency_escalation, S::position_closed},
      {S::emergency_escalation, S::exit_failed},
      {S::emergency_escalation, S::exit_cancelled},
  };
  return table;
}

std::string event_pair_name(S state, E event) {
  return std::string(exitguard::to_string(state)) + " takes " + std::string(exitguard::to_string(event));
}

// The event table as specified, written out independently of the header (like the
// transition table above): changing one without the other fails "the event table is
// exactly ...".
const std::set<std::pair<S, E>>& expected_events() {
  static const std::set<std::pair<S, E>> table = {
      {S::position_open, E::start},

      {S::exit_signal_received, E::quote},
      {S::exit_signal_received, E::timer},
      {S::exit_signal_received, E::halt},
      {S::exit_signal_received, E::cancel},

      {S::exit_submitted, E::answer},
      {S::exit_submitted, E::fill},
      {S::exit_submitted, E::attempt_dead},
      {S::exit_submitted, E::timer},
      {S::exit_submitted, E::halt},
      {S::exit_submitted, E::cancel},

      {S::market_exit_submitted, E::answer},
      {S::market_exit_submitted, E::fill},
      {S::market_exit_submitted, E::attempt_dead},
      {S::market_exit_submitted, E::timer},
      {S::market_exit_submitted, E::halt},
      {S::market_exit_submitted, E::cancel},

      {S::partially_filled, E::quote},
      {S::partially_filled, E::answer},
      {S::partially_filled, E::fill},
      {S::partially_filled, E::position},
      {S::partially_filled, E::attempt_dead},
      {S::partially_filled, E::timer},
      {S::partially_filled, E::halt},
      {S::partially_filled, E::cancel},

      {S::exit_timed_out, E::quote},
      {S::exit_timed_out, E::answer},
      {S::exit_timed_out, E::fill},
      {S::exit_timed_out, E::position},
      {S::exit_timed_out, E::attempt_dead},
      {S::exit_timed_out, E::timer},
      {S::exit_timed_out, E::halt},
      {S::exit_timed_out, E::cancel},

      {S::exit_rejected, E::quote},
      {S::exit_rejected, E::answer},
      {S::exit_rejected, E::fill},
      {S::exit_rejected, E::position},
      {S::exit_rejected, E::attempt_dead},
      {S::exit_rejected, E::timer},
      {S::exit_rejected, E::halt},
      {S::exit_rejected, E::cancel},

      {S::emergency_escalation, E::quote},
      {S::emergency_escalation, E::answer},
      {S::emergency_escalation, E::fill},
      {S::emergency_escalation, E::position},
      {S::emergency_escalation, E::attempt_dead},
      {S::emergency_escalation, E::timer},
      {S::emergency_escalation, E::halt},
      {S::emergency_escalation, E::cancel},

      // Terminal: only what reality may still report, and the late-answer horizon.
      {S::position_closed, E::answer},
      {S::position_closed, E::fill},
      {S::position_closed, E::attempt_dead},
      {S::position_closed, E::timer},

      {S::exit_failed, E::answer},
      {S::exit_failed, E::fill},
      {S::exit_failed, E::attempt_dead},
      {S::exit_failed, E::timer},

      {S::exit_cancelled, E::answer},
      {S::exit_cancelled, E::fill},
      {S::exit_cancelled, E::attempt_dead},
      {S::exit_cancelled, E::timer},
  };
  return table;
}

// One literal per state: a reason must have static storage duration, and these tell
// the pairs apart in the audit trail.
constexpr std::array<std::string_view, exitguard::exit_transition_state_count> reason_literals = {
    "to PositionOpen",        "to ExitSignalReceived", "to ExitSubmitted",   "to PartiallyFilled",
    "to ExitTimedOut",        "to ExitRejected",       "to EmergencyEscalation", "to MarketExitSubmitted",
    "to PositionClosed",      "to ExitFailed",         "to ExitCancelled",
};

// A shortest path from PositionOpen to `target` over the header's table (BFS), as
// the list of states entered after PositionOpen; nullopt if `target` is unreachable.
std::optional<std::vector<S>> path_from_position_open(S target) {
  constexpr auto n = exitguard::exit_transition_state_count;
  std::array<std::optional<S>, n> parent{};
  std::array<bool, n> seen{};
  std::queue<S> frontier;
  seen[static_cast<std::size_t>(S::position_open)] = true;
  frontier.push(S::position_open);
  while (!frontier.empty()) {
    const S from = frontier.front();
    frontier.pop();
    if (from == target) break;
    for (S to : exitguard::exit_transition_states) {
      const auto i = static_cast<std::size_t>(to);
      if (!seen[i] && exitguard::is_valid_transition(from, to)) {
        seen[i] = true;
        parent[i] = from;
        frontier.push(to);
      }
    }
  }
  if (!seen[static_cast<std::size_t>(target)]) return std::nullopt;
  std::vector<S> path;
  for (S s = target; s != S::position_open; s = *parent[static_cast<std::size_t>(s)])
    path.push_back(s);
  std::reverse(path.begin(), path.end());
  return path;
}

// What one audit entry must hold; `time` is the ManualClock time since its epoch.
struct ExpectedEntry {
  S from;
  S to;
  std::uint32_t attempt;
  std::uint32_t step;
  std::string reason;
  std::string transaction_id;
  std::chrono::nanoseconds time;
  bool accepted;
};

void check_trail(const Machine& machine, const std::vector<ExpectedEntry>& expected) {
  const auto trail = machine.audit_trail();
  REQUIRE(trail.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("audit entry " << i << ": " << pair_name(expected[i].from, expected[i].to));
    CHECK(trail[i].from == expected[i].from);
    CHECK(trail[i].to == expected[i].to);
    CHECK(trail[i].attempt == expected[i].attempt);
    CHECK(trail[i].step == expected[i].step);
    CHECK(trail[i].reason == expected[i].reason);
    CHECK(trail[i].transaction_id == expected[i].transaction_id);
    CHECK(trail[i].time == at(expected[i].time));
    CHECK(trail[i].accepted == expected[i].accepted);
    // audit_entry_at reads the same trail in place.
    REQUIRE(i < machine.audit_size());
    CHECK(machine.audit_entry_at(i).time == trail[i].time);
    CHECK(machine.audit_entry_at(i).reason == trail[i].reason);
  }
  CHECK(machine.audit_size() == trail.size());
}

// The error a constructor with this capacity throws, or an empty code.
boost::system::error_code construction_error(std::size_t capacity) {
  try {
    static_cast<void>(Machine(capacity));
  } catch (const exitguard::configuration_error& e) {
    return e.code();
  }
  return {};
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<ExitTransitionState> {
  static std::string convert(ExitTransitionState s) { return std::string(exitguard::to_string(s)); }
};
template <>
struct StringMaker<ExitEvent> {
  static std::string convert(ExitEvent e) { return std::string(exitguard::to_string(e)); }
};
}  // namespace Catch

TEST_CASE("exit_state_machine.hpp is self-contained and usable at compile time") {
  STATIC_REQUIRE(exitguard::exit_transition_state_count == 11);
  STATIC_REQUIRE(exitguard::exit_transition_states.size() == exitguard::exit_transition_state_count);
  STATIC_REQUIRE(exitguard::is_valid_transition(S::position_open, S::exit_signal_received));
  STATIC_REQUIRE_FALSE(exitguard::is_valid_transition(S::position_open, S::position_closed));
  STATIC_REQUIRE(exitguard::is_terminal(S::position_closed));
  STATIC_REQUIRE(exitguard::to_string(S::exit_timed_out) == "ExitTimedOut");
  STATIC_REQUIRE(Machine::default_audit_capacity == 128);
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitStateMachine,
                                exitguard::BasicExitStateMachine<std::chrono::steady_clock>>);
  STATIC_REQUIRE(std::is_same_v<Machine::audit_entry, exitguard::BasicAuditEntry<ManualClock>>);
  STATIC_REQUIRE(std::is_same_v<Machine::time_point, ManualClock::time_point>);
  // Audit entries hold their reason as a view of a literal, and the trail is copied out.
  STATIC_REQUIRE(std::is_same_v<decltype(Machine::audit_entry{}.reason), std::string_view>);
  STATIC_REQUIRE(std::is_same_v<decltype(Machine::audit_entry{}.error), boost::system::error_code>);
  STATIC_REQUIRE(std::is_same_v<decltype(Machine::audit_entry{}.event), std::optional<ExitEvent>>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Machine&>().audit_trail()),
                                std::vector<Machine::audit_entry>>);
  STATIC_REQUIRE(exitguard::exit_event_count == 9);
  STATIC_REQUIRE(exitguard::exit_events.size() == exitguard::exit_event_count);
  STATIC_REQUIRE(exitguard::exit_event_table.size() == exitguard::exit_transition_state_count);
  STATIC_REQUIRE(exitguard::is_allowed_event(S::position_open, E::start));
  STATIC_REQUIRE_FALSE(exitguard::is_allowed_event(S::position_closed, E::start));
  STATIC_REQUIRE(exitguard::to_string(E::attempt_dead) == "attempt_dead");
}

TEST_CASE("exit_transition_states lists every state once, in the order of its value") {
  for (std::size_t i = 0; i < exitguard::exit_transition_states.size(); ++i) {
    INFO("index " << i);
    CHECK(static_cast<std::size_t>(exitguard::exit_transition_states[i]) == i);
  }
}

TEST_CASE("the transition table is exactly the specified one") {
  const auto& expected = expected_transitions();
  REQUIRE(expected.size() == 43);
  std::size_t allowed = 0;
  for (S from : exitguard::exit_transition_states) {
    for (S to : exitguard::exit_transition_states) {
      INFO(pair_name(from, to));
      const bool should_be_allowed = expected.count({from, to}) == 1;
      CHECK(exitguard::is_valid_transition(from, to) == should_be_allowed);
      if (exitguard::is_valid_transition(from, to)) ++allowed;
    }
  }
  CHECK(allowed == expected.size());
}

TEST_CASE("the only self-transition allowed is PartiallyFilled -> PartiallyFilled") {
  for (S s : exitguard::exit_transition_states) {
    INFO(pair_name(s, s));
    CHECK(exitguard::is_valid_transition(s, s) == (s == S::partially_filled));
  }
}

TEST_CASE("terminal states are PositionClosed, ExitFailed and ExitCancelled, with no way out") {
  const std::set<S> terminal = {S::position_closed, S::exit_failed, S::exit_cancelled};
  for (S s : exitguard::exit_transition_states) {
    INFO(exitguard::to_string(s));
    CHECK(exitguard::is_terminal(s) == (terminal.count(s) == 1));
    if (exitguard::is_terminal(s)) {
      for (S to : exitguard::exit_transition_states) {
        INFO(pair_name(s, to));
        CHECK_FALSE(exitguard::is_valid_transition(s, to));
      }
    }
  }
}

TEST_CASE("to_string names every state") {
  const std::vector<std::pair<S, std::string_view>> names = {
      {S::position_open, "PositionOpen"},
      {S::exit_signal_received, "ExitSignalReceived"},
      {S::exit_submitted, "ExitSubmitted"},
      {S::partially_filled, "PartiallyFilled"},
      {S::exit_timed_out, "ExitTimedOut"},
      {S::exit_rejected, "ExitRejected"},
      {S::emergency_escalation, "EmergencyEscalation"},
      {S::market_exit_submitted, "MarketExitSubmitted"},
      {S::position_closed, "PositionClosed"},
      {S::exit_failed, "ExitFailed"},
      {S::exit_cancelled, "ExitCancelled"},
  };
  REQUIRE(names.size() == exitguard::exit_transition_state_count);
  for (const auto& [state, name] : names) CHECK(exitguard::to_string(state) == name);
}

TEST_CASE("every state is reachable from PositionOpen") {
  for (S s : exitguard::exit_transition_states) {
    INFO(exitguard::to_string(s));
    CHECK(path_from_position_open(s).has_value());
  }
}

TEST_CASE("a new machine is in PositionOpen with an empty audit trail") {
  const Machine machine;
  CHECK(machine.state() == S::position_open);
  CHECK_FALSE(machine.is_terminal());
  CHECK(machine.audit_trail().empty());
  CHECK(machine.audit_capacity() == Machine::default_audit_capacity);
  CHECK(machine.dropped_audit_entries() == 0);
  CHECK(machine.refused_transitions() == 0);
  CHECK(machine.refused_events() == 0);
  CHECK(machine.audit_size() == 0);
  CHECK(machine.audit_recorded() == 0);
}

TEST_CASE("every (from, to) pair is accepted or refused exactly as the table says") {
  const S from = GENERATE(from_range(exitguard::exit_transition_states));
  const S to = GENERATE(from_range(exitguard::exit_transition_states));
  INFO(pair_name(from, to));

  // The overload given the time, or the one that reads Clock::now().
  const bool time_given = GENERATE(true, false);
  INFO((time_given ? "stamped with the time given" : "stamped with Clock::now()"));

  ManualClock::reset();
  Machine machine;

  // Reach `from` along a valid path, 1 ms per step.
  const auto path = path_from_position_open(from);
  REQUIRE(path.has_value());
  std::uint32_t step_on_path = 0;
  for (S s : *path) {
    ManualClock::advance(1ms);
    INFO("on the path, entering " << exitguard::to_string(s));
    REQUIRE_FALSE(machine.transition(s, "path", 0, step_on_path++));
  }
  REQUIRE(machine.state() == from);
  REQUIRE(machine.refused_transitions() == 0);
  REQUIRE(machine.audit_trail().size() == path->size());

  // Values unique to the pair, so a mixed-up field cannot pass by accident.
  const auto from_index = static_cast<std::uint32_t>(from);
  const auto to_index = static_cast<std::uint32_t>(to);
  const std::uint32_t attempt = 100 + from_index;
  const std::uint32_t step = 200 + to_index;
  const std::string_view reason = reason_literals[to_index];
  const std::string tx = "tx-" + std::to_string(from_index) + "-" + std::to_string(to_index);
  const auto why = make_error_code(exitguard::error::exit_rejected);
  const auto offset = std::chrono::microseconds(1000 * from_index + to_index + 7);
  ManualClock::advance(offset);
  const auto expected_time = at(std::chrono::milliseconds(path->size()) + offset);

  // Given the time, the clock is moved elsewhere first: the time given must win.
  if (time_given) ManualClock::advance(1h);
  const auto ec = time_given ? machine.transition(to, expected_time, reason, attempt, step, tx, why)
                             : machine.transition(to, reason, attempt, step, tx);

  const bool allowed = expected_transitions().count({from, to}) == 1;
  REQUIRE(exitguard::is_valid_transition(from, to) == allowed);
  if (allowed) {
    CHECK_FALSE(ec);
    CHECK(machine.state() == to);
    CHECK(machine.refused_transitions() == 0);
  } else {
    CHECK(ec == exitguard::error::invalid_transition);
    CHECK(ec.category() == exitguard::error_category());
    CHECK(ec.value() == 201);
    CHECK(machine.state() == from);
    CHECK(machine.refused_transitions() == 1);
  }
  CHECK(machine.is_terminal() == exitguard::is_terminal(machine.state()));
  const auto trail = machine.audit_trail();
  REQUIRE(trail.size() == path->size() + 1);
  CHECK(machine.dropped_audit_entries() == 0);
  const auto& entry = trail.back();
  CHECK(entry.from == from);
  CHECK(entry.to == to);
  CHECK(entry.attempt == attempt);
  CHECK(entry.step == step);
  CHECK(entry.reason == reason);
  CHECK(entry.reason.data() == reason.data());  // the literal itself, not a copy
  CHECK(entry.transaction_id == tx);
  CHECK(entry.time == expected_time);
  CHECK(entry.accepted == allowed);
  CHECK(entry.error == (time_given ? why : boost::system::error_code{}));
  CHECK_FALSE(entry.event.has_value());
  CHECK(machine.refused_events() == 0);
}

TEST_CASE("the design document's happy path: a timed-out attempt, then a second that fills") {
  ManualClock::reset();
  Machine machine;

  ManualClock::advance(5ms);
  REQUIRE_FALSE(machine.transition(S::exit_signal_received, "stop-loss at 95.00"));
  ManualClock::advance(10ms);
  REQUIRE_FALSE(machine.transition(S::exit_submitted, "limit order", 1, 0, "tx-1"));
  ManualClock::advance(8s);
  REQUIRE_FALSE(machine.transition(S::exit_timed_out, "no confirmation", 1, 0, "tx-1"));
  ManualClock::advance(1s);
  REQUIRE_FALSE(machine.transition(S::exit_submitted, "retry, same nonce", 2, 0, "tx-2"));
  ManualClock::advance(2s);
  REQUIRE_FALSE(machine.transition(S::position_closed, "filled", 2, 0, "tx-2"));

  CHECK(machine.state() == S::position_closed);
  CHECK(machine.is_terminal());
  CHECK(machine.refused_transitions() == 0);
  CHECK(machine.dropped_audit_entries() == 0);
  check_trail(machine,
              {
                  {S::position_open, S::exit_signal_received, 0, 0, "stop-loss at 95.00", "", 5ms, true},
                  {S::exit_signal_received, S::exit_submitted, 1, 0, "limit order", "tx-1", 15ms, true},
                  {S::exit_submitted, S::exit_timed_out, 1, 0, "no confirmation", "tx-1", 8015ms, true},
                  {S::exit_timed_out, S::exit_submitted, 2, 0, "retry, same nonce", "tx-2", 9015ms, true},
                  {S::exit_submitted, S::position_closed, 2, 0, "filled", "tx-2", 11015ms, true},
              });

  SECTION("nothing may follow the terminal state") {
    ManualClock::advance(1ms);
    CHECK(machine.transition(S::position_closed, "late fill of tx-1", 1, 0, "tx-1") ==
          exitguard::error::invalid_transition);
    CHECK(machine.state() == S::position_closed);
    CHECK(machine.refused_transitions() == 1);
    const auto trail = machine.audit_trail();
    REQUIRE(trail.size() == 6);
    CHECK_FALSE(trail.back().accepted);
    CHECK(trail.back().time == at(11016ms));
  }
}

TEST_CASE("the escalation path ends with a market order that fills") {
  ManualClock::reset();
  Machine machine;

  REQUIRE_FALSE(machine.transition(S::exit_signal_received, "stop-loss"));
  ManualClock::advance(1ms);
  REQUIRE_FALSE(machine.transition(S::exit_submitted, "limit order", 1, 0, "tx-1"));
  ManualClock::advance(8s);
  REQUIRE_FALSE(machine.transition(S::exit_timed_out, "no confirmation", 1, 0, "tx-1"));
  ManualClock::advance(12s);
  REQUIRE_FALSE(machine.transition(S::emergency_escalation, "limit step budget spent", 1, 1));

  SECTION("the market order fills") {
    ManualClock::advance(1ms);
    REQUIRE_FALSE(machine.transition(S::market_exit_submitted, "market order", 2, 1, "tx-2"));
    ManualClock::advance(2s);
    REQUIRE_FALSE(machine.transition(S::position_closed, "filled", 2, 1, "tx-2"));

    CHECK(machine.state() == S::position_closed);
    CHECK(machine.is_terminal());
    CHECK(machine.refused_transitions() == 0);
    check_trail(machine,
                {
                    {S::position_open, S::exit_signal_received, 0, 0, "stop-loss", "", 0ms, true},
                    {S::exit_signal_received, S::exit_submitted, 1, 0, "limit order", "tx-1", 1ms, true},
                    {S::exit_submitted, S::exit_timed_out, 1, 0, "no confirmation", "tx-1", 8001ms, true},
                    {S::exit_timed_out, S::emergency_escalation, 1, 1, "limit step budget spent", "",
                     20001ms, true},
                    {S::emergency_escalation, S::market_exit_submitted, 2, 1, "market order", "tx-2",
                     20002ms, true},
                    {S::market_exit_submitted, S::position_closed, 2, 1, "filled", "tx-2", 22002ms, true},
                });
  }

  SECTION("the abandoned limit order lands during the escalation: reality wins") {
    ManualClock::advance(1ms);
    REQUIRE_FALSE(machine.transition(S::position_closed, "late fill", 1, 0, "tx-1"));
    CHECK(machine.state() == S::position_closed);
    // The market order must not be sent any more.
    CHECK(machine.transition(S::market_exit_submitted, "market order", 2, 1) ==
          exitguard::error::invalid_transition);
    CHECK(machine.state() == S::position_closed);
    CHECK(machine.refused_transitions() == 1);
  }
}

TEST_CASE("a partial fill sends the remainder, and a late partial fill is taken") {
  ManualClock::reset();
  Machine machine;
  REQUIRE_FALSE(machine.transition(S::exit_signal_received, "signal"));
  REQUIRE_FALSE(machine.transition(S::exit_submitted, "limit order", 1, 0, "tx-1"));
  REQUIRE_FALSE(machine.transition(S::partially_filled, "400 of 1000", 1, 0, "tx-1"));
  REQUIRE_FALSE(machine.transition(S::exit_submitted, "remainder", 1, 0, "tx-1b"));
  REQUIRE_FALSE(machine.transition(S::exit_timed_out, "no confirmation", 1, 0, "tx-1b"));
  REQUIRE_FALSE(machine.transition(S::partially_filled, "late: 300 of 600", 1, 0, "tx-1b"));
  REQUIRE_FALSE(machine.transition(S::partially_filled, "late: 100 of 300", 1, 0, "tx-1b"));
  REQUIRE_FALSE(machine.transition(S::market_exit_submitted, "remainder at market", 2, 1, "tx-2"));
  REQUIRE_FALSE(machine.transition(S::position_closed, "filled", 2, 1, "tx-2"));
  CHECK(machine.state() == S::position_closed);
  CHECK(machine.refused_transitions() == 0);
  CHECK(machine.audit_trail().size() == 9);
}

TEST_CASE("an invalid transition is refused, counted and recorded") {
  ManualClock::reset();
  Machine machine;

  ManualClock::advance(1ms);
  CHECK(machine.transition(S::exit_submitted, "no signal yet", 1, 0, "tx-x") ==
        exitguard::error::invalid_transition);
  CHECK(machine.state() == S::position_open);
  CHECK(machine.refused_transitions() == 1);

  ManualClock::advance(1ms);
  CHECK(machine.transition(S::position_open, "self") == exitguard::error::invalid_transition);
  CHECK(machine.refused_transitions() == 2);

  ManualClock::advance(1ms);
  CHECK_FALSE(machine.transition(S::exit_signal_received, "signal"));
  CHECK(machine.refused_transitions() == 2);  // accepted ones are not counted

  ManualClock::advance(1ms);
  CHECK(machine.transition(S::partially_filled, "nothing was sent") ==
        exitguard::error::invalid_transition);
  CHECK(machine.state() == S::exit_signal_received);
  CHECK(machine.refused_transitions() == 3);

  ManualClock::advance(1ms);
  CHECK_FALSE(machine.transition(S::exit_cancelled, "caller cancelled"));
  ManualClock::advance(1ms);
  CHECK(machine.transition(S::exit_failed, "after the end") == exitguard::error::invalid_transition);
  CHECK(machine.state() == S::exit_cancelled);
  CHECK(machine.refused_transitions() == 4);

  check_trail(machine,
              {
                  {S::position_open, S::exit_submitted, 1, 0, "no signal yet", "tx-x", 1ms, false},
                  {S::position_open, S::position_open, 0, 0, "self", "", 2ms, false},
                  {S::position_open, S::exit_signal_received, 0, 0, "signal", "", 3ms, true},
                  {S::exit_signal_received, S::partially_filled, 0, 0, "nothing was sent", "", 4ms, false},
                  {S::exit_signal_received, S::exit_cancelled, 0, 0, "caller cancelled", "", 5ms, true},
                  {S::exit_cancelled, S::exit_failed, 0, 0, "after the end", "", 6ms, false},
              });

  SECTION("the count survives entries dropped from the trail") {
    Machine small(8);
    for (int i = 0; i < 30; ++i) CHECK(small.transition(S::position_closed, "refused"));
    CHECK(small.refused_transitions() == 30);
    CHECK(small.audit_trail().size() == 8);
    CHECK(small.dropped_audit_entries() == 22);
  }
}

TEST_CASE("the audit capacity must be between 8 and 65536") {
  for (std::size_t bad : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{65537},
                          std::numeric_limits<std::size_t>::max()}) {
    INFO("capacity " << bad);
    CHECK_THROWS_AS(Machine(bad), exitguard::configuration_error);
    const auto code = construction_error(bad);
    CHECK(code == exitguard::error::invalid_audit_capacity);
    CHECK(code == exitguard::condition::invalid_configuration);
    CHECK(Machine::validate_audit_capacity(bad) == exitguard::error::invalid_audit_capacity);
  }
  for (std::size_t good : {std::size_t{8}, std::size_t{128}, std::size_t{65536}}) {
    INFO("capacity " << good);
    CHECK_NOTHROW(Machine(good));
    CHECK_FALSE(construction_error(good));
    CHECK_FALSE(Machine::validate_audit_capacity(good));
    CHECK(Machine(good).audit_capacity() == good);
  }
}

TEST_CASE("the audit trail is bounded: the oldest entries are dropped and counted") {
  ManualClock::reset();
  Machine machine(8);

  // 3 entries to reach PartiallyFilled, at 1, 2 and 3 ms.
  for (S s : {S::exit_signal_received, S::exit_submitted, S::partially_filled}) {
    ManualClock::advance(1ms);
    REQUIRE_FALSE(machine.transition(s, "path", 1));
  }
  REQUIRE(machine.audit_trail().size() == 3);

  // 20 more partial fills, the i-th at (3 + i) ms with step i and tx "fill-i".
  for (std::uint32_t i = 1; i <= 20; ++i) {
    ManualClock::advance(1ms);
    REQUIRE_FALSE(machine.transition(S::partially_filled, "partial fill", 1, i, "fill-" + std::to_string(i)));
    const std::size_t recorded = 3 + i;
    INFO("after " << recorded << " entries");
    CHECK(machine.audit_trail().size() == std::min<std::size_t>(recorded, 8));
    CHECK(machine.dropped_audit_entries() == (recorded > 8 ? recorded - 8 : 0));
  }

  CHECK(machine.state() == S::partially_filled);
  REQUIRE(machine.audit_trail().size() == 8);
  CHECK(machine.dropped_audit_entries() == 12 + 3);
  CHECK(machine.refused_transitions() == 0);
  CHECK(machine.audit_recorded() == 23);
  CHECK(machine.audit_size() == 8);
  // What is left is the newest 8, oldest first: fills 13 to 20.
  const auto trail = machine.audit_trail();
  for (std::uint32_t k = 0; k < 8; ++k) {
    const std::uint32_t i = 13 + k;
    const auto& entry = trail[k];
    CHECK(machine.audit_entry_at(k).transaction_id == entry.transaction_id);
    INFO("kept entry " << k);
    CHECK(entry.from == S::partially_filled);
    CHECK(entry.to == S::partially_filled);
    CHECK(entry.step == i);
    CHECK(entry.transaction_id == "fill-" + std::to_string(i));
    CHECK(entry.time == at(std::chrono::milliseconds(3 + i)));
    CHECK(entry.accepted);
  }

  SECTION("the default capacity bounds the trail too") {
    Machine by_default;
    for (int i = 0; i < 130; ++i) CHECK(by_default.transition(S::exit_failed, "refused"));
    CHECK(by_default.audit_trail().size() == Machine::default_audit_capacity);
    CHECK(by_default.dropped_audit_entries() == 2);
  }
}

TEST_CASE("ExitStateMachine stamps its audit entries with std::chrono::steady_clock") {
  exitguard::ExitStateMachine machine;
  const auto before = std::chrono::steady_clock::now();
  REQUIRE_FALSE(machine.transition(S::exit_signal_received, "signal"));
  const auto after = std::chrono::steady_clock::now();
  const auto trail = machine.audit_trail();
  REQUIRE(trail.size() == 1);
  CHECK(before <= trail.front().time);
  CHECK(trail.front().time <= after);
}

TEST_CASE("docs/state-machine.md draws exactly the transition table") {
  // Found from this file's path, so the test works from any build directory.
  const auto doc = std::filesystem::path(__FILE__).parent_path().parent_path() / "docs" /
                   "state-machine.md";
  INFO("reading " << doc.string());
  std::ifstream in(doc);
  REQUIRE(in.is_open());

  auto trim = [](std::string_view s) {
    const auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return std::string_view{};
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
  };
  auto state_named = [](std::string_view name) -> std::optional<S> {
    for (S s : exitguard::exit_transition_states)
      if (exitguard::to_string(s) == name) return s;
    return std::nullopt;
  };

  std::set<std::pair<S, S>> drawn;
  bool in_diagram = false;
  int diagrams = 0;
  std::string line;
  while (std::getline(in, line)) {
    const auto text = trim(line);
    if (text == "```mermaid") {
      in_diagram = true;
      ++diagrams;
      continue;
    }
    if (in_diagram && text == "```") in_diagram = false;
    if (!in_diagram) continue;
    const auto arrow = text.find("-->");
    if (arrow == std::string_view::npos) continue;
    const auto from_name = trim(text.substr(0, arrow));
    auto rest = text.substr(arrow + 3);
    const auto to_name = trim(rest.substr(0, rest.find(':')));  // drop a ": label"
    if (from_name == "[*]" || to_name == "[*]") continue;       // start and end markers
    INFO("diagram line: " << line);
    const auto from = state_named(from_name);
    const auto to = state_named(to_name);
    REQUIRE(from.has_value());
    REQUIRE(to.has_value());
    CHECK(drawn.insert({*from, *to}).second);  // each edge drawn once
  }
  REQUIRE(diagrams == 1);
  for (S from : exitguard::exit_transition_states) {
    for (S to : exitguard::exit_transition_states) {
      INFO(pair_name(from, to));
      CHECK((drawn.count({from, to}) == 1) == exitguard::is_valid_transition(from, to));
    }
  }
}

TEST_CASE("note records a fact or a refused event without moving the state") {
  Machine machine;
  REQUIRE_FALSE(machine.transition(S::exit_signal_received, at(1ms), "signal"));
  REQUIRE_FALSE(machine.transition(S::exit_submitted, at(2ms), "limit order", 1, 0, "tx-1"));

  // A fact: accepted, from == to == the current state, with its error.
  machine.note(at(3ms), "fill price refused", exitguard::error::invalid_fill_price, 1, 0, "fill-9");
  // A refused event: not accepted, and the event named.
  machine.note(at(4ms), "event not allowed in this state", exitguard::error::event_not_allowed, 0, 0, {},
               E::quote);
  // A fact with no error.
  machine.note(at(5ms), "position reconciled", {});

  CHECK(machine.state() == S::exit_submitted);
  CHECK(machine.refused_transitions() == 0);
  CHECK(machine.refused_events() == 1);
  const auto trail = machine.audit_trail();
  REQUIRE(trail.size() == 5);

  const auto& fact = trail[2];
  CHECK(fact.time == at(3ms));
  CHECK(fact.from == S::exit_submitted);
  CHECK(fact.to == S::exit_submitted);
  CHECK(fact.attempt == 1);
  CHECK(fact.reason == "fill price refused");
  CHECK(fact.transaction_id == "fill-9");
  CHECK(fact.accepted);
  CHECK(fact.error == exitguard::error::invalid_fill_price);
  CHECK_FALSE(fact.event.has_value());

  const auto& refused = trail[3];
  CHECK(refused.time == at(4ms));
  CHECK(refused.from == S::exit_submitted);
  CHECK(refused.to == S::exit_submitted);
  CHECK_FALSE(refused.accepted);
  CHECK(refused.error == exitguard::error::event_not_allowed);
  REQUIRE(refused.event.has_value());
  CHECK(*refused.event == E::quote);

  CHECK(trail[4].accepted);
  CHECK_FALSE(trail[4].error);
  CHECK_FALSE(trail[4].event.has_value());

  // Transitions go on as before, and record no event.
  REQUIRE_FALSE(machine.transition(S::position_closed, at(6ms), "filled", 1, 0, "tx-1"));
  CHECK_FALSE(machine.audit_trail().back().event.has_value());

  SECTION("notes are bounded with the trail, and refused events stay counted") {
    Machine small(8);
    for (int i = 0; i < 20; ++i)
      small.note(at(std::chrono::milliseconds(i)), "refused", exitguard::error::event_not_allowed, 0, 0, {},
                 E::answer);
    CHECK(small.refused_events() == 20);
    CHECK(small.audit_size() == 8);
    CHECK(small.audit_recorded() == 20);
    CHECK(small.dropped_audit_entries() == 12);
    CHECK(small.audit_entry_at(0).time == at(12ms));
    CHECK(small.state() == S::position_open);
  }
}

TEST_CASE("exit_events lists every event once, in the order of its value") {
  for (std::size_t i = 0; i < exitguard::exit_events.size(); ++i) {
    INFO("index " << i);
    CHECK(static_cast<std::size_t>(exitguard::exit_events[i]) == i);
  }
}

TEST_CASE("to_string names every event") {
  const std::vector<std::pair<E, std::string_view>> names = {
      {E::start, "start"},        {E::quote, "quote"},   {E::answer, "answer"},
      {E::fill, "fill"},          {E::position, "position"}, {E::attempt_dead, "attempt_dead"},
      {E::timer, "timer"},        {E::halt, "halt"},     {E::cancel, "cancel"},
  };
  REQUIRE(names.size() == exitguard::exit_event_count);
  for (const auto& [event, name] : names) CHECK(exitguard::to_string(event) == name);
  CHECK(exitguard::to_string(static_cast<E>(200)) == "unknown");
}

TEST_CASE("the event table is exactly the specified one") {
  const auto& expected = expected_events();
  REQUIRE(expected.size() == 61);
  std::size_t allowed = 0;
  for (S state : exitguard::exit_transition_states) {
    for (E event : exitguard::exit_events) {
      INFO(event_pair_name(state, event));
      const bool should_be_allowed = expected.count({state, event}) == 1;
      CHECK(exitguard::is_allowed_event(state, event) == should_be_allowed);
      if (exitguard::is_allowed_event(state, event)) ++allowed;
    }
  }
  CHECK(allowed == expected.size());
}

TEST_CASE("the event table: what every state must take") {
  for (S state : exitguard::exit_transition_states) {
    INFO(exitguard::to_string(state));
    // Only an open position takes the exit signal, and it takes nothing else.
    CHECK(exitguard::is_allowed_event(state, E::start) == (state == S::position_open));
    if (state == S::position_open) continue;
    // Every exit under way can be stopped, halted and timed out; a terminal one
    // still takes what reality reports and its late-answer horizon.
    CHECK(exitguard::is_allowed_event(state, E::timer));
    CHECK(exitguard::is_allowed_event(state, E::cancel) == !exitguard::is_terminal(state));
    CHECK(exitguard::is_allowed_event(state, E::halt) == !exitguard::is_terminal(state));
    if (state != S::exit_signal_received) {
      // Once anything was sent, its answer, fills and death are always taken.
      CHECK(exitguard::is_allowed_event(state, E::answer));
      CHECK(exitguard::is_allowed_event(state, E::fill));
      CHECK(exitguard::is_allowed_event(state, E::attempt_dead));
    }
  }
}

TEST_CASE("is_allowed_event refuses values outside the tables") {
  CHECK_FALSE(exitguard::is_allowed_event(static_cast<S>(exitguard::exit_transition_state_count), E::timer));
  CHECK_FALSE(exitguard::is_allowed_event(static_cast<S>(255), E::answer));
  CHECK_FALSE(exitguard::is_allowed_event(S::exit_submitted, static_cast<E>(exitguard::exit_event_count)));
  CHECK_FALSE(exitguard::is_allowed_event(S::exit_submitted, static_cast<E>(15)));
}

namespace {

std::string_view trim_cell(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return std::string_view{};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The cells of a Markdown table row "| a | b |", trimmed; empty if not a row.
std::vector<std::string_view> table_cells(std::string_view line) {
  line = trim_cell(line);
  std::vector<std::string_view> cells;
  if (line.size() < 2 || line.front() != '|' || line.back() != '|') return cells;
  line = line.substr(1, line.size() - 2);
  for (;;) {
    const auto bar = line.find('|');
    cells.push_back(trim_cell(line.substr(0, bar)));
    if (bar == std::string_view::npos) break;
    line = line.substr(bar + 1);
  }
  return cells;
}

}  // namespace

TEST_CASE("docs/state-machine.md tabulates exactly the event table") {
  const auto doc = std::filesystem::path(__FILE__).parent_path().parent_path() / "docs" / "state-machine.md";
  INFO("reading " << doc.string());
  std::ifstream in(doc);
  REQUIRE(in.is_open());

  auto state_named = [](std::string_view name) -> std::optional<S> {
    for (S s : exitguard::exit_transition_states)
      if (exitguard::to_string(s) == name) return s;
    return std::nullopt;
  };
  auto event_named = [](std::string_view name) -> std::optional<E> {
    for (E e : exitguard::exit_events)
      if (name == "`" + std::string(exitguard::to_string(e)) + "`") return e;
    return std::nullopt;
  };

  // The table starts at the header row whose first cell is "state \ event"; its
  // other cells name the events (in backquotes), each once. The separator row
  // follows, then one row per state, each cell "yes" or "no".
  int tables = 0;
  std::vector<E> columns;
  std::set<S> rows;
  std::set<std::pair<S, E>> tabulated;
  bool in_table = false;
  bool separator_seen = false;
  std::string line;
  while (std::getline(in, line)) {
    const auto cells = table_cells(line);
    if (!cells.empty() && cells[0] == "state \\ event") {
      ++tables;
      in_table = true;
      separator_seen = false;
      INFO("header row: " << line);
      for (std::size_t i = 1; i < cells.size(); ++i) {
        const auto event = event_named(cells[i]);
        INFO("column " << i << ": '" << cells[i] << "'");
        REQUIRE(event.has_value());
        CHECK(std::find(columns.begin(), columns.end(), *event) == columns.end());
        columns.push_back(*event);
      }
      continue;
    }
    if (!in_table) continue;
    if (cells.empty()) {
      in_table = false;
      continue;
    }
    INFO("table row: " << line);
    if (!separator_seen) {
      CHECK(cells[0].find_first_not_of("-:") == std::string_view::npos);
      separator_seen = true;
      continue;
    }
    REQUIRE(cells.size() == columns.size() + 1);
    const auto state = state_named(cells[0]);
    REQUIRE(state.has_value());
    CHECK(rows.insert(*state).second);  // each state once
    for (std::size_t i = 0; i < columns.size(); ++i) {
      INFO(event_pair_name(*state, columns[i]) << ": '" << cells[i + 1] << "'");
      const bool yes = cells[i + 1] == "yes";
      CHECK((yes || cells[i + 1] == "no"));
      if (yes) tabulated.insert({*state, columns[i]});
    }
  }
  REQUIRE(tables == 1);
  CHECK(columns.size() == exitguard::exit_event_count);
  CHECK(rows.size() == exitguard::exit_transition_state_count);
  for (S state : exitguard::exit_transition_states) {
    for (E event : exitguard::exit_events) {
      INFO(event_pair_name(state, event));
      CHECK((tabulated.count({state, event}) == 1) == exitguard::is_allowed_event(state, event));
    }
  }
}
