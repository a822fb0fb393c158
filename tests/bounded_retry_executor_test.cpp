// exitguard-test-set: sanitized
// Tests for exitguard/bounded_retry_executor.hpp. Everything but the multi-threaded
// test runs in virtual time (ManualClock + VirtualTimeDriver), so every instant
// asserted is exact and nothing sleeps.
#include <exitguard/bounded_retry_executor.hpp>

#include "support/scripted_operation.hpp"

#include <exitguard/testing/virtual_time_driver.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
// g++ 12 at -O1 (the sanitizer builds) warns falsely that Asio's use_future leaves
// its async_completion uninitialized; the warning is reported inside this header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/use_future.hpp>
#pragma GCC diagnostic pop
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;
using namespace exitguard_test;
using exitguard::error;
using exitguard::FailureKind;
using exitguard::RetryResult;
using exitguard::testing::VirtualTimeDriver;
namespace aerr = boost::asio::error;

using Executor = exitguard::BasicBoundedRetryExecutor<Clock>;
using Policy = exitguard::BasicRetryPolicy<Clock>;
using IntStep = Step<int>;

const error_code refused = aerr::connection_refused;            // transient
const error_code funds = error::insufficient_funds;             // permanent
const error_code reset_by_peer = aerr::connection_reset;        // in doubt

// What a run's completion handler was given, and when.
template <class T = int>
struct Outcome {
  int calls = 0;
  error_code ec;
  RetryResult<T> result;
  Clock::time_point at{};
  bool done() const { return calls > 0; }
};

template <class T = int>
auto record(Outcome<T>& out) {
  return [&out](error_code ec, RetryResult<T> r) {
    ++out.calls;
    out.ec = ec;
    out.result = std::move(r);
    out.at = Clock::now();
  };
}

// Each virtual-time test starts with this: the clock at its epoch, and a driver
// whose fallback step (an hour) would make any inexact time obvious.
struct VirtualTime {
  VirtualTime() { Clock::reset(); }
  boost::asio::io_context ioc;
  VirtualTimeDriver driver{ioc, std::chrono::hours(1)};

  template <class T>
  void run_until_done(const Outcome<T>& out) {
    REQUIRE_NOTHROW(driver.run_until([&out] { return out.done(); }));
    REQUIRE(out.done());
  }
  // Drives until the io_context has no work left (nothing was left pending).
  void drain() {
    bool out_of_work = false;
    REQUIRE_NOTHROW(out_of_work = driver.run_for(std::chrono::hours(24)));
    CHECK(out_of_work);
  }
};

Policy policy_with(void (*change)(Policy&)) {
  Policy p;
  change(p);
  return p;
}

}  // namespace

TEST_CASE("bounded_retry_executor.hpp compiles on its own", "[executor]") {
  STATIC_REQUIRE(std::is_same_v<exitguard::BoundedRetryExecutor::clock_type, std::chrono::steady_clock>);
  STATIC_REQUIRE(std::is_same_v<Executor::policy_type, exitguard::BasicRetryPolicy<Clock>>);
  STATIC_REQUIRE(std::is_same_v<decltype(RetryResult<int>{}.value), std::optional<int>>);
  STATIC_REQUIRE(RetryResult<int>{}.attempts == 0);
}

// ---------------------------------------------------------------------------
// Attempts and backoff
// ---------------------------------------------------------------------------

TEST_CASE("a first success takes one attempt", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::succeed(42, 200ms)});
  Outcome out;
  SECTION("coroutine operation") { ex.async_execute(CoroOp<int>{script}, record(out)); }
  SECTION("token-style operation") { ex.async_execute<int>(TokenOp<int>{script}, record(out)); }
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 42);
  CHECK(out.result.attempts == 1);
  CHECK_FALSE(out.result.last_error);
  CHECK(out.at == at(200ms));
  CHECK(script->calls() == 1);
  CHECK(script->start_times() == std::vector{at(0s)});
  vt.drain();
  CHECK(out.calls == 1);
  CHECK(Clock::now() == at(200ms));
}

TEST_CASE("repeated transient failures: exactly max_attempts attempts at 0, 1 s, 3.5 s", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());  // the standard policy
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused)});
  Outcome out;
  SECTION("token-style operation") { ex.async_execute<int>(TokenOp<int>{script}, record(out)); }
  SECTION("coroutine operation") { ex.async_execute(CoroOp<int>{script}, record(out)); }
  vt.run_until_done(out);
  CHECK(out.ec == error::attempts_exhausted);
  CHECK(out.result.attempts == 3);
  CHECK(out.result.last_error == refused);
  CHECK(out.result.last_failure == FailureKind::transient);
  CHECK_FALSE(out.result.value);
  CHECK(script->start_times() == std::vector{at(0s), at(1s), at(3500ms)});
  CHECK(out.at == at(3500ms));
  vt.drain();
  CHECK(script->calls() == 3);
}

TEST_CASE("backoff is counted from each failure", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 100ms)});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  // 0 -> fails at 0.1 -> +1 s -> 1.1 -> fails at 1.2 -> +2.5 s -> 3.7 -> fails at 3.8
  CHECK(script->start_times() == std::vector{at(0s), at(1100ms), at(3700ms)});
  CHECK(out.at == at(3800ms));
  CHECK(out.ec == error::attempts_exhausted);
}

TEST_CASE("exit_policy: two attempts at 0 and 1 s", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor(), Policy::exit_policy());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused)});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::attempts_exhausted);
  CHECK(out.result.attempts == 2);
  CHECK(out.result.last_error == refused);
  CHECK(script->start_times() == std::vector{at(0s), at(1s)});
  CHECK(out.at == at(1s));
  vt.drain();
  CHECK(script->calls() == 2);
}

