// Tests of exitguard/exit_attempt_tracker.hpp: the per-exit record of attempts, the
// attempt limit, the set still in doubt, and fills counted exactly once (late fills
// included, never more than an attempt was allowed to sell). Times come from
// ManualClock, so start and end times are asserted exactly; no test sleeps.

// First include: proves the header compiles on its own.
#include <exitguard/exit_attempt_tracker.hpp>

#define CATCH_CONFIG_ENABLE_CHRONO_STRINGMAKER
#include <catch2/catch.hpp>

#include "support/configuration_error.hpp"

#include <exitguard/testing/manual_clock.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using exitguard::AttemptOutcome;
using exitguard::ExitOrder;
using exitguard::OrderKind;
using exitguard::SubmitOutcome;
using exitguard::SubmitStatus;
using exitguard::testing::ManualClock;
using Tracker = exitguard::BasicExitAttemptTracker<ManualClock>;
using Numbers = std::vector<std::uint32_t>;
using namespace std::chrono_literals;

ManualClock::time_point at(std::chrono::nanoseconds since_epoch) { return ManualClock::time_point(since_epoch); }

ExitOrder order(double quantity, std::uint32_t step = 0, OrderKind kind = OrderKind::limit, double limit_price = 95.0,
                double max_slippage_bps = 100.0) {
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

SubmitOutcome outcome(SubmitStatus status, double filled_quantity = 0, double average_price = 0,
                      std::string transaction_id = {}, boost::system::error_code error = {}) {
  SubmitOutcome o;
  o.status = status;
  o.filled_quantity = filled_quantity;
  o.average_price = average_price;
  o.transaction_id = std::move(transaction_id);
  o.error = error;
  return o;
}

using exitguard::test::configuration_error_of;

}  // namespace

TEST_CASE("exit_attempt_tracker.hpp is self-contained and declares the tracker", "[tracker]") {
  STATIC_REQUIRE(std::is_same_v<exitguard::ExitAttemptTracker::clock_type, std::chrono::steady_clock>);
  STATIC_REQUIRE(std::is_same_v<Tracker::clock_type, ManualClock>);
  STATIC_REQUIRE(std::is_same_v<Tracker::record_type, exitguard::BasicAttemptRecord<ManualClock>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Tracker::record_type{}.started), ManualClock::time_point>);
  // The limit is explicit: no tracker made by accident from a number.
  STATIC_REQUIRE(std::is_constructible_v<Tracker, std::uint32_t>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<std::uint32_t, Tracker>);
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<Tracker>);
  STATIC_REQUIRE(exitguard::to_string(AttemptOutcome::in_doubt) == "in_doubt");
  STATIC_REQUIRE(8 * exitguard::max_retry_attempts == 800);
}

TEST_CASE("to_string names every attempt outcome", "[tracker]") {
  CHECK(exitguard::to_string(AttemptOutcome::pending) == "pending");
  CHECK(exitguard::to_string(AttemptOutcome::filled) == "filled");
  CHECK(exitguard::to_string(AttemptOutcome::partially_filled) == "partially_filled");
  CHECK(exitguard::to_string(AttemptOutcome::rejected) == "rejected");
  CHECK(exitguard::to_string(AttemptOutcome::in_doubt) == "in_doubt");
  CHECK(exitguard::to_string(AttemptOutcome::cancelled) == "cancelled");
  CHECK(exitguard::to_string(static_cast<AttemptOutcome>(200)) == "unknown");
}

