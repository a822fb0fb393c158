// What the fragments of docs/logging.md take as given: an io_context, a breaker, a
// halt coordinator and your own logger and sink (examples/CMakeLists.txt compiles
// the fragments; they are not run).
#pragma once

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/logging.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

extern boost::asio::io_context ioc;
extern exitguard::TradingHaltCoordinator halt;
extern exitguard::ExitCircuitBreaker breaker;
extern std::shared_ptr<spdlog::logger> my_logger;
extern std::shared_ptr<spdlog::sinks::sink> my_sink;
