// exitguard-test-set: optimized
// Tests of exitguard/trading_halt_coordinator.hpp: what each trading state allows,
// the recorded who/why/when, subscribers, and concurrent changes. Times come from
// ManualClock, so they are asserted exactly; no test sleeps.

// First include: proves the header compiles on its own.
#include <exitguard/trading_halt_coordinator.hpp>

#include <catch2/catch.hpp>

#include <exitguard/testing/manual_clock.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using exitguard::TradingState;
using exitguard::testing::ManualClock;
using Coordinator = exitguard::BasicTradingHaltCoordinator<ManualClock>;
using Change = Coordinator::change_type;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("TradingState names and ordering", "[halt]") {
  ManualClock::reset();
  STATIC_REQUIRE(exitguard::to_string(TradingState::running) == "running");
  STATIC_REQUIRE(exitguard::to_string(TradingState::reduce_only) == "reduce_only");
  STATIC_REQUIRE(exitguard::to_string(TradingState::halted) == "halted");
  STATIC_REQUIRE(exitguard::to_string(static_cast<TradingState>(7)) == "unknown");
  STATIC_REQUIRE(exitguard::is_stricter(TradingState::halted, TradingState::reduce_only));
  STATIC_REQUIRE(exitguard::is_stricter(TradingState::reduce_only, TradingState::running));
  STATIC_REQUIRE_FALSE(exitguard::is_stricter(TradingState::reduce_only, TradingState::halted));
  STATIC_REQUIRE_FALSE(exitguard::is_stricter(TradingState::halted, TradingState::halted));
  STATIC_REQUIRE_FALSE(exitguard::is_valid(static_cast<TradingState>(3)));
  STATIC_REQUIRE(std::is_same_v<exitguard::TradingHaltCoordinator,
                                exitguard::BasicTradingHaltCoordinator<std::chrono::steady_clock>>);
}

TEST_CASE("Each trading state refuses what it must", "[halt]") {
  ManualClock::reset();
  Coordinator halt;

  // Starts running: entries and exits.
  CHECK(halt.state() == TradingState::running);
  CHECK(halt.allows_entry());
  CHECK(halt.allows_exit());

  REQUIRE(halt.reduce_only("risk", "drawdown"));
  CHECK(halt.state() == TradingState::reduce_only);
  CHECK_FALSE(halt.allows_entry());
  CHECK(halt.allows_exit());

  REQUIRE(halt.halt("risk", "venue down"));
  CHECK(halt.state() == TradingState::halted);
  CHECK_FALSE(halt.allows_entry());
  CHECK_FALSE(halt.allows_exit());

  REQUIRE(halt.resume("operator", "venue back"));
  CHECK(halt.state() == TradingState::running);
  CHECK(halt.allows_entry());
  CHECK(halt.allows_exit());
}

TEST_CASE("Before any change, last_change is running to running at the epoch", "[halt]") {
  ManualClock::reset();
  ManualClock::advance(5s);  // the record must not take now() until a change is made
  const Coordinator halt;
  const Change last = halt.last_change();
  CHECK(last.from == TradingState::running);
  CHECK(last.to == TradingState::running);
  CHECK(last.who.empty());
  CHECK(last.why.empty());
  CHECK(last.when == ManualClock::time_point{});
  CHECK(halt.changes() == 0);
}

TEST_CASE("A change records who, why and when exactly", "[halt]") {
  ManualClock::reset();
  Coordinator halt;

  ManualClock::advance(1500ms);
  REQUIRE(halt.halt("exit_circuit_breaker", "2 consecutive failed exits"));
  Change last = halt.last_change();
  CHECK(last.from == TradingState::running);
  CHECK(last.to == TradingState::halted);
  CHECK(last.who == "exit_circuit_breaker");
  CHECK(last.why == "2 consecutive failed exits");
  CHECK(last.when == ManualClock::time_point(1500ms));

  ManualClock::advance(2s);
  REQUIRE(halt.set_state(TradingState::reduce_only, "alice", "closing positions by hand"));
  last = halt.last_change();
  CHECK(last.from == TradingState::halted);
  CHECK(last.to == TradingState::reduce_only);
  CHECK(last.who == "alice");
  CHECK(last.why == "closing positions by hand");
  CHECK(last.when == ManualClock::time_point(3500ms));
  CHECK(halt.changes() == 2);
}

