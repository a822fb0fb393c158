// happy_path_bench — what an exit that fills at once costs (design principle 8).
//
// Compares, on one thread and the real steady clock, the cost per operation of:
//   - the operation alone (a post to the io_context and back): the floor;
//   - BoundedRetryExecutor around it (one timer armed and cancelled per attempt);
//   - the `co_await (op || timer)` idiom of awaitable_operators (a parallel group per call);
//   - a whole AdaptiveExitExecutor exit whose first attempt fills (venue answers at once).
// Timings go here, never into pass/fail tests. Compare the ratios of one run: the
// machines are shared and noisy.

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/bounded_retry_executor.hpp>

#include <benchmark/benchmark.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// An operation that completes at once, through the io_context, as a real one would.
struct ImmediateOp {
  template <class Token>
  auto operator()(Token&& token) const {
    return asio::async_initiate<Token, void(boost::system::error_code, int)>(
        [](auto handler) {
          auto ex = asio::get_associated_executor(handler);
          asio::post(ex, [h = std::move(handler)]() mutable { std::move(h)(boost::system::error_code{}, 42); });
        },
        token);
  }
  asio::io_context* ioc = nullptr;
};

struct ImmediateVenue {
  asio::awaitable<exitguard::SubmitOutcome> submit(exitguard::ExitOrder order) {
    co_return exitguard::SubmitOutcome{exitguard::SubmitStatus::filled, order.quantity, 95.0, "tx", {}};
  }
};

void op_alone(benchmark::State& state) {
  asio::io_context ioc;
  int sink = 0;
  for (auto _ : state) {
    ImmediateOp{}(asio::bind_executor(ioc, [&sink](boost::system::error_code, int v) { sink += v; }));
    ioc.restart();
    ioc.run();
  }
  benchmark::DoNotOptimize(sink);
}

void bounded_retry(benchmark::State& state) {
  asio::io_context ioc;
  exitguard::BoundedRetryExecutor retry(ioc.get_executor());
  int sink = 0;
  for (auto _ : state) {
    retry.async_execute<int>(ImmediateOp{}, [&sink](boost::system::error_code, exitguard::RetryResult<int> r) {
      sink += *r.value;
    });
    ioc.restart();
    ioc.run();
  }
  benchmark::DoNotOptimize(sink);
}

asio::awaitable<void> op_or_timer(int* sink) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(10s);
  auto result = co_await (ImmediateOp{}(asio::as_tuple(asio::use_awaitable)) ||
                          timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() == 0) *sink += std::get<1>(std::get<0>(result));
}

void op_or_timer_idiom(benchmark::State& state) {
  asio::io_context ioc;
  int sink = 0;
  for (auto _ : state) {
    asio::co_spawn(ioc, op_or_timer(&sink), asio::detached);
    ioc.restart();
    ioc.run();
  }
  benchmark::DoNotOptimize(sink);
}

void exit_first_attempt_fills(benchmark::State& state) {
  asio::io_context ioc;
  ImmediateVenue venue;
  exitguard::ExitSettings settings;
  settings.logger = std::make_shared<spdlog::logger>("bench");  // no sinks: logging costs a level check
  exitguard::AdaptiveExitExecutor exits(ioc.get_executor(), settings);
  int closed = 0;
  for (auto _ : state) {
    exitguard::execute_exit(exits, venue, exitguard::ExitRequest{"SOL", exitguard::Side::sell, 1000, 95},
                            [&closed](boost::system::error_code ec, exitguard::ExitReport) { closed += !ec; });
    ioc.restart();
    ioc.run();
  }
  if (closed != static_cast<int>(state.iterations())) state.SkipWithError("an exit did not close");
}

}  // namespace

BENCHMARK(op_alone);
BENCHMARK(bounded_retry);
BENCHMARK(op_or_timer_idiom);
BENCHMARK(exit_first_attempt_fills);
BENCHMARK_MAIN();
