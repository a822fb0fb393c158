// exitguard-test-set: sanitized
#include <exitguard/logging.hpp>

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>

#include "support/capturing_sink.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using exitguard::testing::ManualClock;
using exitguard::testing::MockFate;
using Venue = exitguard::testing::MockVenue;
using Exits = exitguard::BasicAdaptiveExitExecutor<ManualClock>;
using Report = exitguard::BasicExitReport<ManualClock>;
using Script = Venue::script_type;

Script script(MockFate fate, ManualClock::duration latency = 2s) {
  Script s;
  s.fate = fate;
  s.latency = latency;
  return s;
}

// Runs exits for `positions` (1,000 units each, signal at 95) through a venue that
// `setup` scripts; the exits log to `sink` through a logger at `level` (debug: every
// transition line; info is spdlog's default, what a deployment sees).
struct LoggedExits {
  explicit LoggedExits(std::shared_ptr<exitguard::test::CapturingSink> sink,
                       spdlog::level::level_enum level = spdlog::level::debug)
      : sink_(std::move(sink)), level_(level) {}

  template <class Setup>
  std::vector<Report> run(std::vector<std::string> positions, Setup setup) {
    ManualClock::reset();
    boost::asio::io_context ioc;
    exitguard::testing::VirtualTimeDriver driver(ioc);
    Venue venue(ioc.get_executor(), exitguard::testing::linear_price(95.0, -1.0 / 6.0));
    setup(venue);
    exitguard::BasicExitSettings<ManualClock> settings;
    settings.logger = exitguard::test::capturing_logger(sink_);
    settings.logger->set_level(level_);
    exitguard::log_trading_state_changes(halt, settings.logger);
    Exits exits(ioc.get_executor(), settings, &breaker, &halt);
    std::vector<std::optional<Report>> reports(positions.size());
    for (std::size_t i = 0; i < positions.size(); ++i) {
      venue.open_position(positions[i], 1000);
      exitguard::execute_exit(exits, venue, exitguard::ExitRequest{positions[i], exitguard::Side::sell, 1000, 95},
                              [&reports, i](boost::system::error_code, Report r) { reports[i] = std::move(r); });
    }
    driver.run_until([&] {
      for (auto& r : reports)
        if (!r) return false;
      return true;
    });
    std::vector<Report> out;
    for (auto& r : reports) out.push_back(std::move(*r));
    return out;
  }

  std::shared_ptr<exitguard::test::CapturingSink> sink_;
  spdlog::level::level_enum level_;
  exitguard::BasicTradingHaltCoordinator<ManualClock> halt;
  exitguard::BasicExitCircuitBreaker<ManualClock> breaker{halt};
};

}  // namespace

TEST_CASE("logging.hpp compiles on its own and names the default logger") {
  STATIC_REQUIRE(exitguard::default_logger_name == "exitguard");
}

TEST_CASE("logfmt values are bare tokens or quoted with escapes") {
  using exitguard::detail::logfmt_value;
  CHECK(logfmt_value("SOL-1") == "SOL-1");
  CHECK(logfmt_value("") == "\"\"");
  CHECK(logfmt_value("two words") == "\"two words\"");
  CHECK(logfmt_value("a=b") == "\"a=b\"");
  CHECK(logfmt_value("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(logfmt_value("back\\slash") == "\"back\\\\slash\"");
  CHECK(logfmt_value("line\nbreak") == "\"line break\"");
}

TEST_CASE("the default logger is the one registered as exitguard") {
  auto first = exitguard::default_logger();
  REQUIRE(first);
  CHECK(first->name() == "exitguard");
  CHECK(exitguard::default_logger() == first);
  CHECK(spdlog::get("exitguard") == first);
}

TEST_CASE("an executor without a logger logs to the exitguard logger") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  Exits exits(ioc.get_executor());
  CHECK(exits.settings().logger == exitguard::default_logger());
}