TEST_CASE("a transient failure then a success", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(),
                                 {IntStep::fail(refused, 300ms), IntStep::succeed(7, 200ms)});
  Outcome out;
  ex.async_execute(CoroOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 7);
  CHECK(out.result.attempts == 2);
  CHECK_FALSE(out.result.last_error);  // cleared by the success
  CHECK(script->start_times() == std::vector{at(0s), at(1300ms)});
  CHECK(out.at == at(1500ms));
}

TEST_CASE("a zero backoff retries at once", "[executor]") {
  VirtualTime vt;
  auto policy = policy_with([](Policy& p) {
    p.initial_backoff = 0s;
    p.max_backoff = 0s;
    p.max_attempts = 4;
  });
  Executor ex(vt.ioc.get_executor(), policy);
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 10ms)});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::attempts_exhausted);
  CHECK(out.result.attempts == 4);
  CHECK(script->start_times() == std::vector{at(0ms), at(10ms), at(20ms), at(30ms)});
  CHECK(out.at == at(40ms));
}

namespace {

// A token-style operation that calls its handler inside its initiation (allowed by
// nothing in Asio's rules, done by real code): attempt n completes with results[n].
struct InlineOp {
  std::vector<error_code> results;
  std::shared_ptr<int> calls = std::make_shared<int>(0);
  template <class Token>
  auto operator()(Token&& token) const {
    return boost::asio::async_initiate<Token, void(error_code, int)>(
        [](auto handler, const InlineOp* self) {
          const int n = (*self->calls)++;
          const auto i = std::min(static_cast<std::size_t>(n), self->results.size() - 1);
          std::move(handler)(self->results[i], n);
        },
        token, this);
  }
};

}  // namespace

TEST_CASE("an operation that completes inside its initiation", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  InlineOp op{{refused, refused, error_code{}}};
  Outcome out;
  ex.async_execute<int>(op, record(out));
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 2);
  CHECK(out.result.attempts == 3);
  CHECK(out.at == at(3500ms));
  CHECK(*op.calls == 3);
  vt.drain();
}

TEST_CASE("a permanent error is not retried", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(funds, 250ms), IntStep::succeed(1)});
  Outcome out;
  SECTION("token-style operation") { ex.async_execute<int>(TokenOp<int>{script}, record(out)); }
  SECTION("coroutine operation") { ex.async_execute(CoroOp<int>{script}, record(out)); }
  vt.run_until_done(out);
  CHECK(out.ec == funds);
  CHECK(out.ec == error::insufficient_funds);
  CHECK(out.result.attempts == 1);
  CHECK(out.result.last_error == funds);
  CHECK(out.result.last_failure == FailureKind::permanent);
  CHECK(out.at == at(250ms));
  vt.drain();
  CHECK(script->calls() == 1);
}

TEST_CASE("an in-doubt error from the operation ends the run with in_doubt", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(reset_by_peer, 2s), IntStep::succeed(1)});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::in_doubt);
  CHECK(out.result.attempts == 1);
  CHECK(out.result.last_error == reset_by_peer);
  CHECK(out.result.last_failure == FailureKind::in_doubt);
  CHECK(out.at == at(2s));
  vt.drain();
  CHECK(script->calls() == 1);
}

// ---------------------------------------------------------------------------
// Time-outs and the total budget
// ---------------------------------------------------------------------------

TEST_CASE("a hanging attempt is cut at attempt_timeout and is in doubt", "[executor][timeout]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());  // DefaultClassifier: a time-out is in doubt
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::hang()});
  Outcome out;
  SECTION("token-style operation") { ex.async_execute<int>(TokenOp<int>{script}, record(out)); }
  SECTION("coroutine operation") { ex.async_execute(CoroOp<int>{script}, record(out)); }
  vt.run_until_done(out);
  CHECK(out.ec == error::in_doubt);
  CHECK(out.result.attempts == 1);
  CHECK(out.result.last_error == error::attempt_timed_out);
  CHECK(out.result.last_failure == FailureKind::in_doubt);
  CHECK(out.at == at(10s));
  // The abandoned attempt was asked to stop, at that instant.
  REQUIRE(script->calls() == 1);
  REQUIRE(script->log[0].cancelled_at);
  CHECK(*script->log[0].cancelled_at == at(10s));
  vt.drain();
  CHECK(script->calls() == 1);
  CHECK(Clock::now() == at(10s));
}

TEST_CASE("IdempotentClassifier: hanging attempts are retried until the total timeout", "[executor][timeout]") {
  VirtualTime vt;
  auto policy = policy_with([](Policy& p) { p.max_attempts = 5; });
  Executor ex(vt.ioc.get_executor(), policy, exitguard::IdempotentClassifier{});
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::hang()});
  Outcome out;
  SECTION("token-style operation") { ex.async_execute<int>(TokenOp<int>{script}, record(out)); }
  SECTION("coroutine operation") { ex.async_execute(CoroOp<int>{script}, record(out)); }
  vt.run_until_done(out);
  // 0..10 (timed out), +1 s, 11..21 (timed out), +2.5 s, 23.5..30 (cut by the total
  // deadline), and no time left for another.
  CHECK(script->start_times() == std::vector{at(0s), at(11s), at(23500ms)});
  CHECK(out.ec == error::total_timeout_exceeded);
  CHECK(out.ec == boost::system::errc::timed_out);
  CHECK(out.result.attempts == 3);
  CHECK(out.result.last_error == error::attempt_timed_out);
  CHECK(out.result.last_failure == FailureKind::transient);
  CHECK(out.at == at(30s));
  REQUIRE(script->calls() == 3);
  CHECK(script->log[0].cancelled_at == at(10s));
  CHECK(script->log[1].cancelled_at == at(21s));
  CHECK(script->log[2].cancelled_at == at(30s));
  vt.drain();
  CHECK(script->calls() == 3);
  CHECK(vt.driver.handlers_run() < 100);
}