TEST_CASE("the attempt limit must be between 1 and 800", "[tracker][config]") {
  ManualClock::reset();

  SECTION("0 is refused with invalid_max_attempts") {
    const auto ec = configuration_error_of([] { Tracker t(0); });
    CHECK(ec == exitguard::error::invalid_max_attempts);
    CHECK(ec.value() == 301);
    CHECK(ec.category() == exitguard::error_category());
    CHECK(ec == exitguard::condition::invalid_configuration);
  }
  SECTION("801 is refused with invalid_max_attempts") {
    const auto ec = configuration_error_of([] { Tracker t(801); });
    CHECK(ec == exitguard::error::invalid_max_attempts);
    CHECK(ec.category() == exitguard::error_category());
  }
  SECTION("the largest uint32 is refused") {
    const auto ec = configuration_error_of([] { Tracker t(std::numeric_limits<std::uint32_t>::max()); });
    CHECK(ec == exitguard::error::invalid_max_attempts);
  }
  SECTION("configuration_error is a boost::system::system_error") {
    CHECK_THROWS_AS(Tracker(0), boost::system::system_error);
    CHECK_THROWS_WITH(Tracker(0), Catch::Matchers::StartsWith("exitguard.invalid_max_attempts"));
  }
  SECTION("1 is accepted") {
    const Tracker t(1);
    CHECK(t.max_attempts() == 1);
    CHECK(t.started() == 0);
    CHECK(t.remaining() == 1);
    CHECK(t.attempts().empty());
    CHECK(t.filled_quantity() == 0.0);
    CHECK(t.average_price() == 0.0);
    CHECK(t.late_fills() == 0);
    CHECK(t.in_doubt().empty());
    CHECK_FALSE(t.any_in_doubt());
  }
  SECTION("800 is accepted, and every one of the 800 attempts can be started") {
    Tracker t(800);
    CHECK(t.max_attempts() == 800);
    CHECK(t.remaining() == 800);
    for (std::uint32_t i = 1; i <= 800; ++i) REQUIRE_FALSE(t.begin(order(1.0)));
    CHECK(t.started() == 800);
    CHECK(t.remaining() == 0);
    CHECK(t.attempts().back().number == 800);
    CHECK(t.begin(order(1.0)) == exitguard::error::attempt_limit_reached);
    CHECK(t.attempts().size() == 800);
  }
}

TEST_CASE("begin numbers attempts 1..n and records the order and the start time", "[tracker]") {
  ManualClock::reset();
  ManualClock::advance(2s);
  Tracker t(3);

  REQUIRE_FALSE(t.begin(order(1000.0, 0, OrderKind::limit, 94.05, 100.0)));
  ManualClock::advance(8s);
  REQUIRE_FALSE(t.begin(order(600.0, 0, OrderKind::limit, 93.5, 100.0)));
  ManualClock::advance(11500ms);
  REQUIRE_FALSE(t.begin(order(250.0, 1, OrderKind::market, 0.0, 500.0)));

  CHECK(t.started() == 3);
  CHECK(t.remaining() == 0);
  const auto& a = t.attempts();
  REQUIRE(a.size() == 3);

  CHECK(a[0].number == 1);
  CHECK(a[0].step == 0);
  CHECK(a[0].kind == OrderKind::limit);
  CHECK(a[0].quantity == 1000.0);
  CHECK(a[0].limit_price == 94.05);
  CHECK(a[0].max_slippage_bps == 100.0);
  CHECK(a[0].started == at(2s));

  CHECK(a[1].number == 2);
  CHECK(a[1].step == 0);
  CHECK(a[1].kind == OrderKind::limit);
  CHECK(a[1].quantity == 600.0);
  CHECK(a[1].limit_price == 93.5);
  CHECK(a[1].started == at(10s));

  CHECK(a[2].number == 3);
  CHECK(a[2].step == 1);
  CHECK(a[2].kind == OrderKind::market);
  CHECK(a[2].quantity == 250.0);
  CHECK(a[2].limit_price == 0.0);
  CHECK(a[2].max_slippage_bps == 500.0);
  CHECK(a[2].started == at(21500ms));

  for (const auto& r : a) {
    CHECK(r.outcome == AttemptOutcome::pending);
    CHECK_FALSE(r.ended.has_value());
    CHECK(r.filled_quantity == 0.0);
    CHECK(r.average_price == 0.0);
    CHECK(r.transaction_id.empty());
    CHECK_FALSE(r.error);
    CHECK_FALSE(r.late_fill);
  }

  // find() is 1-based and refuses numbers that were never started.
  CHECK(t.find(0) == nullptr);
  CHECK(t.find(4) == nullptr);
  REQUIRE(t.find(2) != nullptr);
  CHECK(t.find(2) == &a[1]);

  SECTION("past the limit begin refuses with attempt_limit_reached and records nothing") {
    ManualClock::advance(1s);
    const auto ec = t.begin(order(250.0, 1, OrderKind::market, 0.0, 500.0));
    CHECK(ec == exitguard::error::attempt_limit_reached);
    CHECK(ec.category() == exitguard::error_category());
    CHECK(t.started() == 3);
    CHECK(t.remaining() == 0);
    CHECK(t.attempts().size() == 3);
    CHECK(t.find(4) == nullptr);
    CHECK(t.in_doubt() == Numbers{1, 2, 3});
  }
}

