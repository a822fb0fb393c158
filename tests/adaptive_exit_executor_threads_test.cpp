// exitguard-test-set: optimized
// Threaded stress test of the exit driver (run under ThreadSanitizer by the tsan
// preset, and as an ordinary test elsewhere): 1,000 concurrent exits on 4 threads
// share one MockVenue, one circuit breaker and one halt coordinator, while an
// operator thread halts, resumes and resets. Every exit completes exactly once with
// a consistent report, the venue is only ever called on its own strand, and every
// trip is reported exactly once (metrics and log lines against trips()).
#include <exitguard/adaptive_exit_executor.hpp>

#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Venue = exitguard::testing::BasicMockVenue<Clock>;
using Script = Venue::script_type;

// Counts what the exits report, from any thread.
struct CountingSink final : exitguard::MetricsSink {
  std::atomic<int> started{0}, finished{0}, tripped{0}, refused{0};
  void exit_started() override { ++started; }
  void exit_finished(const exitguard::ExitSummary&) override { ++finished; }
  void breaker_tripped() override { ++tripped; }
  void exit_refused(std::string_view) override { ++refused; }
};

// Counts "breaker_tripped" log lines.
class TripLineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::atomic<int> trip_lines{0};

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (std::string_view(msg.payload.data(), msg.payload.size()).starts_with("breaker_tripped")) ++trip_lines;
  }
  void flush_() override {}
};

// Short, real-time settings: every exit ends within a few hundred milliseconds.
exitguard::ExitSettings fast_settings(std::shared_ptr<spdlog::logger> logger) {
  exitguard::ExitSettings s;
  for (auto& step : s.ladder) {
    step.policy.max_attempts = 2;
    step.policy.total_timeout = 600ms;
    step.policy.attempt_timeout = 100ms;
    step.policy.initial_backoff = 1ms;
    step.policy.max_backoff = 2ms;
    step.policy.min_attempt_window = 5ms;
  }
  s.deadline = 1s;
  s.final_window = 400ms;
  s.late_answer_horizon = 1500ms;
  s.logger = std::move(logger);
  return s;
}

}  // namespace

TEST_CASE("1000 exits on 4 threads share a venue, breaker and halt while an operator halts, resumes and resets",
          "[adaptive_exit_executor][threads]") {
  constexpr int exits_total = 1000;
  constexpr int threads = 4;
  asio::io_context ioc(threads);
  auto work = asio::make_work_guard(ioc);

  Venue venue(ioc.get_executor(), exitguard::testing::constant_price(95.0), 7);
  venue.set_strand_checks(true);  // a venue call off its strand throws, and the exit would report it
  exitguard::testing::MockFaultProfile profile;
  profile.p_lost = 0;
  profile.p_land_late = 0;
  profile.p_in_doubt = 0.05;
  profile.p_reject_transient = 0.1;
  profile.p_reject_permanent = 0.25;
  profile.p_reject_slippage = 0.05;
  profile.p_partial = 0.1;
  profile.min_latency = 0ms;
  profile.max_latency = 2ms;
  profile.max_late_landing = 50ms;

  exitguard::TradingHaltCoordinator halt;
  exitguard::BasicCircuitBreakerSettings<Clock> breaker_settings;
  breaker_settings.threshold = 2;
  breaker_settings.trip_action = exitguard::TradingState::reduce_only;  // exits keep running after a trip
  exitguard::ExitCircuitBreaker breaker(halt, breaker_settings);
  std::atomic<int> opened{0};
  breaker.subscribe([&opened](const auto& t) {
    if (t.to == exitguard::BreakerState::open) ++opened;
  });

  auto line_sink = std::make_shared<TripLineSink>();
  auto logger = std::make_shared<spdlog::logger>("threads_test", line_sink);
  logger->set_level(spdlog::level::info);
  CountingSink metrics;
  exitguard::AdaptiveExitExecutor exits(ioc.get_executor(), fast_settings(logger), &breaker, &halt, &metrics);

  // The book is set up on the venue's strand, before anything runs.
  std::atomic<bool> ready{false};
  asio::post(venue.get_executor(), [&] {
    venue.randomize(profile);
    for (int i = 0; i < exits_total; ++i) venue.open_position("P-" + std::to_string(i), 1000);
    ready = true;
  });

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&ioc] { ioc.run(); });
  while (!ready) std::this_thread::yield();

  std::atomic<int> completions{0};
  std::atomic<int> bad_reports{0};
  std::atomic<int> closed{0};
  std::atomic<int> exits_done_by_4{0};
  // Exits are started from four threads at once.
  std::vector<std::thread> starters;
  for (int t = 0; t < 4; ++t)
    starters.emplace_back([&, t] {
      for (int i = t; i < exits_total; i += 4) {
        exitguard::ExitRequest r;
        r.position_id = "P-" + std::to_string(i);
        r.quantity = 1000;
        r.signal_price = 95.0;
        exitguard::execute_exit(exits, venue, r, [&](boost::system::error_code ec, exitguard::ExitReport rep) {
          const bool consistent = exitguard::is_terminal(rep.final_state) && rep.exit_id != 0 &&
                                  (ec == rep.error) && (!ec == rep.closed()) &&
                                  rep.filled_quantity <= rep.requested_quantity &&
                                  rep.anomalies == 0;  // no callback threw (strand checks) and no refused event
          if (!consistent) ++bad_reports;
          if (rep.closed()) ++closed;
          ++completions;
        });
      }
      ++exits_done_by_4;
    });

  // The operator: halts, resumes (refused while the breaker is open), resets, resumes;
  // one action each time another 20 exits have completed.
  std::atomic<int> resumes_refused{0};
  std::thread operator_thread([&] {
    int round = 0;
    while (completions.load() < exits_total) {
      if (completions.load() < 20 * (round + 1)) {
        std::this_thread::yield();
        continue;
      }
      switch (round++ % 4) {
        case 0: halt.halt("operator", "look at the venue"); break;
        case 1:
          if (!halt.resume("operator", "looks fine")) ++resumes_refused;
          break;
        case 2: breaker.reset("operator", "re-armed"); break;
        case 3: halt.resume("operator", "re-armed"); break;
      }
    }
    breaker.reset("operator", "done");
    halt.resume("operator", "done");
  });

  for (auto& s : starters) s.join();
  operator_thread.join();
  work.reset();
  for (auto& t : pool) t.join();  // also waits for late answers up to each exit's horizon

  INFO("closed " << closed.load() << ", trips " << breaker.trips() << ", refused " << metrics.refused.load()
                 << ", resumes refused " << resumes_refused.load());
  CHECK(completions.load() == exits_total);
  CHECK(bad_reports.load() == 0);
  CHECK(metrics.started.load() == exits_total);
  CHECK(metrics.finished.load() == exits_total);
  // Every trip reported exactly once, by metrics, by log line and by the breaker's subscribers.
  CHECK(breaker.trips() > 0);
  CHECK(metrics.tripped.load() == static_cast<int>(breaker.trips()));
  CHECK(line_sink->trip_lines.load() == static_cast<int>(breaker.trips()));
  CHECK(opened.load() == static_cast<int>(breaker.trips()));
  CHECK(closed.load() > 0);
}
