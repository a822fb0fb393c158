// What the fragments of docs/bounded-retry.md take as given: the bot's own clients
// and variables, declared here so that the fragments compile as written
// (examples/CMakeLists.txt compiles them; they are not run).
#pragma once

#include <exitguard/bounded_retry_executor.hpp>
#include <exitguard/transport_classifier.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace asio = boost::asio;

// An HTTP client: async_get completes with void(error_code, std::string body).
struct MyHttpClient {
  template <class Token>
  auto async_get(std::string target, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::string)>(
        [](auto handler, std::string body) { std::move(handler)(boost::system::error_code{}, std::move(body)); },
        token, std::move(target));
  }
};

// A JSON-RPC client: async_call completes with void(error_code, std::string result).
struct MyRpcClient {
  template <class Token>
  auto async_call(std::string_view method, const std::string& params, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::string)>(
        [](auto handler, std::string body) { std::move(handler)(boost::system::error_code{}, std::move(body)); },
        token, std::string(method) + params);
  }
};

extern asio::io_context ioc;
extern MyHttpClient client;
extern MyRpcClient rpc;
extern std::string market;
extern double last_price;
extern exitguard::BoundedRetryExecutor queries;

double parse_price(const std::string& body);
void use_balance(const std::string& balance);
void on_balance(boost::system::error_code ec, exitguard::RetryResult<std::string> result);
