// exitguard-test-set: sanitized
// Tests of exitguard/exclusivity_key.hpp: keys unique across executors, processes and
// restarts, and KeyLifetimes pinning one lifetime per key.

// First include: proves the header compiles on its own.
#include <exitguard/exclusivity_key.hpp>

#include <catch2/catch.hpp>

#include "support/exit_fixture.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace eg = exitguard;
using namespace exit_fixture;

namespace {

// The key prefix of an executor constructed in a new process, as after a restart.
std::string prefix_from_a_new_process() {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    asio::io_context ioc;
    const eg::AdaptiveExitExecutor exits(ioc.get_executor());
    const std::string& p = exits.keys().prefix();
    const auto written = ::write(fds[1], p.data(), p.size());
    ::_exit(written == static_cast<ssize_t>(p.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string out;
  std::array<char, 64> buf{};
  for (ssize_t n; (n = ::read(fds[0], buf.data(), buf.size())) > 0;) out.append(buf.data(), static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

}  // namespace

TEST_CASE("exclusivity_key.hpp compiles on its own and checks namespaces at compile time") {
  STATIC_REQUIRE(eg::ExclusivityKeyScope::valid_namespace("bot1"));
}

TEST_CASE("a key namespace is 1 to 8 ASCII letters or digits") {
  struct Case {
    const char* ns;
    bool valid;
  };
  const Case c = GENERATE(values<Case>({{"eg", true},
                                        {"Bot1", true},
                                        {"abcdefgh", true},
                                        {"", false},
                                        {"abcdefghi", false},
                                        {"bot-1", false},
                                        {"bot 1", false},
                                        {"b\xc3\xb6t", false}}));
  INFO(c.ns);
  CHECK(eg::ExclusivityKeyScope::valid_namespace(c.ns) == c.valid);
  Settings s;
  s.key_namespace = c.ns;
  CHECK((s.validate() == eg::error::invalid_key_namespace) == !c.valid);
}

TEST_CASE("a key is namespace, instance, exit id and generation, and stays a valid client order id") {
  const eg::ExclusivityKeyScope scope("abcdefgh", 0x0123456789abcdefULL);
  CHECK(scope.prefix() == "abcdefgh-0123456789abcdef");
  CHECK(scope.key(17, 2) == "abcdefgh-0123456789abcdef-17-2");
  const std::string longest = scope.key(999999, 99);
  CHECK(longest.size() <= 36);
  for (char ch : longest) CHECK(((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'));
}

TEST_CASE("keys from two executors, and from restarted processes, never collide") {
  asio::io_context ioc;
  const eg::AdaptiveExitExecutor first(ioc.get_executor());
  const eg::AdaptiveExitExecutor second(ioc.get_executor());
  const std::string a = first.keys().prefix(), b = second.keys().prefix();
  CHECK(a != b);
  // Both start their exit ids at 1: the prefix alone keeps their keys apart.
  CHECK(first.keys().key(1, 0) != second.keys().key(1, 0));

  const std::string restarted = prefix_from_a_new_process();
  const std::string restarted_again = prefix_from_a_new_process();
  CHECK(restarted.rfind("eg-", 0) == 0);
  CHECK(restarted.size() == a.size());
  std::set<std::string> prefixes{a, b, restarted, restarted_again};
  CHECK(prefixes.size() == 4);

  // Many scopes in one process: no repeat (the per-process counter alone guarantees
  // distinct inputs; 64 random bits make a collision vanishingly unlikely).
  for (int i = 0; i < 10000; ++i) prefixes.insert(eg::ExclusivityKeyScope::generate("eg").prefix());
  CHECK(prefixes.size() == 10004);
}

TEST_CASE("every order an executor sends carries its key prefix") {
  Settings s;
  s.key_namespace = "bot7";
  ExitFixture f(s);
  f.venue.push(lost());  // in doubt, exclusive: the next attempt keeps the key
  f.venue.set_default(fill());
  auto [ec, r] = f.run(f.open());
  CHECK_FALSE(ec);
  REQUIRE(f.venue.submissions().size() == 2);
  const std::string prefix = f.exits.keys().prefix();
  CHECK(prefix.rfind("bot7-", 0) == 0);
  for (const auto& sub : f.venue.submissions()) CHECK(sub.order.exclusivity_key == prefix + "-1-0");
}

TEST_CASE("a fixed key instance reproduces a run's keys") {
  eg::ExitSettings s;
  s.key_instance = 42;
  asio::io_context ioc;
  const eg::AdaptiveExitExecutor exits(ioc.get_executor(), s);
  CHECK(exits.keys().prefix() == "eg-000000000000002a");
}

TEST_CASE("KeyLifetimes pins one lifetime per key and refuses a second") {
  eg::KeyLifetimes<std::string> nonces;
  CHECK(nonces.find("k1") == nullptr);
  auto [first, inserted] = nonces.pin("k1", "nonce-A");
  CHECK(inserted);
  CHECK(first == "nonce-A");
  // A fresh nonce for the same key is the mistake this prevents: the first one stays.
  auto [again, inserted_again] = nonces.pin("k1", "nonce-B");
  CHECK_FALSE(inserted_again);
  CHECK(again == "nonce-A");
  REQUIRE(nonces.find("k1") != nullptr);
  CHECK(*nonces.find("k1") == "nonce-A");
  nonces.pin("k2", "nonce-C");
  CHECK(nonces.size() == 2);
  std::vector<std::string> seen;
  nonces.for_each([&](const std::string& k, const std::string& v) { seen.push_back(k + "=" + v); });
  CHECK(seen == std::vector<std::string>{"k1=nonce-A", "k2=nonce-C"});
  CHECK(nonces.release("k1") == std::optional<std::string>("nonce-A"));
  CHECK(nonces.release("k1") == std::nullopt);
  CHECK(nonces.find("k1") == nullptr);
  CHECK(nonces.size() == 1);
}
