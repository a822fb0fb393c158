// exitguard/venue.hpp — the venue contract (v2): what exitguard sends to a venue,
// what it expects back, and what a venue declares it guarantees.
//
// The bot supplies the venue: an object whose `submit` sends one exit order and
// reports a SubmitOutcome. Two styles (the `ExitVenue` concept):
//   - `asio::awaitable<SubmitOutcome> submit(ExitOrder)`;
//   - token-style `auto async_submit(ExitOrder, CompletionToken)` completing with
//     `void(boost::system::error_code, SubmitOutcome)`.
// Optional members (`check_venue_contract` turns a near miss into a readable error):
//   - `VenueCapabilities capabilities() const`: the guarantees that make a retry
//     after doubt safe (below); absent, the venue guarantees nothing;
//   - `asio::awaitable<Quantity> query_position(std::string)`: the position's open
//     size now, in base units;
//   - `double reference_price(const std::string& position_id)`: the current price
//     each limit order is derived from;
//   - `void exit_finished(const ExitFinished&)`: the exit takes no more answers:
//     release what its keys held (a nonce account, a client-order-id slot).
// Every attempt carries `ExitOrder::exclusivity_key` (exclusivity_key.hpp: unique
// across executors, processes and restarts), `time_in_force` and `not_after`, so
// a venue can make an attempt expire by itself.
//
// Which venue guarantees make a retry after doubt safe (docs/venues.md):
//   - exclusive_attempts: at most one order per exclusivity key can ever fill (a
//     durable nonce, a client order id the venue deduplicates for ever, not only
//     among open orders): the next attempt on the same key may go at once;
//   - enforces_reduce_only: the venue never fills more than the open position, so
//     an earlier attempt landing late cannot oversell: after a position report the
//     next attempt may go, sized to what remains;
//   - an attempt known dead (rejected with error::attempt_expired, e.g. its
//     blockhash expired): nothing of it can land any more.
// A position report alone sizes the next attempt but does not stop a still-valid
// earlier one from landing: without reduce-only it is not enough.
//
// Types here are plain values: no thread-safety concerns of their own.
#pragma once

#include <exitguard/quantity.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

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
  std::string exclusivity_key{};   // shared by the exit's attempts until one lands, then a new one
                                   // (<namespace>-<instance>-<exit id>-<generation>: see exclusivity_key.hpp)
  bool reduce_only = true;         // an exit never opens the opposite position
  // How long this attempt may stay live after it is sent: the step's attempt_timeout,
  // cut to the end of the step's time budget (never past the exit's deadline). A venue that can make an order expire
  // by itself (a time in force, a good-till time, a transaction's last valid block
  // height) should: an attempt that expired can never land late.
  std::chrono::nanoseconds time_in_force{};
  // The same as a wall-clock instant, taken when the driver sent the attempt
  // (system_clock::now() + time_in_force): for venues that take an absolute expiry.
  std::chrono::system_clock::time_point not_after{};
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

// What a venue guarantees; read once per exit, at its start (see the header comment
// for what each one makes safe). Declared by `VenueCapabilities capabilities() const`.
struct VenueCapabilities {
  bool exclusive_attempts = false;    // at most one order per exclusivity key can ever fill
  bool queries_position = false;      // query_position() may be used (the member must exist)
  bool enforces_reduce_only = false;  // the venue never fills more than the open position
};

// The exit will take no more answers: all its operations answered, or its late-answer
// horizon passed. Called at most once per exit (not if the io_context stops first), on
// the venue's executor, possibly after the exit's completion.
struct ExitFinished {
  std::uint64_t exit_id = 0;
  std::string position_id;
  std::vector<std::string> exclusivity_keys;  // every key its attempts carried, oldest first
  std::uint32_t attempts = 0;
  std::uint32_t unanswered_attempts = 0;  // may still land (in doubt, cancelled, pending): make them dead if you can
  Quantity filled_quantity;               // what the exit counted as sold (bought)
};

template <class V>
concept DeclaresCapabilities = requires(const V& v) {
  { v.capabilities() } -> std::same_as<VenueCapabilities>;
};

template <class V>
concept QueriesPosition = requires(V& v, std::string id) {
  { v.query_position(id) } -> std::same_as<boost::asio::awaitable<Quantity>>;
};

template <class V>
concept ProvidesReferencePrice = requires(V& v, const std::string& id) {
  { v.reference_price(id) } -> std::convertible_to<double>;
};

template <class V>
concept HearsExitFinished = requires(V& v, const ExitFinished& f) { v.exit_finished(f); };

template <class V>
concept AwaitableVenue = requires(V& v, ExitOrder o) {
  { v.submit(o) } -> std::same_as<boost::asio::awaitable<SubmitOutcome>>;
};

namespace detail {
// A completion handler of the signature async_submit must accept (never called).
struct submit_probe_handler {
  void operator()(boost::system::error_code, SubmitOutcome) const {}
};
}  // namespace detail

template <class V>
concept TokenVenue = requires(V& v, ExitOrder o) { v.async_submit(std::move(o), detail::submit_probe_handler{}); };

// What every venue must have: one of the two ways to submit.
template <class V>
concept ExitVenue = AwaitableVenue<V> || TokenVenue<V>;

// What the venue declares, or nothing guaranteed (but a query_position member is used).
template <class V>
VenueCapabilities declared_capabilities(const V& v) {
  if constexpr (DeclaresCapabilities<V>) {
    VenueCapabilities c = v.capabilities();
    c.queries_position = c.queries_position && QueriesPosition<V>;
    return c;
  } else {
    VenueCapabilities c;
    c.queries_position = QueriesPosition<V>;
    return c;
  }
}

// Near misses of the optional members: each would otherwise be silently ignored (a
// non-const capabilities(), a query_position returning the wrong type) and change
// what the exit dares to do. Evaluated by execute_exit / async_execute.
template <class V>
constexpr bool check_venue_contract() {
  static_assert(!requires { &V::exclusive_attempts; },
                "exitguard venue contract v2: exclusive_attempts() is gone; declare "
                "`exitguard::VenueCapabilities capabilities() const` with exclusive_attempts set");
  static_assert(!requires { &V::can_query_position; },
                "exitguard venue contract v2: can_query_position() is gone; set queries_position in "
                "`exitguard::VenueCapabilities capabilities() const`");
  static_assert(DeclaresCapabilities<V> || !requires { &V::capabilities; },
                "exitguard venue: capabilities() must be a const member function taking nothing and "
                "returning exactly exitguard::VenueCapabilities");
  static_assert(QueriesPosition<V> || !requires { &V::query_position; },
                "exitguard venue: query_position must be callable as query_position(std::string) and "
                "return boost::asio::awaitable<exitguard::Quantity>");
  static_assert(ProvidesReferencePrice<V> || !requires { &V::reference_price; },
                "exitguard venue: reference_price must be callable as reference_price(const std::string&) "
                "and return a double");
  static_assert(HearsExitFinished<V> || !requires { &V::exit_finished; },
                "exitguard venue: exit_finished must be callable as exit_finished(const exitguard::ExitFinished&)");
  static_assert(AwaitableVenue<V> || !requires { &V::submit; },
                "exitguard venue: submit must be callable as submit(exitguard::ExitOrder) and return "
                "boost::asio::awaitable<exitguard::SubmitOutcome>");
  return true;
}

}  // namespace exitguard
