// exitguard/detail/spawn_for_handler.hpp — run a coroutine as an Asio asynchronous operation.
#pragma once

#include <exitguard/detail/launch_operation.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/system/error_code.hpp>

#include <exception>
#include <tuple>
#include <utility>

namespace exitguard::detail {

// Runs `body` on `strand` and completes `handler` with the (error_code, Result) it
// returns, as Asio requires: through the handler's associated executor (`fallback`
// if it has none), with work kept on it meanwhile, and with the handler's
// cancellation slot connected to the coroutine (terminal cancellation). `body`
// catches what it calls; an exception escaping it anyway (an allocation failure) is
// reported as the error code, never thrown into the io_context.
template <class Result, class Strand, class Executor, class Handler>
void spawn_for_handler(const Strand& strand, const Executor& fallback,
                       boost::asio::awaitable<std::tuple<boost::system::error_code, Result>> body, Handler handler) {
  namespace asio = boost::asio;
  auto slot = asio::get_associated_cancellation_slot(handler);
  auto handler_ex = asio::get_associated_executor(handler, fallback);
  asio::co_spawn(
      strand, std::move(body),
      asio::bind_cancellation_slot(
          slot, asio::bind_executor(handler_ex, [h = std::move(handler)](
                                                    std::exception_ptr e,
                                                    std::tuple<boost::system::error_code, Result> r) mutable {
            if (e) std::get<0>(r) = error_from_exception(e);
            std::move(h)(std::get<0>(r), std::move(std::get<1>(r)));
          })));
}

}  // namespace exitguard::detail
