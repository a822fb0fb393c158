// exitguard/bounded_retry_executor.hpp — run an asynchronous operation under a RetryPolicy.
//
// BasicBoundedRetryExecutor runs any asynchronous operation — a callable returning
// `asio::awaitable<T>`, or a token-style async function completing with
// `void(error_code, T)` — at most `max_attempts` times, each attempt cut at
// `attempt_timeout`, the whole run cut at `total_timeout`, and retries only what
// its classifier calls transient. It never starts an attempt after the total
// deadline, nor one with less than `min_attempt_window` left; a backoff that would
// run past the deadline ends the run at once. These are the rules of
// BasicRetryBudget (retry_policy.hpp), which the run follows, as the exit engine
// does for each step of its ladder. An in-doubt outcome (by default, an
// attempt that timed out) ends the run with `error::in_doubt`: the operation may
// still take effect, and re-sending it blindly could do it twice.
//
// Completion: `void(boost::system::error_code, RetryResult<T>)`, with any completion
// token (callbacks, use_awaitable, use_future, deferred, as_tuple). The code is:
//   - empty on success (result.value holds the value);
//   - the operation's own error, if it was permanent;
//   - error::in_doubt, if the last attempt's outcome is in doubt;
//   - error::attempts_exhausted, if every attempt failed transiently;
//   - error::total_timeout_exceeded, if the time budget ran out;
//   - boost::asio::error::operation_aborted, if the caller cancelled.
// result.last_error and result.last_failure always tell what the last attempt said.
//
// Cancellation: per-operation, terminal. The run stops at once, asks the attempt in
// flight to stop (terminal cancellation on its slot), completes with
// operation_aborted, and leaves none of its own handlers pending. An attempt that
// is abandoned (timed out, cancelled) and completes later is ignored.
//
// Thread safety: the executor object is immutable after construction; any number of
// runs may start concurrently from any thread. Each run serialises its own state on
// a strand, so it is safe on a multi-threaded io_context. The executor object may
// be destroyed while its runs are in flight.
#pragma once

#include <exitguard/detail/attempt_slots.hpp>
#include <exitguard/detail/launch_operation.hpp>
#include <exitguard/detail/spawn_for_handler.hpp>
#include <exitguard/detail/splitmix64.hpp>
#include <exitguard/error.hpp>
#include <exitguard/retry_policy.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <tuple>
#include <utility>

namespace exitguard {

// What a run did, whatever its outcome.
template <class T>
struct RetryResult {
  std::optional<T> value;                  // set on success
  std::uint32_t attempts = 0;              // attempts started
  boost::system::error_code last_error;    // the last attempt's own error, if it failed
  FailureKind last_failure = FailureKind::permanent;  // meaningful when last_error is set
};

namespace detail {

template <class T, class Clock, class Executor>
struct retry_run {
  using strand_type = boost::asio::strand<Executor>;
  using timer_type = boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, strand_type>;

  retry_run(const Executor& ex, const BasicRetryPolicy<Clock>& p, std::uint64_t seed)
      : strand(boost::asio::make_strand(ex)), timer(strand), policy(p), slots(p.max_attempts), rng(seed) {}

  // Called on the strand when attempt i completes, in time or late.
  void on_attempt_done(std::size_t i, boost::system::error_code ec, std::optional<T> value) {
    if (slots.record(i, ec, std::move(value)) && !slots[i].abandoned) timer.cancel();
  }