TEST_CASE("Setting the current state again is a no-op", "[halt]") {
  ManualClock::reset();
  Coordinator halt;
  int notified = 0;
  halt.subscribe([&](const Change&) { ++notified; });

  CHECK_FALSE(halt.resume("bob", "already running"));
  CHECK(halt.changes() == 0);
  CHECK(notified == 0);
  CHECK(halt.last_change().who.empty());

  ManualClock::advance(1s);
  REQUIRE(halt.halt("alice", "first"));
  ManualClock::advance(1s);
  CHECK_FALSE(halt.halt("bob", "second"));
  CHECK_FALSE(halt.set_state(TradingState::halted, "carol", "third"));
  // The record is still the first halt's: who halted, and since when.
  const Change last = halt.last_change();
  CHECK(last.who == "alice");
  CHECK(last.why == "first");
  CHECK(last.when == ManualClock::time_point(1s));
  CHECK(halt.changes() == 1);
  CHECK(notified == 1);
}

TEST_CASE("Subscribers are notified in subscription order with the change", "[halt]") {
  ManualClock::reset();
  Coordinator halt;
  std::vector<std::string> calls;
  std::vector<Change> seen;
  const auto first = halt.subscribe([&](const Change& c) {
    calls.push_back("first");
    seen.push_back(c);
    // Notified outside the lock: the new state and record are already visible.
    CHECK(halt.state() == c.to);
    CHECK(halt.last_change().to == c.to);
  });
  const auto second = halt.subscribe([&](const Change& c) {
    calls.push_back("second");
    seen.push_back(c);
  });
  const auto third = halt.subscribe([&](const Change&) { calls.push_back("third"); });
  CHECK(first != 0);
  CHECK(first != second);
  CHECK(second != third);
  CHECK(first != third);

  ManualClock::advance(250ms);
  REQUIRE(halt.reduce_only("risk", "entries paused"));
  REQUIRE(calls == std::vector<std::string>{"first", "second", "third"});
  REQUIRE(seen.size() == 2);
  for (const auto& c : seen) {
    CHECK(c.from == TradingState::running);
    CHECK(c.to == TradingState::reduce_only);
    CHECK(c.who == "risk");
    CHECK(c.why == "entries paused");
    CHECK(c.when == ManualClock::time_point(250ms));
  }
}

TEST_CASE("Unsubscribed subscribers are not notified", "[halt]") {
  ManualClock::reset();
  Coordinator halt;
  std::vector<int> calls;
  const auto one = halt.subscribe([&](const Change&) { calls.push_back(1); });
  const auto two = halt.subscribe([&](const Change&) { calls.push_back(2); });
  halt.subscribe([&](const Change&) { calls.push_back(3); });

  CHECK(halt.unsubscribe(two));
  CHECK_FALSE(halt.unsubscribe(two));  // already gone
  CHECK_FALSE(halt.unsubscribe(12345));
  REQUIRE(halt.halt("ops", "test"));
  CHECK(calls == std::vector<int>{1, 3});

  CHECK(halt.unsubscribe(one));
  calls.clear();
  REQUIRE(halt.resume("ops", "test"));
  CHECK(calls == std::vector<int>{3});

  CHECK_THROWS_AS(halt.subscribe(Coordinator::subscriber{}), std::invalid_argument);
}

