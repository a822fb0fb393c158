// exitguard-test-set: optimized
// Threaded stress tests of exitguard/trading_halt_coordinator.hpp, run by the
// release and ASan builds like any test and, being a *_threads_test.cpp, by the
// ThreadSanitizer preset (`cmake --workflow --preset tsan`).
//
// Every invariant checked here can fail: the threads share plain (non-atomic)
// records that are race-free only if the coordinator does what it documents —
// set_state_if's predicate runs under the coordinator's lock, subscribers run in
// the thread that made the change, in subscription order, once per change — so a
// broken guarantee shows up as a wrong count or order here, or as a data race under
// TSan. Threads start together on a latch or barrier; nothing sleeps.
//
// Only the coordinator's public API is used, without guards, and set_state() (not
// resume()) to go back to running. Results are read with static_cast<bool>, which
// works whether set_state() returns bool or a result that converts to it.

#include <exitguard/trading_halt_coordinator.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using exitguard::TradingState;
using Coordinator = exitguard::TradingHaltCoordinator;
using Change = Coordinator::change_type;

constexpr std::array all_states{TradingState::running, TradingState::reduce_only, TradingState::halted};

std::string writer_name(std::size_t t) { return "writer " + std::to_string(t); }

// The writer index encoded in a change's `who` ("writer 3" -> 3).
std::size_t writer_of(const Change& c) { return static_cast<std::size_t>(std::stoul(c.who.substr(7))); }

// The per-writer sequence number encoded in a change's `why` ("t:i" -> i).
std::uint64_t sequence_of(const Change& c) { return std::stoull(c.why.substr(c.why.find(':') + 1)); }

struct Logged {
  TradingState from;
  TradingState to;
  std::string why;
};

}  // namespace

