// exitguard-test-set: sanitized
#include <exitguard/testing/mock_venue.hpp>

#include <exitguard/error.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/system_error.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <exception>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using namespace std::chrono_literals;
using boost::system::error_code;
using exitguard::ExitOrder;
using exitguard::Quantity;
using exitguard::OrderKind;
using exitguard::Side;
using exitguard::SubmitOutcome;
using exitguard::SubmitStatus;
using exitguard::testing::BasicMockVenue;
using exitguard::testing::constant_price;
using exitguard::testing::linear_price;
using exitguard::testing::ManualClock;
using exitguard::testing::MockFate;
using exitguard::testing::MockFaultProfile;
using exitguard::testing::MockVenue;
using exitguard::testing::VirtualTimeDriver;
namespace eg = exitguard;
namespace asio = boost::asio;

using Script = MockVenue::script_type;
using time_point = ManualClock::time_point;

time_point at(ManualClock::duration d) { return time_point(d); }

// BUG-003's price path: 95 at the signal, falling 1/6 per second.
double bug003_price(double seconds) { return 95.0 - seconds / 6.0; }

// A new io_context and driver on a clock put back to 0. Declare it before the venue
// so that the venue is destroyed first.
struct World {
  World() { ManualClock::reset(); }
  asio::io_context ioc;
  VirtualTimeDriver driver{ioc};
};

ExitOrder order_for(std::string position, Quantity quantity, std::uint32_t attempt = 1,
                    std::string key = "exit-1") {
  ExitOrder o;
  o.exit_id = 1;
  o.position_id = std::move(position);
  o.side = Side::sell;
  o.quantity = quantity;
  o.kind = OrderKind::market;
  o.attempt = attempt;
  o.exclusivity_key = std::move(key);
  o.reduce_only = true;
  return o;
}

Script script(MockFate fate, ManualClock::duration latency = 2s) {
  Script s;
  s.fate = fate;
  s.latency = latency;
  return s;
}

struct Answer {
  int calls = 0;
  error_code ec;
  SubmitOutcome outcome;
  time_point when{};
  bool called() const { return calls > 0; }
};

auto record(Answer& a) {
  return [&a](error_code ec, SubmitOutcome o) {
    ++a.calls;
    a.ec = ec;
    a.outcome = std::move(o);
    a.when = ManualClock::now();
  };
}

struct QueryAnswer {
  int calls = 0;
  error_code ec;
  Quantity value = -1;
  time_point when{};
};

auto record(QueryAnswer& a) {
  return [&a](error_code ec, Quantity v) {
    ++a.calls;
    a.ec = ec;
    a.value = v;
    a.when = ManualClock::now();
  };
}

// Coroutines are free functions taking their parameters by value (g++ 12 and
// capturing coroutine lambdas do not mix).
struct CoResult {
  bool done = false;
  error_code ec;
  std::string thrown;  // what() of any other exception
  SubmitOutcome outcome;
  Quantity position = -1;
  time_point when{};
};

asio::awaitable<void> submit_co(MockVenue* venue, ExitOrder order, CoResult* out) {
  try {
    out->outcome = co_await venue->submit(std::move(order));
  } catch (const boost::system::system_error& e) {
    out->ec = e.code();
  } catch (const std::exception& e) {
    out->thrown = e.what();
  }
  out->done = true;
  out->when = ManualClock::now();
}

asio::awaitable<void> query_co(MockVenue* venue, std::string id, CoResult* out) {
  try {
    out->position = co_await venue->query_position(std::move(id));
  } catch (const boost::system::system_error& e) {
    out->ec = e.code();
  } catch (const std::exception& e) {
    out->thrown = e.what();
  }
  out->done = true;
  out->when = ManualClock::now();
}

}  // namespace

// Every non-template member compiles for a real clock too.
template class exitguard::testing::BasicMockVenue<std::chrono::steady_clock>;

TEST_CASE("MockVenue is a venue of every kind exitguard knows", "[mock_venue]") {
  STATIC_REQUIRE(eg::AwaitableVenue<MockVenue>);
  STATIC_REQUIRE(eg::QueriesPosition<MockVenue>);
  STATIC_REQUIRE(eg::ProvidesReferencePrice<MockVenue>);
  STATIC_REQUIRE(eg::DeclaresCapabilities<MockVenue>);
  STATIC_REQUIRE(eg::TokenVenue<MockVenue>);
  STATIC_REQUIRE(eg::check_venue_contract<MockVenue>());
  using SteadyVenue = BasicMockVenue<std::chrono::steady_clock>;
  STATIC_REQUIRE(eg::AwaitableVenue<SteadyVenue>);
  STATIC_REQUIRE(std::is_same_v<SteadyVenue::duration, std::chrono::steady_clock::duration>);
  STATIC_REQUIRE(std::is_same_v<MockVenue::script_type, eg::testing::BasicMockAttemptScript<ManualClock>>);
  STATIC_REQUIRE(std::is_same_v<MockVenue::executor_type, asio::strand<asio::any_io_executor>>);
  STATIC_REQUIRE(eg::testing::to_string(MockFate::land_late) == "land_late");
}

TEST_CASE("price paths and the reference price", "[mock_venue]") {
  World w;
  REQUIRE(constant_price(42.5)(0.0) == 42.5);
  REQUIRE(constant_price(42.5)(1e6) == 42.5);
  const auto bug = linear_price(95.0, -1.0 / 6.0);
  REQUIRE(bug(0.0) == 95.0);
  REQUIRE(bug(6.0) == Approx(94.0).epsilon(1e-12));
  REQUIRE(bug(72.0) == Approx(83.0).epsilon(1e-12));

  // The path's time 0 is the venue's construction, not the clock's epoch.
  ManualClock::advance(5s);
  MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
  REQUIRE(venue.reference_price("any") == 95.0);
  ManualClock::advance(6s);
  REQUIRE(venue.reference_price("any") == Approx(94.0).epsilon(1e-12));
  REQUIRE_THROWS_AS(MockVenue(w.ioc.get_executor(), eg::testing::PricePath{}), std::invalid_argument);
}

TEST_CASE("fill: lands and answers after its latency at the path's price then", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
  venue.open_position("p", 1000);
  Answer a;
  venue.async_submit(order_for("p", 1000), record(a));
  REQUIRE(venue.pending_answers() == 1);

  w.driver.advance(1999ms);
  REQUIRE_FALSE(a.called());
  REQUIRE(venue.position("p") == 1000);
  REQUIRE(venue.landings().empty());

  w.driver.advance(1ms);
  REQUIRE(a.calls == 1);
  REQUIRE(a.when == at(2s));
  REQUIRE_FALSE(a.ec);
  REQUIRE(a.outcome.status == SubmitStatus::filled);
  REQUIRE(a.outcome.filled_quantity == 1000);
  REQUIRE(a.outcome.average_price == Approx(95.0 - 2.0 / 6.0).epsilon(1e-12));
  REQUIRE(a.outcome.transaction_id == "tx-1");
  REQUIRE_FALSE(a.outcome.error);
  REQUIRE(venue.position("p") == 0);
  REQUIRE(venue.sold("p") == 1000);
  REQUIRE(venue.pending_answers() == 0);

  REQUIRE(venue.landings().size() == 1);
  const auto& l = venue.landings()[0];
  REQUIRE(l.applied);
  REQUIRE(l.at == at(2s));
  REQUIRE(l.quantity == 1000);
  REQUIRE(l.price == a.outcome.average_price);
  REQUIRE(l.transaction_id == "tx-1");
  REQUIRE(l.order.position_id == "p");

  REQUIRE(venue.submissions().size() == 1);
  REQUIRE(venue.submissions()[0].sent == at(0s));
  REQUIRE(venue.submissions()[0].script == Script{});
  REQUIRE_FALSE(venue.submissions()[0].during_outage);

  // Nothing else is left to run.
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(a.calls == 1);
}

TEST_CASE("submit as a coroutine, and other completion tokens", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(MockFate::fill, 3s);
  venue.set_default(s);

  CoResult r;
  asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 4), &r), asio::detached);
  REQUIRE(w.driver.run_until([&] { return r.done; }));
  REQUIRE(r.when == at(3s));
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.outcome.status == SubmitStatus::filled);
  REQUIRE(r.outcome.filled_quantity == 4);
  REQUIRE(r.outcome.average_price == 100.0);

  // deferred: nothing is submitted until the deferred operation is launched.
  auto op = venue.async_submit(order_for("p", 6, 2, "other-exit"), asio::deferred);
  REQUIRE(venue.submissions().size() == 1);
  Answer a;
  std::move(op)(record(a));
  REQUIRE(venue.submissions().size() == 2);
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.when == at(6s));
  REQUIRE(a.outcome.transaction_id == "tx-2");
  REQUIRE(venue.position("p") == 0);
}

TEST_CASE("a venue confined to a strand answers on the handler's strand", "[mock_venue]") {
  World w;
  using Strand = asio::strand<asio::io_context::executor_type>;
  const Strand strand = asio::make_strand(w.ioc);
  BasicMockVenue<ManualClock, Strand> venue(strand, linear_price(95.0, -1.0 / 6.0));
  venue.open_position("p", 1000);
  Answer a;
  bool on_strand = false;
  venue.async_submit(order_for("p", 1000), asio::bind_executor(strand, [&](error_code ec, SubmitOutcome o) {
                       on_strand = strand.running_in_this_thread();
                       record(a)(ec, std::move(o));
                     }));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(on_strand);
  REQUIRE(a.when == at(2s));
  REQUIRE(a.outcome.average_price == Approx(bug003_price(2)).epsilon(1e-12));
}