TEST_CASE("an attempt's timeout is clamped to the time left", "[executor][timeout]") {
  VirtualTime vt;
  auto policy = policy_with([](Policy& p) {
    p.total_timeout = 10s;
    p.attempt_timeout = 5s;
    p.initial_backoff = 3s;
    p.backoff_multiplier = 1.0;
    p.max_backoff = 3s;
    p.min_attempt_window = 2s;
  });
  Executor ex(vt.ioc.get_executor(), policy);
  auto script = make_script<int>(vt.ioc.get_executor(),
                                 {IntStep::fail(refused, 1s), IntStep::fail(refused, 1s), IntStep::hang()});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  // 0..1 fail, +3 s, 4..5 fail, +3 s (leaves exactly the 2 s window), 8..10: cut at
  // the deadline, not at 8 + 5 = 13.
  CHECK(script->start_times() == std::vector{at(0s), at(4s), at(8s)});
  CHECK(out.at == at(10s));
  CHECK(out.ec == error::in_doubt);
  CHECK(out.result.last_error == error::attempt_timed_out);
  CHECK(out.result.attempts == 3);
  CHECK(script->log[2].cancelled_at == at(10s));
}

TEST_CASE("a backoff that would cross the deadline ends the run at once", "[executor][timeout]") {
  VirtualTime vt;
  auto policy = policy_with([](Policy& p) {
    p.max_attempts = 5;
    p.total_timeout = 10s;
    p.attempt_timeout = 10s;
    p.initial_backoff = 4s;
    p.backoff_multiplier = 2.0;
    p.max_backoff = 8s;
  });
  Executor ex(vt.ioc.get_executor(), policy);
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 1s)});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  // 0..1 fail, +4 s, 5..6 fail; the next backoff (8 s) would end at 14 s > 10 s.
  CHECK(out.ec == error::total_timeout_exceeded);
  CHECK(out.at == at(6s));
  CHECK(out.result.attempts == 2);
  CHECK(out.result.last_error == refused);
  CHECK(script->start_times() == std::vector{at(0s), at(5s)});
  vt.drain();
  CHECK(script->calls() == 2);
  CHECK(Clock::now() == at(6s));
}

TEST_CASE("no attempt starts with less than min_attempt_window left", "[executor][timeout]") {
  VirtualTime vt;
  auto policy = policy_with([](Policy& p) {
    p.max_attempts = 10;
    p.total_timeout = 10s;
    p.attempt_timeout = 5s;
    p.initial_backoff = 3s;
    p.backoff_multiplier = 1.0;
    p.max_backoff = 3s;
  });
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 1s)});
  Outcome out;
  SECTION("exactly the window left after the backoff: the attempt starts") {
    policy.min_attempt_window = 2s;
    Executor ex(vt.ioc.get_executor(), policy);
    ex.async_execute<int>(TokenOp<int>{script}, record(out));
    vt.run_until_done(out);
    // Starts at 0, 4 and 8 (2 s left at 8); fails at 9 with 1 s left: done.
    CHECK(script->start_times() == std::vector{at(0s), at(4s), at(8s)});
    CHECK(out.at == at(9s));
    CHECK(out.result.attempts == 3);
  }
  SECTION("one nanosecond less than the window: the run ends before the backoff") {
    policy.min_attempt_window = 2s + 1ns;
    Executor ex(vt.ioc.get_executor(), policy);
    ex.async_execute<int>(TokenOp<int>{script}, record(out));
    vt.run_until_done(out);
    CHECK(script->start_times() == std::vector{at(0s), at(4s)});
    CHECK(out.at == at(5s));
    CHECK(out.result.attempts == 2);
  }
  CHECK(out.ec == error::total_timeout_exceeded);
  CHECK(out.result.last_error == refused);
  vt.drain();
  CHECK(out.calls == 1);
}

// ---------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------

namespace {

// Emits terminal cancellation on `sig` at virtual time `when`.
struct CancelAt {
  Timer timer;
  CancelAt(boost::asio::io_context& ioc, boost::asio::cancellation_signal& sig, Clock::time_point when)
      : timer(ioc, when) {
    timer.async_wait([&sig](error_code ec) {
      if (!ec) sig.emit(boost::asio::cancellation_type::terminal);
    });
  }
};

}  // namespace

TEST_CASE("cancellation mid-attempt: operation_aborted at once, and the attempt sees it",
          "[executor][cancel]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::succeed(1, 5s)});
  boost::asio::cancellation_signal sig;
  Outcome out;
  CancelAt cancel(vt.ioc, sig, at(2s));
  SECTION("token-style operation") {
    ex.async_execute<int>(TokenOp<int>{script}, boost::asio::bind_cancellation_slot(sig.slot(), record(out)));
  }
  SECTION("coroutine operation") {
    ex.async_execute(CoroOp<int>{script}, boost::asio::bind_cancellation_slot(sig.slot(), record(out)));
  }
  vt.run_until_done(out);
  CHECK(out.ec == aerr::operation_aborted);
  CHECK(out.at == at(2s));
  CHECK(out.result.attempts == 1);
  CHECK_FALSE(out.result.value);
  REQUIRE(script->calls() == 1);
  REQUIRE(script->log[0].cancelled_at);
  CHECK(*script->log[0].cancelled_at == at(2s));
  CHECK(script->log[0].delivered == aerr::operation_aborted);
  // Nothing is left pending: the io_context runs out of work without the clock moving.
  vt.drain();
  CHECK(Clock::now() == at(2s));
  CHECK(script->calls() == 1);
  CHECK(out.calls == 1);
}

