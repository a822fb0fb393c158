// exitguard-test-set: optimized
// Tests of exitguard/exit_attempt_tracker.hpp: the per-exit record of attempts, the
// attempt limit, which attempts may still land, and fills counted exactly once in
// exact base units — late fills included, fill reports deduplicated by id, and an
// answer and fill reports of the same fill never added up (the larger total counts).
// The tracker reads no clock: every time is passed in, so start and end times are
// asserted exactly; no test sleeps.

// First include: proves the header compiles on its own.
#include <exitguard/exit_attempt_tracker.hpp>

#define CATCH_CONFIG_ENABLE_CHRONO_STRINGMAKER
#include <catch2/catch.hpp>

#include "support/configuration_error.hpp"
#include "support/quantity_string.hpp"

#include <exitguard/testing/manual_clock.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using exitguard::AttemptOutcome;
using exitguard::ExitOrder;
using exitguard::OrderKind;
using exitguard::Quantity;
using exitguard::testing::ManualClock;
using Tracker = exitguard::BasicExitAttemptTracker<ManualClock>;
using Numbers = std::vector<std::uint32_t>;
using namespace std::chrono_literals;

constexpr auto filled = AttemptOutcome::filled;
constexpr auto partially_filled = AttemptOutcome::partially_filled;
constexpr auto rejected = AttemptOutcome::rejected;
constexpr auto in_doubt = AttemptOutcome::in_doubt;

ManualClock::time_point at(std::chrono::nanoseconds since_epoch) { return ManualClock::time_point(since_epoch); }

ExitOrder order(Quantity quantity, std::uint32_t step = 0, OrderKind kind = OrderKind::limit,
                double limit_price = 95.0, double max_slippage_bps = 100.0) {
  ExitOrder o;
  o.exit_id = 7;
  o.position_id = "SOL-1";
  o.quantity = quantity;
  o.kind = kind;
  o.limit_price = limit_price;
  o.max_slippage_bps = max_slippage_bps;
  o.step = step;
  o.exclusivity_key = "nonce-7";
  return o;
}

// The attempts that may still land (pending, in doubt or cancelled), by number: what
// v1's in_doubt() listed. Checked against any_unsettled() on the way.
Numbers may_land(const Tracker& t) {
  Numbers out;
  for (const auto& r : t.attempts())
    if (exitguard::may_still_land(r.outcome)) out.push_back(r.number);
  CHECK(t.any_unsettled() == !out.empty());
  return out;
}

// A fill report that must not be a duplicate; returns what it counted.
Quantity report(Tracker& t, std::uint32_t number, std::string_view fill_id, Quantity quantity, double price) {
  bool duplicate = true;
  const Quantity counted = t.add_fill(number, fill_id, quantity, price, duplicate);
  CHECK_FALSE(duplicate);
  return counted;
}

using exitguard::test::configuration_error_of;

}  // namespace

TEST_CASE("exit_attempt_tracker.hpp is self-contained and declares the tracker", "[tracker]") {
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitAttemptTracker::clock_type, std::chrono::steady_clock>);
  STATIC_REQUIRE(std::is_same_v<Tracker::clock_type, ManualClock>);
  STATIC_REQUIRE(std::is_same_v<Tracker::time_point, ManualClock::time_point>);
  STATIC_REQUIRE(std::is_same_v<Tracker::record_type, exitguard::BasicAttemptRecord<ManualClock>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Tracker::record_type{}.started), ManualClock::time_point>);
  // Quantities are exact base units, not doubles.
  STATIC_REQUIRE(std::is_same_v<decltype(Tracker::record_type{}.quantity), Quantity>);
  STATIC_REQUIRE(std::is_same_v<decltype(Tracker::record_type{}.filled_quantity), Quantity>);
  STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const Tracker&>().filled_quantity()), Quantity>);
  // The limit is explicit: no tracker made by accident from a number.
  STATIC_REQUIRE(std::is_constructible_v<Tracker, std::uint32_t>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<std::uint32_t, Tracker>);
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<Tracker>);
  STATIC_REQUIRE(exitguard::to_string(AttemptOutcome::in_doubt) == "in_doubt");
  STATIC_REQUIRE(Tracker::max_attempt_limit == 1000);
  STATIC_REQUIRE(Tracker::max_fill_ids == 256);
  STATIC_REQUIRE(exitguard::may_still_land(AttemptOutcome::in_doubt));
}

TEST_CASE("to_string names every attempt outcome", "[tracker]") {
  CHECK(exitguard::to_string(AttemptOutcome::pending) == "pending");
  CHECK(exitguard::to_string(AttemptOutcome::filled) == "filled");
  CHECK(exitguard::to_string(AttemptOutcome::partially_filled) == "partially_filled");
  CHECK(exitguard::to_string(AttemptOutcome::rejected) == "rejected");
  CHECK(exitguard::to_string(AttemptOutcome::in_doubt) == "in_doubt");
  CHECK(exitguard::to_string(AttemptOutcome::cancelled) == "cancelled");
  CHECK(exitguard::to_string(AttemptOutcome::expired) == "expired");
  CHECK(exitguard::to_string(static_cast<AttemptOutcome>(200)) == "unknown");
}

TEST_CASE("may_still_land is true for pending, in-doubt and cancelled attempts only", "[tracker]") {
  const auto [outcome, may] = GENERATE(table<AttemptOutcome, bool>({
      {AttemptOutcome::pending, true},
      {AttemptOutcome::filled, false},
      {AttemptOutcome::partially_filled, false},
      {AttemptOutcome::rejected, false},
      {AttemptOutcome::in_doubt, true},
      {AttemptOutcome::cancelled, true},
      {AttemptOutcome::expired, false},
  }));
  INFO(exitguard::to_string(outcome));
  CHECK(exitguard::may_still_land(outcome) == may);
}

