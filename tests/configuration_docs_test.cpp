// exitguard-test-set: optimized
// docs/configuration.md against the code: each settings type's table lists exactly the
// data members its struct declares, so a member added, renamed or removed without the
// docs (or a documented type that does not exist) fails here. The members are read from
// the header's text, the way errors_test reads docs/errors.md: C++ has no reflection.
// Then every default the tables state is compared with a default-constructed object.

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_engine.hpp>
#include <exitguard/retry_policy.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <map>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace {

const std::filesystem::path source_root = std::filesystem::path(__FILE__).parent_path().parent_path();

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The data members of `struct <name>` in a header: declarations at the struct's top
// brace level that are neither static, nor a type alias, nor a function.
std::set<std::string> struct_members(const std::string& header, const std::string& name) {
  const std::string opening = "\nstruct " + name + " ";
  const auto at = header.find(opening);
  REQUIRE(at != std::string::npos);
  const auto body = header.find('{', at);
  REQUIRE(body != std::string::npos);
  static const std::regex member(R"(^\s*[A-Za-z_].*?[\s>*&]([a-z_][a-z0-9_]*)\s*(=[^;]*|\{[^;]*\})?;\s*(//.*)?$)");
  std::set<std::string> members;
  int depth = 0;
  std::string line;
  std::istringstream lines(header.substr(body));
  while (std::getline(lines, line)) {
    const int depth_before = depth;
    for (char c : line) depth += c == '{' ? 1 : c == '}' ? -1 : 0;
    if (depth_before == 1 && depth == 1) {
      std::smatch m;
      const bool skipped = line.find("static ") != std::string::npos || line.find("using ") != std::string::npos ||
                           line.find("return ") != std::string::npos;
      if (!skipped && std::regex_match(line, m, member)) members.insert(m[1]);
    }
    if (depth == 0 && depth_before > 0) break;
  }
  return members;
}

// The first column of the first table under the heading that starts with `heading`:
// the `member` names, without rows about a member's parts (`ladder[i].kind`).
std::set<std::string> documented_members(const std::string& doc, const std::string& heading) {
  const auto at = doc.find("\n" + heading);
  REQUIRE(at != std::string::npos);
  static const std::regex row(R"(^\| `([a-z_][a-z0-9_]*)` \|.*)");
  std::set<std::string> members;
  bool in_table = false;
  std::string line;
  std::istringstream lines(doc.substr(at + 1));
  std::getline(lines, line);  // the heading
  while (std::getline(lines, line)) {
    if (line.rfind("#", 0) == 0) break;  // the next section: no table
    const bool table_line = line.rfind("|", 0) == 0;
    if (in_table && !table_line) break;
    in_table = in_table || table_line;
    std::smatch m;
    if (std::regex_match(line, m, row)) members.insert(m[1]);
  }
  return members;
}

// The cells after the member name of each `member` row of that table.
std::map<std::string, std::vector<std::string>> documented_cells(const std::string& doc, const std::string& heading) {
  const auto at = doc.find("\n" + heading);
  REQUIRE(at != std::string::npos);
  static const std::regex row(R"(^\| `([a-z_][a-z0-9_]*)` \|(.*)$)");
  std::map<std::string, std::vector<std::string>> cells;
  std::string line;
  std::istringstream lines(doc.substr(at + 1));
  std::getline(lines, line);
  bool in_table = false;
  while (std::getline(lines, line)) {
    if (line.rfind("#", 0) == 0) break;
    const bool table_line = line.rfind("|", 0) == 0;
    if (in_table && !table_line) break;
    in_table = in_table || table_line;
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    std::vector<std::string> out;
    std::istringstream rest(m[2].str());
    std::string cell;
    while (std::getline(rest, cell, '|')) {
      const auto first = cell.find_first_not_of(' ');
      const auto last = cell.find_last_not_of(' ');
      out.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
    }
    cells[m[1]] = out;
  }
  return cells;
}