TEST_CASE("one line per transition at debug, with exit id, position, attempt, step, reason and error") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink, spdlog::level::debug);
  const auto reports = logged.run({"SOL-1"}, [](Venue& v) {
    v.push(script(MockFate::lost));  // BUG-003: the first transaction never confirms
    v.set_default(script(MockFate::fill, 2s));
  });
  REQUIRE(reports[0].closed());
  const auto lines = sink->events("exit_transition ");
  const std::string id = "exit_id=" + std::to_string(reports[0].exit_id);
  const std::vector<std::string> expected = {
      "exit_transition " + id + " position=SOL-1 from=PositionOpen to=ExitSignalReceived attempt=0 step=0 "
                                "reason=\"exit signal\" tx=\"\" error=none",
      "exit_transition " + id + " position=SOL-1 from=ExitSignalReceived to=ExitSubmitted attempt=1 step=0 "
                                "reason=\"limit order sent\" tx=\"\" error=none",
      "exit_transition " + id + " position=SOL-1 from=ExitSubmitted to=ExitTimedOut attempt=1 step=0 "
                                "reason=\"attempt timed out: in doubt\" tx=\"\" "
                                "error=\"the attempt timed out without an answer\"",
      "exit_transition " + id + " position=SOL-1 from=ExitTimedOut to=ExitSubmitted attempt=2 step=0 "
                                "reason=\"limit order sent\" tx=\"\" error=none",
      "exit_transition " + id + " position=SOL-1 from=ExitSubmitted to=PositionClosed attempt=2 step=0 "
                                "reason=closed tx=tx-2 error=none",
  };
  CHECK(lines == expected);
  // As many lines as audit entries (transitions and notes): nothing logged twice, nothing missed.
  CHECK(lines.size() + sink->events("exit_note ").size() == reports[0].audit_trail.size());
  for (const auto& l : sink->lines())
    if (l.text.rfind("exit_transition ", 0) == 0) CHECK(l.level == spdlog::level::debug);

  // And one exit_finished line, at info: the exit closed.
  const auto finished = sink->events("exit_finished ");
  REQUIRE(finished.size() == 1);
  CHECK(finished[0] == "exit_finished " + id + " position=SOL-1 state=PositionClosed error=none attempts=2 "
                                                "filled=1000 of=1000 exit_time_ms=11000");
  for (const auto& l : sink->lines())
    if (l.text.rfind("exit_finished ", 0) == 0) CHECK(l.level == spdlog::level::info);
  // Nothing went wrong: nothing at warn or above.
  for (const auto& l : sink->lines()) CHECK(l.level < spdlog::level::warn);
}

TEST_CASE("quiet by default: at info, a successful exit prints exactly one line") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink, spdlog::level::info);
  const auto reports = logged.run({"SOL-1"}, [](Venue& v) {
    v.push(script(MockFate::lost));  // even with a lost attempt and a retry
    v.set_default(script(MockFate::fill, 2s));
  });
  REQUIRE(reports[0].closed());
  REQUIRE(reports[0].attempts == 2);
  const auto lines = sink->lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].level == spdlog::level::info);
  CHECK(lines[0].text.rfind("exit_finished exit_id=" + std::to_string(reports[0].exit_id) +
                                " position=SOL-1 state=PositionClosed error=none attempts=2 ",
                            0) == 0);

  // The "exitguard" logger an executor uses by default is at spdlog's default level, info.
  CHECK(exitguard::default_logger()->level() == spdlog::level::info);
}

TEST_CASE("a malformed venue answer is logged at warn, as a note with its error") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink, spdlog::level::info);
  const auto reports = logged.run({"SOL-1"}, [](Venue& v) {
    Script bad = script(MockFate::malformed, 2s);
    bad.malformed_kind = exitguard::testing::MockMalformed::fill_without_quantity;
    v.push(bad);  // lands, but its answer says "filled" with no quantity: in doubt
    v.set_default(script(MockFate::fill, 2s));
  });
  // The position query (MockVenue answers it) finds the position closed.
  CHECK(reports[0].closed());
  CHECK(reports[0].anomalies >= 1);
  std::vector<std::string> warned;
  for (const auto& l : sink->lines())
    if (l.level == spdlog::level::warn) warned.push_back(l.text);
  REQUIRE(warned.size() == 1);
  CHECK(warned[0].rfind("exit_note exit_id=" + std::to_string(reports[0].exit_id), 0) == 0);
  CHECK(warned[0].find(" attempt=1 ") != std::string::npos);
  CHECK(warned[0].find(" reason=\"fill without a positive quantity: in doubt\" ") != std::string::npos);
  CHECK(warned[0].find(" error=\"the venue reported a fill without a positive quantity\"") != std::string::npos);
  // The exit itself closed: its one exit_finished line is at info.
  const auto finished = sink->events("exit_finished ");
  REQUIRE(finished.size() == 1);
  CHECK(finished[0].find(" state=PositionClosed ") != std::string::npos);
}