TEST_CASE("cancellation mid-backoff: operation_aborted at once, no further attempt", "[executor][cancel]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 1s), IntStep::succeed(1)});
  boost::asio::cancellation_signal sig;
  Outcome out;
  CancelAt cancel(vt.ioc, sig, at(1500ms));  // the backoff runs from 1 s to 2 s
  SECTION("token-style operation") {
    ex.async_execute<int>(TokenOp<int>{script}, boost::asio::bind_cancellation_slot(sig.slot(), record(out)));
  }
  SECTION("coroutine operation") {
    ex.async_execute(CoroOp<int>{script}, boost::asio::bind_cancellation_slot(sig.slot(), record(out)));
  }
  vt.run_until_done(out);
  CHECK(out.ec == aerr::operation_aborted);
  CHECK(out.at == at(1500ms));
  CHECK(out.result.attempts == 1);
  CHECK(out.result.last_error == refused);
  vt.drain();
  CHECK(Clock::now() == at(1500ms));
  CHECK(script->calls() == 1);
  CHECK_FALSE(script->log[0].cancelled_at);  // it had completed before
  CHECK(out.calls == 1);
}

TEST_CASE("cancellation emitted right after the start completes at that instant", "[executor][cancel]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::hang()});
  boost::asio::cancellation_signal sig;
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, boost::asio::bind_cancellation_slot(sig.slot(), record(out)));
  sig.emit(boost::asio::cancellation_type::terminal);
  vt.run_until_done(out);
  CHECK(out.ec == aerr::operation_aborted);
  CHECK(out.at == at(0s));
  vt.drain();
  CHECK(Clock::now() == at(0s));
  // The cancellation reaches the run through its strand, behind the run's start: at
  // most the first attempt was sent, and it was told to stop at once.
  CHECK(out.result.attempts <= 1);
  CHECK(script->calls() == out.result.attempts);
  for (const auto& a : script->log) CHECK(a.cancelled_at == at(0s));
}

namespace {

// A token-style operation that fails transiently and, in the same handler, has the
// caller cancel the run: the cancellation arrives while the run is between its
// attempt and its backoff, with no wait armed.
struct FailAndCancel {
  boost::asio::cancellation_signal* sig;
  int* calls;
  template <class Token>
  auto operator()(Token&& token) const {
    return boost::asio::async_initiate<Token, void(error_code, int)>(
        [](auto handler, boost::asio::cancellation_signal* s, int* n) {
          ++*n;
          auto ex = boost::asio::get_associated_executor(handler);
          boost::asio::post(ex, [h = std::move(handler), s]() mutable {
            std::move(h)(aerr::connection_refused, 0);
            s->emit(boost::asio::cancellation_type::terminal);
          });
        },
        token, sig, calls);
  }
};

}  // namespace

TEST_CASE("cancellation between an attempt and its backoff is not slept through", "[executor][cancel]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  boost::asio::cancellation_signal sig;
  int calls = 0;
  Outcome out;
  ex.async_execute<int>(FailAndCancel{&sig, &calls}, boost::asio::bind_cancellation_slot(sig.slot(), record(out)));
  vt.run_until_done(out);
  CHECK(out.ec == aerr::operation_aborted);
  CHECK(out.at == at(0s));  // not at the end of the 1 s backoff
  CHECK(out.result.attempts == 1);
  CHECK(out.result.last_error == refused);
  vt.drain();
  CHECK(calls == 1);
  CHECK(Clock::now() == at(0s));
}

TEST_CASE("partial cancellation is not terminal and is ignored", "[executor][cancel]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::succeed(5, 3s)});
  boost::asio::cancellation_signal sig;
  Outcome out;
  Timer t(vt.ioc, at(1s));
  t.async_wait([&sig](error_code) { sig.emit(boost::asio::cancellation_type::partial); });
  ex.async_execute<int>(TokenOp<int>{script}, boost::asio::bind_cancellation_slot(sig.slot(), record(out)));
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 5);
  CHECK(out.at == at(3s));
  CHECK_FALSE(script->log[0].cancelled_at);
}

// ---------------------------------------------------------------------------
// Completion tokens
// ---------------------------------------------------------------------------