TEST_CASE("complete records each outcome with its end time", "[tracker]") {
  ManualClock::reset();
  Tracker t(4);

  REQUIRE_FALSE(t.begin(order(10.0)));
  REQUIRE_FALSE(t.begin(order(10.0)));
  REQUIRE_FALSE(t.begin(order(10.0)));
  REQUIRE_FALSE(t.begin(order(10.0)));

  SECTION("filled") {
    ManualClock::advance(1250ms);
    CHECK(t.complete(1, outcome(SubmitStatus::filled, 10.0, 99.5, "tx-1")) == 10.0);
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::filled);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(1250ms));
    CHECK(r.filled_quantity == 10.0);
    CHECK(r.average_price == 99.5);
    CHECK(r.transaction_id == "tx-1");
    CHECK_FALSE(r.error);
    CHECK_FALSE(r.late_fill);
    CHECK(t.filled_quantity() == 10.0);
    CHECK(t.average_price() == 99.5);
    CHECK(t.late_fills() == 0);
    CHECK(t.in_doubt() == Numbers{2, 3, 4});
  }
  SECTION("partially filled") {
    ManualClock::advance(2s);
    CHECK(t.complete(2, outcome(SubmitStatus::partially_filled, 4.0, 98.0, "tx-2")) == 4.0);
    const auto& r = *t.find(2);
    CHECK(r.outcome == AttemptOutcome::partially_filled);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(2s));
    CHECK(r.filled_quantity == 4.0);
    CHECK(r.average_price == 98.0);
    CHECK(r.transaction_id == "tx-2");
    CHECK(t.filled_quantity() == 4.0);
    CHECK(t.average_price() == 98.0);
    CHECK(t.in_doubt() == Numbers{1, 3, 4});
  }
  SECTION("rejected: nothing counted, the error kept") {
    ManualClock::advance(3s);
    const auto why = make_error_code(exitguard::error::slippage_exceeded);
    CHECK(t.complete(3, outcome(SubmitStatus::rejected, 0.0, 0.0, "tx-3", why)) == 0.0);
    const auto& r = *t.find(3);
    CHECK(r.outcome == AttemptOutcome::rejected);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(3s));
    CHECK(r.error == exitguard::error::slippage_exceeded);
    CHECK(r.transaction_id == "tx-3");
    CHECK(r.filled_quantity == 0.0);
    CHECK(t.filled_quantity() == 0.0);
    CHECK(t.average_price() == 0.0);
    CHECK(t.in_doubt() == Numbers{1, 2, 4});
    CHECK_FALSE(t.any_in_doubt());
  }
  SECTION("a rejection reporting a fill still counts nothing") {
    CHECK(t.complete(3, outcome(SubmitStatus::rejected, 10.0, 95.0)) == 0.0);
    CHECK(t.find(3)->filled_quantity == 0.0);
    CHECK(t.filled_quantity() == 0.0);
  }
  SECTION("in doubt by the venue's word: nothing counted, the attempt may still land") {
    ManualClock::advance(4s);
    const auto why = make_error_code(exitguard::error::in_doubt);
    CHECK(t.complete(4, outcome(SubmitStatus::in_doubt, 0.0, 0.0, "tx-4", why)) == 0.0);
    const auto& r = *t.find(4);
    CHECK(r.outcome == AttemptOutcome::in_doubt);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(4s));
    CHECK(r.error == exitguard::error::in_doubt);
    CHECK(r.transaction_id == "tx-4");
    CHECK(t.filled_quantity() == 0.0);
    CHECK(t.any_in_doubt());
    CHECK(t.in_doubt() == Numbers{1, 2, 3, 4});

    // When it does land, it is taken once, as a late fill.
    ManualClock::advance(20s);
    CHECK(t.take_late_fill(4, outcome(SubmitStatus::filled, 10.0, 90.0, "tx-4")) == 10.0);
    CHECK(t.find(4)->outcome == AttemptOutcome::filled);
    CHECK(t.find(4)->late_fill);
    CHECK(*t.find(4)->ended == at(4s));  // it ended when it was given up
    CHECK(t.late_fills() == 1);
    CHECK(t.filled_quantity() == 10.0);
    CHECK_FALSE(t.any_in_doubt());
  }
  SECTION("unknown attempt numbers count nothing") {
    CHECK(t.complete(0, outcome(SubmitStatus::filled, 10.0, 99.0)) == 0.0);
    CHECK(t.complete(5, outcome(SubmitStatus::filled, 10.0, 99.0)) == 0.0);
    CHECK(t.filled_quantity() == 0.0);
    CHECK(t.in_doubt() == Numbers{1, 2, 3, 4});
  }
}