// A duration as the tables write it: "30 s", "500 ms".
template <class Rep, class Period>
std::string as_documented(std::chrono::duration<Rep, Period> d) {
  using namespace std::chrono;
  if (d % seconds(1) == d.zero()) return std::to_string(duration_cast<seconds>(d).count()) + " s";
  return std::to_string(duration_cast<milliseconds>(d).count()) + " ms";
}
std::string as_documented(bool b) { return b ? "true" : "false"; }
std::string as_documented(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
template <class Int>
  requires std::is_integral_v<Int>
std::string as_documented(Int v) {
  return std::to_string(v);
}
std::string as_documented(exitguard::Quantity q) { return std::to_string(q.units()); }

template <class Clock>
bool same_policy(const exitguard::BasicRetryPolicy<Clock>& a, const exitguard::BasicRetryPolicy<Clock>& b) {
  return a.max_attempts == b.max_attempts && a.total_timeout == b.total_timeout &&
         a.attempt_timeout == b.attempt_timeout && a.initial_backoff == b.initial_backoff &&
         a.backoff_multiplier == b.backoff_multiplier && a.max_backoff == b.max_backoff && a.jitter == b.jitter &&
         a.min_attempt_window == b.min_attempt_window;
}

// One stated default: the table's cell (backticks dropped) starts with `text`, and
// `holds` says the default-constructed object has that value.
struct StatedDefault {
  std::string member;
  std::size_t column;  // 0: "default"; 1: the next column (RetryPolicy's exit_policy())
  std::string text;
  bool holds;
};

void check_defaults(const std::string& heading, const std::vector<StatedDefault>& stated) {
  const auto cells = documented_cells(read_file(source_root / "docs" / "configuration.md"), heading);
  for (const auto& d : stated) {
    CAPTURE(heading, d.member, d.column, d.text);
    const auto row = cells.find(d.member);
    REQUIRE(row != cells.end());
    REQUIRE(row->second.size() > d.column);
    std::string cell = row->second[d.column];
    cell.erase(std::remove(cell.begin(), cell.end(), '`'), cell.end());
    CAPTURE(cell);
    // The text, then the end of the cell, a space, ':' or ',': "64" must not pass "640".
    const bool starts = cell.rfind(d.text, 0) == 0;
    const char after = cell.size() > d.text.size() ? cell[d.text.size()] : ' ';
    CHECK((starts && (after == ' ' || after == ':' || after == ',')));
    CHECK(d.holds);
  }
}

}  // namespace

TEST_CASE("docs/configuration.md states the defaults the code has", "[docs][configuration]") {
  using Clock = std::chrono::steady_clock;
  SECTION("the engine's settings") {
    const exitguard::BasicExitEngineSettings<Clock> s;
    check_defaults("### The engine's settings (`BasicExitEngineSettings`)",
                   {{"deadline", 0, as_documented(s.deadline), true},
                    {"final_window", 0, as_documented(s.final_window), true},
                    {"audit_capacity", 0, as_documented(s.audit_capacity) + " entries", true},
                    {"max_attempts_per_exit", 0, as_documented(s.max_attempts_per_exit), true},
                    {"late_answer_horizon", 0, as_documented(s.late_answer_horizon), true},
                    {"jitter_seed", 0, "0x65786974", s.jitter_seed == 0x65786974},
                    {"breaker_counts_market_rejections", 0, as_documented(s.breaker_counts_market_rejections), true},
                    {"ladder", 0, "limit 100 bps under RetryPolicy::exit_policy(), then market 500 bps",
                     s.ladder.size() == 2 && s.ladder[0].kind == exitguard::OrderKind::limit &&
                         s.ladder[0].max_slippage_bps == 100 &&
                         same_policy(s.ladder[0].policy, exitguard::BasicRetryPolicy<Clock>::exit_policy()) &&
                         s.ladder[1].kind == exitguard::OrderKind::market && s.ladder[1].max_slippage_bps == 500 &&
                         same_policy(s.ladder[1].policy, exitguard::market_step_policy<Clock>())}});
  }
  SECTION("what the driver adds") {
    const exitguard::BasicExitSettings<Clock> s;
    check_defaults("### What the driver adds (`BasicExitSettings`)",
                   {{"classifier", 0, "DefaultClassifier", static_cast<bool>(s.classifier)},
                    {"escalates", 0, "DefaultEscalationRule", static_cast<bool>(s.escalates)},
                    {"logger", 0, "empty", !s.logger},
                    {"on_late_fill_after_exit", 0, "empty", !s.on_late_fill_after_exit},
                    {"key_namespace", 0, "\"" + s.key_namespace + "\"", true},
                    {"key_instance", 0, "empty", !s.key_instance}});
  }
  SECTION("ExitRequest") {
    const exitguard::ExitRequest r;
    check_defaults("## ExitRequest (`exit_engine.hpp`)",
                   {{"position_id", 0, "empty", r.position_id.empty()},
                    {"side", 0, "Side::sell", r.side == exitguard::Side::sell},
                    {"quantity", 0, as_documented(r.quantity), true},
                    {"signal_price", 0, as_documented(r.signal_price), true},
                    {"reason", 0, "\"" + r.reason + "\"", true},
                    {"lot_size", 0, as_documented(r.lot_size) + " base unit", true},
                    {"decimals", 0, as_documented(r.decimals), true}});
  }
  SECTION("the breaker's settings") {
    const exitguard::BasicCircuitBreakerSettings<Clock> s;
    check_defaults("## BasicCircuitBreakerSettings (`exit_circuit_breaker.hpp`)",
                   {{"threshold", 0, as_documented(s.threshold) + " consecutive failed exits", true},
                    {"cooldown", 0, "none", !s.cooldown},
                    {"trip_action", 0, "TradingState::halted", s.trip_action == exitguard::TradingState::halted}});
  }
  SECTION("RetryPolicy{} and exit_policy()") {
    const auto stated = [](const exitguard::RetryPolicy& p, std::size_t column) {
      return std::vector<StatedDefault>{
          {"max_attempts", column, as_documented(p.max_attempts), true},
          {"total_timeout", column, as_documented(p.total_timeout), true},
          {"attempt_timeout", column, as_documented(p.attempt_timeout), true},
          {"initial_backoff", column, as_documented(p.initial_backoff), true},
          {"backoff_multiplier", column, as_documented(p.backoff_multiplier), true},
          {"max_backoff", column, as_documented(p.max_backoff), true},
          {"jitter", column, column == 0 ? "Jitter::none" : "none", p.jitter == exitguard::Jitter::none},
          {"min_attempt_window", column, as_documented(p.min_attempt_window), true}};
    };
    check_defaults("## RetryPolicy (`retry_policy.hpp`)", stated(exitguard::RetryPolicy{}, 0));
    check_defaults("## RetryPolicy (`retry_policy.hpp`)", stated(exitguard::RetryPolicy::exit_policy(), 1));
  }
}