TEST_CASE("the attempt limit must be between 1 and 1000", "[tracker][config]") {
  SECTION("0 is refused with invalid_exit_attempt_limit") {
    const auto ec = configuration_error_of([] { Tracker t(0); });
    CHECK(ec == exitguard::error::invalid_exit_attempt_limit);
    CHECK(ec.value() == 324);
    CHECK(ec.category() == exitguard::error_category());
    CHECK(ec == exitguard::condition::invalid_configuration);
  }
  SECTION("1001 is refused with invalid_exit_attempt_limit") {
    const auto ec = configuration_error_of([] { Tracker t(1001); });
    CHECK(ec == exitguard::error::invalid_exit_attempt_limit);
    CHECK(ec.category() == exitguard::error_category());
  }
  SECTION("the largest uint32 is refused") {
    const auto ec = configuration_error_of([] { Tracker t(std::numeric_limits<std::uint32_t>::max()); });
    CHECK(ec == exitguard::error::invalid_exit_attempt_limit);
  }
  SECTION("configuration_error is a boost::system::system_error") {
    CHECK_THROWS_AS(Tracker(0), boost::system::system_error);
    CHECK_THROWS_WITH(Tracker(0), Catch::Matchers::StartsWith("exitguard.invalid_exit_attempt_limit"));
  }
  SECTION("1 is accepted") {
    const Tracker t(1);
    CHECK(t.max_attempts() == 1);
    CHECK(t.started() == 0);
    CHECK(t.remaining() == 1);
    CHECK(t.attempts().empty());
    CHECK(t.filled_quantity() == 0);
    CHECK(t.filled_notional() == 0.0);
    CHECK(t.average_price() == 0.0);
    CHECK(t.late_fills() == 0);
    CHECK(may_land(t).empty());
    CHECK_FALSE(t.any_unsettled());
    CHECK_FALSE(t.any_in_doubt());
    CHECK_FALSE(t.any_needs_reconciliation());
  }
  SECTION("1000 is accepted, and every one of the 1000 attempts can be started") {
    Tracker t(1000);
    CHECK(t.max_attempts() == 1000);
    CHECK(t.remaining() == 1000);
    for (std::uint32_t i = 1; i <= 1000; ++i) REQUIRE_FALSE(t.begin(order(1), at(std::chrono::milliseconds(i))));
    CHECK(t.started() == 1000);
    CHECK(t.remaining() == 0);
    CHECK(t.attempts().back().number == 1000);
    CHECK(t.attempts().back().started == at(1000ms));
    CHECK(t.begin(order(1), at(2s)) == exitguard::error::attempt_limit_reached);
    CHECK(t.attempts().size() == 1000);
  }
}

TEST_CASE("begin numbers attempts 1..n and records the order, its start time and its key", "[tracker]") {
  Tracker t(3);

  REQUIRE_FALSE(t.begin(order(1000, 0, OrderKind::limit, 94.05, 100.0), at(2s)));
  REQUIRE_FALSE(t.begin(order(600, 0, OrderKind::limit, 93.5, 100.0), at(10s)));
  REQUIRE_FALSE(t.begin(order(250, 1, OrderKind::market, 89.25, 500.0), at(21500ms), 3));

  CHECK(t.started() == 3);
  CHECK(t.remaining() == 0);
  const auto& a = t.attempts();
  REQUIRE(a.size() == 3);

  CHECK(a[0].number == 1);
  CHECK(a[0].step == 0);
  CHECK(a[0].kind == OrderKind::limit);
  CHECK(a[0].quantity == 1000);
  CHECK(a[0].limit_price == 94.05);
  CHECK(a[0].max_slippage_bps == 100.0);
  CHECK(a[0].started == at(2s));
  CHECK(a[0].key_generation == 0);

  CHECK(a[1].number == 2);
  CHECK(a[1].step == 0);
  CHECK(a[1].kind == OrderKind::limit);
  CHECK(a[1].quantity == 600);
  CHECK(a[1].limit_price == 93.5);
  CHECK(a[1].started == at(10s));

  CHECK(a[2].number == 3);
  CHECK(a[2].step == 1);
  CHECK(a[2].kind == OrderKind::market);
  CHECK(a[2].quantity == 250);
  CHECK(a[2].limit_price == 89.25);
  CHECK(a[2].max_slippage_bps == 500.0);
  CHECK(a[2].started == at(21500ms));
  CHECK(a[2].key_generation == 3);

  for (const auto& r : a) {
    CHECK(r.outcome == AttemptOutcome::pending);
    CHECK_FALSE(r.ended.has_value());
    CHECK(r.filled_quantity == 0);
    CHECK(r.answered_quantity == 0);
    CHECK(r.reported_quantity == 0);
    CHECK(r.average_price == 0.0);
    CHECK(r.transaction_id.empty());
    CHECK_FALSE(r.error);
    CHECK_FALSE(r.late_fill);
    CHECK_FALSE(r.needs_reconciliation);
  }
  // Pending attempts may still land, but none has been given up yet.
  CHECK(may_land(t) == Numbers{1, 2, 3});
  CHECK_FALSE(t.any_in_doubt());

  // find() is 1-based and refuses numbers that were never started.
  CHECK(t.find(0) == nullptr);
  CHECK(t.find(4) == nullptr);
  REQUIRE(t.find(2) != nullptr);
  CHECK(t.find(2) == &a[1]);

  SECTION("past the limit begin refuses with attempt_limit_reached and records nothing") {
    const auto ec = t.begin(order(250, 1, OrderKind::market, 89.25, 500.0), at(23s));
    CHECK(ec == exitguard::error::attempt_limit_reached);
    CHECK(ec.category() == exitguard::error_category());
    CHECK(t.started() == 3);
    CHECK(t.remaining() == 0);
    CHECK(t.attempts().size() == 3);
    CHECK(t.find(4) == nullptr);
    CHECK(may_land(t) == Numbers{1, 2, 3});
  }
}

