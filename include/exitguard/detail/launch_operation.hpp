// exitguard/detail/launch_operation.hpp — starts a user operation, whatever its style.
//
// The user's operation is either a callable returning `boost::asio::awaitable<T>`
// or a token-style asynchronous function whose last argument is a completion token
// and whose completion signature is `void(error_code, T)` (or `void(error_code)`,
// seen as T = std::monostate). launch_operation starts it so that its result
// reaches `on_done(error_code, std::optional<T>)` exactly once, on `strand`, with
// the given cancellation slot attached. An exception thrown by the operation, when
// called or from inside its coroutine, becomes an error code: the system_error's
// own code, or error::operation_threw. Nothing escapes into the io_context.
#pragma once

#include <exitguard/error.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace exitguard::detail {

template <class T>
struct awaitable_value {
  static constexpr bool value = false;
};
template <class T, class E>
struct awaitable_value<boost::asio::awaitable<T, E>> {
  static constexpr bool value = true;
  using type = T;
};

// True if `op(args...)` returns an asio::awaitable.
template <class Op, class... Args>
concept returns_awaitable = requires(Op& op, Args&... args) {
  requires awaitable_value<std::decay_t<decltype(op(args...))>>::value;
};

template <class Op, class... Args>
struct awaitable_result {
  using type = typename awaitable_value<std::decay_t<std::invoke_result_t<Op&, Args&...>>>::type;
};

// The error code an exception stands for.
inline boost::system::error_code error_from_exception(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& se) {
    return se.code() ? se.code() : make_error_code(error::operation_threw);
  } catch (...) {
    return make_error_code(error::operation_threw);
  }
}

// Delivers a completion to `on_done`, always through `strand` so that state the
// callback touches is only ever touched there, whatever thread the operation used.
template <class T, class Strand, class OnDone>
struct completion_handler {
  using executor_type = Strand;
  Strand strand;
  OnDone on_done;

  executor_type get_executor() const noexcept { return strand; }

  void operator()(boost::system::error_code ec, T value) {
    deliver(ec, std::optional<T>(std::move(value)));
  }
  void operator()(boost::system::error_code ec)
    requires std::is_same_v<T, std::monostate>
  {
    deliver(ec, std::optional<T>(std::in_place));
  }
  // From co_spawn of an awaitable operation.
  void operator()(std::exception_ptr e, T value) {
    if (e)
      deliver(error_from_exception(e), std::nullopt);
    else
      deliver({}, std::optional<T>(std::move(value)));
  }

  void deliver(boost::system::error_code ec, std::optional<T> value) {
    boost::asio::dispatch(strand, [cb = std::move(on_done), ec, v = std::move(value)]() mutable {
      cb(ec, std::move(v));
    });
  }
};

template <class T, class Op, class Strand, class OnDone, class... Args>
void launch_operation(Op&& op, const Strand& strand, boost::asio::cancellation_slot slot, OnDone on_done,
                      Args... args) {
  using handler_t = completion_handler<T, Strand, OnDone>;
  if constexpr (returns_awaitable<std::remove_reference_t<Op>, Args...>) {
    // Keep a copy of the callback: if calling op throws, the handler was never made.
    OnDone fallback = on_done;
    try {
      auto aw = op(args...);
      boost::asio::co_spawn(strand, std::move(aw),
                            boost::asio::bind_cancellation_slot(slot, handler_t{strand, std::move(on_done)}));
    } catch (...) {
      handler_t{strand, std::move(fallback)}.deliver(error_from_exception(std::current_exception()),
                                                     std::nullopt);
    }
  } else {
    OnDone fallback = on_done;
    try {
      op(args..., boost::asio::bind_cancellation_slot(slot, handler_t{strand, std::move(on_done)}));
    } catch (...) {
      // Only a throw before the operation took its handler can reach here; an
      // operation that throws after completing breaks Asio's rules and cannot be
      // told apart, so the first completion delivered wins (see the caller).
      handler_t{strand, std::move(fallback)}.deliver(error_from_exception(std::current_exception()),
                                                     std::nullopt);
    }
  }
}

}  // namespace exitguard::detail
