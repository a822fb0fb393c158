// exitguard-test-set: optimized
// Tests for exitguard/error.hpp: the "exitguard" error category, its stable ids,
// names and messages, the conditions, configuration_error and the classifiers.
#include <exitguard/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using exitguard::error;
using exitguard::FailureKind;
using boost::system::error_code;
namespace errc = boost::system::errc;
namespace aerr = boost::asio::error;

// The stable ids and names. This table is the contract: a renumbered or renamed
// error breaks it, and a new error without a row here breaks the completeness test.
struct expected_error {
  error value;
  int id;
  std::string_view name;
};

constexpr expected_error expected_errors[] = {
    {error::deadline_exceeded, 101, "deadline_exceeded"},
    {error::attempt_timed_out, 102, "attempt_timed_out"},
    {error::attempts_exhausted, 103, "attempts_exhausted"},
    {error::total_timeout_exceeded, 104, "total_timeout_exceeded"},
    {error::in_doubt, 105, "in_doubt"},
    {error::operation_threw, 106, "operation_threw"},
    {error::invalid_transition, 201, "invalid_transition"},
    {error::trading_halted, 202, "trading_halted"},
    {error::circuit_open, 203, "circuit_open"},
    {error::exit_rejected, 204, "exit_rejected"},
    {error::in_doubt_unresolvable, 205, "in_doubt_unresolvable"},
    {error::slippage_exceeded, 206, "slippage_exceeded"},
    {error::attempt_limit_reached, 207, "attempt_limit_reached"},
    {error::venue_unavailable, 208, "venue_unavailable"},
    {error::insufficient_funds, 209, "insufficient_funds"},
    {error::event_not_allowed, 210, "event_not_allowed"},
    {error::callback_threw, 211, "callback_threw"},
    {error::attempt_expired, 212, "attempt_expired"},
    {error::fill_without_quantity, 401, "fill_without_quantity"},
    {error::overfill, 402, "overfill"},
    {error::unknown_submit_status, 403, "unknown_submit_status"},
    {error::invalid_fill_price, 404, "invalid_fill_price"},
    {error::invalid_reference_price, 405, "invalid_reference_price"},
    {error::invalid_position_report, 406, "invalid_position_report"},
    {error::position_query_failed, 407, "position_query_failed"},
    {error::duplicate_fill, 408, "duplicate_fill"},
    {error::invalid_max_attempts, 301, "invalid_max_attempts"},
    {error::invalid_total_timeout, 302, "invalid_total_timeout"},
    {error::invalid_attempt_timeout, 303, "invalid_attempt_timeout"},
    {error::attempt_timeout_exceeds_total, 304, "attempt_timeout_exceeds_total"},
    {error::invalid_initial_backoff, 305, "invalid_initial_backoff"},
    {error::invalid_backoff_multiplier, 306, "invalid_backoff_multiplier"},
    {error::invalid_max_backoff, 307, "invalid_max_backoff"},
    {error::invalid_jitter, 308, "invalid_jitter"},
    {error::invalid_min_attempt_window, 309, "invalid_min_attempt_window"},
    {error::invalid_deadline, 310, "invalid_deadline"},
    {error::final_window_does_not_fit, 311, "final_window_does_not_fit"},
    {error::invalid_slippage, 312, "invalid_slippage"},
    {error::invalid_ladder, 313, "invalid_ladder"},
    {error::invalid_breaker_threshold, 314, "invalid_breaker_threshold"},
    {error::invalid_cooldown, 315, "invalid_cooldown"},
    {error::invalid_quantity, 316, "invalid_quantity"},
    {error::invalid_audit_capacity, 317, "invalid_audit_capacity"},
    {error::invalid_price, 318, "invalid_price"},
    {error::invalid_trading_state, 319, "invalid_trading_state"},
    {error::cooldown_unused, 320, "cooldown_unused"},
    {error::deadline_too_long, 321, "deadline_too_long"},
    {error::invalid_late_answer_horizon, 322, "invalid_late_answer_horizon"},
    {error::invalid_lot_size, 323, "invalid_lot_size"},
    {error::invalid_exit_attempt_limit, 324, "invalid_exit_attempt_limit"},
    {error::invalid_key_namespace, 325, "invalid_key_namespace"},
};

bool is_expected_id(int id) {
  for (const auto& e : expected_errors)
    if (e.id == id) return true;
  return false;
}

bool is_timeout(error e) {
  return e == error::deadline_exceeded || e == error::attempt_timed_out ||
         e == error::total_timeout_exceeded;
}

}  // namespace

