// exitguard-test-set: sanitized
// Tests for exitguard/testing/manual_clock.hpp: a clock that moves only when told,
// and Asio timers on it. Nothing here waits in wall time.
#include <exitguard/testing/manual_clock.hpp>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace std::chrono_literals;
using exitguard::testing::ManualClock;
using Timer = boost::asio::basic_waitable_timer<ManualClock>;

ManualClock::time_point at(ManualClock::duration d) { return ManualClock::time_point(d); }

}  // namespace

TEST_CASE("manual_clock.hpp compiles on its own and ManualClock is a steady clock", "[manual_clock]") {
  STATIC_REQUIRE(ManualClock::is_steady);
  STATIC_REQUIRE(std::is_same_v<ManualClock::duration, std::chrono::nanoseconds>);
  STATIC_REQUIRE(std::is_same_v<ManualClock::time_point, std::chrono::time_point<ManualClock>>);
  STATIC_REQUIRE(std::chrono::is_clock_v<ManualClock>);
  STATIC_REQUIRE(noexcept(ManualClock::now()));
}

TEST_CASE("reset puts the clock at its epoch", "[manual_clock]") {
  ManualClock::advance(5s);
  ManualClock::reset();
  CHECK(ManualClock::now() == at(0ns));
  CHECK(ManualClock::now().time_since_epoch().count() == 0);
  ManualClock::time_point next;
  CHECK_FALSE(ManualClock::next_expiry(next));
}

TEST_CASE("advance moves the clock by exactly the step and now() does not move by itself", "[manual_clock]") {
  ManualClock::reset();
  CHECK(ManualClock::now() == ManualClock::now());
  ManualClock::advance(1s);
  CHECK(ManualClock::now() == at(1s));
  ManualClock::advance(1ns);
  CHECK(ManualClock::now() == at(1s + 1ns));
  ManualClock::advance(2500ms);
  CHECK(ManualClock::now() == at(3500ms + 1ns));
  ManualClock::advance(0ns);
  CHECK(ManualClock::now() == at(3500ms + 1ns));
}

TEST_CASE("advance ignores negative steps: the clock is steady", "[manual_clock]") {
  ManualClock::reset();
  ManualClock::advance(10s);
  ManualClock::advance(-3s);
  CHECK(ManualClock::now() == at(10s));
  ManualClock::advance(ManualClock::duration::min());
  CHECK(ManualClock::now() == at(10s));
}

TEST_CASE("advance_to moves forward, never backwards", "[manual_clock]") {
  ManualClock::reset();
  ManualClock::advance_to(at(7s));
  CHECK(ManualClock::now() == at(7s));
  ManualClock::advance_to(at(3s));
  CHECK(ManualClock::now() == at(7s));
  ManualClock::advance_to(at(7s));
  CHECK(ManualClock::now() == at(7s));
  ManualClock::advance_to(at(7s + 1ns));
  CHECK(ManualClock::now() == at(7s + 1ns));
}

TEST_CASE("advance from several threads loses no step", "[manual_clock]") {
  ManualClock::reset();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < 10000; ++i) ManualClock::advance(1ns);
    });
  for (auto& th : threads) th.join();
  CHECK(ManualClock::now() == at(40000ns));
}

TEST_CASE("advance_to from several threads ends at the largest target", "[manual_clock]") {
  ManualClock::reset();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 1000; ++i) ManualClock::advance_to(at(std::chrono::nanoseconds(i * 4 + t)));
    });
  for (auto& th : threads) th.join();
  CHECK(ManualClock::now() == at(3999ns));
}

TEST_CASE("a timer on the manual clock fires only once the clock reaches its expiry", "[manual_clock]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  Timer timer(ioc, at(2s));
  int fired = 0;
  ManualClock::time_point fired_at{};
  timer.async_wait([&](boost::system::error_code ec) {
    CHECK_FALSE(ec);
    ++fired;
    fired_at = ManualClock::now();
  });
  ioc.poll();
  CHECK(fired == 0);
  ManualClock::advance(2s - 1ns);
  ioc.poll();
  CHECK(fired == 0);
  ManualClock::advance(1ns);
  ioc.poll();
  CHECK(fired == 1);
  CHECK(fired_at == at(2s));
  CHECK(ioc.stopped());  // out of work
}

TEST_CASE("the wait traits never block and report the earliest pending expiry", "[manual_clock]") {
  ManualClock::reset();
  ManualClock::advance(1s);
  using traits = boost::asio::wait_traits<ManualClock>;
  CHECK(traits::to_wait_duration(ManualClock::duration(5s)) == 0ns);
  ManualClock::time_point next;
  REQUIRE(ManualClock::next_expiry(next));
  CHECK(next == at(6s));
  // A later expiry does not replace an earlier one; an earlier one does.
  CHECK(traits::to_wait_duration(at(9s)) == 0ns);
  REQUIRE(ManualClock::next_expiry(next));
  CHECK(next == at(6s));
  CHECK(traits::to_wait_duration(at(3s)) == 0ns);
  REQUIRE(ManualClock::next_expiry(next));
  CHECK(next == at(3s));
  // Past or present expiries are not "pending".
  ManualClock::clear_next_expiry();
  CHECK(traits::to_wait_duration(at(1s)) == 0ns);
  CHECK(traits::to_wait_duration(ManualClock::duration(-1s)) == 0ns);
  CHECK_FALSE(ManualClock::next_expiry(next));
}

TEST_CASE("Asio reports a pending timer's expiry through the wait traits", "[manual_clock]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  Timer early(ioc, at(1500ms));
  Timer late(ioc, at(4s));
  int fired = 0;
  early.async_wait([&](boost::system::error_code) { ++fired; });
  late.async_wait([&](boost::system::error_code) { ++fired; });
  ManualClock::clear_next_expiry();
  ioc.poll();
  ManualClock::time_point next;
  REQUIRE(ManualClock::next_expiry(next));
  CHECK(next == at(1500ms));
  ManualClock::advance_to(next);
  ManualClock::clear_next_expiry();
  ioc.poll();
  CHECK(fired == 1);
  REQUIRE(ManualClock::next_expiry(next));
  CHECK(next == at(4s));
  ManualClock::advance_to(next);
  ioc.poll();
  CHECK(fired == 2);
}
