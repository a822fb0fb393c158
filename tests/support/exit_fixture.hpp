// tests/support/exit_fixture.hpp — one exit, in virtual time, against a MockVenue.
//
// ExitFixture owns what an exit needs: an io_context driven by a VirtualTimeDriver
// on the ManualClock, a MockVenue (constant price 95 unless told otherwise), a
// trading halt coordinator, a circuit breaker on it, and an AdaptiveExitExecutor
// wired to all of them (and to an optional metrics sink). Its first base resets the
// ManualClock, so the venue's price path and every exit start at t = 0.
//
//   ExitFixture f;                        // default settings
//   auto [ec, report] = f.run(f.open());  // one exit to its terminal state
//
// run() drives the io_context until the exit's handler has run, checks that it ran
// exactly once and that the report's audit trail is consistent (check_audit), and
// returns (error_code, report). start() only starts an exit and returns its result
// holder, for tests that act while it is in flight (halt, cancel, several exits).
//
// Use from one thread (the driver's). Members are declared so that they are
// destroyed executor first, io_context last (the venue must go before its io_context).
#pragma once

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/metrics.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace exit_fixture {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::system::error_code;

using Clock = exitguard::testing::ManualClock;
using Venue = exitguard::testing::BasicMockVenue<Clock>;
using Script = Venue::script_type;
using Fate = exitguard::testing::MockFate;
using Exits = exitguard::BasicAdaptiveExitExecutor<Clock>;
using Report = exitguard::BasicExitReport<Clock>;
using Settings = exitguard::BasicExitSettings<Clock>;
using Step = exitguard::BasicEscalationStep<Clock>;
using Policy = exitguard::BasicRetryPolicy<Clock>;
using Halt = exitguard::BasicTradingHaltCoordinator<Clock>;
using Breaker = exitguard::BasicExitCircuitBreaker<Clock>;
using BreakerSettings = exitguard::BasicCircuitBreakerSettings<Clock>;
using S = exitguard::ExitTransitionState;

// The instant `d` after the clock's epoch (every fixture starts the clock there).
inline Clock::time_point at(Clock::duration d) { return Clock::time_point(d); }

// A logger that drops everything: the tests check reports, not log lines (logging_test does).
inline std::shared_ptr<spdlog::logger> quiet_logger() {
  static const auto logger =
      std::make_shared<spdlog::logger>("exit_fixture", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

// `s` with the quiet logger, unless it names its own.
inline Settings quiet(Settings s) {
  if (!s.logger) s.logger = quiet_logger();
  return s;
}

// --- scripts ------------------------------------------------------------------

inline Script fill(Clock::duration latency = 2s, double fill_ratio = 1.0, double slippage_bps = 0) {
  Script s;
  s.fate = Fate::fill;
  s.latency = latency;
  s.fill_ratio = fill_ratio;
  s.slippage_bps = slippage_bps;
  return s;
}

inline Script reject(exitguard::error e, Clock::duration latency = 1s) {
  Script s;
  s.fate = Fate::reject;
  s.latency = latency;
  s.error = make_error_code(e);
  return s;
}

inline Script lost() {
  Script s;
  s.fate = Fate::lost;
  return s;
}

inline Script land_late(Clock::duration lands_after, double fill_ratio = 1.0) {
  Script s;
  s.fate = Fate::land_late;
  s.lands_after = lands_after;
  s.fill_ratio = fill_ratio;
  return s;
}

inline Script in_doubt(Clock::duration latency, std::optional<Clock::duration> lands_after, double fill_ratio = 1.0) {
  Script s;
  s.fate = Fate::in_doubt;
  s.latency = latency;
  s.lands_after = lands_after;
  s.fill_ratio = fill_ratio;
  return s;
}

// --- reports ------------------------------------------------------------------

// What one audit entry is. The engine records, besides its transitions, "notes":
// facts that change no state ("position reconciled", "trading halted", a malformed
// answer), with from == to and accepted; and refused events (accepted false, `event`
// set), which a normal exit has none of. The one transition from a state to itself is
// PartiallyFilled -> PartiallyFilled (another partial fill), which the engine records
// as "partially filled" or "late partial fill".
template <class C>
bool is_refused_event(const exitguard::BasicAuditEntry<C>& e) {
  return e.event.has_value();
}
template <class C>
bool is_note(const exitguard::BasicAuditEntry<C>& e) {
  if (!e.accepted || e.event || e.from != e.to) return false;
  return !(e.to == exitguard::ExitTransitionState::partially_filled &&
           (e.reason == "partially filled" || e.reason == "late partial fill"));
}
template <class C>
bool is_transition(const exitguard::BasicAuditEntry<C>& e) {
  return !is_refused_event(e) && !is_note(e);
}

// State-machine consistency: no refused transition, no refused event (unless
// `refused_events_expected`), and every entry starts where the previous one ended
// (the first one from PositionOpen, unless the bounded trail dropped older entries;
// notes and refused events stay where they are).
template <class C>
void check_audit(const exitguard::BasicExitReport<C>& r, std::size_t dropped = 0, bool refused_events_expected = false) {
  INFO("exit " << r.exit_id << " ended " << exitguard::to_string(r.final_state));
  REQUIRE_FALSE(r.audit_trail.empty());
  if (dropped == 0) {
    CHECK(r.audit_trail.front().from == exitguard::ExitTransitionState::position_open);
    CHECK(r.audit_trail.front().reason == "exit signal");
  }
  for (std::size_t i = 0; i < r.audit_trail.size(); ++i) {
    const auto& e = r.audit_trail[i];
    INFO("audit entry " << i << ": " << exitguard::to_string(e.from) << " -> " << exitguard::to_string(e.to) << " ("
                        << e.reason << ")" << (e.event ? " refused event " : "")
                        << (e.event ? std::string(exitguard::to_string(*e.event)) : std::string()));
    if (is_refused_event(e)) {
      CHECK(refused_events_expected);
      CHECK_FALSE(e.accepted);
      CHECK(e.from == e.to);
      CHECK(e.error == exitguard::error::event_not_allowed);
    } else {
      CHECK(e.accepted);  // a refused transition is a bug of the engine
    }
    if (i > 0) CHECK(e.from == r.audit_trail[i - 1].to);
  }
  CHECK(r.audit_trail.back().to == r.final_state);
  CHECK(exitguard::is_terminal(r.final_state));
}

// The states an exit went through: the first entry's `from`, then every transition's `to`.
template <class C>
std::vector<exitguard::ExitTransitionState> trail_states(const exitguard::BasicExitReport<C>& r) {
  std::vector<exitguard::ExitTransitionState> out;
  if (r.audit_trail.empty()) return out;
  out.push_back(r.audit_trail.front().from);
  for (const auto& e : r.audit_trail)
    if (is_transition(e)) out.push_back(e.to);
  return out;
}

// The audit entries that are notes (see is_note), oldest first.
template <class C>
std::vector<exitguard::BasicAuditEntry<C>> audit_notes(const exitguard::BasicExitReport<C>& r) {
  std::vector<exitguard::BasicAuditEntry<C>> out;
  for (const auto& e : r.audit_trail)
    if (is_note(e)) out.push_back(e);
  return out;
}

// Whether some audit entry carries `e`.
template <class C>
bool audit_has_error(const exitguard::BasicExitReport<C>& r, exitguard::error e) {
  for (const auto& entry : r.audit_trail)
    if (entry.error == e) return true;
  return false;
}

// When the exit first entered `state` (the clock's time since its epoch), if it did.
template <class C>
std::optional<typename C::duration> entered_at(const exitguard::BasicExitReport<C>& r,
                                               exitguard::ExitTransitionState state) {
  for (const auto& e : r.audit_trail)
    if (is_transition(e) && e.to == state) return e.time.time_since_epoch();
  return std::nullopt;
}

// --- the fixture ---------------------------------------------------------------

// What one started exit has produced so far.
struct ExitResult {
  int calls = 0;  // how many times the completion handler ran (must be one)
  error_code ec;
  Report report;
  bool done() const noexcept { return calls > 0; }
};

struct ClockReset {
  ClockReset() noexcept { Clock::reset(); }
};

struct ExitFixture : ClockReset {
  asio::io_context ioc;
  exitguard::testing::VirtualTimeDriver driver{ioc};
  Venue venue;
  Halt halt;
  Breaker breaker;
  Exits exits;

  explicit ExitFixture(Settings settings = {}, exitguard::MetricsSink* sink = nullptr, BreakerSettings breaker_settings = {},
                       exitguard::testing::PricePath price = exitguard::testing::constant_price(95.0))
      : venue(ioc.get_executor(), std::move(price)),
        breaker(halt, std::move(breaker_settings)),
        exits(ioc.get_executor(), quiet(std::move(settings)), &breaker, &halt, sink) {}

  // Opens `quantity` of position `id` at the venue and returns the request that closes it.
  exitguard::ExitRequest open(std::string id = "SOL-1", exitguard::Quantity quantity = 1000,
                              double signal_price = 95.0, exitguard::Quantity lot_size = 1) {
    venue.open_position(id, quantity, lot_size);
    exitguard::ExitRequest r;
    r.position_id = std::move(id);
    r.side = exitguard::Side::sell;
    r.quantity = quantity;
    r.signal_price = signal_price;
    r.reason = "stop-loss";
    r.lot_size = lot_size;
    return r;
  }

  // Starts an exit through `v` with a callback token, optionally bound to a cancellation slot.
  template <class V>
  std::shared_ptr<ExitResult> start_on(V& v, exitguard::ExitRequest request,
                                       asio::cancellation_slot slot = asio::cancellation_slot()) {
    auto result = std::make_shared<ExitResult>();
    auto handler = [result](error_code ec, Report report) {
      ++result->calls;
      result->ec = ec;
      result->report = std::move(report);
    };
    if (slot.is_connected())
      exitguard::execute_exit(exits, v, std::move(request), asio::bind_cancellation_slot(slot, std::move(handler)));
    else
      exitguard::execute_exit(exits, v, std::move(request), std::move(handler));
    return result;
  }

  std::shared_ptr<ExitResult> start(exitguard::ExitRequest request,
                                    asio::cancellation_slot slot = asio::cancellation_slot()) {
    return start_on(venue, std::move(request), slot);
  }

  // Drives the io_context until `result`'s handler has run; checks it ran once and
  // that the audit trail is consistent.
  std::pair<error_code, Report> finish(const std::shared_ptr<ExitResult>& result,
                                       Clock::duration limit = std::chrono::minutes(10)) {
    REQUIRE(driver.run_until([&result] { return result->done(); }, limit));
    REQUIRE(result->calls == 1);
    check_audit(result->report, 0);
    return {result->ec, result->report};
  }

  // One exit from start to its terminal state.
  std::pair<error_code, Report> run(exitguard::ExitRequest request) { return finish(start(std::move(request))); }

  Clock::duration now() const { return Clock::now().time_since_epoch(); }
};

}  // namespace exit_fixture

// Readable names in Catch2's messages.
namespace Catch {
template <>
struct StringMaker<exitguard::ExitTransitionState> {
  static std::string convert(exitguard::ExitTransitionState s) { return std::string(exitguard::to_string(s)); }
};
template <>
struct StringMaker<exitguard::AttemptOutcome> {
  static std::string convert(exitguard::AttemptOutcome o) { return std::string(exitguard::to_string(o)); }
};
template <>
struct StringMaker<exitguard::TradingState> {
  static std::string convert(exitguard::TradingState s) { return std::string(exitguard::to_string(s)); }
};
template <>
struct StringMaker<exitguard::BreakerState> {
  static std::string convert(exitguard::BreakerState s) { return std::string(exitguard::to_string(s)); }
};
template <>
struct StringMaker<exitguard::OrderKind> {
  static std::string convert(exitguard::OrderKind k) { return std::string(exitguard::to_string(k)); }
};
}  // namespace Catch