TEST_CASE("error.hpp compiles on its own and error is an error_code enum", "[error]") {
  STATIC_REQUIRE(boost::system::is_error_code_enum<exitguard::error>::value);
  STATIC_REQUIRE(boost::system::is_error_condition_enum<exitguard::condition>::value);
  STATIC_REQUIRE(std::is_same_v<std::underlying_type_t<exitguard::error>, int>);
  STATIC_REQUIRE(exitguard::Classifier<exitguard::DefaultClassifier>);
  STATIC_REQUIRE(exitguard::Classifier<exitguard::IdempotentClassifier>);
}

TEST_CASE("the error category is named exitguard and is one object", "[error]") {
  const error_code ec = error::deadline_exceeded;
  CHECK(std::strcmp(ec.category().name(), "exitguard") == 0);
  CHECK(ec.category() == exitguard::error_category());
  CHECK(&ec.category() == &exitguard::error_category());
  CHECK(std::strcmp(exitguard::condition_category().name(), "exitguard.condition") == 0);
  CHECK(exitguard::condition_category() != exitguard::error_category());
}

TEST_CASE("every error value has its stable id and name", "[error]") {
  for (const auto& e : expected_errors) {
    INFO("expected id " << e.id << " (" << e.name << ")");
    CHECK(static_cast<int>(e.value) == e.id);
    CHECK(exitguard::error_name(e.value) == e.name);
    const error_code ec = exitguard::make_error_code(e.value);
    CHECK(ec.value() == e.id);
    CHECK(ec.category() == exitguard::error_category());
    CHECK(static_cast<bool>(ec));
  }
  // Spot checks spelled out, as a reader looks for them.
  STATIC_REQUIRE(static_cast<int>(error::deadline_exceeded) == 101);
  STATIC_REQUIRE(static_cast<int>(error::in_doubt) == 105);
  STATIC_REQUIRE(static_cast<int>(error::invalid_transition) == 201);
  STATIC_REQUIRE(static_cast<int>(error::invalid_max_attempts) == 301);
  STATIC_REQUIRE(static_cast<int>(error::invalid_price) == 318);
}

TEST_CASE("the table of ids is complete: no id outside it has a name or message", "[error]") {
  const auto& cat = exitguard::error_category();
  int named = 0;
  for (int id = -10; id < 1000; ++id) {
    const auto name = exitguard::error_name(static_cast<error>(id));
    const std::string msg = cat.message(id);
    const bool unknown_msg = msg.rfind("unknown exitguard error", 0) == 0;
    INFO("id " << id << " name '" << name << "' message '" << msg << "'");
    if (is_expected_id(id)) {
      CHECK_FALSE(name.empty());
      CHECK_FALSE(unknown_msg);
      ++named;
    } else {
      CHECK(name.empty());
      CHECK(unknown_msg);
      CHECK(msg == "unknown exitguard error " + std::to_string(id));
    }
  }
  CHECK(named == static_cast<int>(std::size(expected_errors)));
}

TEST_CASE("messages and names are non-empty and unique", "[error]") {
  std::set<std::string> messages;
  std::set<std::string_view> names;
  for (const auto& e : expected_errors) {
    const error_code ec = e.value;
    const std::string msg = ec.message();
    INFO(e.name << ": '" << msg << "'");
    CHECK_FALSE(msg.empty());
    CHECK(msg.find("unknown") == std::string::npos);
    CHECK(messages.insert(msg).second);
    CHECK_FALSE(exitguard::error_name(e.value).empty());
    CHECK(names.insert(exitguard::error_name(e.value)).second);
  }
  CHECK(messages.size() == std::size(expected_errors));
  CHECK(names.size() == std::size(expected_errors));
}

TEST_CASE("the three time-outs compare equal to errc::timed_out, nothing else does", "[error]") {
  for (const auto& e : expected_errors) {
    const error_code ec = e.value;
    INFO(e.name);
    if (is_timeout(e.value)) {
      CHECK(ec == errc::timed_out);
      CHECK(ec == errc::make_error_condition(errc::timed_out));
      CHECK(ec.default_error_condition() == errc::make_error_condition(errc::timed_out));
      CHECK(ec == exitguard::condition::timeout);
    } else {
      CHECK(ec != errc::timed_out);
      CHECK(ec != exitguard::condition::timeout);
      CHECK(ec.default_error_condition().category() == exitguard::error_category());
      CHECK(ec.default_error_condition().value() == e.id);
    }
  }
  // The equivalence is one way: a system time-out is not one of ours.
  const error_code system_timeout = errc::make_error_code(errc::timed_out);
  CHECK(system_timeout != error::deadline_exceeded);
  CHECK(system_timeout != exitguard::condition::timeout);
}