TEST_CASE("filled quantity and VWAP average price add up across several partial fills", "[tracker]") {
  ManualClock::reset();
  Tracker t(4);

  REQUIRE_FALSE(t.begin(order(20.0)));
  CHECK(t.complete(1, outcome(SubmitStatus::partially_filled, 4.0, 100.0, "a")) == 4.0);
  CHECK(t.filled_quantity() == 4.0);
  CHECK(t.average_price() == 100.0);

  REQUIRE_FALSE(t.begin(order(16.0)));
  CHECK(t.complete(2, outcome(SubmitStatus::partially_filled, 6.0, 95.0, "b")) == 6.0);
  CHECK(t.filled_quantity() == 10.0);
  CHECK(t.average_price() == 97.0);  // (4*100 + 6*95) / 10

  REQUIRE_FALSE(t.begin(order(10.0)));
  CHECK(t.complete(3, outcome(SubmitStatus::rejected, 0.0, 0.0, "c", exitguard::error::exit_rejected)) == 0.0);
  CHECK(t.filled_quantity() == 10.0);
  CHECK(t.average_price() == 97.0);  // a rejection moves neither

  REQUIRE_FALSE(t.begin(order(10.0, 1, OrderKind::market, 0.0, 500.0)));
  CHECK(t.complete(4, outcome(SubmitStatus::filled, 10.0, 90.0, "d")) == 10.0);
  CHECK(t.filled_quantity() == 20.0);
  CHECK(t.average_price() == 93.5);  // (400 + 570 + 900) / 20

  // Each record keeps its own price, not the running average.
  CHECK(t.find(1)->average_price == 100.0);
  CHECK(t.find(2)->average_price == 95.0);
  CHECK(t.find(4)->average_price == 90.0);
  CHECK(t.in_doubt().empty());
  CHECK_FALSE(t.any_in_doubt());
}

