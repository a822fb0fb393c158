// exitguard-test-set: optimized
// docs/configuration.md against the code: each settings type's table lists exactly the
// data members its struct declares, so a member added, renamed or removed without the
// docs (or a documented type that does not exist) fails here. The members are read from
// the header's text, the way errors_test reads docs/errors.md: C++ has no reflection.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
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

}  // namespace

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