TEST_CASE("every 3xx error is an invalid_configuration, and no other error is", "[error]") {
  int configuration_errors = 0;
  for (const auto& e : expected_errors) {
    const error_code ec = e.value;
    INFO(e.name);
    const bool is_3xx = e.id >= 300 && e.id < 400;
    CHECK((ec == exitguard::condition::invalid_configuration) == is_3xx);
    CHECK((ec == exitguard::make_error_condition(exitguard::condition::invalid_configuration)) == is_3xx);
    configuration_errors += is_3xx ? 1 : 0;
  }
  CHECK(configuration_errors == 25);
  // Codes of other categories are not configuration errors, even with a 3xx value.
  CHECK(error_code(301, boost::system::generic_category()) != exitguard::condition::invalid_configuration);
  CHECK(make_error_code(aerr::operation_aborted) != exitguard::condition::invalid_configuration);
}

TEST_CASE("the condition category has messages for its conditions", "[error]") {
  const auto& cat = exitguard::condition_category();
  CHECK(cat.message(1) == "invalid configuration");
  CHECK(cat.message(2) == "timed out");
  CHECK(cat.message(3) == "unknown exitguard condition 3");
  CHECK(exitguard::make_error_condition(exitguard::condition::timeout).value() == 2);
  CHECK(exitguard::make_error_condition(exitguard::condition::invalid_configuration).value() == 1);
}

TEST_CASE("configuration_error carries its code and names the error", "[error]") {
  const exitguard::configuration_error e(error::invalid_max_attempts);
  CHECK(e.code() == error::invalid_max_attempts);
  CHECK(e.code().value() == 301);
  CHECK(e.code() == exitguard::condition::invalid_configuration);
  const std::string what = e.what();
  CHECK(what.find("exitguard.invalid_max_attempts") != std::string::npos);
  CHECK(what.find("max_attempts must be between 1 and 100") != std::string::npos);
  // It is a system_error, so generic handlers catch it.
  try {
    throw exitguard::configuration_error(error::invalid_jitter);
  } catch (const boost::system::system_error& se) {
    CHECK(se.code() == error::invalid_jitter);
  }
}

TEST_CASE("throw_if_invalid throws only for a set code", "[error]") {
  CHECK_NOTHROW(exitguard::throw_if_invalid(error_code{}));
  try {
    exitguard::throw_if_invalid(error::invalid_total_timeout);
    FAIL("throw_if_invalid returned for a set code");
  } catch (const exitguard::configuration_error& e) {
    CHECK(e.code() == error::invalid_total_timeout);
  }
}

TEST_CASE("DefaultClassifier: time-outs and lost connections are in doubt", "[error][classifier]") {
  const exitguard::DefaultClassifier c;
  CHECK(c(errc::make_error_code(errc::timed_out)) == FailureKind::in_doubt);
  CHECK(c(aerr::timed_out) == FailureKind::in_doubt);
  CHECK(c(error::deadline_exceeded) == FailureKind::in_doubt);
  CHECK(c(error::attempt_timed_out) == FailureKind::in_doubt);
  CHECK(c(error::total_timeout_exceeded) == FailureKind::in_doubt);
  CHECK(c(error::in_doubt) == FailureKind::in_doubt);
  CHECK(c(aerr::connection_reset) == FailureKind::in_doubt);
  CHECK(c(aerr::connection_aborted) == FailureKind::in_doubt);
  CHECK(c(aerr::broken_pipe) == FailureKind::in_doubt);
  CHECK(c(aerr::eof) == FailureKind::in_doubt);
}

TEST_CASE("DefaultClassifier: requests that cannot have arrived are transient", "[error][classifier]") {
  const exitguard::DefaultClassifier c;
  CHECK(c(aerr::connection_refused) == FailureKind::transient);
  CHECK(c(aerr::network_unreachable) == FailureKind::transient);
  CHECK(c(aerr::host_unreachable) == FailureKind::transient);
  CHECK(c(aerr::network_down) == FailureKind::transient);
  CHECK(c(aerr::try_again) == FailureKind::transient);
  CHECK(c(aerr::would_block) == FailureKind::transient);
  CHECK(c(aerr::no_buffer_space) == FailureKind::transient);
  CHECK(c(aerr::host_not_found_try_again) == FailureKind::transient);
  CHECK(c(errc::make_error_code(errc::resource_unavailable_try_again)) == FailureKind::transient);
  CHECK(c(errc::make_error_code(errc::connection_refused)) == FailureKind::transient);
  CHECK(c(error::venue_unavailable) == FailureKind::transient);
  CHECK(c(error::attempt_expired) == FailureKind::transient);  // known dead: nothing can land, a new attempt is safe
}

