// What the fragment of docs/runbook.md takes as given: the bot's breaker and halt
// coordinator (examples/CMakeLists.txt compiles it; it is not run).
#pragma once

#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

extern exitguard::ExitCircuitBreaker breaker;
extern exitguard::TradingHaltCoordinator halt;
#include <exitguard/metrics.hpp>
extern exitguard::MetricsSink& metrics;