namespace {

struct AwaitOutcome {
  bool done = false;
  RetryResult<int> result;
  error_code thrown;
  Clock::time_point at{};
};

// Coroutine bodies are free functions whose parameters are trivially destructible:
// g++ 12 destroys a by-value shared_ptr parameter twice when the body co_awaits
// inside a try block (found by AddressSanitizer).
boost::asio::awaitable<void> await_with_use_awaitable(Executor* ex, const std::shared_ptr<Script<int>>* script,
                                                      AwaitOutcome* out) {
  const CoroOp<int> op{*script};
  try {
    out->result = co_await ex->async_execute(op, boost::asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    out->thrown = e.code();
  }
  out->at = Clock::now();
  out->done = true;
}

boost::asio::awaitable<void> await_with_as_tuple(Executor* ex, const std::shared_ptr<Script<int>>* script,
                                                 Outcome<int>* out) {
  const TokenOp<int> op{*script};
  auto [ec, r] = co_await ex->async_execute<int>(op, boost::asio::as_tuple(boost::asio::use_awaitable));
  out->ec = ec;
  out->result = std::move(r);
  out->at = Clock::now();
  ++out->calls;
}

}  // namespace

TEST_CASE("token: use_awaitable inside co_spawn", "[executor][token]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  AwaitOutcome out;
  std::exception_ptr escaped;
  SECTION("success returns the result") {
    auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused), IntStep::succeed(9, 1s)});
    boost::asio::co_spawn(vt.ioc, await_with_use_awaitable(&ex, &script, &out),
                          [&escaped](std::exception_ptr e) { escaped = e; });
    REQUIRE(vt.driver.run_until([&out] { return out.done; }));
    REQUIRE(out.result.value);
    CHECK(*out.result.value == 9);
    CHECK(out.result.attempts == 2);
    CHECK(out.at == at(2s));
    CHECK_FALSE(out.thrown);
  }
  SECTION("failure throws system_error with the run's code") {
    auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(funds, 1s)});
    boost::asio::co_spawn(vt.ioc, await_with_use_awaitable(&ex, &script, &out),
                          [&escaped](std::exception_ptr e) { escaped = e; });
    REQUIRE(vt.driver.run_until([&out] { return out.done; }));
    CHECK(out.thrown == funds);
    CHECK(out.at == at(1s));
  }
  vt.drain();
  CHECK_FALSE(escaped);
}

TEST_CASE("token: as_tuple(use_awaitable) with a token-style operation", "[executor][token]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor(), Policy::exit_policy());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 500ms)});
  Outcome out;
  std::exception_ptr escaped;
  boost::asio::co_spawn(vt.ioc, await_with_as_tuple(&ex, &script, &out),
                        [&escaped](std::exception_ptr e) { escaped = e; });
  vt.run_until_done(out);
  CHECK(out.ec == error::attempts_exhausted);
  CHECK(out.result.attempts == 2);
  CHECK(out.result.last_error == refused);
  CHECK(out.at == at(2s));  // 0..0.5, +1 s, 1.5..2
  vt.drain();
  CHECK_FALSE(escaped);
}

TEST_CASE("token: as_tuple with a callback", "[executor][token]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::succeed(3, 1s)});
  std::optional<std::tuple<error_code, RetryResult<int>>> got;
  ex.async_execute(CoroOp<int>{script},
                   boost::asio::as_tuple([&got](std::tuple<error_code, RetryResult<int>> t) { got = std::move(t); }));
  REQUIRE(vt.driver.run_until([&got] { return got.has_value(); }));
  CHECK_FALSE(std::get<0>(*got));
  REQUIRE(std::get<1>(*got).value);
  CHECK(*std::get<1>(*got).value == 3);
  CHECK(std::get<1>(*got).attempts == 1);
  CHECK(Clock::now() == at(1s));
}

TEST_CASE("token: use_future", "[executor][token]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto ready = [](auto& f) { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; };
  SECTION("success gives the result") {
    auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::succeed(11, 700ms)});
    std::future<RetryResult<int>> f = ex.async_execute(CoroOp<int>{script}, boost::asio::use_future);
    CHECK_FALSE(ready(f));
    REQUIRE(vt.driver.run_until([&] { return ready(f); }));
    CHECK(Clock::now() == at(700ms));
    const auto r = f.get();
    REQUIRE(r.value);
    CHECK(*r.value == 11);
    CHECK(r.attempts == 1);
  }
  SECTION("failure throws system_error with the run's code") {
    auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::hang()});
    auto f = ex.async_execute<int>(TokenOp<int>{script}, boost::asio::use_future);
    REQUIRE(vt.driver.run_until([&] { return ready(f); }));
    CHECK(Clock::now() == at(10s));
    try {
      f.get();
      FAIL("the future held a value");
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == error::in_doubt);
    }
  }
  vt.drain();
}

TEST_CASE("token: deferred starts nothing until launched", "[executor][token]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::succeed(8, 1s)});
  auto op = ex.async_execute(CoroOp<int>{script}, boost::asio::deferred);
  vt.driver.advance(5s);
  CHECK(script->calls() == 0);
  Outcome out;
  std::move(op)(record(out));
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 8);
  CHECK(out.at == at(6s));
  CHECK(script->start_times() == std::vector{at(5s)});
}

TEST_CASE("token: a deferred run may be launched after its executor is destroyed", "[executor][token][lifetime]") {
  VirtualTime vt;
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 1s), IntStep::succeed(9, 1s)});
  auto ex = std::make_unique<Executor>(vt.ioc.get_executor(), Policy{}, exitguard::IdempotentClassifier{});
  auto op = ex->async_execute(CoroOp<int>{script}, boost::asio::deferred);
  ex.reset();  // the deferred operation holds what the run needs, not the executor object
  Outcome out;
  std::move(op)(record(out));
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 9);
  CHECK(out.result.attempts == 2);  // the policy and classifier survived: the refusal was retried
  CHECK(out.at == at(3s));
  vt.drain();
}

TEST_CASE("token: a callback runs on its associated executor", "[executor][token]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::succeed(1, 1s)});
  auto strand = boost::asio::make_strand(vt.ioc);
  bool on_strand = false;
  bool done = false;
  ex.async_execute(CoroOp<int>{script}, boost::asio::bind_executor(strand, [&](error_code, RetryResult<int>) {
                     on_strand = strand.running_in_this_thread();
                     done = true;
                   }));
  REQUIRE(vt.driver.run_until([&done] { return done; }));
  CHECK(on_strand);
}

// ---------------------------------------------------------------------------
// Operation styles
// ---------------------------------------------------------------------------

