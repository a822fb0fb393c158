// exitguard-test-set: sanitized
// Tests of exitguard/venue.hpp: the order and outcome types exitguard exchanges with
// the user's venue, and the concepts that detect what a venue offers. The venues
// here are small but real: they are run on an io_context, not just declared. They
// involve no time, so no clock is needed; no test sleeps. Quantities are exact
// base units (exitguard::Quantity).

// First include: proves the header compiles on its own.
#include <exitguard/venue.hpp>

#include <catch2/catch.hpp>

#include <exitguard/error.hpp>
#include <exitguard/quantity.hpp>

#include "support/quantity_string.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace {

namespace asio = boost::asio;
using exitguard::ExitOrder;
using exitguard::OrderKind;
using exitguard::Quantity;
using exitguard::Side;
using exitguard::SubmitOutcome;
using exitguard::SubmitStatus;

ExitOrder order_of(Quantity quantity, std::uint32_t attempt) {
  ExitOrder o;
  o.quantity = quantity;
  o.attempt = attempt;
  return o;
}

// Awaitable submit, exclusive attempts, position queries and a reference price: a
// venue that sells at its reference price and keeps the position's size.
class FullVenue {
 public:
  explicit FullVenue(Quantity position, double price) : position_(position), price_(price) {}

  asio::awaitable<SubmitOutcome> submit(ExitOrder order) {
    SubmitOutcome out;
    if (order.kind == OrderKind::limit && order.side == Side::sell && order.limit_price > price_) {
      out.status = SubmitStatus::rejected;
      out.error = exitguard::error::slippage_exceeded;
      co_return out;
    }
    const Quantity qty = order.quantity < position_ ? order.quantity : position_;
    position_ -= qty;
    out.status = qty == order.quantity ? SubmitStatus::filled : SubmitStatus::partially_filled;
    out.filled_quantity = qty;
    out.average_price = price_;
    out.transaction_id = order.exclusivity_key + "/" + std::to_string(order.attempt);
    co_return out;
  }
  exitguard::VenueCapabilities capabilities() const noexcept { return {true, true, false}; }
  asio::awaitable<Quantity> query_position(std::string position_id) {
    co_return position_id == "SOL-1" ? position_ : Quantity{};
  }
  double reference_price(const std::string& position_id) const { return position_id == "SOL-1" ? price_ : 0.0; }

 private:
  Quantity position_;
  double price_;
};

// Token-style only: async_submit completing with void(error_code, SubmitOutcome),
// posted to its executor. Nothing optional.
class TokenVenue {
 public:
  explicit TokenVenue(asio::any_io_executor ex) : ex_(std::move(ex)) {}

  template <class CompletionToken>
  auto async_submit(ExitOrder order, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(boost::system::error_code, SubmitOutcome)>(
        [ex = ex_](auto handler, ExitOrder o) {
          asio::post(ex, [h = std::move(handler), o = std::move(o)]() mutable {
            SubmitOutcome out;
            if (!o.quantity.is_positive()) {
              out.status = SubmitStatus::rejected;
              out.error = exitguard::error::invalid_quantity;
              std::move(h)(out.error, std::move(out));
              return;
            }
            out.status = SubmitStatus::in_doubt;  // the confirmation was lost
            out.transaction_id = "sig-" + std::to_string(o.attempt);
            out.error = exitguard::error::in_doubt;
            std::move(h)(boost::system::error_code{}, std::move(out));
          });
        },
        token, std::move(order));
  }

 private:
  asio::any_io_executor ex_;
};

// Near misses: each has something that looks like an optional member, but not the
// one the concepts ask for (check_venue_contract turns each into a compile error:
// tests/compile_fail/venue_contract.cpp).
struct NearMissVenue {
  SubmitOutcome submit(ExitOrder) { return {}; }                         // synchronous
  exitguard::VenueCapabilities capabilities() { return {true, true, true}; }  // not const
  Quantity query_position(const std::string&) { return {}; }            // synchronous
  std::string reference_price(const std::string&) { return {}; }        // not a number
};

// Can query positions, and says at run time whether it may (a disabled endpoint).
class SwitchableQueryVenue {
 public:
  explicit SwitchableQueryVenue(bool enabled) : enabled_(enabled) {}
  asio::awaitable<SubmitOutcome> submit(ExitOrder) { co_return SubmitOutcome{}; }
  asio::awaitable<Quantity> query_position(std::string) { co_return Quantity(42); }
  exitguard::VenueCapabilities capabilities() const noexcept { return {false, enabled_, true}; }

