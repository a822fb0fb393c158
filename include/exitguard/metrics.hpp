// exitguard/metrics.hpp — the events exitguard reports, for whoever counts them.
//
// MetricsSink is the interface the exit executor, the circuit breaker's owner and
// the halt coordinator's owner call at each event. Every method has an empty
// default, so a sink overrides only what it needs; when no sink is given the
// executor skips the calls altogether (one predictable branch per event). The
// Prometheus adapter (<exitguard/prometheus/metrics.hpp>, optional CMake component
// `prometheus`) is one implementation.
//
// Refusals are metered apart from failures: an exit refused before its first attempt
// (the breaker open, trading halted, an invalid request) reports exit_started() and
// exit_finished() (ExitFailed, 0 attempts) like any exit, so that every exit started
// finishes once, and also, once, exit_refused(reason) with one of the
// refusal_reason values: a sink tells "refused, nothing sent" from "ran and failed"
// by it.
//
// Thread safety: a sink may be called from several exits at once, on any thread of
// the io_context: implementations must be thread-safe (prometheus-cpp's are).
//
// Cancellation: the sink's methods are plain calls, made synchronously by the exit
// that reports; nothing here waits or can be cancelled.
#pragma once

#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/venue.hpp>

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string_view>

namespace exitguard {

// The reasons given to MetricsSink::exit_refused(): the only values of the Prometheus
// label exitguard_exits_refused_total{reason}.
namespace refusal_reason {
inline constexpr std::string_view circuit_open = "circuit_open";      // error::circuit_open: the breaker refused
inline constexpr std::string_view trading_halted = "trading_halted";  // error::trading_halted: trading refused exits
inline constexpr std::string_view invalid_request = "invalid_request";  // the request itself (quantity, price, ...)
}  // namespace refusal_reason

// How one exit ended, as the metrics see it.
struct ExitSummary {
  ExitTransitionState final_state = ExitTransitionState::exit_failed;
  boost::system::error_code error;
  double duration_seconds = 0;   // exit signal to terminal state
  double slippage_bps = 0;       // realized, against the signal price; 0 if nothing filled
  double filled_quantity = 0;
  std::uint32_t attempts = 0;
  bool escalated = false;
  bool first_attempt_success = false;  // closed by its first attempt
  bool required_retry = false;         // closed, after more than one attempt
  bool deadline_exceeded = false;
};

class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  virtual void exit_started() {}
  virtual void attempt_started(std::uint32_t /*step*/, OrderKind /*kind*/) {}
  virtual void attempt_finished(std::uint32_t /*step*/, OrderKind /*kind*/, AttemptOutcome /*outcome*/) {}
  virtual void retry(std::uint32_t /*step*/) {}
  virtual void escalated(std::uint32_t /*to_step*/) {}
  virtual void attempt_in_doubt() {}
  virtual void late_fill(double /*quantity*/) {}
  virtual void exit_finished(const ExitSummary& /*summary*/) {}
  // An exit refused before its first attempt: `reason` is one of refusal_reason's
  // values. Once per refused exit, besides its exit_started() and exit_finished().
  virtual void exit_refused(std::string_view /*reason*/) {}
  virtual void breaker_tripped() {}
  virtual void breaker_state(BreakerState /*state*/) {}
  virtual void trading_state(TradingState /*state*/) {}
};

}  // namespace exitguard