TEST_CASE("the tracker reads no clock: it records exactly the times it is given", "[tracker]") {
  // The clock is far from every time passed in: a time read from it would show.
  ManualClock::reset();
  ManualClock::advance(100s);
  Tracker t(4);
  REQUIRE_FALSE(t.begin(order(10), at(1s)));
  REQUIRE_FALSE(t.begin(order(10), at(2s)));
  REQUIRE_FALSE(t.begin(order(10), at(3s)));
  REQUIRE_FALSE(t.begin(order(10), at(4s)));
  CHECK(t.settle(1, filled, 10, 95.0, "tx-1", {}, at(5s)) == 10);
  t.mark_in_doubt(2, exitguard::error::attempt_timed_out, at(6s));
  t.mark_cancelled(3, at(7s));
  t.mark_expired(4, at(8s));
  CHECK(*t.find(1)->ended == at(5s));
  CHECK(*t.find(2)->ended == at(6s));
  CHECK(*t.find(3)->ended == at(7s));
  CHECK(*t.find(4)->ended == at(8s));
  for (std::uint32_t n = 1; n <= 4; ++n) CHECK(t.find(n)->started == at(std::chrono::seconds(n)));

  SECTION("the steady_clock tracker too") {
    exitguard::ExitAttemptTracker s(2);
    const auto t0 = std::chrono::steady_clock::time_point{} + 5s;
    REQUIRE_FALSE(s.begin(order(1), t0));
    s.mark_in_doubt(1, exitguard::error::attempt_timed_out, t0 + 8s);
    CHECK(s.find(1)->started == t0);
    REQUIRE(s.find(1)->ended.has_value());
    CHECK(*s.find(1)->ended == t0 + 8s);
  }
}

TEST_CASE("settle records each outcome with its end time", "[tracker]") {
  Tracker t(4);

  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  REQUIRE_FALSE(t.begin(order(10), at(0s)));

  SECTION("filled") {
    CHECK(t.settle(1, filled, 10, 99.5, "tx-1", {}, at(1250ms)) == 10);
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::filled);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(1250ms));
    CHECK(r.filled_quantity == 10);
    CHECK(r.answered_quantity == 10);
    CHECK(r.average_price == 99.5);
    CHECK(r.transaction_id == "tx-1");
    CHECK_FALSE(r.error);
    CHECK_FALSE(r.late_fill);
    CHECK(t.filled_quantity() == 10);
    CHECK(t.filled_notional() == 995.0);
    CHECK(t.average_price() == 99.5);
    CHECK(t.late_fills() == 0);
    CHECK(may_land(t) == Numbers{2, 3, 4});
  }
  SECTION("partially filled") {
    CHECK(t.settle(2, partially_filled, 4, 98.0, "tx-2", {}, at(2s)) == 4);
    const auto& r = *t.find(2);
    CHECK(r.outcome == AttemptOutcome::partially_filled);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(2s));
    CHECK(r.filled_quantity == 4);
    CHECK(r.average_price == 98.0);
    CHECK(r.transaction_id == "tx-2");
    CHECK(t.filled_quantity() == 4);
    CHECK(t.average_price() == 98.0);
    CHECK(may_land(t) == Numbers{1, 3, 4});
  }
  SECTION("rejected: nothing counted, the error kept") {
    const auto why = make_error_code(exitguard::error::slippage_exceeded);
    CHECK(t.settle(3, rejected, 0, 0.0, "tx-3", why, at(3s)) == 0);
    const auto& r = *t.find(3);
    CHECK(r.outcome == AttemptOutcome::rejected);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(3s));
    CHECK(r.error == exitguard::error::slippage_exceeded);
    CHECK(r.transaction_id == "tx-3");
    CHECK(r.filled_quantity == 0);
    CHECK(t.filled_quantity() == 0);
    CHECK(t.average_price() == 0.0);
    CHECK(may_land(t) == Numbers{1, 2, 4});
    CHECK_FALSE(t.any_in_doubt());
  }
  SECTION("a fill that is not positive counts nothing") {
    CHECK(t.settle(3, partially_filled, -3, 90.0, "tx-3", {}, at(3s)) == 0);
    CHECK(t.find(3)->filled_quantity == 0);
    CHECK(t.find(3)->answered_quantity == 0);
    CHECK(t.filled_quantity() == 0);
    CHECK(t.filled_notional() == 0.0);
    CHECK(t.average_price() == 0.0);
  }
  SECTION("in doubt by the venue's word: nothing counted, the attempt may still land") {
    const auto why = make_error_code(exitguard::error::in_doubt);
    CHECK(t.settle(4, in_doubt, 0, 0.0, "tx-4", why, at(4s)) == 0);
    const auto& r = *t.find(4);
    CHECK(r.outcome == AttemptOutcome::in_doubt);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(4s));
    CHECK(r.error == exitguard::error::in_doubt);
    CHECK(r.transaction_id == "tx-4");
    CHECK(t.filled_quantity() == 0);
    CHECK(t.any_in_doubt());
    CHECK(may_land(t) == Numbers{1, 2, 3, 4});

    // When it does land, it is taken once, as a late fill; an answer without a
    // transaction id keeps the one it had.
    CHECK(t.settle(4, filled, 10, 90.0, "", {}, at(24s)) == 10);
    CHECK(t.find(4)->outcome == AttemptOutcome::filled);
    CHECK(t.find(4)->late_fill);
    CHECK(t.find(4)->transaction_id == "tx-4");
    CHECK(*t.find(4)->ended == at(4s));  // it ended when it was given up
    CHECK(t.late_fills() == 1);
    CHECK(t.filled_quantity() == 10);
    CHECK_FALSE(t.any_in_doubt());
  }
  SECTION("unknown attempt numbers count nothing") {
    CHECK(t.settle(0, filled, 10, 99.0, "tx", {}, at(1s)) == 0);
    CHECK(t.settle(5, filled, 10, 99.0, "tx", {}, at(1s)) == 0);
    CHECK(t.filled_quantity() == 0);
    CHECK(may_land(t) == Numbers{1, 2, 3, 4});
  }
}

