// tests/support/scripted_operation.hpp — a scriptable fake asynchronous operation.
//
// A Script says what each attempt of an operation does (succeed or fail after a
// latency on the ManualClock, hang, throw) and logs what happened to it: when it
// started, when it saw a cancellation, when it delivered its result. The same
// script drives two operation styles:
//   - TokenOp<T>: a token-style async function (async_initiate) completing with
//     void(error_code, T), or void(error_code) for T = std::monostate;
//   - CoroOp<T>: a callable returning boost::asio::awaitable<T>.
// Both honour terminal cancellation through the handler's cancellation slot, unless
// the step says to ignore it (a late completion of an abandoned attempt).
//
// Coroutine bodies are free functions with trivially destructible parameters (g++ 12
// and capturing coroutine lambdas, or non-trivial coroutine parameters, do not mix):
// keep the script alive until the io_context is done with it. Use from one thread
// (the driver's).
#pragma once

#include <exitguard/testing/manual_clock.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

namespace exitguard_test {

namespace asio = boost::asio;
using boost::system::error_code;
using Clock = exitguard::testing::ManualClock;
using Timer = asio::basic_waitable_timer<Clock>;

inline Clock::time_point at(Clock::duration d) { return Clock::time_point(d); }

template <class T>
struct Step {
  enum class Kind {
    complete,        // after `latency`, complete with `ec` and `value`
    hang,            // never complete on its own
    throw_on_call,   // throw `exception` from the call itself, before any async work
    throw_in_body,   // coroutine style: throw `exception` from inside the coroutine,
                     // after `latency`; token style: same as throw_on_call
  };
  Kind kind = Kind::complete;
  Clock::duration latency{};
  error_code ec{};
  T value{};
  bool honours_cancellation = true;
  std::exception_ptr exception{};

  static Step succeed(T v, Clock::duration latency = {}) {
    Step s;
    s.value = std::move(v);
    s.latency = latency;
    return s;
  }
  static Step fail(error_code e, Clock::duration latency = {}) {
    Step s;
    s.ec = e;
    s.latency = latency;
    return s;
  }
  static Step hang() {
    Step s;
    s.kind = Kind::hang;
    return s;
  }
  // Completes after `latency` whatever happens meanwhile: a late completion if the
  // attempt was abandoned before.
  static Step late(error_code e, T v, Clock::duration latency) {
    Step s;
    s.ec = e;
    s.value = std::move(v);
    s.latency = latency;
    s.honours_cancellation = false;
    return s;
  }
  template <class E>
  static Step throw_on_call(E e) {
    Step s;
    s.kind = Kind::throw_on_call;
    s.exception = std::make_exception_ptr(std::move(e));
    return s;
  }
  template <class E>
  static Step throw_in_body(E e, Clock::duration latency = {}) {
    Step s;
    s.kind = Kind::throw_in_body;
    s.exception = std::make_exception_ptr(std::move(e));
    s.latency = latency;
    return s;
  }
};

// What happened to one attempt.
struct AttemptLog {
  Clock::time_point started{};
  std::optional<Clock::time_point> cancelled_at;  // when it saw its cancellation
  std::optional<Clock::time_point> finished_at;   // when it delivered a result (or threw)
  error_code delivered{};                         // the error it delivered
};

template <class T = int>
class Script {
 public:
  using step_type = Step<T>;

  Script(asio::any_io_executor ex, std::vector<step_type> steps) : ex_(std::move(ex)), steps_(std::move(steps)) {}
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;
  ~Script() {
    // Break the cycle a parked handler may form with the run that owns its
    // cancellation slot.
    auto parked = std::move(parked_);
    for (auto& release : parked) release();
  }

  // Attempt i runs steps[i]; attempts past the end repeat the last step.
  const step_type& step(std::size_t i) const { return steps_[i < steps_.size() ? i : steps_.size() - 1]; }
  const asio::any_io_executor& executor() const { return ex_; }

  std::size_t calls() const { return log.size(); }
  std::vector<Clock::time_point> start_times() const {
    std::vector<Clock::time_point> out;
    for (const auto& a : log) out.push_back(a.started);
    return out;
  }

  std::size_t begin_attempt() {
    log.push_back(AttemptLog{Clock::now(), std::nullopt, std::nullopt, {}});
    return log.size() - 1;
  }
  void finish(std::size_t i, error_code ec) {
    log[i].finished_at = Clock::now();
    log[i].delivered = ec;
  }
  void cancelled(std::size_t i) {
    if (!log[i].cancelled_at) log[i].cancelled_at = Clock::now();
  }
  void park(std::function<void()> release) { parked_.push_back(std::move(release)); }

  std::vector<AttemptLog> log;

