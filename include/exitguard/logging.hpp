// exitguard/logging.hpp — one structured line per event, through spdlog.
//
// exitguard logs through an spdlog logger you can inject: ExitSettings::logger, and
// log_trading_state_changes() for the halt coordinator. By default it is the logger
// named "exitguard" (created on first use with spdlog's default sink, and found
// again by name if you register your own "exitguard" logger first). Each line is one
// event in logfmt (key=value, quoted when needed), so that it can be grepped and
// parsed:
//
//   exit_transition exit_id=7 position=SOL-1 from=ExitSubmitted to=ExitTimedOut attempt=1 step=0 reason="attempt timed out: in doubt" tx="" error="the attempt timed out without an answer"
//   exit_finished exit_id=7 position=SOL-1 state=PositionClosed error=none attempts=2 filled=1000 of=1000 exit_time_ms=11000
//   breaker_tripped exit_id=8 position=SOL-2 trips=1 state=open error="the exit deadline was exceeded"
//   trading_state from=running to=halted who=exit_circuit_breaker why="2 consecutive failed exits"
//
// Levels (quiet by default): transitions at debug; one exit_finished line per exit
// at info when it closed, warn otherwise; refused events, malformed venue answers
// and callbacks that threw at warn; breaker trips and halts at error; other trading
// state changes at warn. Thread safety: spdlog loggers are
// thread-safe (the default one uses a multi-threaded sink).
#pragma once

#include <exitguard/exit_state_machine.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace exitguard {

inline constexpr std::string_view default_logger_name = "exitguard";

// The "exitguard" logger: the registered one if there is one, else a new one on stderr.
inline std::shared_ptr<spdlog::logger> default_logger() {
  if (auto existing = spdlog::get(std::string(default_logger_name))) return existing;
  try {
    return spdlog::stderr_color_mt(std::string(default_logger_name));
  } catch (const spdlog::spdlog_ex&) {
    // Registered by another thread meanwhile.
    return spdlog::get(std::string(default_logger_name));
  }
}

namespace detail {

// A logfmt value: bare if it is a plain token, else quoted with \" and \\ escaped.
inline std::string logfmt_value(std::string_view v) {
  bool bare = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) bare = false;
  if (bare) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return out + '"';
}

// One audit entry of an exit as one logfmt line. Levels (quiet by default):
// accepted transitions and notes at debug; refused transitions and events, and
// notes that carry an error (a malformed answer, a callback that threw), at warn.
inline void log_audit_entry(spdlog::logger& log, std::uint64_t exit_id, std::string_view position,
                            ExitTransitionState from, ExitTransitionState to, std::uint32_t attempt,
                            std::uint32_t step, std::string_view reason, std::string_view tx, bool accepted,
                            const boost::system::error_code& why = {}, bool refused_event = false) {
  const bool note = from == to && to != ExitTransitionState::partially_filled;
  const auto level = (!accepted || (note && why)) ? spdlog::level::warn : spdlog::level::debug;
  if (!log.should_log(level)) return;
  const char* kind = refused_event ? "exit_event_refused"
                     : !accepted   ? "exit_transition_refused"
                     : note        ? "exit_note"
                                   : "exit_transition";
  log.log(level, "{} exit_id={} position={} from={} to={} attempt={} step={} reason={} tx={} error={}", kind,
          exit_id, logfmt_value(position), to_string(from), to_string(to), attempt, step, logfmt_value(reason),
          logfmt_value(tx), why ? logfmt_value(why.message()) : std::string("none"));
}

}  // namespace detail

// Logs every trading state change of `halt` to `log` (by default the "exitguard"
// logger). Returns the subscription id (for halt.unsubscribe). `log` is kept alive by
// the subscription.
template <class Clock>
std::uint64_t log_trading_state_changes(BasicTradingHaltCoordinator<Clock>& halt,
                                        std::shared_ptr<spdlog::logger> log = default_logger()) {
  return halt.subscribe([log = std::move(log)](const BasicTradingStateChange<Clock>& c) {
    log->log(c.to == TradingState::halted ? spdlog::level::err : spdlog::level::warn,
             "trading_state from={} to={} who={} why={}", to_string(c.from), to_string(c.to),
             detail::logfmt_value(c.who), detail::logfmt_value(c.why));
  });
}

}  // namespace exitguard