TEST_CASE("a duplicate complete counts nothing and changes nothing", "[tracker]") {
  ManualClock::reset();
  Tracker t(2);
  REQUIRE_FALSE(t.begin(order(10.0)));
  REQUIRE_FALSE(t.begin(order(10.0)));

  ManualClock::advance(1s);
  CHECK(t.complete(1, outcome(SubmitStatus::filled, 10.0, 99.0, "tx-1")) == 10.0);
  CHECK(t.complete(2, outcome(SubmitStatus::partially_filled, 3.0, 98.0, "tx-2")) == 3.0);

  ManualClock::advance(1s);
  CHECK(t.complete(1, outcome(SubmitStatus::filled, 10.0, 50.0, "tx-dup")) == 0.0);
  CHECK(t.complete(2, outcome(SubmitStatus::filled, 10.0, 50.0, "tx-dup")) == 0.0);
  CHECK(t.complete(2, outcome(SubmitStatus::rejected, 0.0, 0.0, "tx-dup", exitguard::error::exit_rejected)) == 0.0);
  // A completion is not a late fill either: an answered attempt takes none.
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 10.0, 50.0, "tx-dup")) == 0.0);

  CHECK(t.filled_quantity() == 13.0);
  CHECK(t.average_price() == (10.0 * 99.0 + 3.0 * 98.0) / 13.0);
  CHECK(t.late_fills() == 0);
  const auto& r1 = *t.find(1);
  CHECK(r1.outcome == AttemptOutcome::filled);
  CHECK(r1.transaction_id == "tx-1");
  CHECK(r1.average_price == 99.0);
  CHECK(*r1.ended == at(1s));
  const auto& r2 = *t.find(2);
  CHECK(r2.outcome == AttemptOutcome::partially_filled);
  CHECK(r2.transaction_id == "tx-2");
  CHECK(r2.filled_quantity == 3.0);
  CHECK_FALSE(r2.error);
  CHECK(*r2.ended == at(1s));
}

TEST_CASE("an attempt given up as in doubt is counted once when it lands late", "[tracker][late]") {
  ManualClock::reset();
  Tracker t(3);
  REQUIRE_FALSE(t.begin(order(1000.0)));

  // Taking a late fill needs the attempt to have been given up first.
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 1000.0, 94.0)) == 0.0);
  CHECK(t.find(1)->outcome == AttemptOutcome::pending);
  CHECK(t.filled_quantity() == 0.0);

  ManualClock::advance(8s);
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out);
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::in_doubt);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(8s));
    CHECK(r.error == exitguard::error::attempt_timed_out);
    CHECK_FALSE(r.late_fill);
  }
  CHECK(t.any_in_doubt());
  CHECK(t.in_doubt() == Numbers{1});

  // A second attempt is sent while the first is in doubt.
  REQUIRE_FALSE(t.begin(order(1000.0)));
  CHECK(t.in_doubt() == Numbers{1, 2});

  // Marking it in doubt again changes nothing.
  ManualClock::advance(1s);
  t.mark_in_doubt(1, exitguard::error::deadline_exceeded);
  CHECK(*t.find(1)->ended == at(8s));
  CHECK(t.find(1)->error == exitguard::error::attempt_timed_out);

  // The answer arriving through complete() is ignored: the attempt was given up.
  CHECK(t.complete(1, outcome(SubmitStatus::filled, 1000.0, 94.0, "tx-1")) == 0.0);
  CHECK(t.find(1)->outcome == AttemptOutcome::in_doubt);

  // The first attempt lands at t = 25 s: taken once, as a late fill.
  ManualClock::advance_to(at(25s));
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 1000.0, 91.0, "tx-1")) == 1000.0);
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::filled);
    CHECK(r.late_fill);
    CHECK(r.filled_quantity == 1000.0);
    CHECK(r.average_price == 91.0);
    CHECK(r.transaction_id == "tx-1");
    CHECK_FALSE(r.error);
    CHECK(*r.ended == at(8s));  // still the time it was given up
  }
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 1000.0);
  CHECK(t.average_price() == 91.0);
  CHECK_FALSE(t.any_in_doubt());
  CHECK(t.in_doubt() == Numbers{2});

  // The same landing reported again is never counted twice.
  ManualClock::advance(1s);
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 1000.0, 91.0, "tx-1")) == 0.0);
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::partially_filled, 500.0, 80.0, "tx-1")) == 0.0);
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 1000.0);
  CHECK(t.average_price() == 91.0);
  CHECK(t.find(1)->average_price == 91.0);

  SECTION("the pending second attempt is then taken as a late fill when it is given up and lands") {
    t.mark_in_doubt(2, exitguard::error::in_doubt);
    CHECK(t.take_late_fill(2, outcome(SubmitStatus::partially_filled, 200.0, 90.0, "tx-2")) == 200.0);
    CHECK(t.late_fills() == 2);
    CHECK(t.filled_quantity() == 1200.0);
    CHECK(t.find(2)->late_fill);
    CHECK(t.find(2)->outcome == AttemptOutcome::partially_filled);
    CHECK(t.in_doubt().empty());
  }
}