TEST_CASE("DefaultClassifier: an errno is classified alike in the system and generic categories",
          "[error][classifier]") {
  const exitguard::DefaultClassifier c;
  struct row {
    errc::errc_t value;
    FailureKind kind;
  };
  const row rows[] = {
      {errc::timed_out, FailureKind::in_doubt},
      {errc::connection_reset, FailureKind::in_doubt},
      {errc::connection_aborted, FailureKind::in_doubt},
      {errc::broken_pipe, FailureKind::in_doubt},
      {errc::connection_refused, FailureKind::transient},
      {errc::network_unreachable, FailureKind::transient},
      {errc::host_unreachable, FailureKind::transient},
      {errc::network_down, FailureKind::transient},
      {errc::resource_unavailable_try_again, FailureKind::transient},
      {errc::no_buffer_space, FailureKind::transient},
      {errc::invalid_argument, FailureKind::permanent},
      {errc::no_such_file_or_directory, FailureKind::permanent},
  };
  for (const auto& r : rows) {
    const error_code generic = errc::make_error_code(r.value);
    const error_code system(static_cast<int>(r.value), boost::system::system_category());
    INFO(generic.message());
    CHECK(c(generic) == r.kind);
    CHECK(c(system) == r.kind);
  }
}

TEST_CASE("DefaultClassifier: everything else is permanent", "[error][classifier]") {
  const exitguard::DefaultClassifier c;
  CHECK(c(error::insufficient_funds) == FailureKind::permanent);
  CHECK(c(error::slippage_exceeded) == FailureKind::permanent);
  CHECK(c(error::exit_rejected) == FailureKind::permanent);
  CHECK(c(error::operation_threw) == FailureKind::permanent);
  CHECK(c(error::invalid_max_attempts) == FailureKind::permanent);
  CHECK(c(error::attempts_exhausted) == FailureKind::permanent);
  CHECK(c(aerr::operation_aborted) == FailureKind::permanent);
  CHECK(c(aerr::host_not_found) == FailureKind::permanent);
  CHECK(c(errc::make_error_code(errc::invalid_argument)) == FailureKind::permanent);
  CHECK(c(errc::make_error_code(errc::permission_denied)) == FailureKind::permanent);
}

TEST_CASE("IdempotentClassifier: in doubt becomes transient, the rest is unchanged", "[error][classifier]") {
  const exitguard::IdempotentClassifier c;
  CHECK(c(errc::make_error_code(errc::timed_out)) == FailureKind::transient);
  CHECK(c(error::attempt_timed_out) == FailureKind::transient);
  CHECK(c(error::in_doubt) == FailureKind::transient);
  CHECK(c(aerr::connection_reset) == FailureKind::transient);
  CHECK(c(aerr::eof) == FailureKind::transient);
  CHECK(c(aerr::connection_refused) == FailureKind::transient);
  CHECK(c(error::venue_unavailable) == FailureKind::transient);
  CHECK(c(error::insufficient_funds) == FailureKind::permanent);
  CHECK(c(error::slippage_exceeded) == FailureKind::permanent);
  CHECK(c(aerr::operation_aborted) == FailureKind::permanent);
  // Nothing is ever in doubt for it.
  for (const auto& e : expected_errors) CHECK(c(e.value) != FailureKind::in_doubt);
}

namespace {

// A user classifier: a venue whose rejection code 0x1771 (slippage) may be retried.
struct VenueClassifier {
  int retryable_code = 0x1771;
  FailureKind operator()(const error_code& ec) const {
    if (ec.value() == retryable_code) return FailureKind::transient;
    return exitguard::DefaultClassifier{}(ec);
  }
};

struct NotAClassifier {
  int operator()(int) const { return 0; }
};

struct NonCopyableClassifier {
  NonCopyableClassifier() = default;
  NonCopyableClassifier(const NonCopyableClassifier&) = delete;
  FailureKind operator()(const error_code&) const { return FailureKind::permanent; }
};

}  // namespace