TEST_CASE("A subscriber may change the state again from inside a notification", "[halt]") {
  ManualClock::reset();
  Coordinator halt;
  std::vector<TradingState> seen;
  halt.subscribe([&](const Change& c) {
    seen.push_back(c.to);
    // An automatic escalation: reduce_only is not enough, halt.
    if (c.to == TradingState::reduce_only) halt.halt("escalator", "reduce_only escalated");
  });
  REQUIRE(halt.reduce_only("risk", "drawdown"));
  CHECK(seen == std::vector<TradingState>{TradingState::reduce_only, TradingState::halted});
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.last_change().who == "escalator");
  CHECK(halt.changes() == 2);
}

TEST_CASE("A throwing subscriber does not keep the others from hearing of a halt", "[halt]") {
  ManualClock::reset();
  Coordinator halt;
  int after = 0;
  halt.subscribe([](const Change&) { throw std::runtime_error("pager down"); });
  halt.subscribe([&](const Change&) { ++after; });
  CHECK_THROWS_WITH(halt.halt("ops", "test"), "pager down");
  CHECK(after == 1);
  CHECK(halt.state() == TradingState::halted);  // the change took effect regardless
  CHECK(halt.changes() == 1);
}

TEST_CASE("set_state_if changes only when its predicate allows, under the lock", "[halt]") {
  ManualClock::reset();
  Coordinator halt;
  REQUIRE(halt.halt("exit_circuit_breaker", "2 consecutive failed exits"));
  const auto owned_by_breaker = [](const Change& last) { return last.who == "exit_circuit_breaker"; };

  REQUIRE_FALSE(halt.halt("alice", "investigating"));  // same state: a no-op, owner unchanged
  REQUIRE(halt.set_state(TradingState::reduce_only, "alice", "investigating"));
  CHECK_FALSE(halt.set_state_if(owned_by_breaker, TradingState::running, "exit_circuit_breaker", "probe ok"));
  CHECK(halt.state() == TradingState::reduce_only);
  CHECK(halt.changes() == 2);

  REQUIRE(halt.halt("exit_circuit_breaker", "3 consecutive failed exits"));
  CHECK(halt.set_state_if(owned_by_breaker, TradingState::running, "exit_circuit_breaker", "probe ok"));
  CHECK(halt.state() == TradingState::running);

  try {
    halt.set_state(static_cast<TradingState>(9), "x", "y");
    FAIL("set_state accepted a value that is not a trading state");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == exitguard::error::invalid_trading_state);
  }
  CHECK(halt.state() == TradingState::running);
}

TEST_CASE("Concurrent set_state from 4 threads leaves a consistent state", "[halt][concurrency]") {
  ManualClock::reset();
  Coordinator halt;
  constexpr std::array states{TradingState::running, TradingState::reduce_only, TradingState::halted};
  constexpr int threads = 4;
  constexpr int changes_per_thread = 2000;

  // Per (from, to) pair, as seen by the subscriber; and the number of notifications.
  std::mutex seen_mutex;
  std::array<std::array<std::uint64_t, 3>, 3> transitions{};
  std::atomic<std::uint64_t> notifications{0};
  std::atomic<std::uint64_t> bad_changes{0};
  halt.subscribe([&](const Change& c) {
    notifications.fetch_add(1, std::memory_order_relaxed);
    if (c.from == c.to || c.who.empty()) bad_changes.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(seen_mutex);
    ++transitions[static_cast<std::size_t>(c.from)][static_cast<std::size_t>(c.to)];
  });

  std::atomic<std::uint64_t> accepted{0};
  std::latch start(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string who = "thread " + std::to_string(t);
      start.arrive_and_wait();
      for (int i = 0; i < changes_per_thread; ++i) {
        const auto to = states[static_cast<std::size_t>(i + t) % states.size()];
        if (halt.set_state(to, who, "race")) accepted.fetch_add(1, std::memory_order_relaxed);
        // Readers on the hot path run alongside the writers.
        (void)halt.allows_exit();
        (void)halt.allows_entry();
      }
    });
  }
  for (auto& w : workers) w.join();

  CHECK(bad_changes.load() == 0);
  CHECK(halt.changes() == accepted.load());
  CHECK(notifications.load() == accepted.load());
  CHECK(accepted.load() > 0);
  const Change last = halt.last_change();
  CHECK(last.to == halt.state());
  CHECK(last.from != last.to);

  // The changes form one chain from running to the final state: every state was
  // entered as often as it was left, except the first (left once more) and the last
  // (entered once more); for running → … → running both cancel out.
  for (std::size_t s = 0; s < states.size(); ++s) {
    std::int64_t entered = 0;
    std::int64_t left = 0;
    for (std::size_t o = 0; o < states.size(); ++o) {
      entered += static_cast<std::int64_t>(transitions[o][s]);
      left += static_cast<std::int64_t>(transitions[s][o]);
    }
    const std::int64_t expected =
        (states[s] == halt.state() ? 1 : 0) - (states[s] == TradingState::running ? 1 : 0);
    INFO("state " << exitguard::to_string(states[s]));
    CHECK(entered - left == expected);
  }
}