TEST_CASE("docs/configuration.md lists exactly the members of each settings type", "[docs][configuration]") {
  struct Documented {
    const char* header;
    const char* type;
    const char* heading;
  };
  const auto [header, type, heading] = GENERATE(
      Documented{"exit_engine.hpp", "BasicExitEngineSettings", "### The engine's settings (`BasicExitEngineSettings`)"},
      Documented{"adaptive_exit_executor.hpp", "BasicExitSettings", "### What the driver adds (`BasicExitSettings`)"},
      Documented{"exit_engine.hpp", "ExitRequest", "## ExitRequest (`exit_engine.hpp`)"},
      Documented{"exit_circuit_breaker.hpp", "BasicCircuitBreakerSettings",
                 "## BasicCircuitBreakerSettings (`exit_circuit_breaker.hpp`)"},
      Documented{"retry_policy.hpp", "BasicRetryPolicy", "## RetryPolicy (`retry_policy.hpp`)"});
  CAPTURE(header, type);

  const auto code = struct_members(read_file(source_root / "include" / "exitguard" / header), type);
  const auto docs = documented_members(read_file(source_root / "docs" / "configuration.md"), heading);
  CHECK(code.size() >= 3);  // the parser found the struct's members at all
  // As vectors, so that a failure prints both lists.
  CHECK(std::vector<std::string>(docs.begin(), docs.end()) == std::vector<std::string>(code.begin(), code.end()));
}

TEST_CASE("the member parser reads declarations and skips everything else", "[docs][configuration]") {
  const std::string header =
      "\nstruct Sample {\n"
      "  using duration = int;\n"
      "  static constexpr int limit = 3;\n"
      "  Sample() : a(1) {}\n"
      "  int a = 1;  // a comment; with a semicolon\n"
      "  void declared_only(int x);\n"
      "  std::optional<std::uint64_t> b;\n"
      "  std::function<void(int)> c;\n"
      "  std::vector<Step<Clock>> d{};\n"
      "  int check() const noexcept {\n"
      "    int inner = 2;\n"
      "    return inner;\n"
      "  }\n"
      "};\n"
      "int after = 0;\n";
  CHECK(struct_members(header, "Sample") == std::set<std::string>{"a", "b", "c", "d"});

  const std::string doc =
      "\n## Sample\n\ntext\n\n| member | default |\n|---|---|\n| `a` | 1 |\n| `d[i].x` | 2 |\n| `b` | - |\n\n"
      "| `not_this_table` | |\n## Next\n| `nor_this` | |\n";
  CHECK(documented_members(doc, "## Sample") == std::set<std::string>{"a", "b"});
}