  strand_type strand;
  timer_type timer;
  BasicRetryPolicy<Clock> policy;
  attempt_slots<T> slots;
  std::mt19937_64 rng;
};

template <class T, class Clock, class Executor, class Op>
boost::asio::awaitable<std::tuple<boost::system::error_code, RetryResult<T>>> run_retries(
    std::shared_ptr<retry_run<T, Clock, Executor>> run, Op op,
    std::function<FailureKind(const boost::system::error_code&)> classify) {
  namespace asio = boost::asio;
  co_await asio::this_coro::throw_if_cancelled(false);
  // The one retry rule (retry_policy.hpp), as the exit engine applies it to each
  // ladder step: the run's budget ends total_timeout after its start; it has no
  // other hard limit.
  const auto start = Clock::now();
  BasicRetryBudget<Clock> budget(run->policy, start, start + run->policy.total_timeout);
  RetryResult<T> result;
  // The operation object must outlive every attempt, including an abandoned one that
  // completes after the run has ended: an operation that is a coroutine member
  // function (or a capturing coroutine lambda) refers to it from the attempt's frame.
  // Each attempt's completion callback holds it.
  const auto operation = std::make_shared<Op>(std::move(op));

  for (;;) {
    const auto now = Clock::now();
    // Every failed attempt is spent, and a run with none left has ended below: what
    // stops an attempt from starting here is time.
    if (!budget.can_start(now))
      co_return std::tuple{make_error_code(error::total_timeout_exceeded), std::move(result)};

    const std::uint32_t n = result.attempts++;
    auto& slot = run->slots[n];
    launch_operation<T>(*operation, run->strand, slot.cancel.slot(),
                        [run, n, operation](boost::system::error_code ec, std::optional<T> v) {
                          run->on_attempt_done(n, ec, std::move(v));
                        });
    const auto end =
        co_await wait_until(run->timer, budget.attempt_end(now), [&slot] { return slot.result.has_value(); });
    if (end == wait_end::cancelled) {
      run->slots.abandon(n);
      co_return std::tuple{make_error_code(asio::error::operation_aborted), std::move(result)};
    }
    if (end == wait_end::expired) {
      run->slots.abandon(n);
      result.last_error = make_error_code(error::attempt_timed_out);
    } else if (!slot.result->ec && slot.result->value) {
      result.value = std::move(slot.result->value);
      result.last_error = {};
      co_return std::tuple{boost::system::error_code{}, std::move(result)};
    } else {
      result.last_error = slot.result->ec ? slot.result->ec : make_error_code(error::operation_threw);
    }
    budget.spend();

    try {
      result.last_failure = classify(result.last_error);
    } catch (...) {
      result.last_failure = FailureKind::permanent;  // a throwing classifier stops the run
    }
    if (result.last_failure == FailureKind::permanent)
      co_return std::tuple{result.last_error, std::move(result)};
    if (result.last_failure == FailureKind::in_doubt)
      co_return std::tuple{make_error_code(error::in_doubt), std::move(result)};
    if (!budget.attempts_left()) break;

    // Back off, unless the wait would leave no room for the next attempt: then the
    // budget is spent now, never by waiting it out.
    const auto failed_at = Clock::now();
    const auto next = budget.next_start(failed_at, run->rng);
    if (!next) co_return std::tuple{make_error_code(error::total_timeout_exceeded), std::move(result)};
    if (*next > failed_at) {
      const auto waited = co_await wait_until(run->timer, *next, [] { return false; });
      if (waited == wait_end::cancelled)
        co_return std::tuple{make_error_code(asio::error::operation_aborted), std::move(result)};
    } else if (co_await stop_requested()) {
      co_return std::tuple{make_error_code(asio::error::operation_aborted), std::move(result)};
    }
  }
  co_return std::tuple{make_error_code(error::attempts_exhausted), std::move(result)};
}

// Tag: deduce the result type from an operation returning asio::awaitable<T>.
struct deduce_result {};

}  // namespace detail

template <class Clock, class Executor = boost::asio::any_io_executor>
class BasicBoundedRetryExecutor {
  // What the runs are made from. The initiation holds it, so a deferred operation not
  // yet launched may outlive the executor object; each run copies what it needs.
  struct shared_state {
    shared_state(const Executor& ex, const BasicRetryPolicy<Clock>& p,
                 std::function<FailureKind(const boost::system::error_code&)> c, std::uint64_t s)
        : executor(ex), policy(p), classifier(std::move(c)), seed(s) {}
    const Executor executor;
    const BasicRetryPolicy<Clock> policy;
    const std::function<FailureKind(const boost::system::error_code&)> classifier;
    const std::uint64_t seed;
    mutable std::atomic<std::uint64_t> runs{0};  // numbers the runs: each its own jitter seed
  };

 public:
  using clock_type = Clock;
  using executor_type = Executor;
  using policy_type = BasicRetryPolicy<Clock>;
  using classifier_type = std::function<FailureKind(const boost::system::error_code&)>;

  // Throws configuration_error if `policy` is invalid. `jitter_seed` seeds the
  // generator behind the policy's jitter: runs are repeatable for a given seed and
  // order of starts.
  template <Classifier C = DefaultClassifier>
  explicit BasicBoundedRetryExecutor(const executor_type& ex, policy_type policy = {}, C classifier = {},
                                     std::uint64_t jitter_seed = 0x65786974ULL)
      : state_(make_state(ex, policy, std::move(classifier), jitter_seed)) {}

  // Not copyable or movable: runs are numbered per executor (the jitter's seeds).
  BasicBoundedRetryExecutor(const BasicBoundedRetryExecutor&) = delete;
  BasicBoundedRetryExecutor& operator=(const BasicBoundedRetryExecutor&) = delete;

  executor_type get_executor() const noexcept { return state_->executor; }
  const policy_type& policy() const noexcept { return state_->policy; }

  // Runs `op` under the policy; see the header comment for the completion. `T` is
  // deduced for operations returning asio::awaitable<T>; give it for token-style
  // operations (async_execute<double>(op, token)).
  template <class T = detail::deduce_result, class Op, class CompletionToken>
  auto async_execute(Op op, CompletionToken&& token) {
    using value_type = typename std::conditional_t<std::is_same_v<T, detail::deduce_result>,
                                                   detail::awaitable_result<Op>,
                                                   std::type_identity<T>>::type;
    using signature = void(boost::system::error_code, RetryResult<value_type>);
    // The initiation holds the shared state, not `this`: with a lazy token
    // (deferred, use_awaitable) it runs when launched, maybe after this object is gone.
    return boost::asio::async_initiate<CompletionToken, signature>(
        [state = state_](auto handler, Op operation) {
          start<value_type>(state, std::move(handler), std::move(operation));
        },
        token, std::move(op));
  }

 private:
  static std::shared_ptr<const shared_state> make_state(const executor_type& ex, const policy_type& policy,
                                                        classifier_type classifier, std::uint64_t seed) {
    throw_if_invalid(policy.validate());
    return std::make_shared<const shared_state>(ex, policy, std::move(classifier), seed);
  }

  template <class T, class Handler, class Op>
  static void start(const std::shared_ptr<const shared_state>& state, Handler handler, Op op) {
    using run_type = detail::retry_run<T, Clock, Executor>;
    const std::uint64_t seed =
        detail::splitmix64(state->seed + state->runs.fetch_add(1, std::memory_order_relaxed));
    auto run = std::make_shared<run_type>(state->executor, state->policy, seed);
    auto strand = run->strand;
    detail::spawn_for_handler<RetryResult<T>>(
        strand, state->executor,
        detail::run_retries<T, Clock, Executor, Op>(std::move(run), std::move(op), state->classifier),
        std::move(handler));
  }

  std::shared_ptr<const shared_state> state_;
};

using BoundedRetryExecutor = BasicBoundedRetryExecutor<std::chrono::steady_clock>;

}  // namespace exitguard