TEST_CASE("4 writers: the changes form one chain and each subscriber hears each once in order",
          "[halt][threads]") {
  constexpr std::size_t writers = 4;
  constexpr std::size_t readers = 2;
  constexpr std::size_t subscribers = 3;
  constexpr std::uint64_t calls_per_writer = 3000;

  Coordinator halt;

  // The global order of the changes, appended by set_state_if's predicate. It is a
  // plain vector: only the coordinator's lock keeps the writers apart.
  std::vector<Logged> log;

  // What the subscribers heard, per writer: (subscriber index, change). Plain
  // vectors again, each written only by its writer's thread, which is where the
  // subscribers must run.
  struct Heard {
    std::size_t subscriber;
    Change change;
  };
  std::array<std::vector<Heard>, writers> heard;
  std::atomic<std::uint64_t> wrong_thread{0};

  for (std::size_t s = 0; s < subscribers; ++s) {
    halt.subscribe([&, s](const Change& c) {
      const std::size_t w = writer_of(c);
      if (w >= writers) {
        wrong_thread.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      heard[w].push_back({s, c});
    });
  }

  std::array<std::uint64_t, writers> accepted{};
  std::atomic<std::size_t> writers_done{0};
  std::atomic<std::uint64_t> reader_violations{0};
  std::latch start(writers + readers);
  std::vector<std::thread> threads;

  for (std::size_t t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      const std::string who = writer_name(t);
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < calls_per_writer; ++i) {
        const TradingState to = all_states[(i * (t + 1) + t) % all_states.size()];
        const std::string why = std::to_string(t) + ":" + std::to_string(i);
        // No guard is installed: a predicate that says yes is a change made.
        const bool changed = static_cast<bool>(halt.set_state_if(
            [&](const Change& last) {
              log.push_back({last.to, to, why});
              return true;
            },
            to, who, why));
        if (changed) ++accepted[t];
        // The hot-path reads, alongside the writers.
        (void)halt.allows_entry();
        (void)halt.allows_exit();
      }
      writers_done.fetch_add(1, std::memory_order_release);
    });
  }

  for (std::size_t r = 0; r < readers; ++r) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      std::uint64_t last_count = 0;
      while (writers_done.load(std::memory_order_acquire) < writers) {
        const TradingState s = halt.state();
        const std::uint64_t count = halt.changes();
        const Change last = halt.last_change();
        if (!exitguard::is_valid(s) || !exitguard::is_valid(last.to)) reader_violations.fetch_add(1);
        if (count < last_count) reader_violations.fetch_add(1);  // changes() never goes back
        // Before the first change: running -> running, nobody; after it: a real change.
        if (last.who.empty() ? last.from != last.to : last.from == last.to) reader_violations.fetch_add(1);
        last_count = count;
      }
    });
  }
  for (auto& th : threads) th.join();

  CHECK(wrong_thread.load() == 0);
  CHECK(reader_violations.load() == 0);

  std::uint64_t total_accepted = 0;
  for (auto a : accepted) total_accepted += a;
  // Each call's predicate ran exactly when the call changed the state.
  REQUIRE(log.size() == total_accepted);
  REQUIRE(halt.changes() == total_accepted);
  REQUIRE(total_accepted > 0);

  // One chain: running -> ... -> state(), each link a real change.
  TradingState expected_from = TradingState::running;
  std::map<std::string, std::size_t> position;  // why -> index in the log
  for (std::size_t i = 0; i < log.size(); ++i) {
    INFO("change " << i << " (" << log[i].why << ")");
    REQUIRE(log[i].from == expected_from);
    REQUIRE(log[i].from != log[i].to);
    REQUIRE(position.emplace(log[i].why, i).second);  // every call changes at most once
    expected_from = log[i].to;
  }
  CHECK(halt.state() == expected_from);
  const Change last = halt.last_change();
  CHECK(last.to == halt.state());
  CHECK(last.why == log.back().why);

  // Every subscriber heard every change exactly once, in the writer's thread, in
  // subscription order, with the from/to the lock decided; and the times the
  // coordinator stamped (steady_clock, under its lock) never go back along the chain.
  std::vector<const Change*> by_position(log.size(), nullptr);
  std::size_t total_heard = 0;
  for (std::size_t w = 0; w < writers; ++w) {
    INFO("writer " << w);
    const auto& seen = heard[w];
    REQUIRE(seen.size() == accepted[w] * subscribers);
    std::uint64_t previous_sequence = 0;
    for (std::size_t k = 0; k < seen.size(); k += subscribers) {
      const Change& c = seen[k].change;
      const auto it = position.find(c.why);
      REQUIRE(it != position.end());
      const Logged& logged = log[it->second];
      CHECK(c.from == logged.from);
      CHECK(c.to == logged.to);
      CHECK(c.who == writer_name(w));
      // A writer's changes are heard in the order it made them.
      const std::uint64_t sequence = sequence_of(c);
      if (k > 0) CHECK(sequence > previous_sequence);
      previous_sequence = sequence;
      for (std::size_t s = 0; s < subscribers; ++s) {
        REQUIRE(seen[k + s].subscriber == s);
        REQUIRE(seen[k + s].change.why == c.why);
        REQUIRE(seen[k + s].change.when == c.when);
      }
      by_position[it->second] = &c;
    }
    total_heard += seen.size();
  }
  CHECK(total_heard == log.size() * subscribers);
  for (std::size_t i = 1; i < by_position.size(); ++i) {
    REQUIRE(by_position[i] != nullptr);
    CHECK(by_position[i]->when >= by_position[i - 1]->when);
  }
}

