#include <exitguard/testing/mock_venue.hpp>

#include <exitguard/error.hpp>
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
#include <boost/asio/strand.hpp>
#include <boost/system/system_error.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
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

ExitOrder order_for(std::string position, double quantity, std::uint32_t attempt = 1,
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
  double value = -1;
  time_point when{};
};

auto record(QueryAnswer& a) {
  return [&a](error_code ec, double v) {
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
  SubmitOutcome outcome;
  double position = -1;
  time_point when{};
};

asio::awaitable<void> submit_co(MockVenue* venue, ExitOrder order, CoResult* out) {
  try {
    out->outcome = co_await venue->submit(std::move(order));
  } catch (const boost::system::system_error& e) {
    out->ec = e.code();
  }
  out->done = true;
  out->when = ManualClock::now();
}

asio::awaitable<void> query_co(MockVenue* venue, std::string id, CoResult* out) {
  try {
    out->position = co_await venue->query_position(std::move(id));
  } catch (const boost::system::system_error& e) {
    out->ec = e.code();
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
  STATIC_REQUIRE(eg::DeclaresExclusiveAttempts<MockVenue>);
  STATIC_REQUIRE(eg::ReportsPositionQuery<MockVenue>);
  using SteadyVenue = BasicMockVenue<std::chrono::steady_clock>;
  STATIC_REQUIRE(eg::AwaitableVenue<SteadyVenue>);
  STATIC_REQUIRE(std::is_same_v<SteadyVenue::duration, std::chrono::steady_clock::duration>);
  STATIC_REQUIRE(std::is_same_v<MockVenue::script_type, eg::testing::BasicMockAttemptScript<ManualClock::duration>>);
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
  REQUIRE(venue.exclusive_attempts());
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
  SECTION("off, not reduce-only: both apply and the position is oversold") {
    venue.set_exclusive_attempts(false);
    REQUIRE_FALSE(venue.exclusive_attempts());
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
  venue.async_submit(order_for("p", std::nan(""), 1, "b"), record(b));
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
  REQUIRE(venue.can_query_position());

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
  SECTION("disabled: can_query_position is false and a query fails") {
    venue.set_position_query(false);
    REQUIRE_FALSE(venue.can_query_position());
    CoResult r;
    asio::co_spawn(w.ioc, query_co(&venue, "p", &r), asio::detached);
    REQUIRE(w.driver.run_until([&] { return r.done; }));
    REQUIRE(r.ec == asio::error::operation_not_supported);
    REQUIRE(r.when == at(0s));
    venue.set_position_query(true);
    REQUIRE(venue.can_query_position());
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
  sig.emit(asio::cancellation_type::terminal);
  REQUIRE(venue.pending_answers() == 0);
  w.driver.poll();
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
  REQUIRE_THROWS_AS(venue.open_position("p", std::nan("")), std::invalid_argument);
  REQUIRE_THROWS_AS(venue.set_position_query(true, -1ms), std::invalid_argument);
}

namespace {

struct RandomRun {
  std::vector<Script> scripts;
  std::vector<std::tuple<std::string, std::int64_t, double, double, bool>> landings;
  std::vector<std::tuple<int, SubmitStatus, double, std::int64_t>> answers;
};

// 1,000 submissions over 10 positions under randomize(profile), run to the end.
RandomRun random_run(std::uint64_t seed, const MockFaultProfile& profile) {
  World w;
  MockVenue venue(w.ioc.get_executor(), linear_price(100.0, -0.01), seed);
  venue.randomize(profile);
  for (int p = 0; p < 10; ++p) venue.open_position("p" + std::to_string(p), 1e6);
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