// --- Guards --------------------------------------------------------------------------

TEST_CASE("TradingStateResult converts to true only when the state changed", "[halt][guard]") {
  STATIC_REQUIRE_FALSE(std::is_convertible_v<exitguard::TradingStateResult, bool>);  // explicit
  STATIC_REQUIRE(std::is_constructible_v<bool, exitguard::TradingStateResult>);
  STATIC_REQUIRE_FALSE(static_cast<bool>(exitguard::TradingStateResult{}));
  STATIC_REQUIRE(static_cast<bool>(exitguard::TradingStateResult{true, {}}));
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<Coordinator&>().resume("", "")), exitguard::TradingStateResult>);
}

TEST_CASE("A guard sees the change about to be made and may refuse it", "[halt][guard]") {
  ManualClock::reset();
  Coordinator halt;
  int notified = 0;
  halt.subscribe([&](const Change&) { ++notified; });
  std::vector<Change> asked;
  const auto no_resume = halt.add_guard([&](const Change& c) -> boost::system::error_code {
    asked.push_back(c);
    if (c.to == TradingState::running) return exitguard::error::circuit_open;
    return {};
  });
  CHECK(no_resume != 0);
  CHECK(halt.refusals() == 0);
  CHECK_FALSE(halt.last_refusal().has_value());

  ManualClock::advance(2s);
  REQUIRE(halt.halt("risk", "drawdown"));
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].from == TradingState::running);
  CHECK(asked[0].to == TradingState::halted);
  CHECK(asked[0].who == "risk");
  CHECK(asked[0].why == "drawdown");
  CHECK(asked[0].when == ManualClock::time_point(2s));

  ManualClock::advance(1s);
  const auto refused = halt.resume("bob", "looks fine");
  CHECK_FALSE(refused);
  CHECK(refused.error == exitguard::error::circuit_open);
  CHECK(halt.state() == TradingState::halted);
  CHECK(halt.changes() == 1);
  CHECK(halt.last_change().who == "risk");
  CHECK(notified == 1);  // a refusal notifies nobody
  CHECK(halt.refusals() == 1);
  const auto refusal = halt.last_refusal();
  REQUIRE(refusal.has_value());
  CHECK(refusal->from == TradingState::halted);
  CHECK(refusal->to == TradingState::running);
  CHECK(refusal->who == "bob");
  CHECK(refusal->why == "looks fine");
  CHECK(refusal->when == ManualClock::time_point(3s));
  CHECK(refusal->error == exitguard::error::circuit_open);

  // A no-op and a predicate that says no never reach the guard.
  asked.clear();
  CHECK_FALSE(halt.halt("risk", "again"));
  CHECK_FALSE(halt.set_state_if([](const Change&) { return false; }, TradingState::running, "x", "y"));
  CHECK(asked.empty());

  // Its own id exempts a change from the guard, not from the others.
  const auto second = halt.add_guard([](const Change& c) -> boost::system::error_code {
    if (c.who == "intruder") return exitguard::error::trading_halted;
    return {};
  });
  CHECK(second != no_resume);
  const auto always = [](const Change&) { return true; };
  const auto exempt = halt.set_state_if(always, TradingState::running, "intruder", "exempt from one", no_resume);
  CHECK(exempt.error == exitguard::error::trading_halted);
  CHECK(halt.last_refusal()->error == exitguard::error::trading_halted);
  CHECK(halt.set_state_if(always, TradingState::running, "owner", "own change", no_resume));
  CHECK(halt.state() == TradingState::running);
  CHECK(halt.refusals() == 2);

  // Removed: no longer asked.
  CHECK(halt.remove_guard(no_resume));
  CHECK_FALSE(halt.remove_guard(no_resume));
  CHECK_FALSE(halt.remove_guard(12345));
  REQUIRE(halt.halt("risk", "again"));
  asked.clear();
  CHECK(halt.resume("bob", "guard gone"));
  CHECK(asked.empty());
  CHECK_THROWS_AS(halt.add_guard(Coordinator::guard{}), std::invalid_argument);
}