TEST_CASE("handlers are never called from the initiating function", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  venue.set_default(script(MockFate::fill, 0s));
  Answer a;
  venue.async_submit(order_for("p", 1), record(a));
  REQUIRE_FALSE(a.called());
  w.driver.poll();
  REQUIRE(a.calls == 1);
  REQUIRE(a.when == at(0s));
  REQUIRE(a.outcome.status == SubmitStatus::filled);

  venue.set_position_query(false);
  QueryAnswer q;
  venue.async_query_position("p", record(q));
  REQUIRE(q.calls == 0);
  w.driver.poll();
  REQUIRE(q.calls == 1);
  REQUIRE(q.ec == asio::error::operation_not_supported);
}

TEST_CASE("partial fill", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(50.0));
  venue.open_position("p", 1000);
  Script s = script(MockFate::fill, 1s);
  s.fill_ratio = 0.25;
  venue.push(s);
  Answer a;
  venue.async_submit(order_for("p", 1000), record(a));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.when == at(1s));
  REQUIRE(a.outcome.status == SubmitStatus::partially_filled);
  REQUIRE(a.outcome.filled_quantity == 250);
  REQUIRE(a.outcome.average_price == 50.0);
  REQUIRE(venue.position("p") == 750);
  REQUIRE(venue.sold("p") == 250);
  // The key was used by the partial fill: the remainder goes with the same key only
  // if exclusivity is off, which is what the next test is about.
}

TEST_CASE("slippage moves the price against the trader", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("long", 10);
  venue.open_position("short", 10);
  Script s = script(MockFate::fill, 1s);
  s.slippage_bps = 100;
  venue.set_default(s);

  Answer sell, buy;
  venue.async_submit(order_for("long", 10, 1, "a"), record(sell));
  ExitOrder b = order_for("short", 10, 1, "b");
  b.side = Side::buy;
  venue.async_submit(b, record(buy));
  REQUIRE(w.driver.run_until([&] { return sell.called() && buy.called(); }));
  REQUIRE(sell.outcome.status == SubmitStatus::filled);
  REQUIRE(sell.outcome.average_price == Approx(99.0).epsilon(1e-12));
  REQUIRE(buy.outcome.status == SubmitStatus::filled);
  REQUIRE(buy.outcome.average_price == Approx(101.0).epsilon(1e-12));
  REQUIRE(venue.position("short") == 0);  // a position is what is left to close, either side
}

TEST_CASE("a limit order worse than its limit is rejected with slippage_exceeded", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(MockFate::fill, 1s);
  s.slippage_bps = 100;  // executes at 99 (sell) or 101 (buy)
  venue.set_default(s);

  ExitOrder tight = order_for("p", 10);
  tight.kind = OrderKind::limit;
  tight.limit_price = 99.5;
  Answer a;
  venue.async_submit(tight, record(a));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.when == at(1s));
  REQUIRE(a.outcome.status == SubmitStatus::rejected);
  REQUIRE(a.outcome.error == eg::error::slippage_exceeded);
  REQUIRE(a.outcome.filled_quantity == 0);
  REQUIRE(venue.position("p") == 10);
  REQUIRE(venue.landings().size() == 1);
  REQUIRE_FALSE(venue.landings()[0].applied);
  REQUIRE(venue.landings()[0].quantity == 0);
  REQUIRE(venue.landings()[0].price == Approx(99.0).epsilon(1e-12));

  SECTION("the key is not used: a wider limit with the same key fills") {
    ExitOrder wider = tight;
    wider.attempt = 2;
    wider.limit_price = 98.5;
    Answer b;
    venue.async_submit(wider, record(b));
    REQUIRE(w.driver.run_until([&] { return b.called(); }));
    REQUIRE(b.outcome.status == SubmitStatus::filled);
    REQUIRE(b.outcome.average_price == Approx(99.0).epsilon(1e-12));
    REQUIRE(venue.position("p") == 0);
  }
  SECTION("a limit exactly at the execution price fills") {
    ExitOrder exact = tight;
    exact.limit_price = 100.0 * (1 - 100 / 1e4);
    Answer b;
    venue.async_submit(exact, record(b));
    REQUIRE(w.driver.run_until([&] { return b.called(); }));
    REQUIRE(b.outcome.status == SubmitStatus::filled);
  }
  SECTION("a market order, or a limit price of 0, ignores the limit") {
    ExitOrder market = tight;
    market.kind = OrderKind::market;
    ExitOrder unpriced = tight;
    unpriced.limit_price = 0;
    unpriced.exclusivity_key = "other";
    Answer b, c;
    venue.async_submit(market, record(b));
    venue.async_submit(unpriced, record(c));
    REQUIRE(w.driver.run_until([&] { return b.called() && c.called(); }));
    REQUIRE(b.outcome.status == SubmitStatus::filled);
    REQUIRE(b.outcome.filled_quantity == 10);
    REQUIRE(c.outcome.status == SubmitStatus::rejected);  // nothing left: reduce-only
    REQUIRE(c.outcome.error == eg::error::insufficient_funds);
  }
  SECTION("buy side: above the limit is rejected") {
    venue.open_position("short", 10);
    ExitOrder buy = order_for("short", 10, 1, "buy");
    buy.side = Side::buy;
    buy.kind = OrderKind::limit;
    buy.limit_price = 100.5;
    Answer b;
    venue.async_submit(buy, record(b));
    REQUIRE(w.driver.run_until([&] { return b.called(); }));
    REQUIRE(b.outcome.status == SubmitStatus::rejected);
    REQUIRE(b.outcome.error == eg::error::slippage_exceeded);
    REQUIRE(venue.position("short") == 10);
  }
}

TEST_CASE("reject: answers rejected with the scripted error and never lands", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(MockFate::reject, 3s);
  s.error = eg::error::venue_unavailable;
  venue.push(s);
  venue.push(script(MockFate::reject, 1s));  // default error: exit_rejected
  Answer a, b;
  venue.async_submit(order_for("p", 10), record(a));
  venue.async_submit(order_for("p", 10, 2), record(b));
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(a.calls == 1);
  REQUIRE(a.when == at(3s));
  REQUIRE_FALSE(a.ec);
  REQUIRE(a.outcome.status == SubmitStatus::rejected);
  REQUIRE(a.outcome.error == eg::error::venue_unavailable);
  REQUIRE(a.outcome.filled_quantity == 0);
  REQUIRE(a.outcome.transaction_id == "tx-1");
  REQUIRE(b.when == at(1s));
  REQUIRE(b.outcome.error == eg::error::exit_rejected);
  REQUIRE(venue.landings().empty());
  REQUIRE(venue.position("p") == 10);
}

TEST_CASE("lost: never lands, never answers, and holds no work", "[mock_venue]") {
  World w;
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  Answer a;
  {
    MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
    venue.open_position("p", 10);
    venue.push(script(MockFate::lost));
    venue.async_submit(order_for("p", 10), [&a, token = std::move(alive)](error_code ec, SubmitOutcome o) {
      ++a.calls;
      a.ec = ec;
      a.outcome = std::move(o);
    });
    REQUIRE(venue.pending_answers() == 1);
    // The io_context runs out of work at once: the parked handler is no work.
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(ManualClock::now() == at(0s));
    ManualClock::advance(10min);
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(a.calls == 0);
    REQUIRE(venue.landings().empty());
    REQUIRE(venue.position("p") == 10);
    REQUIRE(venue.pending_answers() == 1);
    REQUIRE_FALSE(watch.expired());
  }
  // Destroyed with the venue, never called.
  REQUIRE(watch.expired());
  w.driver.poll();
  REQUIRE(a.calls == 0);
}

TEST_CASE("land_late: lands, and only then answers, after lands_after", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
  venue.open_position("p", 1000);
  Script s = script(MockFate::land_late, 2s);
  s.lands_after = 25s;
  venue.push(s);
  Answer a;
  venue.async_submit(order_for("p", 1000), record(a));
  w.driver.advance(24s);
  REQUIRE_FALSE(a.called());
  REQUIRE(venue.position("p") == 1000);
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.when == at(25s));
  REQUIRE(a.outcome.status == SubmitStatus::filled);
  REQUIRE(a.outcome.average_price == Approx(bug003_price(25)).epsilon(1e-12));
  REQUIRE(venue.landings().size() == 1);
  REQUIRE(venue.landings()[0].at == at(25s));
  REQUIRE(venue.position("p") == 0);
}

TEST_CASE("in_doubt: answers in_doubt after its latency, lands silently if told to", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
  venue.open_position("p", 1000);
  venue.open_position("q", 1000);
  Script lands = script(MockFate::in_doubt, 5s);
  lands.lands_after = 8s;
  venue.script_for("p", 1, lands);
  venue.script_for("q", 1, script(MockFate::in_doubt, 5s));
  Answer a, b;
  venue.async_submit(order_for("p", 1000, 1, "kp"), record(a));
  venue.async_submit(order_for("q", 1000, 1, "kq"), record(b));

  REQUIRE(w.driver.run_until([&] { return a.called() && b.called(); }));
  REQUIRE(a.when == at(5s));
  REQUIRE(b.when == at(5s));
  REQUIRE_FALSE(a.ec);
  REQUIRE(a.outcome.status == SubmitStatus::in_doubt);
  REQUIRE(a.outcome.error == eg::error::in_doubt);
  REQUIRE(a.outcome.filled_quantity == 0);
  REQUIRE(a.outcome.transaction_id == "tx-1");
  REQUIRE(venue.pending_answers() == 0);
  REQUIRE(venue.position("p") == 1000);

  REQUIRE(w.driver.run_for(1h));
  REQUIRE(a.calls == 1);  // the landing answers nothing
  REQUIRE(venue.position("p") == 0);
  REQUIRE(venue.sold("p") == 1000);
  REQUIRE(venue.landings().size() == 1);
  REQUIRE(venue.landings()[0].at == at(8s));
  REQUIRE(venue.landings()[0].price == Approx(bug003_price(8)).epsilon(1e-12));
  REQUIRE(venue.landings()[0].applied);
  REQUIRE(venue.position("q") == 1000);  // no lands_after: never lands
}

