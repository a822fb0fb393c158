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
// `setup` scripts; the exits log to `sink`.
struct LoggedExits {
  explicit LoggedExits(std::shared_ptr<exitguard::test::CapturingSink> sink) : sink_(std::move(sink)) {}

  template <class Setup>
  std::vector<Report> run(std::vector<std::string> positions, Setup setup) {
    ManualClock::reset();
    boost::asio::io_context ioc;
    exitguard::testing::VirtualTimeDriver driver(ioc);
    Venue venue(ioc.get_executor(), exitguard::testing::linear_price(95.0, -1.0 / 6.0));
    setup(venue);
    exitguard::BasicExitSettings<ManualClock> settings;
    settings.logger = exitguard::test::capturing_logger(sink_);
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

TEST_CASE("one line per transition, with exit id, position, attempt, step and reason") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink);
  const auto reports = logged.run({"SOL-1"}, [](Venue& v) {
    v.push(script(MockFate::lost));  // BUG-003: the first transaction never confirms
    v.set_default(script(MockFate::fill, 2s));
  });
  REQUIRE(reports[0].closed());
  const auto lines = sink->events("exit_transition ");
  const std::string id = "exit_id=" + std::to_string(reports[0].exit_id);
  const std::vector<std::string> expected = {
      "exit_transition " + id + " position=SOL-1 from=PositionOpen to=ExitSignalReceived attempt=0 step=0 "
                                "reason=\"exit signal\" tx=\"\"",
      "exit_transition " + id + " position=SOL-1 from=ExitSignalReceived to=ExitSubmitted attempt=1 step=0 "
                                "reason=\"limit order sent\" tx=\"\"",
      "exit_transition " + id + " position=SOL-1 from=ExitSubmitted to=ExitTimedOut attempt=1 step=0 "
                                "reason=\"attempt timed out: in doubt\" tx=\"\"",
      "exit_transition " + id + " position=SOL-1 from=ExitTimedOut to=ExitSubmitted attempt=2 step=0 "
                                "reason=\"limit order sent\" tx=\"\"",
      "exit_transition " + id + " position=SOL-1 from=ExitSubmitted to=PositionClosed attempt=2 step=0 "
                                "reason=filled tx=tx-2",
  };
  CHECK(lines == expected);
  // As many lines as audited transitions: nothing logged twice, nothing missed.
  CHECK(lines.size() == reports[0].audit_trail.size());
  for (const auto& l : sink->lines()) CHECK(l.level == spdlog::level::info);
}

TEST_CASE("a failed exit logs at warn, the breaker trip and the halt at error") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink);
  const auto reports = logged.run({"SOL-1", "SOL-2"}, [](Venue& v) {
    v.add_outage(ManualClock::now(), ManualClock::now() + 45s);
  });
  REQUIRE(reports.size() == 2);

  std::vector<std::string> failed;
  for (const auto& l : sink->lines())
    if (l.text.find(" to=ExitFailed ") != std::string::npos) {
      CHECK(l.level == spdlog::level::warn);
      failed.push_back(l.text);
    }
  REQUIRE(failed.size() == 2);
  CHECK(failed[0].find("reason=\"the exit deadline was reached with the position still open\"") != std::string::npos);

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

TEST_CASE("a refused transition is logged at error as exit_transition_refused") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  auto logger = exitguard::test::capturing_logger(sink);
  exitguard::detail::log_transition(*logger, 3, "ETH", exitguard::ExitTransitionState::position_closed,
                                    exitguard::ExitTransitionState::exit_submitted, 4, 1, "late retry", "tx-9", false);
  const auto lines = sink->lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].level == spdlog::level::err);
  CHECK(lines[0].text == "exit_transition_refused exit_id=3 position=ETH from=PositionClosed to=ExitSubmitted "
                         "attempt=4 step=1 reason=\"late retry\" tx=tx-9");
}

TEST_CASE("the logger's level filters transition lines before they are formatted") {
  auto sink = std::make_shared<exitguard::test::CapturingSink>();
  LoggedExits logged(sink);
  logged.halt.halt("ops", "maintenance");  // the exit is refused: ExitFailed at warn
  const auto lines_before = sink->lines().size();
  CHECK(lines_before == 0);  // the halt happened before the logger was subscribed
  auto reports = logged.run({"SOL-1"}, [](Venue&) {});
  REQUIRE(reports[0].error == exitguard::error::trading_halted);
  std::size_t info = 0, warn = 0;
  for (const auto& l : sink->lines()) {
    info += l.level == spdlog::level::info;
    warn += l.level == spdlog::level::warn;
  }
  CHECK(info == 1);  // PositionOpen -> ExitSignalReceived
  CHECK(warn == 1);  // ExitSignalReceived -> ExitFailed

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
  CHECK(lines[0].text.find("to=ExitFailed") != std::string::npos);
}