TEST_CASE("Guards are asked in installation order and the first error refuses", "[halt][guard]") {
  ManualClock::reset();
  Coordinator halt;
  std::vector<int> calls;
  halt.add_guard([&](const Change&) -> boost::system::error_code {
    calls.push_back(1);
    return {};
  });
  halt.add_guard([&](const Change&) -> boost::system::error_code {
    calls.push_back(2);
    return exitguard::error::circuit_open;
  });
  halt.add_guard([&](const Change&) -> boost::system::error_code {
    calls.push_back(3);
    return exitguard::error::trading_halted;
  });
  CHECK(halt.halt("ops", "test").error == exitguard::error::circuit_open);
  CHECK(calls == std::vector<int>{1, 2});
}

TEST_CASE("A throwing guard refuses nothing silently: the call throws and nothing changes", "[halt][guard]") {
  ManualClock::reset();
  Coordinator halt;
  halt.add_guard([](const Change&) -> boost::system::error_code { throw std::runtime_error("guard broke"); });
  CHECK_THROWS_WITH(halt.halt("ops", "test"), "guard broke");
  CHECK(halt.state() == TradingState::running);
  CHECK(halt.changes() == 0);
}

TEST_CASE("Once remove_guard returns, the guard is never called again, with 4 threads changing the state",
          "[halt][guard][concurrency]") {
  ManualClock::reset();
  constexpr int threads = 4;
  for (int round = 0; round < 20; ++round) {
    Coordinator halt;
    std::atomic<bool> removed{false};
    std::atomic<int> calls{0};
    std::atomic<int> calls_after_removal{0};
    const auto id = halt.add_guard([&](const Change&) -> boost::system::error_code {
      calls.fetch_add(1);
      if (removed.load()) calls_after_removal.fetch_add(1);
      return {};
    });
    std::atomic<bool> stop{false};
    std::latch start(threads + 1);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const std::array states{TradingState::running, TradingState::reduce_only, TradingState::halted};
        start.arrive_and_wait();
        for (int i = 0; !stop.load() || i < 200; ++i)
          halt.set_state(states[static_cast<std::size_t>(i + t) % states.size()], "worker", "race");
      });
    }
    start.arrive_and_wait();
    while (calls.load() < 100) std::this_thread::yield();
    REQUIRE(halt.remove_guard(id));
    removed.store(true);
    stop.store(true);
    for (auto& w : workers) w.join();
    INFO("round " << round);
    CHECK(calls.load() >= 100);
    CHECK(calls_after_removal.load() == 0);
  }
}