TEST_CASE("exclusive attempts: at most one landing per exclusivity key", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  REQUIRE(venue.capabilities().exclusive_attempts);
  venue.open_position("p", 1000);
  venue.push(script(MockFate::fill, 2s));
  venue.push(script(MockFate::fill, 3s));

  SECTION("on: the second landing with the key is rejected and fills nothing") {
    Answer a, b;
    venue.async_submit(order_for("p", 1000, 1, "k"), record(a));
    ExitOrder second = order_for("p", 1000, 2, "k");
    second.reduce_only = false;  // not the reduce-only clamp: exclusivity alone refuses it
    venue.async_submit(second, record(b));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(a.outcome.status == SubmitStatus::filled);
    REQUIRE(b.when == at(3s));
    REQUIRE(b.outcome.status == SubmitStatus::rejected);
    REQUIRE(b.outcome.error == eg::error::exit_rejected);
    REQUIRE(b.outcome.filled_quantity == 0);
    REQUIRE(venue.sold("p") == 1000);
    REQUIRE(venue.position("p") == 0);
    REQUIRE(venue.landings().size() == 2);
    REQUIRE(venue.landings()[1].transaction_id == "tx-2");
    REQUIRE_FALSE(venue.landings()[1].applied);
  }
  SECTION("on: different keys, or no key, are independent") {
    Answer a, b;
    venue.async_submit(order_for("p", 400, 1, "k1"), record(a));
    venue.async_submit(order_for("p", 400, 2, "k2"), record(b));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(b.outcome.status == SubmitStatus::filled);
    Answer c, d;
    venue.push(script(MockFate::fill, 1s));
    venue.push(script(MockFate::fill, 1s));
    venue.async_submit(order_for("p", 100, 3, ""), record(c));
    venue.async_submit(order_for("p", 100, 4, ""), record(d));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(c.outcome.status == SubmitStatus::filled);
    REQUIRE(d.outcome.status == SubmitStatus::filled);
    REQUIRE(venue.position("p") == 0);
  }
  SECTION("reduce-only not enforced: a reduce-only order sells past the position") {
    REQUIRE(venue.capabilities().enforces_reduce_only);  // the default
    venue.set_exclusive_attempts(false);
    venue.set_reduce_only_enforced(false);
    REQUIRE_FALSE(venue.capabilities().enforces_reduce_only);
    ExitOrder o = order_for("p", 1000, 1, "k");
    REQUIRE(o.reduce_only);
    Answer a, b;
    venue.async_submit(o, record(a));
    o.attempt = 2;
    venue.async_submit(o, record(b));
    REQUIRE(w.driver.run_for(1h));
    CHECK(a.outcome.status == SubmitStatus::filled);
    CHECK(b.outcome.status == SubmitStatus::filled);
    CHECK(venue.sold("p") == 2000);
  }
  SECTION("off, not reduce-only: both apply and the position is oversold") {
    venue.set_exclusive_attempts(false);
    REQUIRE_FALSE(venue.capabilities().exclusive_attempts);
    ExitOrder o = order_for("p", 1000, 1, "k");
    o.reduce_only = false;
    Answer a, b;
    venue.async_submit(o, record(a));
    o.attempt = 2;
    venue.async_submit(o, record(b));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(a.outcome.status == SubmitStatus::filled);
    REQUIRE(b.outcome.status == SubmitStatus::filled);
    REQUIRE(venue.sold("p") == 2000);
    REQUIRE(venue.position("p") == -1000);
  }
  SECTION("off, reduce-only: the second is clamped to what is left") {
    venue.set_exclusive_attempts(false);
    Answer a, b;
    venue.async_submit(order_for("p", 600, 1, "k"), record(a));
    venue.async_submit(order_for("p", 600, 2, "k"), record(b));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(a.outcome.status == SubmitStatus::filled);
    REQUIRE(a.outcome.filled_quantity == 600);
    REQUIRE(b.outcome.status == SubmitStatus::partially_filled);
    REQUIRE(b.outcome.filled_quantity == 400);
    REQUIRE(venue.position("p") == 0);
    REQUIRE(venue.sold("p") == 1000);

    Answer c;
    venue.async_submit(order_for("p", 1, 3, "k"), record(c));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(c.outcome.status == SubmitStatus::rejected);
    REQUIRE(c.outcome.error == eg::error::insufficient_funds);
    REQUIRE(venue.landings().back().applied == false);
    REQUIRE(venue.sold("p") == 1000);
  }
}

TEST_CASE("orders with no quantity are rejected", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Answer a, b;
  venue.async_submit(order_for("p", 0, 1, "a"), record(a));
  venue.async_submit(order_for("p", -5, 1, "b"), record(b));
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(a.outcome.error == eg::error::invalid_quantity);
  REQUIRE(b.outcome.error == eg::error::invalid_quantity);
  REQUIRE(venue.position("p") == 10);
}

TEST_CASE("outage: submits made during it never answer and never land", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  venue.add_outage(at(10s), at(20s));

  Answer before, during, after;
  ManualClock::advance_to(at(9s));
  venue.async_submit(order_for("p", 1, 1, "k1"), record(before));  // made before: answers at 11 s
  w.driver.advance(3s);
  REQUIRE(before.when == at(11s));
  REQUIRE(before.outcome.status == SubmitStatus::filled);
  venue.async_submit(order_for("p", 1, 2, "k2"), record(during));
  REQUIRE(venue.pending_answers() == 1);

  ManualClock::advance_to(at(20s));  // the outage ends: `until` is excluded
  venue.async_submit(order_for("p", 1, 3, "k3"), record(after));
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(after.when == at(22s));
  REQUIRE(after.outcome.status == SubmitStatus::filled);
  REQUIRE(during.calls == 0);
  REQUIRE(venue.pending_answers() == 1);
  REQUIRE(venue.landings().size() == 2);
  REQUIRE(venue.position("p") == 8);
  REQUIRE(venue.submissions()[1].during_outage);
  REQUIRE_FALSE(venue.submissions()[2].during_outage);

  REQUIRE_THROWS_AS(venue.add_outage(at(5s), at(4s)), std::invalid_argument);
}

TEST_CASE("position query: value, latency, disabled, outage", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 1000);
  REQUIRE(venue.capabilities().queries_position);

  SECTION("answers after the default 200 ms with the position then") {
    QueryAnswer q;
    venue.async_query_position("p", record(q));
    REQUIRE(venue.pending_queries() == 1);
    w.driver.advance(199ms);
    REQUIRE(q.calls == 0);
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(q.calls == 1);
    REQUIRE(q.when == at(200ms));
    REQUIRE_FALSE(q.ec);
    REQUIRE(q.value == 1000);
    REQUIRE(venue.queries().size() == 1);
    REQUIRE(venue.queries()[0].position_id == "p");
    REQUIRE(venue.pending_queries() == 0);
  }
  SECTION("a landing before the answer is seen; unknown positions are 0") {
    venue.set_position_query(true, 1s);
    Script s = script(MockFate::in_doubt, 1s);
    s.lands_after = 2s;
    venue.push(s);
    Answer a;
    venue.async_submit(order_for("p", 300), record(a));
    ManualClock::advance_to(at(1500ms));
    QueryAnswer q, unknown;
    venue.async_query_position("p", record(q));
    venue.async_query_position("nope", record(unknown));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(a.outcome.status == SubmitStatus::in_doubt);
    REQUIRE(q.when == at(2500ms));
    REQUIRE(q.value == 700);  // the silent landing at 2 s shows
    REQUIRE(unknown.value == 0);
  }
  SECTION("as a coroutine") {
    CoResult r;
    asio::co_spawn(w.ioc, query_co(&venue, "p", &r), asio::detached);
    REQUIRE(w.driver.run_until([&] { return r.done; }));
    REQUIRE(r.when == at(200ms));
    REQUIRE(r.position == 1000);
  }
  SECTION("disabled: queries_position is false and a query fails") {
    venue.set_position_query(false);
    REQUIRE_FALSE(venue.capabilities().queries_position);
    CoResult r;
    asio::co_spawn(w.ioc, query_co(&venue, "p", &r), asio::detached);
    REQUIRE(w.driver.run_until([&] { return r.done; }));
    REQUIRE(r.ec == asio::error::operation_not_supported);
    REQUIRE(r.when == at(0s));
    venue.set_position_query(true);
    REQUIRE(venue.capabilities().queries_position);
  }
  SECTION("outage: never answers, holds no work, can be cancelled") {
    venue.add_outage(at(0s), at(10s));
    asio::cancellation_signal sig;
    QueryAnswer q;
    venue.async_query_position("p", asio::bind_cancellation_slot(sig.slot(), record(q)));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(q.calls == 0);
    REQUIRE(venue.pending_queries() == 1);
    REQUIRE(venue.queries()[0].during_outage);

    ManualClock::advance_to(at(10s));
    QueryAnswer later;
    venue.async_query_position("p", record(later));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(later.when == at(10200ms));
    REQUIRE(later.value == 1000);
    REQUIRE(q.calls == 0);

    sig.emit(asio::cancellation_type::terminal);
    REQUIRE(q.calls == 0);
    w.driver.poll();
    REQUIRE(q.calls == 1);
    REQUIRE(q.ec == asio::error::operation_aborted);
    REQUIRE(venue.pending_queries() == 0);
  }
}

