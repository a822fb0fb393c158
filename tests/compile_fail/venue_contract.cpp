// Venues that must not compile: each near miss of the venue contract v2 is a compile
// error with a message that says what to write instead (venue.hpp,
// check_venue_contract). Built once per case by ctest (tests/CMakeLists.txt), which
// expects the build to fail with that message. EXITGUARD_NEAR_MISS picks the case.
#include <exitguard/adaptive_exit_executor.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <string>

namespace eg = exitguard;

struct Venue {
  boost::asio::awaitable<eg::SubmitOutcome> submit(eg::ExitOrder) { co_return eg::SubmitOutcome{}; }
#if EXITGUARD_NEAR_MISS == 1
  bool exclusive_attempts() const { return true; }  // v1: silently "not exclusive" when not const
#elif EXITGUARD_NEAR_MISS == 2
  eg::VenueCapabilities capabilities() { return {true, true, true}; }  // not const
#elif EXITGUARD_NEAR_MISS == 3
  boost::asio::awaitable<double> query_position(std::string) { co_return 0.0; }  // not a Quantity
#elif EXITGUARD_NEAR_MISS == 4
  bool can_query_position() const { return true; }  // v1
#elif EXITGUARD_NEAR_MISS == 5
  void exit_finished(int) {}  // not an ExitFinished
#endif
};

// Not a venue at all: no submit of either style.
struct NotAVenue {
  eg::SubmitOutcome submit(eg::ExitOrder) { return {}; }  // synchronous
};

int main() {
  boost::asio::io_context ioc;
  eg::AdaptiveExitExecutor exits(ioc.get_executor());
  eg::ExitRequest request{"SOL-1", eg::Side::sell, 1000, 100.0, "test"};
#if EXITGUARD_NEAR_MISS == 6
  NotAVenue venue;
#else
  Venue venue;
#endif
  eg::execute_exit(exits, venue, request, boost::asio::detached);
  ioc.run();
}
