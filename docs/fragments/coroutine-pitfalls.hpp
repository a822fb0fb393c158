// What the fragments of docs/coroutine-pitfalls.md take as given: an RPC client, a
// venue and the variables they name (examples/CMakeLists.txt compiles the fragments;
// they are not run). The clients complete at once: only their types matter here.
#pragma once

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// An RPC client whose calls take a completion token.
struct MyRpc {
  template <class Token>
  auto send(const exitguard::ExitOrder& order, Token&& token) {
    return complete_with<std::string>(order.exclusivity_key, std::forward<Token>(token));
  }
  template <class Token>
  auto call(const std::string& method, const std::string& params, Token&& token) {
    return complete_with<std::string>(method + params, std::forward<Token>(token));
  }
  template <class Token>
  auto call(const std::string& method, const std::vector<std::string>& params, Token&& token) {
    return complete_with<std::string>(method + std::to_string(params.size()), std::forward<Token>(token));
  }
  template <class Token>
  auto get_balance(const std::string& url, Token&& token) {
    return complete_with<std::uint64_t>(url.size(), std::forward<Token>(token));
  }

 private:
  template <class T, class Token>
  static auto complete_with(T value, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, T)>(
        [](auto handler, T v) { std::move(handler)(boost::system::error_code{}, std::move(v)); }, token,
        std::move(value));
  }
};

// A venue as adapters write one (docs/venues.md): submit returns an awaitable.
struct PitfallVenue {
  exitguard::VenueCapabilities capabilities() const noexcept;
  asio::awaitable<exitguard::SubmitOutcome> submit(exitguard::ExitOrder order);
};

// A venue whose async_submit takes a completion token.
struct MyTokenVenue {
  exitguard::VenueCapabilities capabilities() const noexcept;
  template <class Token>
  auto async_submit(exitguard::ExitOrder order, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, exitguard::SubmitOutcome)>(
        [](auto handler, exitguard::ExitOrder) {
          std::move(handler)(boost::system::error_code{}, exitguard::SubmitOutcome{});
        },
        token, std::move(order));
  }
};

asio::awaitable<exitguard::SubmitOutcome> confirm_with(MyRpc* rpc, std::string signature, exitguard::ExitOrder order);
asio::awaitable<exitguard::SubmitOutcome> send_market(MyRpc* rpc, exitguard::ExitOrder order);
asio::awaitable<exitguard::SubmitOutcome> send_limit(MyRpc* rpc, exitguard::ExitOrder order);
asio::awaitable<void> send_all(MyRpc* rpc, std::vector<std::string> transactions);
exitguard::ExitOrder make_order(const std::string& position, exitguard::Quantity quantity);
void on_done(std::exception_ptr error, exitguard::SubmitOutcome outcome);

using time_point = std::chrono::steady_clock::time_point;
struct RetryBudget {
  std::optional<time_point> next_start(time_point now, std::mt19937_64& rng);
};

extern MyRpc* rpc;
extern PitfallVenue* venue;
extern exitguard::AdaptiveExitExecutor* exits;
extern exitguard::ExitRequest request;
extern exitguard::ExitOrder order;
extern std::vector<exitguard::ExitOrder> orders;
extern asio::any_io_executor ex;
extern std::string position, account, sig_a, sig_b, tx_a, tx_b, backup_url;
extern const char* primary_url;
extern bool use_backup;
extern exitguard::Quantity quantity;
extern RetryBudget budget;
extern time_point now;
extern std::mt19937_64 rng;
extern std::optional<time_point> backoff_until_;