TEST_CASE("filled quantity and VWAP average price add up across several partial fills", "[tracker]") {
  Tracker t(4);

  REQUIRE_FALSE(t.begin(order(20), at(0s)));
  CHECK(t.settle(1, partially_filled, 4, 100.0, "a", {}, at(1s)) == 4);
  CHECK(t.filled_quantity() == 4);
  CHECK(t.average_price() == 100.0);

  REQUIRE_FALSE(t.begin(order(16), at(1s)));
  CHECK(t.settle(2, partially_filled, 6, 95.0, "b", {}, at(2s)) == 6);
  CHECK(t.filled_quantity() == 10);
  CHECK(t.average_price() == 97.0);  // (4*100 + 6*95) / 10

  REQUIRE_FALSE(t.begin(order(10), at(2s)));
  CHECK(t.settle(3, rejected, 0, 0.0, "c", exitguard::error::exit_rejected, at(3s)) == 0);
  CHECK(t.filled_quantity() == 10);
  CHECK(t.average_price() == 97.0);  // a rejection moves neither

  REQUIRE_FALSE(t.begin(order(10, 1, OrderKind::market, 85.5, 500.0), at(3s)));
  CHECK(t.settle(4, filled, 10, 90.0, "d", {}, at(4s)) == 10);
  CHECK(t.filled_quantity() == 20);
  CHECK(t.filled_notional() == 1870.0);
  CHECK(t.average_price() == 93.5);  // (400 + 570 + 900) / 20

  // Each record keeps its own price, not the running average.
  CHECK(t.find(1)->average_price == 100.0);
  CHECK(t.find(2)->average_price == 95.0);
  CHECK(t.find(4)->average_price == 90.0);
  CHECK(may_land(t).empty());
  CHECK_FALSE(t.any_in_doubt());
}

TEST_CASE("a second answer counts nothing and changes nothing", "[tracker]") {
  Tracker t(2);
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  REQUIRE_FALSE(t.begin(order(10), at(0s)));

  CHECK(t.settle(1, filled, 10, 99.0, "tx-1", {}, at(1s)) == 10);
  CHECK(t.settle(2, partially_filled, 3, 98.0, "tx-2", {}, at(1s)) == 3);

  CHECK(t.settle(1, filled, 10, 50.0, "tx-dup", {}, at(2s)) == 0);
  CHECK(t.settle(2, filled, 10, 50.0, "tx-dup", {}, at(2s)) == 0);
  CHECK(t.settle(2, rejected, 0, 0.0, "tx-dup", exitguard::error::exit_rejected, at(2s)) == 0);
  // Neither is it given up after its answer: it is settled.
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out, at(2s));
  t.mark_cancelled(2, at(2s));

  CHECK(t.filled_quantity() == 13);
  CHECK(t.average_price() == (10.0 * 99.0 + 3.0 * 98.0) / 13.0);
  CHECK(t.late_fills() == 0);
  const auto& r1 = *t.find(1);
  CHECK(r1.outcome == AttemptOutcome::filled);
  CHECK(r1.transaction_id == "tx-1");
  CHECK(r1.average_price == 99.0);
  CHECK_FALSE(r1.error);
  CHECK(*r1.ended == at(1s));
  const auto& r2 = *t.find(2);
  CHECK(r2.outcome == AttemptOutcome::partially_filled);
  CHECK(r2.transaction_id == "tx-2");
  CHECK(r2.filled_quantity == 3);
  CHECK_FALSE(r2.error);
  CHECK(*r2.ended == at(1s));
  CHECK_FALSE(t.any_unsettled());
}

