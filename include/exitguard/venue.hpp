// exitguard/venue.hpp — what exitguard sends to a venue, and what it expects back.
//
// The bot supplies the venue: an object whose `submit` sends one exit order and
// reports a SubmitOutcome. exitguard accepts two styles:
//   - `asio::awaitable<SubmitOutcome> submit(ExitOrder)`;
//   - token-style `auto async_submit(ExitOrder, CompletionToken)` completing with
//     `void(boost::system::error_code, SubmitOutcome)`.
// Optional members make exits safer (design principle 2):
//   - `bool exclusive_attempts() const`: true if at most one attempt of an exit can
//     land (every attempt carries the exit's `exclusivity_key`: a durable nonce or a
//     client order id), so an in-doubt attempt may be followed by another;
//   - `asio::awaitable<Quantity> query_position(std::string)`: the position's current
//     size in base units, so that the next attempt is sized to what really remains;
//   - `double reference_price(const std::string& position_id)`: the current price
//     that a limit order's price is derived from at each submit.
// Types here are plain values: no thread-safety concerns of their own.
#pragma once

#include <exitguard/quantity.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace exitguard {

enum class OrderKind : std::uint8_t { limit, market };

// Which way the exit trades: a long position exits by selling, a short one by buying.
enum class Side : std::uint8_t { sell, buy };

constexpr std::string_view to_string(OrderKind k) noexcept {
  switch (k) {
    case OrderKind::limit: return "limit";
    case OrderKind::market: return "market";
  }
  return "unknown";
}
constexpr std::string_view to_string(Side s) noexcept {
  switch (s) {
    case Side::sell: return "sell";
    case Side::buy: return "buy";
  }
  return "unknown";
}

// One attempt to close (part of) a position.
struct ExitOrder {
  std::uint64_t exit_id = 0;
  std::string position_id{};
  Side side = Side::sell;
  Quantity quantity;               // base units this attempt may fill at most (whole lots)
  Quantity lot_size = 1;           // the instrument's lot, in base units
  OrderKind kind = OrderKind::limit;
  double limit_price = 0;          // worst acceptable price: always finite and positive
  double max_slippage_bps = 0;     // from the reference price at submit time
  std::uint32_t attempt = 0;       // 1-based, across the whole exit
  std::uint32_t step = 0;          // 0-based ladder step
  std::string exclusivity_key{};   // shared by the exit's attempts until one lands, then a new one (exit-<id>-<n>)
  bool reduce_only = true;         // an exit never opens the opposite position
};

enum class SubmitStatus : std::uint8_t {
  filled,            // the whole order quantity filled
  partially_filled,  // some filled; the order is done (the rest did not fill)
  rejected,          // nothing filled, certainly; `error` says why
  in_doubt,          // the venue cannot tell yet (lost confirmation): it may still land
};

constexpr std::string_view to_string(SubmitStatus s) noexcept {
  switch (s) {
    case SubmitStatus::filled: return "filled";
    case SubmitStatus::partially_filled: return "partially_filled";
    case SubmitStatus::rejected: return "rejected";
    case SubmitStatus::in_doubt: return "in_doubt";
  }
  return "unknown";
}

struct SubmitOutcome {
  SubmitStatus status = SubmitStatus::rejected;
  Quantity filled_quantity;   // base units; for partially_filled, what this attempt filled in all
  double average_price = 0;   // of this attempt's fill; positive and finite whenever it filled
  std::string transaction_id{};
  boost::system::error_code error{};  // why it was rejected or is in doubt
};

// The venue declares exclusive attempts (see above).
template <class V>
concept DeclaresExclusiveAttempts = requires(const V& v) {
  { v.exclusive_attempts() } -> std::convertible_to<bool>;
};

template <class V>
concept QueriesPosition = requires(V& v, std::string id) {
  { v.query_position(id) } -> std::same_as<boost::asio::awaitable<Quantity>>;
};

// The venue says at run time whether query_position may be used (an optional
// capability that a venue object may or may not have, e.g. a disabled endpoint).
template <class V>
concept ReportsPositionQuery = requires(const V& v) {
  { v.can_query_position() } -> std::convertible_to<bool>;
};

template <class V>
concept ProvidesReferencePrice = requires(V& v, const std::string& id) {
  { v.reference_price(id) } -> std::convertible_to<double>;
};

template <class V>
concept AwaitableVenue = requires(V& v, ExitOrder o) {
  { v.submit(o) } -> std::same_as<boost::asio::awaitable<SubmitOutcome>>;
};

}  // namespace exitguard