TEST_CASE("late reports that are not fills count nothing", "[tracker][late]") {
  ManualClock::reset();
  Tracker t(1);
  REQUIRE_FALSE(t.begin(order(10.0)));
  ManualClock::advance(5s);
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out);

  SECTION("still in doubt: stays in doubt, a later fill is still taken") {
    ManualClock::advance(1s);
    CHECK(t.take_late_fill(1, outcome(SubmitStatus::in_doubt, 0.0, 0.0, "tx", exitguard::error::in_doubt)) == 0.0);
    CHECK(t.find(1)->outcome == AttemptOutcome::in_doubt);
    CHECK_FALSE(t.find(1)->late_fill);
    CHECK(t.late_fills() == 0);
    CHECK(t.any_in_doubt());
    CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 10.0, 93.0, "tx")) == 10.0);
    CHECK(t.late_fills() == 1);
    CHECK(t.filled_quantity() == 10.0);
  }
  SECTION("rejected: resolved, and a later fill report is ignored") {
    CHECK(t.take_late_fill(1, outcome(SubmitStatus::rejected, 0.0, 0.0, "tx", exitguard::error::exit_rejected)) ==
          0.0);
    CHECK(t.find(1)->outcome == AttemptOutcome::rejected);
    CHECK(t.find(1)->error == exitguard::error::exit_rejected);
    CHECK(*t.find(1)->ended == at(5s));
    CHECK(t.late_fills() == 0);
    CHECK_FALSE(t.any_in_doubt());
    CHECK(t.in_doubt().empty());
    CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 10.0, 93.0, "tx")) == 0.0);
    CHECK(t.filled_quantity() == 0.0);
  }
  SECTION("a late fill of zero is no late fill") {
    CHECK(t.take_late_fill(1, outcome(SubmitStatus::partially_filled, 0.0, 93.0, "tx")) == 0.0);
    CHECK(t.late_fills() == 0);
    CHECK(t.find(1)->outcome == AttemptOutcome::partially_filled);
  }
}