TEST_CASE("an attempt given up as in doubt is counted once when it lands late", "[tracker][late]") {
  Tracker t(3);
  REQUIRE_FALSE(t.begin(order(1000), at(0s)));

  t.mark_in_doubt(1, exitguard::error::attempt_timed_out, at(8s));
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::in_doubt);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(8s));
    CHECK(r.error == exitguard::error::attempt_timed_out);
    CHECK_FALSE(r.late_fill);
    CHECK_FALSE(r.needs_reconciliation);
  }
  CHECK(t.any_in_doubt());
  CHECK(may_land(t) == Numbers{1});

  // A second attempt is sent while the first is in doubt.
  REQUIRE_FALSE(t.begin(order(1000), at(9s)));
  CHECK(may_land(t) == Numbers{1, 2});

  // Marked in doubt again (a late answer that is still in doubt): it stays in doubt
  // and keeps the time it was given up; its error is the newest word on it.
  t.mark_in_doubt(1, exitguard::error::deadline_exceeded, at(9s));
  CHECK(t.find(1)->outcome == AttemptOutcome::in_doubt);
  CHECK(*t.find(1)->ended == at(8s));
  CHECK(t.find(1)->error == exitguard::error::deadline_exceeded);

  // The first attempt lands at t = 25 s: taken once, as a late fill.
  CHECK(t.settle(1, filled, 1000, 91.0, "tx-1", {}, at(25s)) == 1000);
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::filled);
    CHECK(r.late_fill);
    CHECK(r.filled_quantity == 1000);
    CHECK(r.average_price == 91.0);
    CHECK(r.transaction_id == "tx-1");
    CHECK_FALSE(r.error);
    CHECK(*r.ended == at(8s));  // still the time it was given up
  }
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 1000);
  CHECK(t.average_price() == 91.0);
  CHECK_FALSE(t.any_in_doubt());
  CHECK(may_land(t) == Numbers{2});

  // The same landing reported again is never counted twice.
  CHECK(t.settle(1, filled, 1000, 91.0, "tx-1", {}, at(26s)) == 0);
  CHECK(t.settle(1, partially_filled, 500, 80.0, "tx-1", {}, at(26s)) == 0);
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 1000);
  CHECK(t.average_price() == 91.0);
  CHECK(t.find(1)->average_price == 91.0);

  SECTION("the pending second attempt is then taken as a late fill when it is given up and lands") {
    t.mark_in_doubt(2, exitguard::error::in_doubt, at(27s));
    CHECK(t.settle(2, partially_filled, 200, 90.0, "tx-2", {}, at(28s)) == 200);
    CHECK(t.late_fills() == 2);
    CHECK(t.filled_quantity() == 1200);
    CHECK(t.find(2)->late_fill);
    CHECK(t.find(2)->outcome == AttemptOutcome::partially_filled);
    CHECK(*t.find(2)->ended == at(27s));
    CHECK(may_land(t).empty());
  }
  SECTION("an answer in time is not a late fill") {
    CHECK(t.settle(2, filled, 1000, 92.0, "tx-2", {}, at(30s)) == 1000);
    CHECK_FALSE(t.find(2)->late_fill);
    CHECK(*t.find(2)->ended == at(30s));
    CHECK(t.late_fills() == 1);
    CHECK(t.filled_quantity() == 2000);
  }
}

TEST_CASE("late answers that are not fills count nothing", "[tracker][late]") {
  Tracker t(1);
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out, at(5s));

  SECTION("still in doubt: stays in doubt, a later fill is still taken") {
    CHECK(t.settle(1, in_doubt, 0, 0.0, "tx", exitguard::error::in_doubt, at(6s)) == 0);
    CHECK(t.find(1)->outcome == AttemptOutcome::in_doubt);
    CHECK(t.find(1)->error == exitguard::error::in_doubt);
    CHECK(*t.find(1)->ended == at(5s));
    CHECK_FALSE(t.find(1)->late_fill);
    CHECK(t.late_fills() == 0);
    CHECK(t.any_in_doubt());
    CHECK(t.settle(1, filled, 10, 93.0, "tx", {}, at(7s)) == 10);
    CHECK(t.late_fills() == 1);
    CHECK(t.filled_quantity() == 10);
  }
  SECTION("rejected: resolved, and a later answer is ignored") {
    CHECK(t.settle(1, rejected, 0, 0.0, "tx", exitguard::error::exit_rejected, at(6s)) == 0);
    CHECK(t.find(1)->outcome == AttemptOutcome::rejected);
    CHECK(t.find(1)->error == exitguard::error::exit_rejected);
    CHECK(*t.find(1)->ended == at(5s));
    CHECK(t.late_fills() == 0);
    CHECK_FALSE(t.any_in_doubt());
    CHECK(may_land(t).empty());
    CHECK(t.settle(1, filled, 10, 93.0, "tx", {}, at(7s)) == 0);
    CHECK(t.filled_quantity() == 0);
  }
  SECTION("a late fill of zero is no late fill") {
    CHECK(t.settle(1, partially_filled, 0, 93.0, "tx", {}, at(6s)) == 0);
    CHECK(t.late_fills() == 0);
    CHECK_FALSE(t.find(1)->late_fill);
    CHECK(t.find(1)->outcome == AttemptOutcome::partially_filled);
  }
}