TEST_CASE("a failed exit logs at warn, the breaker trip and the halt at error") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink, spdlog::level::debug);
  const auto reports = logged.run({"SOL-1", "SOL-2"}, [](Venue& v) {
    v.add_outage(ManualClock::now(), ManualClock::now() + 45s);
  });
  REQUIRE(reports.size() == 2);

  // The transition to ExitFailed is a transition (debug); the exit's one
  // exit_finished line says it failed, at warn.
  std::vector<std::string> failed;
  for (const auto& l : sink->lines())
    if (l.text.find(" to=ExitFailed ") != std::string::npos) {
      CHECK(l.level == spdlog::level::debug);
      failed.push_back(l.text);
    }
  REQUIRE(failed.size() == 2);
  CHECK(failed[0].find("reason=\"the exit deadline was reached with the position open\"") != std::string::npos);
  CHECK(failed[0].find("error=\"the exit deadline was exceeded\"") != std::string::npos);
  std::vector<std::string> finished;
  for (const auto& l : sink->lines())
    if (l.text.rfind("exit_finished ", 0) == 0) {
      CHECK(l.level == spdlog::level::warn);
      finished.push_back(l.text);
    }
  REQUIRE(finished.size() == 2);
  for (const auto& line : finished) {
    CHECK(line.find(" state=ExitFailed error=deadline_exceeded attempts=5 filled=0 of=1000 exit_time_ms=30000") !=
          std::string::npos);
  }

  const auto trips = sink->events("breaker_tripped ");
  REQUIRE(trips.size() == 1);
  // The second failure trips it: its exit is the one named.
  const auto& second = reports[0].breaker_tripped ? reports[0] : reports[1];
  CHECK(trips[0] == "breaker_tripped exit_id=" + std::to_string(second.exit_id) + " position=" + second.position_id +
                        " trips=1 state=open error=\"the exit deadline was exceeded\"");

  const auto halts = sink->events("trading_state ");
  REQUIRE(halts.size() == 1);
  CHECK(halts[0] ==
        "trading_state from=running to=halted who=exit_circuit_breaker why=\"2 consecutive failed exits\"");
  for (const auto& l : sink->lines())
    if (l.text.rfind("breaker_tripped", 0) == 0 || l.text.rfind("trading_state", 0) == 0)
      CHECK(l.level == spdlog::level::err);
}