TEST_CASE("4 threads race the same change: exactly one wins each round, heard once, in round order",
          "[halt][threads]") {
  constexpr std::size_t racers = 4;
  constexpr std::size_t rounds = 4000;

  Coordinator halt;

  // Rounds are separated by a barrier, and the winner notifies before its call
  // returns, so the subscribers hear the rounds one after another: exactly the
  // sequence running -> halted -> reduce_only -> halted -> ... (a plain vector).
  // (Catch2's assertions are not thread-safe: the subscribers count, the main
  // thread checks.)
  std::vector<Change> heard_first;
  std::vector<Change> heard_second;
  std::atomic<std::uint64_t> out_of_order{0};
  halt.subscribe([&](const Change& c) { heard_first.push_back(c); });
  halt.subscribe([&](const Change& c) {
    // The first subscriber was called before this one, for this change.
    if (heard_first.empty() || heard_first.back().why != c.why) out_of_order.fetch_add(1);
    heard_second.push_back(c);
  });

  // won[r][t]: racer t changed the state in round r; each cell written by its racer.
  std::vector<std::array<bool, racers>> won(rounds);
  std::barrier sync(racers);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < racers; ++t) {
    threads.emplace_back([&, t] {
      const std::string who = "racer " + std::to_string(t);
      for (std::size_t r = 0; r < rounds; ++r) {
        const std::string why = "round " + std::to_string(r);
        sync.arrive_and_wait();
        // Alternate halted and reduce_only: every round is a real change for
        // exactly one of the racers, and a no-op for the others.
        won[r][t] = static_cast<bool>(r % 2 == 0 ? halt.halt(who, why) : halt.reduce_only(who, why));
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& th : threads) th.join();

  CHECK(out_of_order.load() == 0);
  REQUIRE(halt.changes() == rounds);
  REQUIRE(heard_first.size() == rounds);
  REQUIRE(heard_second.size() == rounds);
  for (std::size_t r = 0; r < rounds; ++r) {
    INFO("round " << r);
    const auto winners = static_cast<std::size_t>(std::count(won[r].begin(), won[r].end(), true));
    REQUIRE(winners == 1);
    const auto winner = static_cast<std::size_t>(std::find(won[r].begin(), won[r].end(), true) - won[r].begin());
    const Change& c = heard_first[r];
    CHECK(c.why == "round " + std::to_string(r));
    CHECK(c.who == "racer " + std::to_string(winner));
    CHECK(c.from == (r == 0 ? TradingState::running : r % 2 == 0 ? TradingState::reduce_only : TradingState::halted));
    CHECK(c.to == (r % 2 == 0 ? TradingState::halted : TradingState::reduce_only));
    CHECK(heard_second[r].why == c.why);
    if (r > 0) CHECK(c.when >= heard_first[r - 1].when);
  }
  const Change last = halt.last_change();
  CHECK(last.why == "round " + std::to_string(rounds - 1));
  CHECK(halt.state() == TradingState::reduce_only);
  CHECK_FALSE(halt.allows_entry());
  CHECK(halt.allows_exit());
}

TEST_CASE("Subscribers come and go while 4 threads change the state", "[halt][threads]") {
  constexpr std::size_t writers = 4;
  constexpr std::size_t churners = 2;
  constexpr std::uint64_t calls_per_writer = 5000;
  constexpr std::size_t subscriptions_per_churner = 2000;

  Coordinator halt;

  // A subscriber that stays: hears every change.
  std::atomic<std::uint64_t> permanent{0};
  halt.subscribe([&](const Change&) { permanent.fetch_add(1, std::memory_order_relaxed); });

  // Transient subscribers count into storage that outlives the whole test (a
  // subscriber removed during a notification may still get that one change).
  std::array<std::atomic<std::uint64_t>, churners> transient_calls{};
  std::array<std::vector<std::uint64_t>, churners> ids;
  std::array<std::uint64_t, churners> removed{};

  std::atomic<std::uint64_t> accepted{0};
  std::latch start(writers + churners);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      const std::string who = writer_name(t);
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < calls_per_writer; ++i) {
        const TradingState to = all_states[(i + t) % all_states.size()];
        if (static_cast<bool>(halt.set_state(to, who, "churn"))) accepted.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::size_t c = 0; c < churners; ++c) {
    threads.emplace_back([&, c] {
      start.arrive_and_wait();
      for (std::size_t i = 0; i < subscriptions_per_churner; ++i) {
        const auto id = halt.subscribe(
            [&calls = transient_calls[c]](const Change&) { calls.fetch_add(1, std::memory_order_relaxed); });
        ids[c].push_back(id);
        if (halt.unsubscribe(id)) ++removed[c];
        if (halt.unsubscribe(id)) --removed[c];  // a second removal must fail
      }
    });
  }
  for (auto& th : threads) th.join();

  CHECK(halt.changes() == accepted.load());
  CHECK(permanent.load() == accepted.load());

  // Ids are unique and non-zero across threads; each was removed exactly once.
  std::set<std::uint64_t> unique;
  for (std::size_t c = 0; c < churners; ++c) {
    CHECK(removed[c] == subscriptions_per_churner);
    for (auto id : ids[c]) {
      CHECK(id != 0);
      CHECK(unique.insert(id).second);
    }
    // Each transient subscriber heard at most every change.
    CHECK(transient_calls[c].load() <= accepted.load() * subscriptions_per_churner);
  }

  // All removed: one more change reaches only the permanent subscriber.
  std::array<std::uint64_t, churners> before{};
  for (std::size_t c = 0; c < churners; ++c) before[c] = transient_calls[c].load();
  const TradingState next = halt.state() == TradingState::halted ? TradingState::reduce_only : TradingState::halted;
  REQUIRE(static_cast<bool>(halt.set_state(next, "main", "after the churn")));
  CHECK(permanent.load() == accepted.load() + 1);
  for (std::size_t c = 0; c < churners; ++c) CHECK(transient_calls[c].load() == before[c]);
}