TEST_CASE("which attempts may still land, and which of them were given up", "[tracker]") {
  Tracker t(5);
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(t.begin(order(10), at(0s)));
  CHECK(may_land(t) == Numbers{1, 2, 3, 4, 5});
  // Pending attempts may still land, but none has been given up yet.
  CHECK_FALSE(t.any_in_doubt());

  CHECK(t.settle(1, filled, 10, 95.0, "", {}, at(1s)) == 10);
  CHECK(t.settle(2, rejected, 0, 0.0, "", exitguard::error::exit_rejected, at(1s)) == 0);
  CHECK(may_land(t) == Numbers{3, 4, 5});
  CHECK_FALSE(t.any_in_doubt());

  t.mark_in_doubt(3, exitguard::error::attempt_timed_out, at(2s));
  CHECK(may_land(t) == Numbers{3, 4, 5});
  CHECK(t.any_in_doubt());

  t.mark_cancelled(4, at(3s));
  CHECK(may_land(t) == Numbers{3, 4, 5});
  CHECK(t.any_in_doubt());

  CHECK(t.settle(5, partially_filled, 5, 94.0, "", {}, at(4s)) == 5);
  CHECK(may_land(t) == Numbers{3, 4});

  SECTION("the venue says the in-doubt attempt did not fill") {
    CHECK(t.settle(3, rejected, 0, 0.0, "", exitguard::error::exit_rejected, at(5s)) == 0);
  }
  SECTION("the in-doubt attempt can no longer land") {
    t.mark_expired(3, at(5s));
    CHECK(t.find(3)->outcome == AttemptOutcome::expired);
  }
  CHECK(may_land(t) == Numbers{4});
  CHECK(t.any_in_doubt());  // the cancelled one may still land

  CHECK(t.settle(4, filled, 10, 93.0, "", {}, at(6s)) == 10);
  CHECK(may_land(t).empty());
  CHECK_FALSE(t.any_in_doubt());
  CHECK(t.filled_quantity() == 25);
}

TEST_CASE("mark_expired ends an attempt that may still land, keeping what it filled", "[tracker][expired]") {
  Tracker t(6);
  for (int i = 0; i < 6; ++i) REQUIRE_FALSE(t.begin(order(10), at(0s)));
  t.mark_in_doubt(2, exitguard::error::attempt_timed_out, at(6s));
  t.mark_cancelled(3, at(3s));
  CHECK(report(t, 4, "f-4", 4, 90.0) == 4);  // a partial fill reported while it is pending
  CHECK(t.settle(5, filled, 10, 95.0, "tx-5", {}, at(1s)) == 10);
  CHECK(t.settle(6, rejected, 0, 0.0, "tx-6", exitguard::error::exit_rejected, at(1s)) == 0);

  for (std::uint32_t n = 0; n <= 7; ++n) t.mark_expired(n, at(9s));

  CHECK(t.find(1)->outcome == AttemptOutcome::expired);  // pending
  CHECK(*t.find(1)->ended == at(9s));
  CHECK_FALSE(t.find(1)->error);
  CHECK(t.find(2)->outcome == AttemptOutcome::expired);  // in doubt: ended when given up
  CHECK(*t.find(2)->ended == at(6s));
  CHECK(t.find(2)->error == exitguard::error::attempt_timed_out);
  CHECK(t.find(3)->outcome == AttemptOutcome::expired);  // cancelled
  CHECK(*t.find(3)->ended == at(3s));
  // What it filled before it died stays counted: it is done, in part.
  CHECK(t.find(4)->outcome == AttemptOutcome::partially_filled);
  CHECK(t.find(4)->filled_quantity == 4);
  CHECK(*t.find(4)->ended == at(9s));
  // Settled attempts are left alone.
  CHECK(t.find(5)->outcome == AttemptOutcome::filled);
  CHECK(*t.find(5)->ended == at(1s));
  CHECK(t.find(6)->outcome == AttemptOutcome::rejected);
  CHECK(*t.find(6)->ended == at(1s));

  CHECK(may_land(t).empty());
  CHECK_FALSE(t.any_in_doubt());
  CHECK(t.filled_quantity() == 14);
  // An answer to a dead attempt is not taken.
  CHECK(t.settle(1, filled, 10, 95.0, "tx-1", {}, at(10s)) == 0);
  CHECK(t.settle(2, filled, 10, 95.0, "tx-2", {}, at(10s)) == 0);
  CHECK(t.filled_quantity() == 14);
  CHECK(t.late_fills() == 0);
}

TEST_CASE("a cancelled attempt's late fill is taken once", "[tracker][late]") {
  Tracker t(2);
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  CHECK(t.settle(2, filled, 10, 95.0, "tx-2", {}, at(1s)) == 10);

  t.mark_cancelled(1, at(3s));
  t.mark_cancelled(2, at(3s));  // answered already: unchanged
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::cancelled);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(3s));
    CHECK(r.error == boost::asio::error::operation_aborted);
  }
  CHECK(t.find(2)->outcome == AttemptOutcome::filled);
  CHECK_FALSE(t.find(2)->error);
  CHECK(*t.find(2)->ended == at(1s));
  CHECK(t.any_in_doubt());
  CHECK(may_land(t) == Numbers{1});

  // Not in doubt again, nor cancelled twice: it was cancelled.
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out, at(4s));
  t.mark_cancelled(1, at(4s));
  CHECK(t.find(1)->outcome == AttemptOutcome::cancelled);
  CHECK(*t.find(1)->ended == at(3s));
  CHECK(t.find(1)->error == boost::asio::error::operation_aborted);

  CHECK(t.settle(1, partially_filled, 3, 97.0, "tx-1", {}, at(13s)) == 3);
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::partially_filled);
    CHECK(r.late_fill);
    CHECK(r.filled_quantity == 3);
    CHECK(r.average_price == 97.0);
    CHECK(r.transaction_id == "tx-1");
    CHECK(*r.ended == at(3s));
  }
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 13);
  CHECK_FALSE(t.any_in_doubt());

  CHECK(t.settle(1, partially_filled, 3, 97.0, "tx-1", {}, at(14s)) == 0);
  CHECK(t.settle(1, filled, 10, 97.0, "tx-1", {}, at(14s)) == 0);
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 13);
}