TEST_CASE("style: token-style operation completing void(error_code)", "[executor][style]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  using VoidStep = Step<std::monostate>;
  auto script = make_script<std::monostate>(vt.ioc.get_executor(),
                                            {VoidStep::fail(refused, 1s), VoidStep::succeed({}, 1s)});
  Outcome<std::monostate> out;
  ex.async_execute<std::monostate>(TokenOp<std::monostate>{script}, record(out));
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  CHECK(out.result.value.has_value());
  CHECK(out.result.attempts == 2);
  CHECK(out.at == at(3s));  // 0..1 fail, +1 s, 2..3
  STATIC_REQUIRE(std::is_same_v<decltype(out.result.value), std::optional<std::monostate>>);
}

TEST_CASE("style: void(error_code) failures are classified like any other", "[executor][style]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  using VoidStep = Step<std::monostate>;
  auto script = make_script<std::monostate>(vt.ioc.get_executor(), {VoidStep::fail(funds, 1s)});
  Outcome<std::monostate> out;
  ex.async_execute<std::monostate>(TokenOp<std::monostate>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == funds);
  CHECK_FALSE(out.result.value);
  CHECK(out.result.attempts == 1);
}

TEST_CASE("style: a coroutine returning awaitable<T> deduces T", "[executor][style]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  using StrStep = Step<std::string>;
  auto script = make_script<std::string>(vt.ioc.get_executor(), {StrStep::succeed("filled", 1s)});
  Outcome<std::string> out;
  ex.async_execute(CoroOp<std::string>{script}, record(out));
  vt.run_until_done(out);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == "filled");
  // A plain function pointer returning an awaitable works too.
  Outcome<int> out2;
  ex.async_execute(+[]() -> boost::asio::awaitable<int> { co_return 5; }, record(out2));
  vt.run_until_done(out2);
  REQUIRE(out2.result.value);
  CHECK(*out2.result.value == 5);
}

// ---------------------------------------------------------------------------
// Throwing operations
// ---------------------------------------------------------------------------

TEST_CASE("throw: runtime_error before the awaitable is returned is operation_threw", "[executor][throw]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(),
                                 {IntStep::throw_on_call(std::runtime_error("boom")), IntStep::succeed(1)});
  Outcome out;
  ex.async_execute(CoroOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::operation_threw);
  CHECK(out.result.last_error == error::operation_threw);
  CHECK(out.result.last_failure == FailureKind::permanent);
  CHECK(out.result.attempts == 1);
  CHECK(out.at == at(0s));
  vt.drain();
  CHECK(script->calls() == 1);
}

TEST_CASE("throw: runtime_error inside the coroutine is operation_threw", "[executor][throw]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(),
                                 {IntStep::throw_in_body(std::runtime_error("boom"), 2s), IntStep::succeed(1)});
  Outcome out;
  ex.async_execute(CoroOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::operation_threw);
  CHECK(out.result.attempts == 1);
  CHECK(out.at == at(2s));
  vt.drain();
  CHECK(script->calls() == 1);
}

TEST_CASE("throw: system_error with a transient code is retried", "[executor][throw]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  const auto transient = boost::system::system_error(refused);
  Outcome out;
  std::shared_ptr<Script<int>> script;
  SECTION("thrown inside the coroutine") {
    script = make_script<int>(vt.ioc.get_executor(), {IntStep::throw_in_body(transient, 1s),
                                                      IntStep::throw_in_body(transient, 1s), IntStep::succeed(4, 1s)});
    ex.async_execute(CoroOp<int>{script}, record(out));
  }
  SECTION("thrown before the awaitable is returned") {
    script = make_script<int>(vt.ioc.get_executor(), {IntStep::throw_on_call(transient),
                                                      IntStep::throw_on_call(transient), IntStep::succeed(4, 1s)});
    ex.async_execute(CoroOp<int>{script}, record(out));
  }
  SECTION("thrown by a token-style operation's initiation") {
    script = make_script<int>(vt.ioc.get_executor(), {IntStep::throw_on_call(transient),
                                                      IntStep::throw_on_call(transient), IntStep::succeed(4, 1s)});
    ex.async_execute<int>(TokenOp<int>{script}, record(out));
  }
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 4);
  CHECK(out.result.attempts == 3);
  CHECK(script->calls() == 3);
  vt.drain();
}

TEST_CASE("throw: a token-style initiation throwing runtime_error is operation_threw", "[executor][throw]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::throw_on_call(std::logic_error("bad"))});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::operation_threw);
  CHECK(out.result.attempts == 1);
  vt.drain();
}

TEST_CASE("throw: a system_error with an empty code is operation_threw", "[executor][throw]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto script =
      make_script<int>(vt.ioc.get_executor(), {IntStep::throw_in_body(boost::system::system_error(error_code{}))});
  Outcome out;
  ex.async_execute(CoroOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::operation_threw);
  CHECK(out.result.attempts == 1);
}

TEST_CASE("throw: a throwing classifier stops the run as permanent", "[executor][throw]") {
  VirtualTime vt;
  auto throwing = [](const error_code&) -> FailureKind { throw std::runtime_error("classifier"); };
  Executor ex(vt.ioc.get_executor(), Policy{}, throwing);
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 1s)});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK(out.ec == refused);
  CHECK(out.result.last_failure == FailureKind::permanent);
  CHECK(out.result.attempts == 1);
  vt.drain();
}

// ---------------------------------------------------------------------------
// Classifiers, late completions, lifetime
// ---------------------------------------------------------------------------

