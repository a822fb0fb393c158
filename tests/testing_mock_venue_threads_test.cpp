// exitguard-test-set: optimized
// MockVenue shared by many exits on a multi-threaded io_context (run under
// ThreadSanitizer by the tsan preset). Each exit has its own strand of
// any_io_executor, as the exit driver does; it reaches the venue by posting to
// venue.get_executor(), submits (token-style or awaitable), queries, cancels from its
// own strand, and is answered there. Real steady clock, zero latencies, no sleeps.
#include <exitguard/testing/mock_venue.hpp>

#include <exitguard/error.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace eg = exitguard;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Venue = eg::testing::BasicMockVenue<Clock>;
using Script = Venue::script_type;
using ExitStrand = asio::strand<asio::any_io_executor>;

enum class Kind { token, awaitable, lost_cancelled, query_then_submit, cancel_race };

Kind kind_of(int i) { return static_cast<Kind>(i % 5); }

// Written only on the exit's strand; read after every thread has joined.
struct Exit {
  explicit Exit(ExitStrand s) : strand(std::move(s)) {}
  ExitStrand strand;
  asio::cancellation_signal signal;
  int answers = 0;
  bool on_own_strand = true;
  error_code ec;
  eg::SubmitOutcome outcome;
  bool threw = false;
  int queries = 0;
  eg::Quantity queried = -1;
};

eg::ExitOrder order_for(int i) {
  eg::ExitOrder o;
  o.exit_id = static_cast<std::uint64_t>(i + 1);
  o.position_id = "shared";
  o.quantity = 1;
  o.kind = eg::OrderKind::market;
  o.attempt = static_cast<std::uint32_t>(i + 1);  // the per-attempt script key
  o.exclusivity_key = "exit-" + std::to_string(i);
  return o;
}

struct Round {
  int answered = 0, aborted = 0, filled = 0, flat = 0, queried = 0;
  bool all_on_own_strand = true;
  eg::Quantity reported, landed, position, sold;
  std::size_t submissions = 0, pending = 0;
};

Round run_round(int exits, int threads, eg::Quantity open) {
  asio::io_context ioc(threads);
  Venue venue(ioc.get_executor(), eg::testing::constant_price(100.0));
  // Set up before any thread runs; then every call must be on the venue's strand.
  venue.open_position("shared", open);
  Script fill;
  fill.latency = Clock::duration::zero();
  venue.set_default(fill);
  Script lost = fill;
  lost.fate = eg::testing::MockFate::lost;
  for (int i = 0; i < exits; ++i)
    if (kind_of(i) == Kind::lost_cancelled) venue.script_for("shared", static_cast<std::uint32_t>(i + 1), lost);
  venue.set_strand_checks(true);

  std::vector<std::unique_ptr<Exit>> all;
  for (int i = 0; i < exits; ++i) all.push_back(std::make_unique<Exit>(ExitStrand(asio::any_io_executor(ioc.get_executor()))));

  for (int i = 0; i < exits; ++i) {
    Exit* e = all[static_cast<std::size_t>(i)].get();
    // The exit decides on its strand, then goes to the venue's.
    asio::post(e->strand, [&venue, e, i] {
      const auto answered = [e](error_code ec, eg::SubmitOutcome out) {
        ++e->answers;
        e->on_own_strand = e->on_own_strand && e->strand.running_in_this_thread();
        e->ec = ec;
        e->outcome = std::move(out);
      };
      asio::post(venue.get_executor(), [&venue, e, i, answered] {
        (void)venue.reference_price("shared");
        (void)venue.capabilities();
        switch (kind_of(i)) {
          case Kind::token: venue.async_submit(order_for(i), asio::bind_executor(e->strand, answered)); break;
          case Kind::awaitable:
            asio::co_spawn(venue.get_executor(), venue.submit(order_for(i)),
                           asio::bind_executor(e->strand, [e, answered](std::exception_ptr ex, eg::SubmitOutcome out) {
                             if (ex) e->threw = true;
                             answered({}, std::move(out));
                           }));
            break;
          case Kind::lost_cancelled:
          case Kind::cancel_race:
            venue.async_submit(order_for(i),
                               asio::bind_cancellation_slot(e->signal.slot(), asio::bind_executor(e->strand, answered)));
            // Cancelled from the exit's strand, where its handler runs.
            asio::post(e->strand, [e] { e->signal.emit(asio::cancellation_type::terminal); });
            break;
          case Kind::query_then_submit:
            if (venue.capabilities().queries_position) {
              venue.async_query_position("shared", asio::bind_executor(e->strand, [&venue, e, i, answered](
                                                                                      error_code ec, eg::Quantity q) {
                                           ++e->queries;
                                           e->queried = ec ? eg::Quantity(-2) : q;
                                           asio::post(venue.get_executor(), [&venue, e, i, answered] {
                                             venue.async_submit(order_for(i), asio::bind_executor(e->strand, answered));
                                           });
                                         }));
            }
            break;
        }
      });
    });
  }

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back([&ioc] { ioc.run(); });
  for (auto& t : pool) t.join();

  // No thread runs the io_context any more: the venue may be read from here.
  venue.set_strand_checks(false);
  Round r;
  for (const auto& e : all) {
    r.answered += e->answers;
    r.all_on_own_strand = r.all_on_own_strand && e->on_own_strand && !e->threw;
    if (e->ec == asio::error::operation_aborted) ++r.aborted;
    if (!e->ec && e->outcome.status == eg::SubmitStatus::filled) {
      ++r.filled;
      r.reported += e->outcome.filled_quantity;
    }
    if (!e->ec && e->outcome.error == eg::error::insufficient_funds) ++r.flat;
    r.queried += e->queries;
    if (e->queries == 1 && (e->queried < eg::Quantity{} || e->queried > open)) r.all_on_own_strand = false;
  }
  for (const auto& l : venue.landings())
    if (l.applied) r.landed += l.quantity;
  r.position = venue.position("shared");
  r.sold = venue.sold("shared");
  r.submissions = venue.submissions().size();
  r.pending = venue.pending_answers() + venue.pending_queries();
  return r;
}

}  // namespace

TEST_CASE("one MockVenue shared by 200 exits on 4 threads, each exit on its own strand", "[mock_venue][threads]") {
  constexpr int exits = 200;
  const eg::Quantity open = 100;  // fewer units than orders: reduce-only refuses the rest, exactly
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    const Round r = run_round(exits, 4, open);
    REQUIRE(r.answered == exits);  // every exit answered exactly once (lost ones by their cancellation)
    REQUIRE(r.all_on_own_strand);
    REQUIRE(r.submissions == static_cast<std::size_t>(exits));
    REQUIRE(r.pending == 0);
    REQUIRE(r.queried == exits / 5);
    // 40 lost and cancelled; the cancel races may be either.
    REQUIRE(r.aborted >= exits / 5);
    REQUIRE(r.aborted <= 2 * exits / 5);
    // Exactly what was open was sold, once, in whole units.
    REQUIRE(r.landed == open);
    REQUIRE(r.sold == open);
    REQUIRE(r.position == 0);
    REQUIRE(r.reported <= open);
    REQUIRE(r.filled + r.flat + r.aborted == exits);
  }
}