TEST_CASE("add_fill counts each fill id once per attempt", "[tracker][fills]") {
  Tracker t(3);
  REQUIRE_FALSE(t.begin(order(100), at(0s)));
  REQUIRE_FALSE(t.begin(order(100), at(0s)));

  bool duplicate = true;
  CHECK(t.add_fill(1, "f-1", 30, 100.0, duplicate) == 30);
  CHECK_FALSE(duplicate);
  CHECK(t.find(1)->reported_quantity == 30);
  CHECK(t.find(1)->filled_quantity == 30);

  // The same id again, at any quantity or price: a duplicate, nothing counted.
  CHECK(t.add_fill(1, "f-1", 30, 100.0, duplicate) == 0);
  CHECK(duplicate);
  CHECK(t.add_fill(1, "f-1", 50, 10.0, duplicate) == 0);
  CHECK(duplicate);
  CHECK(t.find(1)->reported_quantity == 30);

  // Another id of the same attempt is another fill.
  CHECK(t.add_fill(1, "f-2", 20, 94.0, duplicate) == 20);
  CHECK_FALSE(duplicate);
  CHECK(t.find(1)->filled_quantity == 50);
  CHECK(t.find(1)->average_price == (30 * 100.0 + 20 * 94.0) / 50);

  // Ids are per attempt: attempt 2 may have a fill with the same id.
  CHECK(t.add_fill(2, "f-1", 10, 90.0, duplicate) == 10);
  CHECK_FALSE(duplicate);

  // A report without an id cannot be deduplicated: each one counts.
  CHECK(t.add_fill(2, "", 5, 90.0, duplicate) == 5);
  CHECK_FALSE(duplicate);
  CHECK(t.add_fill(2, "", 5, 90.0, duplicate) == 5);
  CHECK_FALSE(duplicate);

  // A report that is not positive, or for no attempt, counts nothing and is not a
  // duplicate; its id is not used up.
  CHECK(t.add_fill(2, "f-3", 0, 90.0, duplicate) == 0);
  CHECK_FALSE(duplicate);
  CHECK(t.add_fill(2, "f-3", -4, 90.0, duplicate) == 0);
  CHECK_FALSE(duplicate);
  CHECK(t.add_fill(0, "f-9", 5, 90.0, duplicate) == 0);
  CHECK_FALSE(duplicate);
  CHECK(t.add_fill(3, "f-9", 5, 90.0, duplicate) == 0);
  CHECK_FALSE(duplicate);
  CHECK(t.add_fill(2, "f-3", 1, 90.0, duplicate) == 1);
  CHECK_FALSE(duplicate);

  CHECK(t.filled_quantity() == 50 + 21);
  CHECK(t.filled_notional() == 30 * 100.0 + 20 * 94.0 + 21 * 90.0);
  // Fills reported while the attempts were pending are not late.
  CHECK(t.late_fills() == 0);
  CHECK_FALSE(t.find(1)->late_fill);
  // Fill reports do not settle an attempt: only its answer (or its death) does.
  CHECK(t.find(1)->outcome == AttemptOutcome::pending);
  CHECK(may_land(t) == Numbers{1, 2});
}

TEST_CASE("add_fill remembers at most max_fill_ids ids per exit, then refuses", "[tracker][fills]") {
  Tracker t(2);
  REQUIRE_FALSE(t.begin(order(Quantity::max()), at(0s)));
  REQUIRE_FALSE(t.begin(order(Quantity::max()), at(0s)));
  for (std::size_t i = 0; i < Tracker::max_fill_ids; ++i) {
    INFO("fill " << i);
    REQUIRE(report(t, i % 2 == 0 ? 1 : 2, "f-" + std::to_string(i), 1, 90.0) == 1);
  }
  CHECK(t.filled_quantity() == static_cast<Quantity::rep>(Tracker::max_fill_ids));
  bool duplicate = false;
  CHECK(t.add_fill(1, "one-too-many", 1, 90.0, duplicate) == 0);
  CHECK(duplicate);
  CHECK(t.add_fill(2, "f-1", 1, 90.0, duplicate) == 0);  // a real duplicate is still one
  CHECK(duplicate);
  CHECK(t.filled_quantity() == static_cast<Quantity::rep>(Tracker::max_fill_ids));
}

TEST_CASE("an attempt counts the larger of its answer's total and its fill reports' sum, never both",
          "[tracker][fills]") {
  // Fill reports at 90, the answer at 100: the average tells which total counted.
  const auto [first, second, answer] = GENERATE(table<Quantity::rep, Quantity::rep, Quantity::rep>({
      {0, 0, 10},   // only the answer
      {3, 4, 10},   // the answer covers the reports and more
      {3, 4, 7},    // the same fill seen both ways
      {10, 0, 10},  // one report, the whole fill
      {3, 4, 5},    // the reports saw more than the answer
      {5, 5, 4},
      {6, 0, 0},    // no fill in the answer
  }));
  const bool answer_first = GENERATE(false, true);
  const Quantity::rep reported = first + second;
  const Quantity::rep total = std::max(answer, reported);
  // The price is the one of the total that last raised the count: on a tie, the first.
  const bool priced_by_answer = answer > reported || (answer == reported && answer_first);
  INFO("reports " << first << " + " << second << ", answer " << answer
                  << (answer_first ? ", the answer first" : ", the reports first"));

  Tracker t(1);
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  const AttemptOutcome answered_outcome = answer == 10 ? filled : partially_filled;
  Quantity counted;
  if (answer_first) counted += t.settle(1, answered_outcome, answer, 100.0, "tx-1", {}, at(1s));
  if (first > 0) counted += report(t, 1, "f-1", first, 90.0);
  if (second > 0) counted += report(t, 1, "f-2", second, 90.0);
  if (!answer_first) counted += t.settle(1, answered_outcome, answer, 100.0, "tx-1", {}, at(1s));

  const auto& r = *t.find(1);
  CHECK(r.answered_quantity == answer);
  CHECK(r.reported_quantity == reported);
  CHECK(r.filled_quantity == total);
  CHECK(t.filled_quantity() == total);
  CHECK(counted == total);  // the increments returned add up to what is counted, exactly once
  const double price = priced_by_answer ? 100.0 : 90.0;
  CHECK(r.average_price == price);
  CHECK(t.average_price() == price);
  CHECK(t.filled_notional() == static_cast<double>(total) * price);
  // Reports that add to an attempt already answered arrive late.
  const bool late = answer_first && reported > answer;
  CHECK(r.late_fill == late);
  CHECK((t.late_fills() > 0) == late);
}