TEST_CASE("a refused transition is logged at warn as exit_transition_refused, a refused event as exit_event_refused") {
  using S = exitguard::ExitTransitionState;
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  auto logger = exitguard::test::capturing_logger(sink);
  logger->set_level(spdlog::level::debug);
  exitguard::detail::log_audit_entry(*logger, 3, "ETH", S::position_closed, S::exit_submitted, 4, 1, "late retry",
                                     "tx-9", false);
  // An event the state does not take: from == to, not accepted, with its error.
  exitguard::detail::log_audit_entry(*logger, 3, "ETH", S::position_closed, S::position_closed, 0, 0,
                                     "event not allowed in this state", "", false,
                                     make_error_code(exitguard::error::event_not_allowed), true);
  // Notes: a fact (debug), and a fact with an error (a malformed answer: warn).
  exitguard::detail::log_audit_entry(*logger, 3, "ETH", S::exit_timed_out, S::exit_timed_out, 0, 0,
                                     "position reconciled", "", true);
  exitguard::detail::log_audit_entry(*logger, 3, "ETH", S::exit_submitted, S::exit_submitted, 2, 0,
                                     "over-fill refused: counted as the order's quantity", "", true,
                                     make_error_code(exitguard::error::overfill));
  // A partial fill after a partial fill is a transition (PartiallyFilled -> PartiallyFilled), not a note.
  exitguard::detail::log_audit_entry(*logger, 3, "ETH", S::partially_filled, S::partially_filled, 2, 0,
                                     "late partial fill", "tx-2", true);
  const auto lines = sink->lines();
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].level == spdlog::level::warn);
  CHECK(lines[0].text == "exit_transition_refused exit_id=3 position=ETH from=PositionClosed to=ExitSubmitted "
                         "attempt=4 step=1 reason=\"late retry\" tx=tx-9 error=none");
  CHECK(lines[1].level == spdlog::level::warn);
  CHECK(lines[1].text == "exit_event_refused exit_id=3 position=ETH from=PositionClosed to=PositionClosed "
                         "attempt=0 step=0 reason=\"event not allowed in this state\" tx=\"\" "
                         "error=\"the exit's state does not allow this event: it was refused and audited\"");
  CHECK(lines[2].level == spdlog::level::debug);
  CHECK(lines[2].text == "exit_note exit_id=3 position=ETH from=ExitTimedOut to=ExitTimedOut attempt=0 step=0 "
                         "reason=\"position reconciled\" tx=\"\" error=none");
  CHECK(lines[3].level == spdlog::level::warn);
  CHECK(lines[3].text.rfind("exit_note exit_id=3 position=ETH from=ExitSubmitted to=ExitSubmitted attempt=2 ", 0) == 0);
  CHECK(lines[3].text.find("error=\"the venue reported more filled than the order's quantity\"") != std::string::npos);
  CHECK(lines[4].level == spdlog::level::debug);
  CHECK(lines[4].text.rfind("exit_transition exit_id=3 position=ETH from=PartiallyFilled to=PartiallyFilled ", 0) == 0);

  // At info (the default level) only the warn lines are formatted.
  auto quiet_sink = std::make_shared<exitguard::test::CapturingSink>();
  auto quiet = exitguard::test::capturing_logger(quiet_sink);
  quiet->set_level(spdlog::level::info);
  exitguard::detail::log_audit_entry(*quiet, 3, "ETH", S::exit_timed_out, S::exit_timed_out, 0, 0,
                                     "position reconciled", "", true);
  exitguard::detail::log_audit_entry(*quiet, 3, "ETH", S::position_closed, S::exit_submitted, 4, 1, "late retry",
                                     "tx-9", false);
  REQUIRE(quiet_sink->lines().size() == 1);
  CHECK(quiet_sink->lines()[0].text.rfind("exit_transition_refused ", 0) == 0);
}

TEST_CASE("the logger's level filters transition lines before they are formatted") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink, spdlog::level::debug);
  logged.halt.halt("ops", "maintenance");  // the exit is refused: its exit_finished line at warn
  const auto lines_before = sink->lines().size();
  CHECK(lines_before == 0);  // the halt happened before the logger was subscribed
  auto reports = logged.run({"SOL-1"}, [](Venue&) {});
  REQUIRE(reports[0].error == exitguard::error::trading_halted);
  std::size_t debug = 0, info = 0, warn = 0;
  for (const auto& l : sink->lines()) {
    debug += l.level == spdlog::level::debug;
    info += l.level == spdlog::level::info;
    warn += l.level == spdlog::level::warn;
  }
  CHECK(debug == 2);  // PositionOpen -> ExitSignalReceived -> ExitFailed
  CHECK(info == 0);
  CHECK(warn == 1);  // exit_finished state=ExitFailed error=trading_halted

  // Same run with the level at warn: the info line is gone, the warn line stays.
  auto sink2 = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits quiet(sink2);
  quiet.halt.halt("ops", "maintenance");
  ManualClock::reset();
  boost::asio::io_context ioc;
  exitguard::testing::VirtualTimeDriver driver(ioc);
  Venue venue(ioc.get_executor(), exitguard::testing::constant_price(95));
  exitguard::BasicExitSettings<ManualClock> settings;
  settings.logger = exitguard::test::capturing_logger(sink2);
  settings.logger->set_level(spdlog::level::warn);
  Exits exits(ioc.get_executor(), settings, &quiet.breaker, &quiet.halt);
  venue.open_position("SOL-1", 1000);
  std::optional<Report> report;
  exitguard::execute_exit(exits, venue, exitguard::ExitRequest{"SOL-1", exitguard::Side::sell, 1000, 95},
                          [&report](boost::system::error_code, Report r) { report = std::move(r); });
  driver.run_until([&] { return report.has_value(); });
  const auto lines = sink2->lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].level == spdlog::level::warn);
  CHECK(lines[0].text.rfind("exit_finished ", 0) == 0);
  CHECK(lines[0].text.find(" state=ExitFailed error=trading_halted attempts=0 ") != std::string::npos);
}