TEST_CASE("cancelling a pending lost submit answers operation_aborted at once", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  venue.push(script(MockFate::lost));
  asio::cancellation_signal sig;
  Answer a;
  venue.async_submit(order_for("p", 10), asio::bind_cancellation_slot(sig.slot(), record(a)));
  REQUIRE(w.driver.run_for(1h));  // out of work: the lost submit holds none
  ManualClock::advance_to(at(5s));
  sig.emit(asio::cancellation_type::terminal);
  REQUIRE(a.calls == 0);  // posted, not called from emit
  w.driver.poll();
  REQUIRE(a.calls == 1);
  REQUIRE(a.when == at(5s));
  REQUIRE(a.ec == asio::error::operation_aborted);
  REQUIRE(a.outcome.status == SubmitStatus::in_doubt);
  REQUIRE(a.outcome.error == asio::error::operation_aborted);
  REQUIRE(a.outcome.transaction_id == "tx-1");
  REQUIRE(venue.pending_answers() == 0);
  // The io_context runs out of work again, and nothing is called twice.
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(ManualClock::now() == at(5s));
  sig.emit(asio::cancellation_type::terminal);
  w.driver.poll();
  REQUIRE(a.calls == 1);
  REQUIRE(venue.landings().empty());
}

TEST_CASE("cancelling a pending fill: aborted at once, the transaction still lands", "[mock_venue]") {
  const asio::cancellation_type types[] = {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                                           asio::cancellation_type::total};
  for (const auto type : types) {
    CAPTURE(static_cast<unsigned>(type));
    World w;
    MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
    venue.open_position("p", 1000);
    asio::cancellation_signal sig;
    Answer a;
    venue.async_submit(order_for("p", 1000), asio::bind_cancellation_slot(sig.slot(), record(a)));
    w.driver.advance(1s);
    sig.emit(type);
    w.driver.poll();
    REQUIRE(a.calls == 1);
    REQUIRE(a.when == at(1s));
    REQUIRE(a.ec == asio::error::operation_aborted);
    REQUIRE(venue.pending_answers() == 0);
    REQUIRE(venue.position("p") == 1000);
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(a.calls == 1);
    REQUIRE(venue.position("p") == 0);  // broadcast before the cancel: it lands at 2 s
    REQUIRE(venue.landings().size() == 1);
    REQUIRE(venue.landings()[0].at == at(2s));
    REQUIRE(venue.landings()[0].price == Approx(bug003_price(2)).epsilon(1e-12));
  }
}

TEST_CASE("cancelling a coroutine awaiting submit", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  venue.push(script(MockFate::lost));
  asio::cancellation_signal sig;
  CoResult r;
  bool spawned_done = false;
  asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 10), &r),
                 asio::bind_cancellation_slot(sig.slot(), [&spawned_done](std::exception_ptr e) {
                   spawned_done = true;
                   if (e) std::rethrow_exception(e);
                 }));
  // co_spawn keeps the io_context busy while the coroutine waits (Asio's own work
  // guard), so let virtual time pass instead of running out of work.
  w.driver.advance(7s);
  REQUIRE_FALSE(r.done);
  REQUIRE(venue.pending_answers() == 1);
  sig.emit(asio::cancellation_type::terminal);
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(r.done);
  REQUIRE(spawned_done);
  REQUIRE(r.ec == asio::error::operation_aborted);
  REQUIRE(r.when == at(7s));
  REQUIRE(venue.pending_answers() == 0);
}

TEST_CASE("destroying the venue with answers pending calls nothing", "[mock_venue]") {
  World w;
  Answer a, b;
  QueryAnswer q;
  CoResult r;
  {
    MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
    venue.open_position("p", 10);
    venue.async_submit(order_for("p", 1, 1, "a"), record(a));
    venue.push(script(MockFate::lost));
    venue.async_submit(order_for("p", 1, 2, "b"), record(b));
    venue.async_query_position("p", record(q));
    asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 1, 3, "c"), &r), asio::detached);
    w.driver.advance(100ms);
    REQUIRE(venue.pending_answers() == 3);
  }
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(a.calls == 0);
  REQUIRE(b.calls == 0);
  REQUIRE(q.calls == 0);
  REQUIRE_FALSE(r.done);
}

TEST_CASE("pending_answers counts submits not answered yet", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  venue.push(script(MockFate::fill, 2s));
  venue.push(script(MockFate::lost));
  venue.push(script(MockFate::in_doubt, 1s));
  asio::cancellation_signal sig;
  Answer a, b, c;
  venue.async_submit(order_for("p", 1, 1, "a"), record(a));
  venue.async_submit(order_for("p", 1, 1, "b"), asio::bind_cancellation_slot(sig.slot(), record(b)));
  venue.async_submit(order_for("p", 1, 1, "c"), record(c));
  REQUIRE(venue.pending_answers() == 3);
  w.driver.advance(1s);
  REQUIRE(c.called());
  REQUIRE(venue.pending_answers() == 2);
  w.driver.advance(1s);
  REQUIRE(a.called());
  REQUIRE(venue.pending_answers() == 1);
  sig.emit(asio::cancellation_type::terminal);  // taken on the venue's strand: posted from here
  REQUIRE(venue.pending_answers() == 1);
  w.driver.poll();
  REQUIRE(venue.pending_answers() == 0);
  REQUIRE(b.ec == asio::error::operation_aborted);
}

TEST_CASE("scripts: per-attempt override, then the queue, then random or default", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 100);
  venue.open_position("q", 100);
  venue.push(script(MockFate::reject, 1s));
  venue.push(script(MockFate::in_doubt, 2s));
  venue.script_for("p", 2, script(MockFate::lost, 3s));
  venue.set_default(script(MockFate::fill, 4s));

  const auto submit = [&](const char* pos, std::uint32_t attempt) {
    venue.async_submit(order_for(pos, 1, attempt, std::string(pos) + std::to_string(attempt)),
                       [](error_code, SubmitOutcome) {});
  };
  submit("p", 1);  // queue: reject
  submit("p", 2);  // override: lost, the queue is untouched
  submit("q", 2);  // queue: in_doubt (the override is for p only)
  submit("q", 3);  // default
  submit("p", 2);  // the override again: it is not consumed
  const auto& subs = venue.submissions();
  REQUIRE(subs.size() == 5);
  REQUIRE(subs[0].script.fate == MockFate::reject);
  REQUIRE(subs[1].script.fate == MockFate::lost);
  REQUIRE(subs[1].script.latency == 3s);
  REQUIRE(subs[2].script.fate == MockFate::in_doubt);
  REQUIRE(subs[3].script.fate == MockFate::fill);
  REQUIRE(subs[3].script.latency == 4s);
  REQUIRE(subs[4].script.fate == MockFate::lost);

  MockFaultProfile all_lost;
  all_lost.p_lost = 1;
  all_lost.p_reject_transient = all_lost.p_reject_permanent = all_lost.p_reject_slippage = 0;
  all_lost.p_land_late = all_lost.p_in_doubt = 0;
  venue.randomize(all_lost);
  venue.push(script(MockFate::reject, 1s));
  submit("q", 4);  // queue still first
  submit("q", 5);  // random, not the default
  REQUIRE(subs[5].script.fate == MockFate::reject);
  REQUIRE(subs[6].script.fate == MockFate::lost);
}

TEST_CASE("bad scripts and profiles are refused", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  Script late = script(MockFate::land_late);
  REQUIRE_THROWS_AS(venue.push(late), std::invalid_argument);  // no lands_after
  late.lands_after = 1s;
  REQUIRE_NOTHROW(venue.push(late));
  REQUIRE_THROWS_AS(venue.push(script(MockFate::fill, -1s)), std::invalid_argument);
  Script s;
  s.lands_after = -1s;
  REQUIRE_THROWS_AS(venue.set_default(s), std::invalid_argument);
  for (double ratio : {0.0, -0.5, 1.5, std::nan("")}) {
    Script r;
    r.fill_ratio = ratio;
    REQUIRE_THROWS_AS(venue.script_for("p", 1, r), std::invalid_argument);
  }
  Script slip;
  slip.slippage_bps = -1;
  REQUIRE_THROWS_AS(venue.push(slip), std::invalid_argument);
  Script silent_reject = script(MockFate::reject);
  silent_reject.error = {};
  REQUIRE_THROWS_AS(venue.push(silent_reject), std::invalid_argument);

  MockFaultProfile too_likely;
  too_likely.p_lost = 0.9;
  REQUIRE_THROWS_AS(venue.randomize(too_likely), std::invalid_argument);
  MockFaultProfile backwards;
  backwards.min_latency = 2s;
  backwards.max_latency = 1s;
  REQUIRE_THROWS_AS(venue.randomize(backwards), std::invalid_argument);
  MockFaultProfile negative;
  negative.p_partial = -0.1;
  REQUIRE_THROWS_AS(venue.randomize(negative), std::invalid_argument);
  REQUIRE_NOTHROW(venue.randomize(MockFaultProfile{}));

  REQUIRE_THROWS_AS(venue.open_position("p", -1), std::invalid_argument);
  REQUIRE_THROWS_AS(venue.open_position("p", 10, 0), std::invalid_argument);
  REQUIRE_THROWS_AS(venue.open_position("p", 10, -1), std::invalid_argument);
  REQUIRE_THROWS_AS(venue.set_position_query(true, -1ms), std::invalid_argument);
}

