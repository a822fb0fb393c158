// Registers exitguard's metrics in a prometheus-cpp registry, reports one exit the
// way the executor would, serializes the registry as a scrape would and checks it.
#include <exitguard/prometheus/metrics.hpp>

#include <exitguard/metrics.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cstdio>
#include <memory>
#include <string>

int main() {
  auto registry = std::make_shared<prometheus::Registry>();
  exitguard::prometheus::Metrics metrics(registry);
  exitguard::TradingHaltCoordinator halt;
  metrics.watch(halt);

  exitguard::MetricsSink& sink = metrics;
  sink.exit_started();
  sink.attempt_started(0, exitguard::OrderKind::limit);
  sink.attempt_finished(0, exitguard::OrderKind::limit, exitguard::AttemptOutcome::filled);
  exitguard::ExitSummary summary;
  summary.final_state = exitguard::ExitTransitionState::position_closed;
  summary.attempts = 1;
  summary.first_attempt_success = true;
  summary.duration_seconds = 2;
  summary.filled_quantity = 1000;
  summary.slippage_bps = 20;
  sink.exit_finished(summary);
  halt.halt("consumer", "checking the trading state gauge");

  const std::string text = prometheus::TextSerializer().Serialize(registry->Collect());
  std::fputs(text.c_str(), stdout);
  const char* expected[] = {
      "\nexitguard_exits_attempted_total 1\n",
      "\nexitguard_exits_first_attempt_total 1\n",
      "\nexitguard_exit_attempts_total{kind=\"limit\",outcome=\"filled\",step=\"0\"} 1\n",
      "\nexitguard_exit_duration_seconds_bucket{le=\"2\"} 1\n",
      "\nexitguard_trading_state{state=\"halted\"} 1\n",
  };
  int missing = 0;
  for (const char* line : expected) {
    if (text.find(line) == std::string::npos) {
      std::fprintf(stderr, "missing from the scrape: %s", line + 1);
      ++missing;
    }
  }
  std::printf("consumer_prometheus: %s\n", missing == 0 ? "ok" : "FAILED");
  return missing == 0 ? 0 : 1;
}