TEST_CASE("a fill is clamped to the attempt's quantity: never more sold than allowed", "[tracker][clamp]") {
  ManualClock::reset();
  Tracker t(4);

  REQUIRE_FALSE(t.begin(order(10.0)));
  CHECK(t.complete(1, outcome(SubmitStatus::filled, 25.0, 100.0, "tx-1")) == 10.0);
  CHECK(t.find(1)->filled_quantity == 10.0);
  CHECK(t.filled_quantity() == 10.0);
  CHECK(t.average_price() == 100.0);

  // A late fill is clamped the same way.
  REQUIRE_FALSE(t.begin(order(5.0)));
  t.mark_in_doubt(2, exitguard::error::attempt_timed_out);
  CHECK(t.take_late_fill(2, outcome(SubmitStatus::filled, 7.0, 90.0, "tx-2")) == 5.0);
  CHECK(t.find(2)->filled_quantity == 5.0);
  CHECK(t.filled_quantity() == 15.0);
  CHECK(t.average_price() == (10.0 * 100.0 + 5.0 * 90.0) / 15.0);  // the notional uses the clamped quantity
  CHECK(t.late_fills() == 1);

  SECTION("a negative fill counts nothing") {
    REQUIRE_FALSE(t.begin(order(5.0)));
    CHECK(t.complete(3, outcome(SubmitStatus::partially_filled, -3.0, 90.0, "tx-3")) == 0.0);
    CHECK(t.find(3)->filled_quantity == 0.0);
    CHECK(t.filled_quantity() == 15.0);
  }
  SECTION("a NaN fill counts nothing and does not poison the totals") {
    REQUIRE_FALSE(t.begin(order(5.0)));
    CHECK(t.complete(3, outcome(SubmitStatus::partially_filled, std::numeric_limits<double>::quiet_NaN(), 90.0,
                                "tx-3")) == 0.0);
    CHECK(t.find(3)->filled_quantity == 0.0);
    CHECK(t.filled_quantity() == 15.0);
    CHECK(t.average_price() == (10.0 * 100.0 + 5.0 * 90.0) / 15.0);
  }
  SECTION("an infinite fill is clamped to the attempt's quantity") {
    REQUIRE_FALSE(t.begin(order(5.0)));
    CHECK(t.complete(3, outcome(SubmitStatus::filled, std::numeric_limits<double>::infinity(), 90.0, "tx-3")) ==
          5.0);
    CHECK(t.filled_quantity() == 20.0);
  }
}

TEST_CASE("in_doubt lists pending, in-doubt and cancelled attempts, any_in_doubt only the given-up ones",
          "[tracker]") {
  ManualClock::reset();
  Tracker t(5);
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(t.begin(order(10.0)));
  CHECK(t.in_doubt() == Numbers{1, 2, 3, 4, 5});
  // Pending attempts may still land, but none has been given up yet.
  CHECK_FALSE(t.any_in_doubt());

  CHECK(t.complete(1, outcome(SubmitStatus::filled, 10.0, 95.0)) == 10.0);
  CHECK(t.complete(2, outcome(SubmitStatus::rejected, 0.0, 0.0, {}, exitguard::error::exit_rejected)) == 0.0);
  CHECK(t.in_doubt() == Numbers{3, 4, 5});
  CHECK_FALSE(t.any_in_doubt());

  t.mark_in_doubt(3, exitguard::error::attempt_timed_out);
  CHECK(t.in_doubt() == Numbers{3, 4, 5});
  CHECK(t.any_in_doubt());

  t.mark_cancelled(4);
  CHECK(t.in_doubt() == Numbers{3, 4, 5});
  CHECK(t.any_in_doubt());

  CHECK(t.complete(5, outcome(SubmitStatus::partially_filled, 5.0, 94.0)) == 5.0);
  CHECK(t.in_doubt() == Numbers{3, 4});

  t.resolve_unfilled(3);
  CHECK(t.in_doubt() == Numbers{4});
  CHECK(t.any_in_doubt());  // the cancelled one may still land

  CHECK(t.take_late_fill(4, outcome(SubmitStatus::filled, 10.0, 93.0)) == 10.0);
  CHECK(t.in_doubt().empty());
  CHECK_FALSE(t.any_in_doubt());
}