 private:
  asio::any_io_executor ex_;
  std::vector<step_type> steps_;
  std::vector<std::function<void()>> parked_;
};

namespace detail {

template <class T, class Handler>
void invoke(Handler& h, error_code ec, T value) {
  if constexpr (std::is_same_v<T, std::monostate>)
    std::move(h)(ec);
  else
    std::move(h)(ec, std::move(value));
}

template <class T>
struct token_initiation {
  std::shared_ptr<Script<T>> s;

  template <class Handler>
  void operator()(Handler h) const {
    const std::size_t i = s->begin_attempt();
    const Step<T> st = s->step(i);
    using Kind = typename Step<T>::Kind;
    if (st.kind == Kind::throw_on_call || st.kind == Kind::throw_in_body) {
      s->finish(i, {});
      std::rethrow_exception(st.exception);
    }
    auto slot = asio::get_associated_cancellation_slot(h);

    if (st.kind == Kind::hang) {
      // Parked until cancelled (or forever). The holder is shared by the slot's
      // cancellation handler and the script, which releases it at its end.
      auto holder = std::make_shared<std::optional<Handler>>(std::move(h));
      s->park([holder] { holder->reset(); });
      if (slot.is_connected() && st.honours_cancellation) {
        // The slot lives in the run, which the parked handler keeps alive: hold the
        // script weakly here, or the script would keep itself alive.
        slot.assign([holder, weak = std::weak_ptr<Script<T>>(s), i](asio::cancellation_type_t type) {
          if ((type & asio::cancellation_type::terminal) == asio::cancellation_type::none) return;
          auto sp = weak.lock();
          if (!sp) return;
          sp->cancelled(i);
          // Complete outside the signal's emit(), as Asio's own operations do.
          asio::post(sp->executor(), [holder, sp, i] {
            if (!*holder) return;
            auto handler = std::move(**holder);
            holder->reset();
            sp->finish(i, asio::error::operation_aborted);
            invoke<T>(handler, asio::error::operation_aborted, T{});
          });
        });
      }
      return;
    }

    auto timer = std::make_shared<Timer>(s->executor(), Clock::now() + st.latency);
    auto done = [sp = s, i, st, timer, handler = std::move(h)](error_code wait_ec) mutable {
      if (wait_ec == asio::error::operation_aborted) {
        sp->cancelled(i);
        sp->finish(i, wait_ec);
        invoke<T>(handler, wait_ec, T{});
        return;
      }
      sp->finish(i, st.ec);
      invoke<T>(handler, st.ec, st.value);
    };
    if (slot.is_connected() && st.honours_cancellation)
      timer->async_wait(asio::bind_cancellation_slot(slot, std::move(done)));
    else
      timer->async_wait(std::move(done));
  }
};

// Parameters are trivially destructible on purpose: g++ 12 can destroy non-trivial
// coroutine parameters twice. The script outlives its coroutines (the test owns it).
template <class T>
asio::awaitable<T> coro_body(Script<T>* s, std::size_t i, const Step<T>* step) {
  using Kind = typename Step<T>::Kind;
  const Step<T>& st = *step;
  if (!st.honours_cancellation)
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
  Timer timer(co_await asio::this_coro::executor);
  if (st.kind == Kind::hang)
    timer.expires_at(Clock::time_point::max());
  else
    timer.expires_after(st.latency);
  auto [wait_ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (wait_ec == asio::error::operation_aborted) {
    s->cancelled(i);
    s->finish(i, wait_ec);
    throw boost::system::system_error(wait_ec);
  }
  if (st.kind == Kind::throw_in_body) {
    s->finish(i, {});
    std::rethrow_exception(st.exception);
  }
  s->finish(i, st.ec);
  if (st.ec) throw boost::system::system_error(st.ec);
  co_return st.value;
}

}  // namespace detail

// Token style: `op(token)`.
template <class T = int>
struct TokenOp {
  std::shared_ptr<Script<T>> script;

  template <class CompletionToken>
  auto operator()(CompletionToken&& token) const {
    using signature = std::conditional_t<std::is_same_v<T, std::monostate>, void(error_code), void(error_code, T)>;
    return asio::async_initiate<CompletionToken, signature>(detail::token_initiation<T>{script}, token);
  }
};

// Coroutine style: `op()` returns asio::awaitable<T>. A failing step throws a
// system_error with its code from inside the coroutine.
template <class T = int>
struct CoroOp {
  std::shared_ptr<Script<T>> script;

  asio::awaitable<T> operator()() const {
    const std::size_t i = script->begin_attempt();
    const Step<T> st = script->step(i);
    if (st.kind == Step<T>::Kind::throw_on_call) {
      script->finish(i, {});
      std::rethrow_exception(st.exception);
    }
    return detail::coro_body<T>(script.get(), i, &script->step(i));
  }
};

template <class T = int>
std::shared_ptr<Script<T>> make_script(asio::any_io_executor ex, std::vector<Step<T>> steps) {
  return std::make_shared<Script<T>>(std::move(ex), std::move(steps));
}

}  // namespace exitguard_test