namespace {

struct RandomRun {
  std::vector<Script> scripts;
  std::vector<std::tuple<std::string, std::int64_t, Quantity, double, bool>> landings;
  std::vector<std::tuple<int, SubmitStatus, Quantity, std::int64_t>> answers;
};

// 1,000 submissions over 10 positions under randomize(profile), run to the end.
RandomRun random_run(std::uint64_t seed, const MockFaultProfile& profile) {
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(100.0, -0.01), seed);
  venue.randomize(profile);
  for (int p = 0; p < 10; ++p) venue.open_position("p" + std::to_string(p), 1'000'000);
  RandomRun run;
  auto* answers = &run.answers;
  for (int i = 0; i < 1000; ++i) {
    ExitOrder o = order_for("p" + std::to_string(i % 10), 10, static_cast<std::uint32_t>(i / 10 + 1),
                            "k" + std::to_string(i % 37));
    o.kind = OrderKind::limit;
    o.limit_price = 99.0;
    venue.async_submit(o, [answers, i](error_code, SubmitOutcome out) {
      answers->emplace_back(i, out.status, out.filled_quantity, ManualClock::now().time_since_epoch().count());
    });
    if (i % 100 == 99) w.driver.advance(1s);
  }
  REQUIRE(w.driver.run_for(1h));
  for (const auto& s : venue.submissions()) run.scripts.push_back(s.script);
  for (const auto& l : venue.landings())
    run.landings.emplace_back(l.transaction_id, l.at.time_since_epoch().count(), l.quantity, l.price, l.applied);
  return run;
}

}  // namespace

TEST_CASE("randomize is deterministic for a seed", "[mock_venue]") {
  const MockFaultProfile profile{};
  const RandomRun a = random_run(42, profile);
  const RandomRun b = random_run(42, profile);
  const RandomRun c = random_run(43, profile);
  REQUIRE(a.scripts.size() == 1000);
  REQUIRE(a.scripts == b.scripts);
  REQUIRE(a.landings == b.landings);
  REQUIRE(a.answers == b.answers);
  REQUIRE(a.scripts != c.scripts);

  // The scripts follow the profile.
  std::set<MockFate> fates;
  std::set<int> errors;
  int partial = 0;
  for (const auto& s : a.scripts) {
    fates.insert(s.fate);
    REQUIRE(s.latency >= profile.min_latency);
    REQUIRE(s.latency <= profile.max_latency);
    REQUIRE(s.slippage_bps >= 0);
    REQUIRE(s.slippage_bps < profile.max_slippage_bps);
    REQUIRE(s.fill_ratio > 0);
    REQUIRE(s.fill_ratio <= 1);
    if (s.fill_ratio < 1) ++partial;
    if (s.fate == MockFate::reject) errors.insert(s.error.value());
    if (s.fate == MockFate::land_late) {
      REQUIRE(s.lands_after);
      REQUIRE(*s.lands_after >= profile.max_latency);
      REQUIRE(*s.lands_after <= profile.max_late_landing);
    }
    if (s.fate == MockFate::in_doubt && s.lands_after) REQUIRE(*s.lands_after >= s.latency);
  }
  REQUIRE(fates.size() == 5);
  REQUIRE(errors == std::set<int>{static_cast<int>(eg::error::venue_unavailable),
                                  static_cast<int>(eg::error::exit_rejected),
                                  static_cast<int>(eg::error::slippage_exceeded)});
  REQUIRE(partial > 50);  // ~0.73 × 0.15 × 1000 ≈ 110 expected
  REQUIRE(partial < 200);
  // Every submission but the lost ones was answered, exactly once.
  std::size_t answering = 0;
  for (const auto& s : a.scripts) answering += s.fate != MockFate::lost;
  REQUIRE(a.answers.size() == answering);
}

TEST_CASE("BUG-003 fault shape: the first transaction is lost, later ones fill 2 s after sending",
          "[mock_venue][bug003]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
  venue.open_position("bug-003", 1000);
  REQUIRE(venue.reference_price("bug-003") == 95.0);

  SECTION("lost, then fills") {
    venue.push(script(MockFate::lost));  // default afterwards: fill after 2 s
    Answer first, second;
    venue.async_submit(order_for("bug-003", 1000, 1), record(first));
    w.driver.advance(20s);
    REQUIRE_FALSE(first.called());
    REQUIRE(venue.position("bug-003") == 1000);
    REQUIRE(venue.reference_price("bug-003") == Approx(bug003_price(20)).epsilon(1e-12));

    venue.async_submit(order_for("bug-003", 1000, 2), record(second));
    REQUIRE(w.driver.run_until([&] { return second.called(); }));
    REQUIRE(second.when == at(22s));
    REQUIRE(second.outcome.status == SubmitStatus::filled);
    REQUIRE(second.outcome.filled_quantity == 1000);
    REQUIRE(second.outcome.average_price == Approx(bug003_price(22)).epsilon(1e-12));
    REQUIRE(second.outcome.transaction_id == "tx-2");
    REQUIRE(venue.position("bug-003") == 0);

    REQUIRE(w.driver.run_for(1h));
    REQUIRE_FALSE(first.called());
    REQUIRE(venue.pending_answers() == 1);
    REQUIRE(venue.landings().size() == 1);
  }
  SECTION("late landing at t = 25 s, after a second was sent: nothing is sold twice") {
    Script late = script(MockFate::land_late);
    late.lands_after = 25s;
    venue.script_for("bug-003", 1, late);
    Answer first, second;
    venue.async_submit(order_for("bug-003", 1000, 1), record(first));
    w.driver.advance(20s);
    venue.async_submit(order_for("bug-003", 1000, 2), record(second));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(second.when == at(22s));
    REQUIRE(second.outcome.status == SubmitStatus::filled);
    REQUIRE(first.when == at(25s));
    REQUIRE(first.outcome.status == SubmitStatus::rejected);
    REQUIRE(first.outcome.error == eg::error::exit_rejected);
    REQUIRE(venue.sold("bug-003") == 1000);
    REQUIRE(venue.position("bug-003") == 0);
  }
  SECTION("late landing first: the second attempt with the same key is refused") {
    Script late = script(MockFate::land_late);
    late.lands_after = 25s;
    venue.script_for("bug-003", 1, late);
    Answer first, second;
    venue.async_submit(order_for("bug-003", 1000, 1), record(first));
    w.driver.advance(24s);
    venue.async_submit(order_for("bug-003", 1000, 2), record(second));
    REQUIRE(w.driver.run_for(1h));
    REQUIRE(first.outcome.status == SubmitStatus::filled);
    REQUIRE(first.outcome.average_price == Approx(bug003_price(25)).epsilon(1e-12));
    REQUIRE(second.when == at(26s));
    REQUIRE(second.outcome.error == eg::error::exit_rejected);
    REQUIRE(venue.sold("bug-003") == 1000);
  }
}

// ===========================================================================
// Exact quantities
// ===========================================================================

namespace {

struct FillRow {
  std::int64_t order;
  std::int64_t lot;
  double ratio;
  std::int64_t filled;
  SubmitStatus status;
};

constexpr std::int64_t two_pow(int n) { return std::int64_t{1} << n; }

}  // namespace

TEST_CASE("a fill is the order's quantity times fill_ratio, rounded down to whole lots", "[mock_venue][quantity]") {
  constexpr auto partial = SubmitStatus::partially_filled;
  constexpr auto filled = SubmitStatus::filled;
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  const FillRow row = GENERATE(values<FillRow>({
      {1000, 1, 1.0, 1000, filled},
      {1000, 1, 0.25, 250, partial},
      {1000, 1, 0.3333, 333, partial},
      {3, 1, 0.5, 1, partial},
      {1000, 100, 0.25, 200, partial},   // 250 is 2 whole lots
      {1000, 100, 0.05, 100, partial},   // 50 is less than a lot: one lot
      {1000, 100, 1e-300, 100, partial},
      {100, 100, 0.5, 100, filled},      // a one-lot order fills its lot: all of it
      {two_pow(53) + 1, 1, 1.0, two_pow(53) + 1, filled},            // not a double
      {two_pow(62) + 3, 1, 0.75, 3 * two_pow(60) + 2, partial},      // exact: 3·2^60 + 2.25
      {max, 1, 0.5, max / 2, partial},
      {max - max % 1000, 1000, 0.999, ((max - max % 1000) / 1000 * 999 / 1000) * 1000, partial},
  }));
  CAPTURE(row.order, row.lot, row.ratio);
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", row.order, row.lot);
  Script s = script(MockFate::fill, 1s);
  s.fill_ratio = row.ratio;
  venue.push(s);
  Answer a;
  venue.async_submit(order_for("p", row.order), record(a));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE_FALSE(a.ec);
  REQUIRE(a.outcome.status == row.status);
  REQUIRE(a.outcome.filled_quantity == Quantity(row.filled));
  REQUIRE(venue.sold("p") == Quantity(row.filled));
  REQUIRE(venue.position("p") == Quantity(row.order - row.filled));
  REQUIRE(venue.landings().at(0).quantity == Quantity(row.filled));
}