TEST_CASE("resolve_unfilled settles an in-doubt attempt as not filled", "[tracker]") {
  ManualClock::reset();
  Tracker t(3);
  REQUIRE_FALSE(t.begin(order(10.0)));
  REQUIRE_FALSE(t.begin(order(10.0)));
  REQUIRE_FALSE(t.begin(order(10.0)));
  ManualClock::advance(6s);
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out);
  CHECK(t.complete(3, outcome(SubmitStatus::filled, 10.0, 95.0, "tx-3")) == 10.0);

  ManualClock::advance(3s);
  t.resolve_unfilled(1);
  const auto& r = *t.find(1);
  CHECK(r.outcome == AttemptOutcome::rejected);
  CHECK(*r.ended == at(6s));  // it ended when it was given up
  CHECK(r.error == exitguard::error::attempt_timed_out);
  CHECK(r.filled_quantity == 0.0);
  CHECK_FALSE(t.any_in_doubt());
  CHECK(t.in_doubt() == Numbers{2});

  // Certainly unfilled: a later report of a fill is not taken.
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 10.0, 90.0, "tx-1")) == 0.0);
  CHECK(t.late_fills() == 0);

  // Only an in-doubt attempt can be resolved so: pending and answered ones are left alone.
  t.resolve_unfilled(2);
  CHECK(t.find(2)->outcome == AttemptOutcome::pending);
  t.resolve_unfilled(3);
  CHECK(t.find(3)->outcome == AttemptOutcome::filled);
  t.resolve_unfilled(0);
  t.resolve_unfilled(4);
  CHECK(t.filled_quantity() == 10.0);
  CHECK(t.average_price() == 95.0);
}

TEST_CASE("a cancelled attempt's late fill is taken once", "[tracker][late]") {
  ManualClock::reset();
  Tracker t(2);
  REQUIRE_FALSE(t.begin(order(10.0)));
  REQUIRE_FALSE(t.begin(order(10.0)));
  CHECK(t.complete(2, outcome(SubmitStatus::filled, 10.0, 95.0, "tx-2")) == 10.0);

  ManualClock::advance(3s);
  t.mark_cancelled(1);
  t.mark_cancelled(2);  // answered already: unchanged
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::cancelled);
    REQUIRE(r.ended.has_value());
    CHECK(*r.ended == at(3s));
    CHECK(r.error == boost::asio::error::operation_aborted);
  }
  CHECK(t.find(2)->outcome == AttemptOutcome::filled);
  CHECK_FALSE(t.find(2)->error);
  CHECK(t.any_in_doubt());
  CHECK(t.in_doubt() == Numbers{1});

  // Neither in doubt again nor completed: it was cancelled.
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out);
  CHECK(t.find(1)->outcome == AttemptOutcome::cancelled);
  CHECK(t.complete(1, outcome(SubmitStatus::filled, 10.0, 97.0, "tx-1")) == 0.0);

  ManualClock::advance(10s);
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::partially_filled, 3.0, 97.0, "tx-1")) == 3.0);
  {
    const auto& r = *t.find(1);
    CHECK(r.outcome == AttemptOutcome::partially_filled);
    CHECK(r.late_fill);
    CHECK(r.filled_quantity == 3.0);
    CHECK(r.average_price == 97.0);
    CHECK(r.transaction_id == "tx-1");
    CHECK(*r.ended == at(3s));
  }
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 13.0);
  CHECK_FALSE(t.any_in_doubt());

  CHECK(t.take_late_fill(1, outcome(SubmitStatus::partially_filled, 3.0, 97.0, "tx-1")) == 0.0);
  CHECK(t.take_late_fill(1, outcome(SubmitStatus::filled, 10.0, 97.0, "tx-1")) == 0.0);
  CHECK(t.late_fills() == 1);
  CHECK(t.filled_quantity() == 13.0);
}

TEST_CASE("the steady_clock tracker stamps attempts with steady_clock::now()", "[tracker]") {
  exitguard::ExitAttemptTracker t(2);
  const auto before = std::chrono::steady_clock::now();
  REQUIRE_FALSE(t.begin(order(1.0)));
  const auto after = std::chrono::steady_clock::now();
  CHECK(t.find(1)->started >= before);
  CHECK(t.find(1)->started <= after);
  t.mark_in_doubt(1, exitguard::error::attempt_timed_out);
  REQUIRE(t.find(1)->ended.has_value());
  CHECK(*t.find(1)->ended >= t.find(1)->started);
}