TEST_CASE("a user classifier satisfies the Classifier concept", "[error][classifier]") {
  STATIC_REQUIRE(exitguard::Classifier<VenueClassifier>);
  constexpr auto lambda = [](const error_code&) { return FailureKind::transient; };
  STATIC_REQUIRE(exitguard::Classifier<decltype(lambda)>);
  STATIC_REQUIRE(exitguard::Classifier<FailureKind (*)(const error_code&)>);
  STATIC_REQUIRE_FALSE(exitguard::Classifier<NotAClassifier>);
  STATIC_REQUIRE_FALSE(exitguard::Classifier<NonCopyableClassifier>);
  STATIC_REQUIRE_FALSE(exitguard::Classifier<int>);

  const VenueClassifier c;
  CHECK(c(error_code(0x1771, boost::system::generic_category())) == FailureKind::transient);
  CHECK(c(error::insufficient_funds) == FailureKind::permanent);
  CHECK(c(aerr::timed_out) == FailureKind::in_doubt);
}

TEST_CASE("error_label: none, the exitguard name, or category:value", "[error]") {
  const auto [code, label] = GENERATE(table<error_code, std::string>({
      {error_code{}, "none"},
      {make_error_code(error::deadline_exceeded), "deadline_exceeded"},
      {make_error_code(error::in_doubt), "in_doubt"},
      {error_code(9999, exitguard::error_category()), "exitguard:9999"},  // no such error: not a blank name
      {error_code(ECONNREFUSED, boost::system::system_category()), "system:" + std::to_string(ECONNREFUSED)},
      {make_error_code(errc::timed_out), "generic:" + std::to_string(ETIMEDOUT)},
  }));
  CAPTURE(code.message());
  CHECK(exitguard::error_label(code) == label);
}

TEST_CASE("FailureKind names", "[error]") {
  STATIC_REQUIRE(exitguard::to_string(FailureKind::transient) == "transient");
  STATIC_REQUIRE(exitguard::to_string(FailureKind::permanent) == "permanent");
  STATIC_REQUIRE(exitguard::to_string(FailureKind::in_doubt) == "in_doubt");
  CHECK(exitguard::to_string(static_cast<FailureKind>(42)) == "unknown");
}

TEST_CASE("docs/errors.md has a row for every error, with its id, name and message", "[error][docs]") {
  // Found from this file's path, so the test works from any build directory.
  const auto doc = std::filesystem::path(__FILE__).parent_path().parent_path() / "docs" / "errors.md";
  INFO("reading " << doc.string());
  std::ifstream in(doc);
  REQUIRE(in.is_open());

  auto trim = [](std::string_view v) {
    const auto b = v.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return std::string_view{};
    return v.substr(b, v.find_last_not_of(" \t\r") - b + 1);
  };
  // Rows of the error tables: "| id | `name` | message | when it happens | what to do |".
  std::map<int, std::pair<std::string, std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view rest = trim(line);
    if (rest.size() < 2 || rest.front() != '|') continue;
    std::vector<std::string_view> cells;
    rest.remove_prefix(1);
    for (auto bar = rest.find('|'); bar != std::string_view::npos && cells.size() < 5; bar = rest.find('|')) {
      cells.push_back(trim(rest.substr(0, bar)));
      rest.remove_prefix(bar + 1);
    }
    if (cells.size() < 5 || cells[0].empty() || cells[0].find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    INFO("row: " << line);
    const int id = std::stoi(std::string(cells[0]));
    std::string_view name = cells[1];
    REQUIRE(name.size() > 2);
    CHECK(name.front() == '`');
    CHECK(name.back() == '`');
    name = name.substr(1, name.size() - 2);
    CHECK_FALSE(cells[3].empty());  // when it happens
    CHECK_FALSE(cells[4].empty());  // what to do
    CHECK(rows.emplace(id, std::pair{std::string(name), std::string(cells[2])}).second);  // each id once
  }

  for (const auto& e : expected_errors) {
    INFO("id " << e.id << " (" << e.name << ")");
    const auto row = rows.find(e.id);
    REQUIRE(row != rows.end());
    CHECK(row->second.first == e.name);
    CHECK(row->second.second == error_code(e.value).message());
  }
  for (const auto& [id, row] : rows) {
    INFO("documented id " << id << " (" << row.first << ")");
    CHECK(is_expected_id(id));
  }
  CHECK(rows.size() == std::size(expected_errors));
}
