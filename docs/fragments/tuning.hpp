// What the fragments of docs/tuning.md need (examples/CMakeLists.txt compiles them;
// they are not run). Their first fragment declares the `settings` the others change.
#pragma once

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/transport_classifier.hpp>

#include <chrono>
