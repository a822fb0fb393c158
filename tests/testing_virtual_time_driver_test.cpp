// exitguard-test-set: sanitized
// Tests for exitguard/testing/virtual_time_driver.hpp: an io_context driven in
// virtual time. Every time asserted here is exact; nothing is measured in wall time.
#include <exitguard/testing/virtual_time_driver.hpp>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using exitguard::testing::ManualClock;
using exitguard::testing::VirtualTimeDriver;
using Timer = boost::asio::basic_waitable_timer<ManualClock>;

ManualClock::time_point at(ManualClock::duration d) { return ManualClock::time_point(d); }

// Timers that record when, and in which order, they fired.
struct Recorder {
  std::vector<std::pair<int, ManualClock::time_point>> fired;
  std::vector<std::unique_ptr<Timer>> timers;

  void arm(boost::asio::io_context& ioc, int id, ManualClock::time_point when) {
    timers.push_back(std::make_unique<Timer>(ioc, when));
    timers.back()->async_wait([this, id](boost::system::error_code ec) {
      if (!ec) fired.emplace_back(id, ManualClock::now());
    });
  }
};

// A chain of `n` timers, each armed by the previous one's handler `step` later.
struct Chain {
  Timer timer;
  ManualClock::duration step;
  int left;
  int fired = 0;
  ManualClock::time_point last{};

  Chain(boost::asio::io_context& ioc, ManualClock::duration s, int n) : timer(ioc), step(s), left(n) { arm(); }
  void arm() {
    timer.expires_after(step);
    timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      ++fired;
      last = ManualClock::now();
      if (--left > 0) arm();
    });
  }
};

}  // namespace

TEST_CASE("virtual_time_driver.hpp compiles on its own", "[driver]") {
  STATIC_REQUIRE(std::is_same_v<VirtualTimeDriver::clock, ManualClock>);
  STATIC_REQUIRE(std::is_same_v<VirtualTimeDriver::duration, ManualClock::duration>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<VirtualTimeDriver>);
}

TEST_CASE("the driver fires timers at exactly their expiry, in order", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  // A fallback step of an hour: any expiry the driver did not jump to exactly would
  // be missed by far.
  VirtualTimeDriver driver(ioc, 1h);
  Recorder rec;
  // Armed out of order, at odd instants.
  rec.arm(ioc, 3, at(3s + 7ns));
  rec.arm(ioc, 1, at(1234567ns));
  rec.arm(ioc, 4, at(29s + 999999999ns));
  rec.arm(ioc, 2, at(2s + 1ns));
  CHECK(driver.run_for(1min));
  REQUIRE(rec.fired.size() == 4);
  CHECK(rec.fired[0] == std::pair{1, at(1234567ns)});
  CHECK(rec.fired[1] == std::pair{2, at(2s + 1ns)});
  CHECK(rec.fired[2] == std::pair{3, at(3s + 7ns)});
  CHECK(rec.fired[3] == std::pair{4, at(29s + 999999999ns)});
  // Out of work at the last expiry: the clock did not run on to the limit.
  CHECK(ManualClock::now() == at(29s + 999999999ns));
}

TEST_CASE("timers with the same expiry all fire at that instant", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  Recorder rec;
  for (int i = 0; i < 5; ++i) rec.arm(ioc, i, at(5s));
  CHECK(driver.run_for(10s));
  REQUIRE(rec.fired.size() == 5);
  for (const auto& f : rec.fired) CHECK(f.second == at(5s));
}

TEST_CASE("a 30-second scenario runs with few handlers and exact times", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  Chain chain(ioc, 1500ms, 20);  // 20 x 1.5 s = 30 s
  CHECK(driver.run_for(1h));
  CHECK(chain.fired == 20);
  CHECK(chain.last == at(30s));
  CHECK(ManualClock::now() == at(30s));
  CHECK(driver.handlers_run() == 20);
  CHECK(driver.handlers_run() < 100);
}

TEST_CASE("run_until stops as soon as the predicate holds", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  Chain chain(ioc, 1s, 100);
  CHECK(driver.run_until([&] { return chain.fired == 7; }));
  CHECK(chain.fired == 7);
  CHECK(ManualClock::now() == at(7s));
  // Already true: returns at once, the clock does not move.
  CHECK(driver.run_until([] { return true; }));
  CHECK(ManualClock::now() == at(7s));
  CHECK(chain.fired == 7);
}

