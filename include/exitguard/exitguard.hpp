// exitguard/exitguard.hpp — the whole library in one include.
//
// exitguard makes closing a trading position bounded in attempts, in time and in
// loss. The testing support (ManualClock, VirtualTimeDriver, MockVenue) lives under
// <exitguard/testing/...> and the Prometheus adapter under
// <exitguard/prometheus/metrics.hpp> (CMake component `prometheus`); neither is
// included here.
#pragma once

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/bounded_retry_executor.hpp>
#include <exitguard/error.hpp>
#include <exitguard/exclusivity_key.hpp>
#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_deadline_manager.hpp>
#include <exitguard/exit_engine.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/logging.hpp>
#include <exitguard/metrics.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/retry_policy.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/transport_classifier.hpp>
#include <exitguard/venue.hpp>