TEST_CASE("reduce-only: a fill never exceeds the whole lots still open", "[mock_venue][quantity]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 250, 100);  // 2 lots and 50 units of dust
  venue.set_default(script(MockFate::fill, 1s));
  REQUIRE(venue.lot_size("p") == 100);

  Answer a, b;
  venue.async_submit(order_for("p", 300, 1, "k1"), record(a));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.outcome.status == SubmitStatus::partially_filled);
  REQUIRE(a.outcome.filled_quantity == 200);
  REQUIRE(venue.position("p") == 50);

  // Less than a lot is open: the venue is flat for reduce-only orders.
  venue.async_submit(order_for("p", 100, 2, "k2"), record(b));
  REQUIRE(w.driver.run_until([&] { return b.called(); }));
  REQUIRE(b.outcome.status == SubmitStatus::rejected);
  REQUIRE(b.outcome.error == eg::error::insufficient_funds);
  REQUIRE(b.outcome.filled_quantity == 0);
  REQUIRE_FALSE(venue.landings().back().applied);
  REQUIRE(venue.position("p") == 50);
  REQUIRE(venue.sold("p") == 200);

  SECTION("not reduce-only: whole lots, past zero") {
    Answer c;
    ExitOrder o = order_for("p", 100, 3, "k3");
    o.reduce_only = false;
    venue.async_submit(o, record(c));
    REQUIRE(w.driver.run_until([&] { return c.called(); }));
    REQUIRE(c.outcome.status == SubmitStatus::filled);
    REQUIRE(venue.position("p") == -50);
    REQUIRE(venue.sold("p") == 300);
  }
}

TEST_CASE("an order that is not a positive whole number of the position's lots is rejected with invalid_quantity",
          "[mock_venue][quantity]") {
  const std::int64_t quantity = GENERATE(0, -100, 1, 50, 150, 1001);
  CAPTURE(quantity);
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 1000, 100);
  Answer a;
  venue.async_submit(order_for("p", quantity), record(a));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.outcome.status == SubmitStatus::rejected);
  REQUIRE(a.outcome.error == eg::error::invalid_quantity);
  REQUIRE(a.outcome.filled_quantity == 0);
  REQUIRE(venue.position("p") == 1000);
  REQUIRE_FALSE(venue.landings().at(0).applied);
}

TEST_CASE("a position never opened takes the order's lot", "[mock_venue][quantity]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.set_default(script(MockFate::fill, 1s));
  ExitOrder odd = order_for("new", 15, 1, "a");
  odd.lot_size = 10;
  odd.reduce_only = false;
  ExitOrder whole = odd;
  whole.quantity = 20;
  whole.exclusivity_key = "b";
  Answer a, b;
  venue.async_submit(odd, record(a));
  venue.async_submit(whole, record(b));
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(a.outcome.error == eg::error::invalid_quantity);
  REQUIRE(b.outcome.status == SubmitStatus::filled);
  REQUIRE(venue.position("new") == -20);
  REQUIRE(venue.lot_size("new") == 10);
  REQUIRE(venue.lot_size("never") == 1);
}

TEST_CASE("open_position takes base units and a positive lot, and resets what was sold", "[mock_venue][quantity]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  REQUIRE_THROWS_AS(venue.open_position("p", -1), std::invalid_argument);
  REQUIRE_THROWS_AS(venue.open_position("p", 10, 0), std::invalid_argument);
  REQUIRE_THROWS_AS(venue.open_position("p", 10, -5), std::invalid_argument);
  STATIC_REQUIRE_FALSE(std::is_invocable_v<decltype(&MockVenue::open_position), MockVenue&, std::string, double>);
  STATIC_REQUIRE(std::is_same_v<decltype(venue.position("p")), Quantity>);
  STATIC_REQUIRE(std::is_same_v<decltype(venue.sold("p")), Quantity>);
  venue.open_position("p", 0);  // a closed position is fine
  REQUIRE(venue.position("p") == 0);
  venue.open_position("p", 1000, 10);
  venue.set_default(script(MockFate::fill, 0s));
  Answer a;
  venue.async_submit(order_for("p", 1000), record(a));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(venue.sold("p") == 1000);
  venue.open_position("p", 500, 10);
  REQUIRE(venue.position("p") == 500);
  REQUIRE(venue.sold("p") == 0);
}

// ===========================================================================
// Executors, strands and work
// ===========================================================================

TEST_CASE("async_submit completes a handler bound to a strand of any_io_executor", "[mock_venue][executor]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
  venue.open_position("p", 1000);
  using AnyStrand = asio::strand<asio::any_io_executor>;
  const AnyStrand strand(asio::any_io_executor(w.ioc.get_executor()));
  Answer a;
  bool on_strand = false, on_venue = true;
  venue.async_submit(order_for("p", 1000), asio::bind_executor(strand, [&](error_code ec, SubmitOutcome o) {
                       on_strand = strand.running_in_this_thread();
                       on_venue = venue.get_executor().running_in_this_thread();
                       record(a)(ec, std::move(o));
                     }));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(on_strand);
  REQUIRE_FALSE(on_venue);
  REQUIRE(a.when == at(2s));
  REQUIRE(a.outcome.status == SubmitStatus::filled);
  REQUIRE(a.outcome.average_price == Approx(bug003_price(2)).epsilon(1e-12));

  SECTION("and a cancelled one, and a query") {
    venue.push(script(MockFate::lost));
    asio::cancellation_signal sig;
    Answer b;
    venue.async_submit(order_for("p", 1, 2, "k2"),
                       asio::bind_cancellation_slot(sig.slot(), asio::bind_executor(strand, record(b))));
    QueryAnswer q;
    bool query_on_strand = false;
    venue.async_query_position("p", asio::bind_executor(strand, [&](error_code ec, Quantity v) {
                                 query_on_strand = strand.running_in_this_thread();
                                 record(q)(ec, v);
                               }));
    REQUIRE(w.driver.run_until([&] { return q.calls == 1; }));
    REQUIRE(query_on_strand);
    REQUIRE(q.value == 0);
    asio::post(strand, [&] { sig.emit(asio::cancellation_type::terminal); });  // emitted where the handler runs
    REQUIRE(w.driver.run_until([&] { return b.called(); }));
    REQUIRE(b.ec == asio::error::operation_aborted);
    REQUIRE(venue.pending_answers() == 0);
  }
}

TEST_CASE("the venue has its own strand: timers and default completions run there", "[mock_venue][executor]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  STATIC_REQUIRE(std::is_same_v<decltype(venue.get_executor()), asio::strand<asio::any_io_executor>>);
  venue.open_position("p", 10);
  bool submit_on_venue = false, query_on_venue = false;
  Answer a;
  QueryAnswer q;
  venue.async_submit(order_for("p", 10), [&](error_code ec, SubmitOutcome o) {
    submit_on_venue = venue.get_executor().running_in_this_thread();
    record(a)(ec, std::move(o));
  });
  venue.async_query_position("p", [&](error_code ec, Quantity v) {
    query_on_venue = venue.get_executor().running_in_this_thread();
    record(q)(ec, v);
  });
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(submit_on_venue);
  REQUIRE(query_on_venue);
  REQUIRE(a.outcome.status == SubmitStatus::filled);
  REQUIRE(q.value == 10);  // answered at 200 ms, before the fill at 2 s
}

TEST_CASE("a pending answer holds work on the handler's executor, a parked one does not", "[mock_venue][executor]") {
  const bool as_any_strand = GENERATE(false, true);
  CAPTURE(as_any_strand);
  World w;
  asio::io_context other;  // where the handler runs
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  const asio::any_io_executor other_ex = as_any_strand
                                             ? asio::any_io_executor(asio::strand<asio::any_io_executor>(other.get_executor()))
                                             : asio::any_io_executor(other.get_executor());
  Answer a;
  venue.async_submit(order_for("p", 10), asio::bind_executor(other_ex, record(a)));
  REQUIRE(other.poll() == 0);
  REQUIRE_FALSE(other.stopped());  // the pending answer's work
  w.driver.advance(2s);
  REQUIRE_FALSE(a.called());  // handed to `other`, which has not run yet
  REQUIRE(other.poll() >= 1);
  REQUIRE(a.called());
  REQUIRE(a.outcome.status == SubmitStatus::filled);
  other.poll();
  REQUIRE(other.stopped());  // no work left

  other.restart();
  venue.push(script(MockFate::lost));
  Answer b;
  venue.async_submit(order_for("p", 1, 2, "k2"), asio::bind_executor(other_ex, record(b)));
  other.poll();
  REQUIRE(other.stopped());  // a lost submit holds no work
  REQUIRE(venue.pending_answers() == 1);
}

TEST_CASE("strand checks refuse calls made off the venue's strand", "[mock_venue][executor]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.set_strand_checks(true);
  Answer a;
  REQUIRE_THROWS_AS(venue.open_position("p", 10), std::logic_error);
  REQUIRE_THROWS_AS(venue.position("p"), std::logic_error);
  REQUIRE_THROWS_AS(venue.async_submit(order_for("p", 10), record(a)), std::logic_error);
  REQUIRE_THROWS_AS(static_cast<void>(venue.submit(order_for("p", 10))), std::logic_error);
  QueryAnswer q;
  REQUIRE_THROWS_AS(venue.async_query_position("p", record(q)), std::logic_error);
  REQUIRE(venue.get_executor() == venue.get_executor());  // always allowed

  CoResult r, off;
  asio::post(venue.get_executor(), [&] {
    venue.open_position("p", 10);
    venue.async_submit(order_for("p", 4), record(a));
    asio::co_spawn(venue.get_executor(), submit_co(&venue, order_for("p", 6, 2, "k2"), &r), asio::detached);
  });
  // A coroutine on another executor: submit() throws inside it.
  asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 1, 3, "k3"), &off), asio::detached);
  REQUIRE(w.driver.run_until([&] { return a.called() && r.done && off.done; }));
  REQUIRE(a.outcome.status == SubmitStatus::filled);
  REQUIRE(r.outcome.status == SubmitStatus::filled);
  REQUIRE(off.thrown == "BasicMockVenue::submit: called off the venue's strand");
  bool checked = false;
  asio::post(venue.get_executor(), [&] { checked = venue.position("p") == 0 && venue.submissions().size() == 2; });
  w.driver.poll();
  REQUIRE(checked);
  venue.set_strand_checks(false);
  REQUIRE(venue.position("p") == 0);
}