TEST_CASE("a user classifier decides what is retried", "[executor][classifier]") {
  VirtualTime vt;
  // This venue's slippage rejection may be retried; everything else as by default.
  auto classifier = [](const error_code& ec) {
    return ec == error::slippage_exceeded ? FailureKind::transient : exitguard::DefaultClassifier{}(ec);
  };
  Executor ex(vt.ioc.get_executor(), Policy{}, classifier);
  auto script = make_script<int>(vt.ioc.get_executor(),
                                 {IntStep::fail(error::slippage_exceeded), IntStep::succeed(2)});
  Outcome out;
  ex.async_execute<int>(TokenOp<int>{script}, record(out));
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  CHECK(out.result.attempts == 2);
  CHECK(script->start_times() == std::vector{at(0s), at(1s)});
}

TEST_CASE("a late completion of an abandoned attempt is ignored", "[executor][late]") {
  VirtualTime vt;
  SECTION("in doubt: the run's outcome stands, the handler is called once") {
    Executor ex(vt.ioc.get_executor());
    // Ignores its cancellation and reports a fill at 12 s, after its 10 s time-out.
    auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::late({}, 1, 12s)});
    Outcome out;
    ex.async_execute<int>(TokenOp<int>{script}, record(out));
    vt.run_until_done(out);
    CHECK(out.ec == error::in_doubt);
    CHECK(out.at == at(10s));
    vt.drain();
    REQUIRE(script->log[0].finished_at);
    CHECK(*script->log[0].finished_at == at(12s));  // it did complete, late
    CHECK(out.calls == 1);
    CHECK(out.ec == error::in_doubt);
    CHECK_FALSE(out.result.value);
  }
  SECTION("retried: a late success does not replace the later attempts' outcome") {
    Executor ex(vt.ioc.get_executor(), Policy{}, exitguard::IdempotentClassifier{});
    auto script = make_script<int>(vt.ioc.get_executor(),
                                   {IntStep::late({}, 1, 12s), IntStep::fail(refused, 2s), IntStep::succeed(3)});
    Outcome out;
    ex.async_execute<int>(TokenOp<int>{script}, record(out));
    vt.run_until_done(out);
    // 0..10 timed out, +1 s, 11..13 fails (the late fill of #1 lands at 12), +2.5 s, 15.5 succeeds.
    CHECK(script->start_times() == std::vector{at(0s), at(11s), at(15500ms)});
    CHECK(*script->log[0].finished_at == at(12s));
    CHECK_FALSE(out.ec);
    REQUIRE(out.result.value);
    CHECK(*out.result.value == 3);
    CHECK(out.result.attempts == 3);
    CHECK(out.at == at(15500ms));
    vt.drain();
    CHECK(out.calls == 1);
  }
  SECTION("a late coroutine result is ignored too") {
    Executor ex(vt.ioc.get_executor());
    auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::late({}, 1, 12s)});
    Outcome out;
    ex.async_execute(CoroOp<int>{script}, record(out));
    vt.run_until_done(out);
    CHECK(out.ec == error::in_doubt);
    CHECK(out.at == at(10s));
    vt.drain();
    CHECK(*script->log[0].finished_at == at(12s));
    CHECK(out.calls == 1);
  }
}

namespace {

// An operation whose coroutine is a member function: its frame refers to the
// operation object through `this`. It counts its live copies so that the test can
// tell, without undefined behaviour, whether the object it runs on still exists.
struct SelfUsingOp {
  std::shared_ptr<int> live;
  std::string venue = "a venue name long enough to be on the heap";
  std::size_t* seen;  // where the resumed attempt writes venue.size()
  bool* used_after_destruction;

  SelfUsingOp(std::shared_ptr<int> l, std::size_t* s, bool* u)
      : live(std::move(l)), seen(s), used_after_destruction(u) {
    ++*live;
  }
  SelfUsingOp(const SelfUsingOp& o)
      : live(o.live), venue(o.venue), seen(o.seen), used_after_destruction(o.used_after_destruction) {
    ++*live;
  }
  SelfUsingOp& operator=(const SelfUsingOp&) = delete;
  ~SelfUsingOp() { --*live; }

  boost::asio::awaitable<int> operator()() const {
    const std::shared_ptr<int> copies = live;  // in the frame: safe to read later
    bool* const flag = used_after_destruction;
    Timer t(co_await boost::asio::this_coro::executor, Clock::time_point::max());
    co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));  // until abandoned
    if (*copies == 0) {
      *flag = true;  // `this` is gone: reading venue now would be a use after free
      co_return 0;
    }
    *seen = venue.size();
    co_return 1;
  }
};

}  // namespace

TEST_CASE("an abandoned attempt may still use its operation object after the run ends",
          "[executor][lifetime]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  auto live = std::make_shared<int>(0);
  std::size_t seen = 0;
  bool used_after_destruction = false;
  Outcome out;
  ex.async_execute(SelfUsingOp(live, &seen, &used_after_destruction), record(out));
  vt.run_until_done(out);
  CHECK(out.ec == error::in_doubt);
  CHECK(out.at == at(10s));
  vt.drain();
  // The abandoned attempt resumed (on its cancellation) after the run had ended,
  // and its operation object was still there.
  CHECK_FALSE(used_after_destruction);
  CHECK(seen == std::string("a venue name long enough to be on the heap").size());
  CHECK(*live == 0);  // and it is released once every attempt is done
}

TEST_CASE("the executor may be destroyed while its runs are in flight", "[executor][lifetime]") {
  VirtualTime vt;
  auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused, 1s), IntStep::succeed(6, 1s)});
  Outcome out;
  {
    Executor ex(vt.ioc.get_executor(), Policy{}, exitguard::IdempotentClassifier{});
    ex.async_execute(CoroOp<int>{script}, record(out));
    vt.driver.advance(500ms);
  }
  vt.run_until_done(out);
  CHECK_FALSE(out.ec);
  REQUIRE(out.result.value);
  CHECK(*out.result.value == 6);
  CHECK(out.at == at(3s));
  vt.drain();
}