TEST_CASE("fill reports after the answer add only what the answer did not count", "[tracker][fills][late]") {
  Tracker t(2);
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  CHECK(t.settle(1, partially_filled, 4, 100.0, "tx-1", {}, at(1s)) == 4);
  // The fill stream reports what the answer already said...
  CHECK(report(t, 1, "f-1", 4, 100.0) == 0);
  CHECK(t.late_fills() == 0);
  // ...and then a fill the answer did not know: counted once, as a late fill.
  CHECK(report(t, 1, "f-2", 2, 94.0) == 2);
  CHECK(t.find(1)->filled_quantity == 6);
  CHECK(t.find(1)->late_fill);
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 6);
  CHECK(t.average_price() == (4 * 100.0 + 2 * 94.0) / 6);
  // Each increment counted late is one late fill.
  CHECK(report(t, 1, "f-3", 1, 94.0) == 1);
  CHECK(t.late_fills() == 2);
  CHECK(t.filled_quantity() == 7);
}

TEST_CASE("sums near the top of the quantity range saturate instead of overflowing", "[tracker][overflow]") {
  // UBSan (-fno-sanitize-recover) turns a signed overflow here into a failed run.
  Tracker t(3);
  REQUIRE_FALSE(t.begin(order(Quantity::max()), at(0s)));
  REQUIRE_FALSE(t.begin(order(Quantity::max()), at(0s)));
  REQUIRE_FALSE(t.begin(order(Quantity::max()), at(0s)));

  CHECK(t.settle(1, filled, Quantity::max(), 1.0, "tx-1", {}, at(1s)) == Quantity::max());
  CHECK(t.filled_quantity() == Quantity::max());

  // The exit's total saturates: a second full fill cannot wrap it negative.
  CHECK(t.settle(2, filled, Quantity::max(), 1.0, "tx-2", {}, at(1s)) == Quantity::max());
  CHECK(t.filled_quantity() == Quantity::max());
  CHECK(t.filled_quantity().is_positive());

  // An attempt's reports saturate too, and what is past the maximum counts nothing.
  CHECK(report(t, 3, "f-1", Quantity::max(), 1.0) == Quantity::max());
  CHECK(report(t, 3, "f-2", Quantity::max(), 1.0) == 0);
  CHECK(report(t, 3, "f-3", 1, 1.0) == 0);
  CHECK(t.find(3)->reported_quantity == Quantity::max());
  CHECK(t.find(3)->filled_quantity == Quantity::max());
  CHECK(t.filled_quantity() == Quantity::max());
  // An answer of the same size adds nothing to it.
  CHECK(t.settle(3, filled, Quantity::max(), 1.0, "tx-3", {}, at(2s)) == 0);
  CHECK(t.filled_quantity() == Quantity::max());
}

TEST_CASE("an attempt whose answer was malformed needs reconciliation until a position report",
          "[tracker][reconciliation]") {
  Tracker t(3);
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  REQUIRE_FALSE(t.begin(order(10), at(0s)));
  CHECK_FALSE(t.any_needs_reconciliation());

  t.mark_in_doubt(1, exitguard::error::attempt_timed_out, at(1s));
  CHECK_FALSE(t.find(1)->needs_reconciliation);
  CHECK_FALSE(t.any_needs_reconciliation());

  t.mark_in_doubt(2, exitguard::error::unknown_submit_status, at(2s), true);
  CHECK(t.find(2)->needs_reconciliation);
  CHECK(t.find(2)->error == exitguard::error::unknown_submit_status);
  CHECK(t.any_needs_reconciliation());

  // Once needed, a later in-doubt word does not clear it.
  t.mark_in_doubt(2, exitguard::error::in_doubt, at(3s), false);
  CHECK(t.find(2)->needs_reconciliation);
  CHECK(*t.find(2)->ended == at(2s));

  SECTION("a position report accounts for it") {
    t.reconciled();
    CHECK_FALSE(t.find(2)->needs_reconciliation);
    CHECK_FALSE(t.any_needs_reconciliation());
    CHECK(t.any_in_doubt());  // it may still land: reconciliation sized the next attempt, no more
  }
  SECTION("only attempts that may still land need it: a settled one does not") {
    CHECK(t.settle(2, rejected, 0, 0.0, "", exitguard::error::exit_rejected, at(4s)) == 0);
    CHECK(t.find(2)->needs_reconciliation);  // the record keeps what happened
    CHECK_FALSE(t.any_needs_reconciliation());
  }
  SECTION("and a dead one does not either") {
    t.mark_expired(2, at(4s));
    CHECK_FALSE(t.any_needs_reconciliation());
  }
}