// ===========================================================================
// New scripts
// ===========================================================================

TEST_CASE("throws: submit's awaitable throws std::runtime_error when its answer is due", "[mock_venue][throws]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(MockFate::throws, 3s);
  const bool lands = GENERATE(false, true);
  CAPTURE(lands);
  if (lands) s.lands_after = 5s;  // sent, then the venue threw: it lands later
  venue.push(s);
  CoResult r;
  asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 10), &r), asio::detached);
  w.driver.advance(2999ms);
  REQUIRE_FALSE(r.done);
  REQUIRE(venue.pending_answers() == 1);
  REQUIRE(w.driver.run_until([&] { return r.done; }));
  REQUIRE(r.when == at(3s));
  REQUIRE(r.thrown == "MockVenue: scripted throw from submit (tx-1)");
  REQUIRE_FALSE(r.ec);
  REQUIRE(venue.pending_answers() == 0);
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(venue.position("p") == (lands ? 0 : 10));
  REQUIRE(venue.landings().size() == (lands ? 1u : 0u));
  if (lands) REQUIRE(venue.landings()[0].at == at(5s));
}

TEST_CASE("throw_on_call: the call itself throws and nothing is sent", "[mock_venue][throws]") {
  enum class Style { awaitable, token, deferred };
  const Style style = GENERATE(Style::awaitable, Style::token, Style::deferred);
  CAPTURE(static_cast<int>(style));
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(MockFate::throws, 1s);
  s.throw_on_call = true;
  venue.push(s);
  const ExitOrder o = order_for("p", 10);
  const char* const message = "MockVenue: scripted throw from the call (tx-1)";
  Answer a;
  switch (style) {
    case Style::awaitable: REQUIRE_THROWS_WITH(static_cast<void>(venue.submit(o)), message); break;
    case Style::token: REQUIRE_THROWS_WITH(venue.async_submit(o, record(a)), message); break;
    case Style::deferred: {
      auto op = venue.async_submit(o, asio::deferred);
      REQUIRE(venue.submissions().empty());
      REQUIRE_THROWS_WITH(std::move(op)(record(a)), message);
      break;
    }
  }
  REQUIRE(venue.submissions().size() == 1);
  REQUIRE(venue.submissions()[0].script == s);
  REQUIRE(venue.pending_answers() == 0);
  REQUIRE(w.driver.run_for(1h));
  REQUIRE_FALSE(a.called());
  REQUIRE(venue.landings().empty());
  REQUIRE(venue.position("p") == 10);

  // The script was consumed: the next submission takes the default.
  CoResult r;
  asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 10, 2), &r), asio::detached);
  REQUIRE(w.driver.run_until([&] { return r.done; }));
  REQUIRE(r.outcome.status == SubmitStatus::filled);
  REQUIRE(r.outcome.transaction_id == "tx-2");
}

TEST_CASE("throws, token style: async_submit throws from the call, and the transaction may still land",
          "[mock_venue][throws]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(MockFate::throws, 1s);
  s.lands_after = 4s;
  venue.push(s);
  Answer a;
  REQUIRE_THROWS_WITH(venue.async_submit(order_for("p", 10), record(a)),
                      "MockVenue: scripted throw from the call (tx-1)");
  REQUIRE(venue.pending_answers() == 0);
  REQUIRE(w.driver.run_for(1h));
  REQUIRE_FALSE(a.called());
  REQUIRE(venue.landings().size() == 1);
  REQUIRE(venue.landings()[0].at == at(4s));
  REQUIRE(venue.position("p") == 0);
}

TEST_CASE("ignores_cancellation: a cancelled submit answers per its fate", "[mock_venue][cancellation]") {
  const MockFate fate = GENERATE(MockFate::fill, MockFate::reject, MockFate::in_doubt, MockFate::malformed);
  CAPTURE(eg::testing::to_string(fate));
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(fate, 2s);
  s.ignores_cancellation = true;
  venue.push(s);
  asio::cancellation_signal sig;
  Answer a;
  venue.async_submit(order_for("p", 10), asio::bind_cancellation_slot(sig.slot(), record(a)));
  w.driver.advance(1s);
  sig.emit(asio::cancellation_type::terminal);
  w.driver.poll();
  REQUIRE_FALSE(a.called());
  REQUIRE(venue.pending_answers() == 1);
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.when == at(2s));
  REQUIRE_FALSE(a.ec);
  const SubmitStatus expected = fate == MockFate::reject     ? SubmitStatus::rejected
                                : fate == MockFate::in_doubt ? SubmitStatus::in_doubt
                                                             : SubmitStatus::filled;
  REQUIRE(a.outcome.status == expected);
}

TEST_CASE("ignores_cancellation: a lost submit stays pending, a cancelled coroutine waits for the answer",
          "[mock_venue][cancellation]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script lost = script(MockFate::lost);
  lost.ignores_cancellation = true;
  venue.push(lost);
  asio::cancellation_signal sig;
  Answer a;
  venue.async_submit(order_for("p", 1), asio::bind_cancellation_slot(sig.slot(), record(a)));
  sig.emit(asio::cancellation_type::terminal);
  REQUIRE(w.driver.run_for(1h));
  REQUIRE_FALSE(a.called());
  REQUIRE(venue.pending_answers() == 1);

  Script fill = script(MockFate::fill, 3s);
  fill.ignores_cancellation = true;
  venue.push(fill);
  asio::cancellation_signal co_sig;
  CoResult r;
  asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 9, 2, "k2"), &r),
                 asio::bind_cancellation_slot(co_sig.slot(), asio::detached));
  w.driver.advance(1s);
  co_sig.emit(asio::cancellation_type::terminal);
  REQUIRE(w.driver.run_until([&] { return r.done; }));
  REQUIRE(r.when == at(3s));  // sent at 0 s (the lost submit held no work: the clock stayed)
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.outcome.status == SubmitStatus::filled);
}

TEST_CASE("answer_at: a submit answers at an absolute instant instead of after its latency", "[mock_venue][answer_at]") {
  const MockFate fate = GENERATE(MockFate::fill, MockFate::reject, MockFate::in_doubt, MockFate::land_late,
                                 MockFate::malformed, MockFate::throws);
  CAPTURE(eg::testing::to_string(fate));
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(95.0, -1.0 / 6.0));
  venue.open_position("p", 1000);
  Script s = script(fate, 2s);  // the latency is not used
  s.answer_at = at(7s);
  venue.push(s);
  ManualClock::advance_to(at(1s));
  CoResult r;
  asio::co_spawn(w.ioc, submit_co(&venue, order_for("p", 1000), &r), asio::detached);
  w.driver.advance(5999ms);
  REQUIRE_FALSE(r.done);
  REQUIRE(w.driver.run_until([&] { return r.done; }));
  REQUIRE(r.when == at(7s));
  switch (fate) {
    case MockFate::fill:
    case MockFate::land_late:
      REQUIRE(r.outcome.status == SubmitStatus::filled);
      REQUIRE(r.outcome.average_price == Approx(bug003_price(7)).epsilon(1e-12));
      REQUIRE(venue.landings().at(0).at == at(7s));
      break;
    case MockFate::reject: REQUIRE(r.outcome.status == SubmitStatus::rejected); break;
    case MockFate::in_doubt: REQUIRE(r.outcome.status == SubmitStatus::in_doubt); break;
    case MockFate::malformed: REQUIRE(r.outcome.filled_quantity == 0); break;
    case MockFate::throws: REQUIRE(r.thrown == "MockVenue: scripted throw from submit (tx-1)"); break;
    case MockFate::lost: FAIL("not in the table");
  }
}

TEST_CASE("answer_at in the past answers at once, never from the initiating function", "[mock_venue][answer_at]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 10);
  Script s = script(MockFate::fill, 2s);
  s.answer_at = at(3s);
  venue.push(s);
  ManualClock::advance_to(at(10s));
  Answer a;
  venue.async_submit(order_for("p", 10), record(a));
  REQUIRE_FALSE(a.called());
  w.driver.poll();
  REQUIRE(a.called());
  REQUIRE(a.when == at(10s));
  REQUIRE(venue.landings().at(0).at == at(10s));
}

// --- position query scripts -------------------------------------------------

namespace {

using QueryScript = MockVenue::query_script_type;
using eg::testing::MockQueryFate;

struct QueryRow {
  const char* name;
  QueryScript script;
  error_code ec;
  Quantity value;
  time_point when;
};

QueryScript query_script(MockQueryFate fate) {
  QueryScript s;
  s.fate = fate;
  return s;
}

}  // namespace