TEST_CASE("run_until returns false at its limit, with the clock exactly at the limit", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  Chain chain(ioc, 1s, 100);
  CHECK_FALSE(driver.run_until([] { return false; }, 4500ms));
  CHECK(ManualClock::now() == at(4500ms));
  CHECK(chain.fired == 4);
  // And false when the io_context runs out of work before the predicate holds.
  boost::asio::io_context idle;
  VirtualTimeDriver idle_driver(idle, 1h);
  Recorder rec;
  rec.arm(idle, 1, at(5s));
  CHECK_FALSE(idle_driver.run_until([] { return false; }, 1h));
  CHECK(ManualClock::now() == at(5s));
  REQUIRE(rec.fired.size() == 1);
}

TEST_CASE("run_for returns true when out of work, false when work remains at its limit", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  Chain chain(ioc, 2s, 3);
  CHECK_FALSE(driver.run_for(3s));
  CHECK(ManualClock::now() == at(3s));
  CHECK(chain.fired == 1);
  CHECK(driver.run_for(1h));
  CHECK(chain.fired == 3);
  CHECK(ManualClock::now() == at(6s));
  // With nothing to do it returns true at once, leaving the clock alone.
  CHECK(driver.run_for(1h));
  CHECK(ManualClock::now() == at(6s));
}

TEST_CASE("advance(step) stops at each expiry on the way and ends exactly at the step", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  Recorder rec;
  rec.arm(ioc, 1, at(1s));
  rec.arm(ioc, 2, at(2500ms));
  rec.arm(ioc, 3, at(3s));
  rec.arm(ioc, 4, at(10s));
  driver.advance(3s);
  CHECK(ManualClock::now() == at(3s));
  REQUIRE(rec.fired.size() == 3);
  CHECK(rec.fired[0].second == at(1s));
  CHECK(rec.fired[1].second == at(2500ms));
  CHECK(rec.fired[2].second == at(3s));
  driver.advance(1s);
  CHECK(ManualClock::now() == at(4s));
  CHECK(rec.fired.size() == 3);
  // advance moves the clock even with nothing to do.
  driver.advance(6s);
  REQUIRE(rec.fired.size() == 4);
  CHECK(rec.fired[3].second == at(10s));
  driver.advance(5s);
  CHECK(ManualClock::now() == at(15s));
}

TEST_CASE("a timer armed by a handler during advance fires within the same advance", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  Chain chain(ioc, 300ms, 10);
  driver.advance(1s);
  CHECK(chain.fired == 3);
  CHECK(chain.last == at(900ms));
  CHECK(ManualClock::now() == at(1s));
}

TEST_CASE("poll runs ready handlers without moving the clock", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  int ran = 0;
  boost::asio::post(ioc, [&] { ++ran; });
  boost::asio::post(ioc, [&] { ++ran; });
  Recorder rec;
  rec.arm(ioc, 1, at(1s));
  CHECK(driver.poll() == 2);
  CHECK(ran == 2);
  CHECK(rec.fired.empty());
  CHECK(ManualClock::now() == at(0s));
  CHECK(driver.handlers_run() == 2);
}

TEST_CASE("the driver restarts a stopped io_context for new work", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 1h);
  int ran = 0;
  boost::asio::post(ioc, [&] { ++ran; });
  CHECK(driver.run_for(1s));
  CHECK(ioc.stopped());
  boost::asio::post(ioc, [&] { ++ran; });
  CHECK(driver.run_for(1s));
  CHECK(ran == 2);
  CHECK(driver.handlers_run() == 2);
}

TEST_CASE("with work but no timer, the clock moves by the fallback step", "[driver]") {
  ManualClock::reset();
  boost::asio::io_context ioc;
  VirtualTimeDriver driver(ioc, 250ms);
  auto guard = boost::asio::make_work_guard(ioc);
  CHECK_FALSE(driver.run_for(1s));
  CHECK(ManualClock::now() == at(1s));
  // A predicate checked between steps sees every fallback step.
  std::vector<ManualClock::time_point> seen;
  CHECK(driver.run_until(
      [&] {
        seen.push_back(ManualClock::now());
        return ManualClock::now() >= at(1750ms);
      },
      1h));
  CHECK(ManualClock::now() == at(1750ms));
  CHECK(seen.size() == 4 + 1);  // 1 s, 1.25 s, 1.5 s, 1.75 s, and the final call
  guard.reset();
  CHECK(driver.run_for(1h));
  CHECK(ManualClock::now() == at(1750ms));
}
