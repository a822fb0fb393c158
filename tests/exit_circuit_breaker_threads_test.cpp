// exitguard-test-set: optimized
// Threaded stress tests of exitguard/exit_circuit_breaker.hpp, run by the release
// and ASan builds like any test and, being a *_threads_test.cpp, by the
// ThreadSanitizer preset (`cmake --workflow --preset tsan`).
//
// Each invariant can fail: a trip reported by two calls (or by none), a transition
// delivered out of order, or trading left looser than the trip action while the
// breaker is open shows up as a wrong count, and a missing lock as a data race
// under TSan (the subscribers below write plain variables, race-free only if the
// breaker delivers one transition at a time). Threads start together on a latch;
// nothing sleeps.

#include <exitguard/exit_circuit_breaker.hpp>

#include <catch2/catch.hpp>

#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <atomic>
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

namespace {

using exitguard::BreakerDecision;
using exitguard::BreakerOutcome;
using exitguard::BreakerPermit;
using exitguard::BreakerState;
using exitguard::error;
using exitguard::TradingState;
using exitguard::testing::ManualClock;
using Coordinator = exitguard::BasicTradingHaltCoordinator<ManualClock>;
using Breaker = exitguard::BasicExitCircuitBreaker<ManualClock>;
using Settings = Breaker::settings_type;
using Transition = Breaker::transition_type;

}  // namespace

// The regression test of issue 7: the executor used to read trips() before and after
// recording and counted another exit's trip as its own (55 reports for 52 trips).
// Eight threads record at once on one breaker (and re-arm and trip it by hand);
// every trip must be reported by exactly one call, and seen once by a subscriber.
TEST_CASE("a trip is reported exactly once per trip with 8 threads", "[breaker][concurrency]") {
  ManualClock::reset();
  const auto action = GENERATE(TradingState::halted, TradingState::reduce_only);
  const auto threshold = GENERATE(1u, 2u, 3u);
  INFO("trip_action " << exitguard::to_string(action) << ", threshold " << threshold);
  constexpr int threads = 8;
  constexpr int rounds = 20;
  constexpr int operations = 400;  // per thread and round
  std::uint64_t all_trips = 0;
  for (int round = 0; round < rounds; ++round) {
    Coordinator halt;
    Settings settings;
    settings.threshold = threshold;
    settings.trip_action = action;
    Breaker breaker(halt, settings);
    // Subscribers are called one transition at a time, in order: no lock needed here.
    std::uint64_t seen_trips = 0;
    std::uint64_t out_of_order = 0;
    BreakerState last_to = BreakerState::closed;
    std::uint64_t last_trips = 0;
    breaker.subscribe([&](const Transition& t) {
      if (t.from != last_to || t.from == t.to) ++out_of_order;
      if (t.to == BreakerState::open) {
        ++seen_trips;
        if (t.trips != last_trips + 1) ++out_of_order;
      } else if (t.trips != last_trips) {
        ++out_of_order;
      }
      last_to = t.to;
      last_trips = t.trips;
    });

    std::atomic<std::uint64_t> reported{0};
    std::latch start(threads);
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; ++w) {
      workers.emplace_back([&, w] {
        std::uint64_t mine = 0;
        start.arrive_and_wait();
        for (int i = 0; i < operations; ++i) {
          // Someone re-arms now and then, so that the breaker trips again and again.
          if ((i + w) % 5 == 0 && breaker.is_open()) breaker.reset("operator", "stress");
          const auto permit = breaker.try_acquire();
          if (permit == BreakerPermit::refused) continue;
          BreakerDecision d;
          switch ((i * 7 + w) % 16) {
            case 0: d = breaker.record(permit, BreakerOutcome::success); break;
            case 1: d = breaker.record(permit, BreakerOutcome::neutral); break;
            case 2: d = breaker.trip("operator", "manual trip under load"); break;
            default: d = breaker.record(permit, BreakerOutcome::failure, error::deadline_exceeded); break;
          }
          if (d.tripped) {
            ++mine;
            if (d.state != BreakerState::open || d.trips == 0) ++mine;  // a wrong decision: counted twice, caught below
          }
        }
        reported.fetch_add(mine);
      });
    }
    for (auto& t : workers) t.join();

    INFO("round " << round);
    CHECK(reported.load() == breaker.trips());
    CHECK(seen_trips == breaker.trips());
    CHECK(out_of_order == 0);
    all_trips += breaker.trips();
  }
  // The storm did trip the breaker, many times per round.
  CHECK(all_trips > static_cast<std::uint64_t>(rounds) * threads);
}

// The resume rule under load: workers fail exits (tripping the breaker) and re-arm
// it, an operator thread keeps trying to resume or loosen trading. Whenever the
// threads stop, a breaker that is open must have trading at least as strict as its
// trip action: the operator's resume can slip in neither before nor after a trip.
TEST_CASE("8 threads: trading is never left looser than the trip action while the breaker is open",
          "[breaker][concurrency][resume]") {
  ManualClock::reset();
  const auto action = GENERATE(TradingState::halted, TradingState::reduce_only);
  INFO("trip_action " << exitguard::to_string(action));
  constexpr int workers = 7;  // and one operator
  constexpr int rounds = 100;
  constexpr int operations = 200;
  std::uint64_t refused_resumes = 0;
  std::uint64_t accepted_resumes = 0;
  for (int round = 0; round < rounds; ++round) {
    Coordinator halt;
    Settings settings;
    settings.threshold = 2;
    settings.trip_action = action;
    Breaker breaker(halt, settings);
    std::atomic<int> done{0};
    std::latch start(workers + 1);
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        start.arrive_and_wait();
        for (int i = 0; i < operations; ++i) {
          if ((i + w) % 9 == 0 && breaker.is_open()) breaker.reset("worker", "re-arm");
          const auto permit = breaker.try_acquire();
          if (permit != BreakerPermit::refused)
            breaker.record(permit, (i + w) % 5 == 0 ? BreakerOutcome::success : BreakerOutcome::failure);
        }
        done.fetch_add(1);
      });
    }
    std::uint64_t refused = 0;
    std::uint64_t accepted = 0;
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; done.load() < workers; ++i) {
        const auto r = i % 2 == 0 ? halt.resume("operator", "try") : halt.reduce_only("operator", "try");
        if (r.error == error::circuit_open) ++refused;
        if (r) ++accepted;
      }
    });
    for (auto& t : threads) t.join();

    INFO("round " << round);
    if (breaker.is_open()) CHECK_FALSE(exitguard::is_stricter(action, halt.state()));
    CHECK(halt.refusals() == refused);
    refused_resumes += refused;
    accepted_resumes += accepted;
  }
  // Both sides of the rule were exercised.
  CHECK(refused_resumes > 0);
  CHECK(accepted_resumes > 0);
}