TEST_CASE("query scripts: the true position, an error, a wrong value, after a latency or at an instant",
          "[mock_venue][query]") {
  QueryScript slow = query_script(MockQueryFate::answer);
  slow.latency = 1s;
  QueryScript at_3s = query_script(MockQueryFate::answer);
  at_3s.answer_at = at(3s);
  at_3s.latency = 1s;  // answer_at wins
  QueryScript fails = query_script(MockQueryFate::error);
  QueryScript fails_with = query_script(MockQueryFate::error);
  fails_with.error = eg::error::exit_rejected;
  QueryScript wrong = query_script(MockQueryFate::wrong_value);
  wrong.value = 12345;
  QueryScript negative = query_script(MockQueryFate::wrong_value);
  negative.value = -1;
  const QueryRow row = GENERATE_COPY(values<QueryRow>({
      {"default", QueryScript{}, {}, 1000, at(200ms)},
      {"latency", slow, {}, 1000, at(1s)},
      {"answer_at", at_3s, {}, 1000, at(3s)},
      {"error", fails, eg::error::venue_unavailable, 0, at(200ms)},
      {"error code", fails_with, eg::error::exit_rejected, 0, at(200ms)},
      {"wrong value", wrong, {}, 12345, at(200ms)},
      {"negative value", negative, {}, -1, at(200ms)},
  }));
  CAPTURE(row.name);
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 1000);
  venue.script_query(row.script);
  QueryAnswer q;
  venue.async_query_position("p", record(q));
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(q.calls == 1);
  REQUIRE(q.ec == row.ec);
  REQUIRE(q.value == row.value);
  REQUIRE(q.when == row.when);
  REQUIRE(venue.queries().at(0).script == row.script);

  // As a coroutine: an error is thrown as system_error.
  venue.script_query(row.script);
  CoResult r;
  asio::co_spawn(w.ioc, query_co(&venue, "p", &r), asio::detached);
  REQUIRE(w.driver.run_until([&] { return r.done; }));
  REQUIRE(r.ec == row.ec);
  if (!row.ec) REQUIRE(r.position == row.value);
}

TEST_CASE("query scripts are taken in order, then the query default", "[mock_venue][query]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 1000);
  QueryScript wrong = query_script(MockQueryFate::wrong_value);
  wrong.value = 7;
  venue.script_query(query_script(MockQueryFate::error));
  venue.script_query(wrong);
  QueryAnswer a, b, c, d;
  venue.async_query_position("p", record(a));
  venue.async_query_position("p", record(b));
  venue.async_query_position("p", record(c));
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(a.ec == eg::error::venue_unavailable);
  REQUIRE(b.value == 7);
  REQUIRE(c.value == 1000);
  QueryScript always_fails = query_script(MockQueryFate::error);
  always_fails.latency = 50ms;
  venue.set_query_default(always_fails);
  const time_point sent = ManualClock::now();
  venue.async_query_position("p", record(d));
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(d.ec == eg::error::venue_unavailable);
  REQUIRE(d.when == sent + 50ms);
  REQUIRE(venue.queries().size() == 4);
}

TEST_CASE("a silent query never answers, holds no work, and is cancellable unless it ignores cancellation",
          "[mock_venue][query]") {
  const bool ignores = GENERATE(false, true);
  CAPTURE(ignores);
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 1000);
  QueryScript silent = query_script(MockQueryFate::silent);
  silent.ignores_cancellation = ignores;
  venue.script_query(silent);
  asio::cancellation_signal sig;
  QueryAnswer q;
  venue.async_query_position("p", asio::bind_cancellation_slot(sig.slot(), record(q)));
  REQUIRE(w.driver.run_for(1h));  // out of work at once
  REQUIRE(ManualClock::now() == at(0s));
  REQUIRE(venue.pending_queries() == 1);
  sig.emit(asio::cancellation_type::terminal);
  w.driver.poll();
  REQUIRE(q.calls == (ignores ? 0 : 1));
  REQUIRE(venue.pending_queries() == (ignores ? 1u : 0u));
  if (!ignores) REQUIRE(q.ec == asio::error::operation_aborted);
}

TEST_CASE("a query that ignores cancellation answers per its script", "[mock_venue][query]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 1000);
  QueryScript s = query_script(MockQueryFate::answer);
  s.latency = 2s;
  s.ignores_cancellation = true;
  venue.script_query(s);
  asio::cancellation_signal sig;
  QueryAnswer q;
  venue.async_query_position("p", asio::bind_cancellation_slot(sig.slot(), record(q)));
  w.driver.advance(1s);
  sig.emit(asio::cancellation_type::terminal);
  REQUIRE(w.driver.run_for(1h));
  REQUIRE(q.calls == 1);
  REQUIRE_FALSE(q.ec);
  REQUIRE(q.when == at(2s));
  REQUIRE(q.value == 1000);
}

// --- malformed answers --------------------------------------------------------

namespace {

using eg::testing::MockMalformed;

struct MalformedRow {
  MockMalformed kind;
  std::int64_t lot;
  double ratio;
  bool lands;
  SubmitStatus status;
  std::int64_t reported;
  double price;  // NaN: must be NaN
  std::int64_t left;
};

}  // namespace

TEST_CASE("malformed answers: each kind, landing or not", "[mock_venue][malformed]") {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  const auto unnamed = eg::testing::mock_unnamed_status;
  constexpr auto filled = SubmitStatus::filled;
  constexpr auto partial = SubmitStatus::partially_filled;
  const MalformedRow row = GENERATE_COPY(values<MalformedRow>({
      {MockMalformed::fill_without_quantity, 1, 1.0, true, filled, 0, 100.0, 0},
      {MockMalformed::fill_without_quantity, 1, 1.0, false, filled, 0, 100.0, 1000},
      {MockMalformed::overfill, 1, 1.0, true, filled, 1001, 100.0, 0},
      {MockMalformed::overfill, 100, 0.5, true, filled, 1100, 100.0, 500},
      {MockMalformed::unnamed_status, 1, 1.0, true, unnamed, 1000, 100.0, 0},
      {MockMalformed::unnamed_status, 1, 0.25, false, unnamed, 250, 100.0, 1000},
      {MockMalformed::nan_price, 1, 1.0, true, filled, 1000, nan, 0},
      {MockMalformed::nan_price, 1, 0.5, false, partial, 500, nan, 1000},
      {MockMalformed::zero_price, 1, 1.0, true, filled, 1000, 0.0, 0},
      {MockMalformed::zero_price, 100, 0.25, true, partial, 200, 0.0, 800},
  }));
  CAPTURE(eg::testing::to_string(row.kind), row.lot, row.ratio, row.lands);
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  venue.open_position("p", 1000, row.lot);
  Script s = script(MockFate::malformed, 1s);
  s.malformed_kind = row.kind;
  s.malformed_lands = row.lands;
  s.fill_ratio = row.ratio;
  venue.push(s);
  Answer a;
  venue.async_submit(order_for("p", 1000), record(a));
  REQUIRE(w.driver.run_until([&] { return a.called(); }));
  REQUIRE(a.when == at(1s));
  REQUIRE_FALSE(a.ec);
  REQUIRE(a.outcome.status == row.status);
  REQUIRE(a.outcome.filled_quantity == Quantity(row.reported));
  if (std::isnan(row.price)) {
    REQUIRE(std::isnan(a.outcome.average_price));
  } else {
    REQUIRE(a.outcome.average_price == row.price);
  }
  REQUIRE_FALSE(a.outcome.error);
  REQUIRE(a.outcome.transaction_id == "tx-1");
  REQUIRE(venue.position("p") == Quantity(row.left));
  REQUIRE(venue.landings().size() == (row.lands ? 1u : 0u));
}

TEST_CASE("the unnamed status has no name", "[mock_venue][malformed]") {
  STATIC_REQUIRE(eg::to_string(eg::testing::mock_unnamed_status) == "unknown");
}

// --- validation and names -------------------------------------------------------

TEST_CASE("bad new scripts are refused", "[mock_venue]") {
  World w;
  MockVenue venue(w.ioc.get_executor(), constant_price(100.0));
  Script on_call_fill = script(MockFate::fill);
  on_call_fill.throw_on_call = true;
  REQUIRE_THROWS_AS(venue.push(on_call_fill), std::invalid_argument);
  Script on_call_lands = script(MockFate::throws);
  on_call_lands.throw_on_call = true;
  on_call_lands.lands_after = 1s;
  REQUIRE_THROWS_AS(venue.push(on_call_lands), std::invalid_argument);
  on_call_lands.lands_after.reset();
  REQUIRE_NOTHROW(venue.push(on_call_lands));
  Script late_at = script(MockFate::land_late);
  late_at.answer_at = at(5s);
  REQUIRE_NOTHROW(venue.set_default(late_at));
  Script bad_kind = script(MockFate::malformed);
  bad_kind.malformed_kind = static_cast<MockMalformed>(99);
  REQUIRE_THROWS_AS(venue.push(bad_kind), std::invalid_argument);
  Script bad_fate = script(static_cast<MockFate>(99));
  REQUIRE_THROWS_AS(venue.push(bad_fate), std::invalid_argument);

  QueryScript slow = query_script(MockQueryFate::answer);
  slow.latency = -1ms;
  REQUIRE_THROWS_AS(venue.script_query(slow), std::invalid_argument);
  QueryScript silent_error = query_script(MockQueryFate::error);
  silent_error.error = {};
  REQUIRE_THROWS_AS(venue.set_query_default(silent_error), std::invalid_argument);
  REQUIRE_THROWS_AS(venue.script_query(query_script(static_cast<MockQueryFate>(9))), std::invalid_argument);
  REQUIRE(venue.queries().empty());
}

TEST_CASE("new fates and kinds have names", "[mock_venue]") {
  STATIC_REQUIRE(eg::testing::to_string(MockFate::throws) == "throws");
  STATIC_REQUIRE(eg::testing::to_string(MockFate::malformed) == "malformed");
  STATIC_REQUIRE(eg::testing::to_string(MockMalformed::overfill) == "overfill");
  STATIC_REQUIRE(eg::testing::to_string(MockMalformed::nan_price) == "nan_price");
  STATIC_REQUIRE(eg::testing::to_string(MockQueryFate::wrong_value) == "wrong_value");
  STATIC_REQUIRE(eg::testing::to_string(static_cast<MockQueryFate>(9)) == "unknown");
}