 private:
  bool enabled_;
};

// Declares a position query it does not have: the declaration is not believed.
struct ClaimsQueriesVenue {
  asio::awaitable<SubmitOutcome> submit(ExitOrder) { co_return SubmitOutcome{}; }
  exitguard::VenueCapabilities capabilities() const noexcept { return {true, true, true}; }
};

// Has a position query and declares nothing: the query is used, nothing is guaranteed.
struct UndeclaredQueryVenue {
  asio::awaitable<SubmitOutcome> submit(ExitOrder) { co_return SubmitOutcome{}; }
  asio::awaitable<Quantity> query_position(std::string) { co_return Quantity(7); }
};

// A position in a floating-point number: quantities are exact base units now.
struct DoubleQueryVenue {
  asio::awaitable<SubmitOutcome> submit(ExitOrder) { co_return SubmitOutcome{}; }
  asio::awaitable<double> query_position(std::string) { co_return 42.0; }  // not a Quantity
};

struct WrongResultVenue {
  asio::awaitable<double> submit(ExitOrder) { co_return 0.0; }    // not a SubmitOutcome
  int capabilities() const { return 1; }                           // not VenueCapabilities
  asio::awaitable<int> query_position(std::string) { co_return 0; }  // not a Quantity
};

}  // namespace

TEST_CASE("venue.hpp is self-contained and declares the order, the outcome and the concepts", "[venue]") {
  STATIC_REQUIRE(exitguard::to_string(OrderKind::limit) == "limit");
  STATIC_REQUIRE(exitguard::to_string(Side::sell) == "sell");
  STATIC_REQUIRE(exitguard::to_string(SubmitStatus::in_doubt) == "in_doubt");
  STATIC_REQUIRE(std::is_aggregate_v<ExitOrder>);
  STATIC_REQUIRE(std::is_aggregate_v<SubmitOutcome>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<ExitOrder>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<SubmitOutcome>);
  STATIC_REQUIRE(std::is_same_v<decltype(ExitOrder{}.attempt), std::uint32_t>);
  STATIC_REQUIRE(std::is_same_v<decltype(SubmitOutcome{}.error), boost::system::error_code>);
  // Quantities are exact base units, never floating point.
  STATIC_REQUIRE(std::is_same_v<decltype(ExitOrder{}.quantity), Quantity>);
  STATIC_REQUIRE(std::is_same_v<decltype(ExitOrder{}.lot_size), Quantity>);
  STATIC_REQUIRE(std::is_same_v<decltype(SubmitOutcome{}.filled_quantity), Quantity>);
  STATIC_REQUIRE(std::is_assignable_v<Quantity&, int>);
  STATIC_REQUIRE_FALSE(std::is_assignable_v<Quantity&, double>);
}

TEST_CASE("to_string names every order kind, side and submit status", "[venue]") {
  CHECK(exitguard::to_string(OrderKind::limit) == "limit");
  CHECK(exitguard::to_string(OrderKind::market) == "market");
  CHECK(exitguard::to_string(Side::sell) == "sell");
  CHECK(exitguard::to_string(Side::buy) == "buy");
  CHECK(exitguard::to_string(SubmitStatus::filled) == "filled");
  CHECK(exitguard::to_string(SubmitStatus::partially_filled) == "partially_filled");
  CHECK(exitguard::to_string(SubmitStatus::rejected) == "rejected");
  CHECK(exitguard::to_string(SubmitStatus::in_doubt) == "in_doubt");
  CHECK(exitguard::to_string(static_cast<SubmitStatus>(99)) == "unknown");
  CHECK(exitguard::to_string(static_cast<OrderKind>(99)) == "unknown");
  CHECK(exitguard::to_string(static_cast<Side>(99)) == "unknown");
}

TEST_CASE("a default ExitOrder is a reduce-only limit sell of nothing, a default outcome is a rejection",
          "[venue]") {
  const ExitOrder o;
  CHECK(o.side == Side::sell);
  CHECK(o.reduce_only);
  CHECK(o.kind == OrderKind::limit);
  CHECK(o.exit_id == 0);
  CHECK(o.position_id.empty());
  CHECK(o.quantity == 0);
  CHECK(o.lot_size == 1);
  CHECK(o.limit_price == 0.0);
  CHECK(o.max_slippage_bps == 0.0);
  CHECK(o.attempt == 0);
  CHECK(o.step == 0);
  CHECK(o.exclusivity_key.empty());
  CHECK(o.time_in_force == std::chrono::nanoseconds::zero());
  CHECK(o.not_after == std::chrono::system_clock::time_point{});

  const SubmitOutcome out;
  CHECK(out.status == SubmitStatus::rejected);
  CHECK(out.filled_quantity == 0);
  CHECK(out.average_price == 0.0);
  CHECK(out.transaction_id.empty());
  CHECK_FALSE(out.error);
}

