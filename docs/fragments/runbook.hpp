// What the fragments of docs/runbook.md take as given: the bot's breaker, halt
// coordinator and metrics sink (examples/CMakeLists.txt compiles them; they are not run).
#pragma once

#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/metrics.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

extern exitguard::ExitCircuitBreaker breaker;
extern exitguard::TradingHaltCoordinator halt;
extern exitguard::MetricsSink& metrics;