TEST_CASE("many concurrent runs in virtual time are independent", "[executor]") {
  VirtualTime vt;
  Executor ex(vt.ioc.get_executor());
  constexpr int runs = 50;
  std::vector<std::shared_ptr<Script<int>>> scripts;
  std::vector<Outcome<int>> outs(runs);
  for (int i = 0; i < runs; ++i) {
    // Run i fails i % 3 times, each after i ms, then succeeds with i.
    std::vector<IntStep> steps(static_cast<std::size_t>(i % 3), IntStep::fail(refused, std::chrono::milliseconds(i)));
    steps.push_back(IntStep::succeed(i, std::chrono::milliseconds(i)));
    scripts.push_back(make_script<int>(vt.ioc.get_executor(), steps));
    ex.async_execute<int>(TokenOp<int>{scripts.back()}, record(outs[static_cast<std::size_t>(i)]));
  }
  vt.drain();
  for (int i = 0; i < runs; ++i) {
    const auto& out = outs[static_cast<std::size_t>(i)];
    INFO("run " << i);
    REQUIRE(out.calls == 1);
    CHECK_FALSE(out.ec);
    REQUIRE(out.result.value);
    CHECK(*out.result.value == i);
    CHECK(out.result.attempts == static_cast<std::uint32_t>(i % 3 + 1));
    const auto ms = std::chrono::milliseconds(i);
    const Clock::duration expected[] = {ms, 2 * ms + 1s, 3 * ms + 3500ms};
    CHECK(out.at == at(expected[i % 3]));
  }
  CHECK(vt.driver.handlers_run() < static_cast<std::size_t>(runs) * 100);
}

// ---------------------------------------------------------------------------
// Jitter
// ---------------------------------------------------------------------------

TEST_CASE("jitter: the same seed gives the same attempt times, another seed others", "[executor][jitter]") {
  auto policy = policy_with([](Policy& p) {
    p.max_attempts = 6;
    p.jitter = exitguard::Jitter::full;
  });
  auto start_times = [&policy](std::uint64_t seed) {
    VirtualTime vt;
    Executor ex(vt.ioc.get_executor(), policy, exitguard::DefaultClassifier{}, seed);
    auto script = make_script<int>(vt.ioc.get_executor(), {IntStep::fail(refused)});
    Outcome out;
    ex.async_execute<int>(TokenOp<int>{script}, record(out));
    vt.run_until_done(out);
    CHECK(out.ec == error::attempts_exhausted);
    CHECK(out.result.attempts == 6);
    return script->start_times();
  };
  const auto a = start_times(1234);
  const auto b = start_times(1234);
  const auto c = start_times(4321);
  REQUIRE(a.size() == 6);
  CHECK(a == b);
  CHECK(a != c);
  // Each delay is a full-jitter draw: within [0, base], and not the base itself.
  bool all_base = true;
  for (std::uint32_t r = 1; r < a.size(); ++r) {
    const auto delay = a[r] - a[r - 1];
    CHECK(delay >= 0ns);
    CHECK(delay <= policy.base_backoff(r));
    if (delay != policy.base_backoff(r)) all_base = false;
  }
  CHECK_FALSE(all_base);
}

// ---------------------------------------------------------------------------
// A real multi-threaded io_context
// ---------------------------------------------------------------------------

namespace {

boost::asio::awaitable<int> flaky_body(std::atomic<int>* calls) {  // trivially destructible parameter
  const int n = ++*calls;
  if (n <= 2) throw boost::system::system_error(aerr::connection_refused);
  co_return n;
}

// Fails transiently twice, then succeeds with its call count (3).
struct FlakyOp {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  boost::asio::awaitable<int> operator()() const { return flaky_body(calls.get()); }
};

}  // namespace

TEST_CASE("200 concurrent runs on a 4-thread io_context", "[executor][threads]") {
  boost::asio::io_context ioc(4);
  exitguard::RetryPolicy policy;
  policy.initial_backoff = 0s;  // no waiting at all: nothing here sleeps
  policy.max_backoff = 0s;
  exitguard::BoundedRetryExecutor ex(ioc.get_executor(), policy);

  constexpr int runs = 200;
  struct Slot {
    error_code ec;
    RetryResult<int> result;
    int calls = 0;
  };
  std::vector<Slot> slots(runs);
  std::vector<FlakyOp> ops(runs);
  std::atomic<int> completed{0};
  // Runs are started from the io_context's threads, concurrently.
  for (int i = 0; i < runs; ++i)
    boost::asio::post(ioc, [&, i] {
      ex.async_execute(ops[static_cast<std::size_t>(i)], [&, i](error_code ec, RetryResult<int> r) {
        auto& s = slots[static_cast<std::size_t>(i)];
        s.ec = ec;
        s.result = std::move(r);
        ++s.calls;
        completed.fetch_add(1, std::memory_order_relaxed);
      });
    });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&ioc] { ioc.run(); });
  for (auto& th : threads) th.join();  // run() returns when every run has completed

  CHECK(completed.load() == runs);
  for (int i = 0; i < runs; ++i) {
    const auto& s = slots[static_cast<std::size_t>(i)];
    INFO("run " << i << ": " << s.ec.message());
    CHECK(s.calls == 1);
    CHECK_FALSE(s.ec);
    REQUIRE(s.result.value);
    CHECK(*s.result.value == 3);
    CHECK(s.result.attempts == 3);
    CHECK(ops[static_cast<std::size_t>(i)].calls->load() == 3);
  }
}