TEST_CASE("the concepts detect what each venue offers", "[venue][concepts]") {
  // Everything.
  STATIC_REQUIRE(exitguard::AwaitableVenue<FullVenue>);
  STATIC_REQUIRE(exitguard::ExitVenue<FullVenue>);
  STATIC_REQUIRE(exitguard::DeclaresCapabilities<FullVenue>);
  STATIC_REQUIRE(exitguard::QueriesPosition<FullVenue>);
  STATIC_REQUIRE(exitguard::ProvidesReferencePrice<FullVenue>);
  STATIC_REQUIRE(exitguard::check_venue_contract<FullVenue>());
  // capabilities() is const, so a const venue still declares it.
  STATIC_REQUIRE(exitguard::DeclaresCapabilities<const FullVenue>);

  // Token-style only: none of the awaitable or optional concepts.
  STATIC_REQUIRE_FALSE(exitguard::AwaitableVenue<TokenVenue>);
  STATIC_REQUIRE(exitguard::TokenVenue<TokenVenue>);
  STATIC_REQUIRE(exitguard::ExitVenue<TokenVenue>);
  STATIC_REQUIRE_FALSE(exitguard::DeclaresCapabilities<TokenVenue>);
  STATIC_REQUIRE_FALSE(exitguard::QueriesPosition<TokenVenue>);
  STATIC_REQUIRE_FALSE(exitguard::ProvidesReferencePrice<TokenVenue>);
  STATIC_REQUIRE_FALSE(exitguard::HearsExitFinished<TokenVenue>);
  STATIC_REQUIRE(exitguard::check_venue_contract<TokenVenue>());

  // Near misses are not mistaken for the real thing.
  STATIC_REQUIRE_FALSE(exitguard::AwaitableVenue<NearMissVenue>);
  STATIC_REQUIRE_FALSE(exitguard::ExitVenue<NearMissVenue>);
  STATIC_REQUIRE_FALSE(exitguard::DeclaresCapabilities<NearMissVenue>);
  STATIC_REQUIRE_FALSE(exitguard::QueriesPosition<NearMissVenue>);
  STATIC_REQUIRE_FALSE(exitguard::ProvidesReferencePrice<NearMissVenue>);

  STATIC_REQUIRE_FALSE(exitguard::AwaitableVenue<WrongResultVenue>);
  STATIC_REQUIRE_FALSE(exitguard::DeclaresCapabilities<WrongResultVenue>);
  STATIC_REQUIRE_FALSE(exitguard::QueriesPosition<WrongResultVenue>);
  // A position query must answer in Quantity: a double is not taken.
  STATIC_REQUIRE(exitguard::AwaitableVenue<DoubleQueryVenue>);
  STATIC_REQUIRE_FALSE(exitguard::QueriesPosition<DoubleQueryVenue>);
  STATIC_REQUIRE_FALSE(exitguard::ProvidesReferencePrice<WrongResultVenue>);

  STATIC_REQUIRE(exitguard::DeclaresCapabilities<SwitchableQueryVenue>);
  STATIC_REQUIRE(exitguard::QueriesPosition<SwitchableQueryVenue>);

  // Not venues at all.
  STATIC_REQUIRE_FALSE(exitguard::ExitVenue<int>);
  STATIC_REQUIRE_FALSE(exitguard::DeclaresCapabilities<ExitOrder>);
}

TEST_CASE("declared_capabilities believes a declaration only where the member backs it", "[venue][concepts]") {
  struct Case {
    const char* name;
    exitguard::VenueCapabilities got;
    exitguard::VenueCapabilities want;
  };
  const Case c = GENERATE(values<Case>({
      {"declares everything", exitguard::declared_capabilities(FullVenue(1, 1.0)), {true, true, false}},
      {"a query switched on", exitguard::declared_capabilities(SwitchableQueryVenue(true)), {false, true, true}},
      {"a query switched off", exitguard::declared_capabilities(SwitchableQueryVenue(false)), {false, false, true}},
      {"claims a query it lacks", exitguard::declared_capabilities(ClaimsQueriesVenue{}), {true, false, true}},
      {"declares nothing, has a query", exitguard::declared_capabilities(UndeclaredQueryVenue{}), {false, true, false}},
      {"declares nothing at all", exitguard::declared_capabilities(TokenVenue(asio::io_context().get_executor())),
       {false, false, false}},
  }));
  INFO(c.name);
  CHECK(c.got.exclusive_attempts == c.want.exclusive_attempts);
  CHECK(c.got.queries_position == c.want.queries_position);
  CHECK(c.got.enforces_reduce_only == c.want.enforces_reduce_only);
}

TEST_CASE("the awaitable venue submits, reports its position and its price", "[venue]") {
  asio::io_context ioc;
  FullVenue venue(1000, 95.0);

  ExitOrder order = order_of(600, 1);
  order.exit_id = 1;
  order.position_id = "SOL-1";
  order.limit_price = 94.0;
  order.max_slippage_bps = 100.0;
  order.exclusivity_key = "nonce-1";
  std::optional<SubmitOutcome> first, second, refused;
  std::optional<Quantity> left;

  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        first = co_await venue.submit(order);
        order.attempt = 2;
        second = co_await venue.submit(order);  // only 400 left
        order.attempt = 3;
        order.limit_price = 96.0;  // above the price: refused
        refused = co_await venue.submit(order);
        left = co_await venue.query_position("SOL-1");
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  CHECK(ioc.run() > 0);

  REQUIRE(first);
  CHECK(first->status == SubmitStatus::filled);
  CHECK(first->filled_quantity == 600);
  CHECK(first->average_price == 95.0);
  CHECK(first->transaction_id == "nonce-1/1");
  REQUIRE(second);
  CHECK(second->status == SubmitStatus::partially_filled);
  CHECK(second->filled_quantity == 400);
  CHECK(second->transaction_id == "nonce-1/2");
  REQUIRE(refused);
  CHECK(refused->status == SubmitStatus::rejected);
  CHECK(refused->error == exitguard::error::slippage_exceeded);
  REQUIRE(left);
  CHECK(*left == 0);
  CHECK(venue.capabilities().exclusive_attempts);
  CHECK(venue.reference_price("SOL-1") == 95.0);
  CHECK(venue.reference_price("other") == 0.0);
}

TEST_CASE("the token-style venue completes with void(error_code, SubmitOutcome)", "[venue]") {
  asio::io_context ioc;
  TokenVenue venue(ioc.get_executor());

  int calls = 0;
  boost::system::error_code ec1, ec2;
  SubmitOutcome out1, out2;
  venue.async_submit(order_of(5, 4), [&](boost::system::error_code ec, SubmitOutcome o) {
    ++calls;
    ec1 = ec;
    out1 = std::move(o);
  });
  venue.async_submit(order_of(0, 5), [&](boost::system::error_code ec, SubmitOutcome o) {
    ++calls;
    ec2 = ec;
    out2 = std::move(o);
  });
  CHECK(calls == 0);  // nothing completes inline
  CHECK(ioc.run() == 2);
  CHECK(calls == 2);

  CHECK_FALSE(ec1);
  CHECK(out1.status == SubmitStatus::in_doubt);
  CHECK(out1.error == exitguard::error::in_doubt);
  CHECK(out1.transaction_id == "sig-4");

  CHECK(ec2 == exitguard::error::invalid_quantity);
  CHECK(out2.status == SubmitStatus::rejected);

  // The same venue also works with asio::use_awaitable.
  ioc.restart();
  std::optional<SubmitOutcome> awaited;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        awaited = co_await venue.async_submit(order_of(1, 6), asio::use_awaitable);
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  REQUIRE(awaited);
  CHECK(awaited->status == SubmitStatus::in_doubt);
  CHECK(awaited->transaction_id == "sig-6");
}

TEST_CASE("a venue reports at run time whether its position may be queried", "[venue]") {
  asio::io_context ioc;
  SwitchableQueryVenue on(true), off(false);
  CHECK(on.capabilities().queries_position);
  CHECK_FALSE(off.capabilities().queries_position);

  std::optional<Quantity> size;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { size = co_await on.query_position("SOL-1"); },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  REQUIRE(size);
  CHECK(*size == 42);
}
