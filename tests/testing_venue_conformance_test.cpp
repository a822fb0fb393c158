// exitguard-test-set: sanitized
#include <exitguard/testing/venue_conformance.hpp>

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/error.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using exitguard::ExitOrder;
using exitguard::Quantity;
using exitguard::SubmitOutcome;
using exitguard::SubmitStatus;
using exitguard::VenueCapabilities;
using exitguard::testing::ConformanceFault;
using exitguard::testing::ConformanceOptions;
using exitguard::testing::ConformanceReport;
using exitguard::testing::ConformanceResult;
using exitguard::testing::ConformanceSubject;
using exitguard::testing::ManualClock;
using exitguard::testing::MockConformanceVenue;
using exitguard::testing::MockVenue;
using exitguard::testing::MockVenueSubject;
using exitguard::testing::MockVenueSubjectOptions;
using exitguard::testing::RecordingVenue;
using exitguard::testing::run_venue_conformance;
using Settings = exitguard::BasicExitSettings<ManualClock>;
using S = exitguard::ExitTransitionState;

bool same(const VenueCapabilities& a, const VenueCapabilities& b) {
  return a.exclusive_attempts == b.exclusive_attempts && a.queries_position == b.queries_position &&
         a.enforces_reduce_only == b.enforces_reduce_only;
}

// --- a venue that breaks the contract, for showing that the harness can fail -------

enum class Lie {
  none,                // forwards faithfully
  fills_at_once,       // answers "filled" as soon as the order is sent, confirmed or not
  claims_reduce_only,  // declares enforces_reduce_only; the venue behind it does not enforce it
};

// A token-style venue in front of the subject's MockConformanceVenue, lying as told.
class LyingVenue {
 public:
  LyingVenue(MockConformanceVenue& venue, Lie lie) : venue_(venue), lie_(lie) {}

  VenueCapabilities capabilities() const {
    VenueCapabilities c = venue_.capabilities();
    if (lie_ == Lie::claims_reduce_only) c.enforces_reduce_only = true;
    return c;
  }
  auto get_executor() const noexcept { return venue_.get_executor(); }
  double reference_price(const std::string& id) const { return venue_.reference_price(id); }
  asio::awaitable<Quantity> query_position(std::string id) { return venue_.query_position(std::move(id)); }

  template <class Token>
  auto async_submit(ExitOrder order, Token&& token) {
    if (lie_ != Lie::fills_at_once) return venue_.async_submit(std::move(order), std::forward<Token>(token));
    return asio::async_initiate<Token, void(boost::system::error_code, SubmitOutcome)>(
        [this](auto handler, ExitOrder o) {
          SubmitOutcome out;
          out.status = SubmitStatus::filled;
          out.filled_quantity = o.quantity;
          out.average_price = venue_.reference_price(o.position_id);
          out.transaction_id = "claimed-" + std::to_string(o.attempt);
          // Sent for real, its answer ignored.
          venue_.async_submit(std::move(o), [](boost::system::error_code, SubmitOutcome) {});
          auto ex = asio::get_associated_executor(handler, venue_.get_executor());
          asio::post(ex, [h = std::move(handler), out]() mutable { std::move(h)(boost::system::error_code{}, out); });
        },
        token, std::move(order));
  }

 private:
  MockConformanceVenue& venue_;
  Lie lie_;
};

// A MockVenueSubject seen through a LyingVenue, with faults it may declare unsupported.
class LyingSubject {
 public:
  using clock_type = ManualClock;
  using venue_type = LyingVenue;

  LyingSubject(MockVenueSubjectOptions options, Lie lie, Settings settings = MockVenueSubject::quiet_settings())
      : inner_(options, std::move(settings)), venue_(inner_.venue(), lie) {}

  std::set<ConformanceFault> unsupported;

  venue_type& venue() noexcept { return venue_; }
  asio::any_io_executor get_executor() { return inner_.get_executor(); }
  bool supports(ConformanceFault f) const { return unsupported.count(f) == 0; }
  void inject(ConformanceFault f, const std::string& id) { inner_.inject(f, id); }
  exitguard::ExitRequest open_position(const std::string& id, Quantity q) { return inner_.open_position(id, q); }
  Quantity sold(const std::string& id) { return inner_.sold(id); }
  Settings settings() const { return inner_.settings(); }
  void run_for(ManualClock::duration d) { inner_.run_for(d); }
  template <class P>
  bool run_until(P p, ManualClock::duration d) {
    return inner_.run_until(std::move(p), d);
  }

 private:
  MockVenueSubject inner_;
  LyingVenue venue_;
};

// --- minimal venues, for the recorder's forwarding -----------------------------------

// Awaitable submit and nothing else.
struct BareAwaitableVenue {
  std::vector<ExitOrder> seen;
  asio::awaitable<SubmitOutcome> submit(ExitOrder o) {
    seen.push_back(o);
    SubmitOutcome out;
    out.status = SubmitStatus::filled;
    out.filled_quantity = o.quantity;
    out.average_price = 10;
    co_return out;
  }
};

// Token-style submit and an exit_finished member.
struct ListeningTokenVenue {
  std::vector<exitguard::ExitFinished> heard;
  template <class Token>
  auto async_submit(ExitOrder, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, SubmitOutcome)>(
        [](auto handler) { std::move(handler)(boost::system::error_code{}, SubmitOutcome{}); }, token);
  }
  void exit_finished(const exitguard::ExitFinished& f) { heard.push_back(f); }
};

TEST_CASE("venue_conformance: the harness, its subject concept and the MockVenue subject exist",
          "[testing][conformance]") {
  STATIC_REQUIRE(ConformanceSubject<MockVenueSubject>);
  STATIC_REQUIRE(ConformanceSubject<exitguard::testing::BasicMockVenueSubject<std::chrono::steady_clock>>);
  STATIC_REQUIRE(ConformanceSubject<LyingSubject>);
  STATIC_REQUIRE(std::is_same_v<decltype(run_venue_conformance(std::declval<MockVenueSubject&>())), ConformanceReport>);
}

TEST_CASE("venue_conformance: every fault has its own name", "[testing][conformance]") {
  std::set<std::string> names;
  for (ConformanceFault f : exitguard::testing::all_conformance_faults) {
    const std::string name(to_string(f));
    CHECK(name != "unknown");
    names.insert(name);
  }
  CHECK(names.size() == exitguard::testing::all_conformance_faults.size());
  CHECK(to_string(static_cast<ConformanceFault>(200)) == "unknown");
}

TEST_CASE("venue_conformance: the MockVenue subject passes every fault", "[testing][conformance]") {
  struct Config {
    const char* name;
    MockVenueSubjectOptions options;
  };
  const Config config = GENERATE(Config{"exclusive attempts", {true, true, true, 95.0}},
                                 Config{"exclusive attempts, no queries", {true, false, true, 95.0}},
                                 Config{"not exclusive, queries, reduce-only enforced", {false, true, true, 95.0}});
  INFO(config.name);
  MockVenueSubject subject(config.options);
  const ConformanceReport report = run_venue_conformance(subject);
  INFO(to_string(report));

  CHECK(report.passed());
  CHECK(report.failures() == 0);
  REQUIRE(report.results.size() == exitguard::testing::all_conformance_faults.size());
  for (const ConformanceResult& r : report.results) {
    INFO(to_string(r.fault));
    CHECK(r.applicable);
    CHECK(r.passed);
    CHECK(r.message == "ok");
    CHECK(r.requested == 1000);
    CHECK(r.filled == r.sold);
    CHECK(r.position_id == "conf-" + std::string(to_string(r.fault)));
    CHECK(r.capabilities.exclusive_attempts == config.options.exclusive_attempts);
    CHECK(r.capabilities.queries_position == config.options.queries_position);
    if (r.fault == ConformanceFault::stall) {
      CHECK(r.final_state == S::exit_failed);
      CHECK(r.sold == 0);
      CHECK(r.exit_time == 30s);
    } else {
      CHECK(r.final_state == S::position_closed);
      CHECK(r.sold == 1000);
      CHECK(r.exit_time <= 30s);
    }
  }
  // Each fault really happened: more than one attempt wherever the first could not close.
  for (ConformanceFault f : {ConformanceFault::partial_fill, ConformanceFault::throws, ConformanceFault::expiry,
                             ConformanceFault::duplicate_answer}) {
    INFO(to_string(f));
    CHECK(report.find(f)->attempts >= 2);
  }
  // No answer: nothing closes the exit before the first attempt timed out (8 s).
  CHECK(report.find(ConformanceFault::lost_answer)->exit_time > 8s);
  CHECK(report.find(ConformanceFault::none)->attempts == 1);
  // Two lifetimes, two key scopes.
  const ConformanceResult& restart = *report.find(ConformanceFault::key_restart);
  REQUIRE(restart.exclusivity_keys.size() >= 2);
  CHECK(restart.exclusivity_keys.front().substr(0, 20) != restart.exclusivity_keys.back().substr(0, 20));
}

TEST_CASE("venue_conformance: a venue that answers filled before confirmation is caught",
          "[testing][conformance][broken]") {
  LyingSubject subject({true, true, true, 95.0}, Lie::fills_at_once);
  ConformanceOptions options;
  options.faults = {ConformanceFault::none, ConformanceFault::expiry, ConformanceFault::stall};
  const ConformanceReport report = run_venue_conformance(subject, options);
  INFO(to_string(report));

  CHECK_FALSE(report.passed());
  CHECK(report.failures() == 2);
  CHECK(report.find(ConformanceFault::none)->passed);  // a fault-free fill looks right either way
  const ConformanceResult& expiry = *report.find(ConformanceFault::expiry);
  CHECK_FALSE(expiry.passed);
  CHECK(expiry.message == "the exit counted 1000 filled (the report said 1000) but the venue sold 0");
  CHECK(expiry.sold == 0);
  const ConformanceResult& stall = *report.find(ConformanceFault::stall);
  CHECK_FALSE(stall.passed);
  CHECK(stall.message == "the exit counted 1000 filled (the report said 1000) but the venue sold 0");
}

TEST_CASE("venue_conformance: a venue that declares reduce-only but does not enforce it is caught",
          "[testing][conformance][broken]") {
  // Not exclusive, queries: only the (false) reduce-only guarantee lets a second attempt go.
  LyingSubject subject({false, true, false, 95.0}, Lie::claims_reduce_only);
  ConformanceOptions options;
  options.faults = {ConformanceFault::late_landing};
  const ConformanceReport report = run_venue_conformance(subject, options);
  INFO(to_string(report));

  REQUIRE(report.results.size() == 1);
  const ConformanceResult& r = report.results[0];
  CHECK(r.capabilities.enforces_reduce_only);
  CHECK_FALSE(r.passed);
  CHECK(r.sold == 2000);
  CHECK(r.message == "oversold: the venue sold 2000 of a position of 1000");
  CHECK_FALSE(report.passed());
}

TEST_CASE("venue_conformance: the same venue telling the truth passes", "[testing][conformance][broken]") {
  // The control for the case above: without the lie the doubt is unresolvable, nothing is
  // sent beside the late attempt, and its landing closes the exit.
  LyingSubject subject({false, true, false, 95.0}, Lie::none);
  ConformanceOptions options;
  options.faults = {ConformanceFault::late_landing, ConformanceFault::lost_answer};
  const ConformanceReport report = run_venue_conformance(subject, options);
  INFO(to_string(report));
  CHECK(report.passed());
  CHECK(report.find(ConformanceFault::late_landing)->sold == 1000);
  CHECK(report.find(ConformanceFault::late_landing)->attempts == 1);
}

TEST_CASE("venue_conformance: an exclusive venue that answers a retry on a landed key with a bare rejection is caught",
          "[testing][conformance][broken]") {
  // The MockVenue's own answer: the lost answer's order landed, the retry on its key is
  // refused, and the exit believes nothing sold.
  MockVenueSubjectOptions options;
  options.idempotent_retries = false;
  MockVenueSubject subject(options);
  ConformanceOptions run;
  run.faults = {ConformanceFault::lost_answer, ConformanceFault::late_landing};
  const ConformanceReport report = run_venue_conformance(subject, run);
  INFO(to_string(report));

  const ConformanceResult& lost = *report.find(ConformanceFault::lost_answer);
  CHECK_FALSE(lost.passed);
  CHECK(lost.message == "the exit counted 0 filled (the report said 0) but the venue sold 1000");
  CHECK(lost.final_state == S::exit_failed);
  CHECK(lost.error == exitguard::error::exit_rejected);
  CHECK(report.find(ConformanceFault::late_landing)->passed);  // the retry lands first there: nothing to look up
}

TEST_CASE("venue_conformance: keys that repeat across a restart are caught", "[testing][conformance][broken]") {
  Settings settings = MockVenueSubject::quiet_settings();
  settings.key_instance = 42;  // every executor the same scope: a restart repeats keys
  MockVenueSubject subject({true, true, true, 95.0}, settings);
  ConformanceOptions options;
  options.faults = {ConformanceFault::key_restart};
  const ConformanceReport report = run_venue_conformance(subject, options);
  INFO(to_string(report));

  REQUIRE(report.results.size() == 1);
  const ConformanceResult& r = report.results[0];
  CHECK_FALSE(r.passed);
  CHECK(r.message == "key_restart: exclusivity key eg-000000000000002a-1-0 was used before the restart and again "
                     "after it");
  CHECK(r.sold == 1000);
}

TEST_CASE("venue_conformance: an unsupported fault is not applicable, never passed", "[testing][conformance]") {
  LyingSubject subject({true, true, true, 95.0}, Lie::none);
  subject.unsupported = {ConformanceFault::stall};
  ConformanceOptions options;
  options.faults = {ConformanceFault::none, ConformanceFault::stall};
  const ConformanceReport report = run_venue_conformance(subject, options);
  INFO(to_string(report));

  const ConformanceResult& stall = *report.find(ConformanceFault::stall);
  CHECK_FALSE(stall.applicable);
  CHECK_FALSE(stall.passed);
  CHECK(stall.message == "the subject does not support this fault");
  CHECK(stall.attempts == 0);
  CHECK(report.passed());  // the applicable one passed
  CHECK(report.failures() == 0);

  subject.unsupported = {ConformanceFault::none, ConformanceFault::stall};
  CHECK_FALSE(run_venue_conformance(subject, options).passed());  // nothing applicable proves nothing
}

TEST_CASE("venue_conformance: a subject on a real clock runs in real time", "[testing][conformance][real_time]") {
  using Clock = std::chrono::steady_clock;
  using RealSettings = exitguard::BasicExitSettings<Clock>;
  RealSettings s = exitguard::testing::BasicMockVenueSubject<Clock>::quiet_settings();
  auto& limit = s.ladder[0].policy;
  limit.max_attempts = 2;
  limit.total_timeout = 1s;
  limit.attempt_timeout = 400ms;
  limit.initial_backoff = 50ms;
  limit.max_backoff = 100ms;
  limit.min_attempt_window = 25ms;
  auto& market = s.ladder[1].policy;
  market.total_timeout = 1500ms;
  market.attempt_timeout = 250ms;
  market.initial_backoff = 25ms;
  market.max_backoff = 100ms;
  market.min_attempt_window = 25ms;
  s.deadline = 1500ms;
  s.final_window = 500ms;
  s.late_answer_horizon = 1600ms;  // the harness waits it out after each exit
  REQUIRE_FALSE(s.validate());
  exitguard::testing::BasicMockVenueSubject<Clock> subject({true, true, true, 95.0}, s);
  ConformanceOptions options;
  options.faults = {ConformanceFault::none, ConformanceFault::partial_fill, ConformanceFault::duplicate_answer,
                    ConformanceFault::expiry, ConformanceFault::late_landing};
  options.deadline_tolerance = 250ms;
  const auto started = Clock::now();
  const ConformanceReport report = run_venue_conformance(subject, options);
  INFO(to_string(report));
  CHECK(report.passed());
  for (const auto& r : report.results) {
    INFO(to_string(r.fault));
    CHECK(r.sold == 1000);
    CHECK(r.exit_time > 0ms);  // real time passed
  }
  CHECK(Clock::now() - started < 20s);
}

TEST_CASE("venue_conformance: results print one readable line per fault", "[testing][conformance]") {
  ConformanceReport report;
  ConformanceResult ok;
  ok.fault = ConformanceFault::lost_answer;
  ok.passed = true;
  ok.message = "ok";
  ok.final_state = S::position_closed;
  ok.attempts = 2;
  ok.requested = 1000;
  ok.filled = 1000;
  ok.sold = 1000;
  ok.exit_time = 11s;
  ConformanceResult bad = ok;
  bad.fault = ConformanceFault::expiry;
  bad.passed = false;
  bad.sold = 0;
  bad.message = "the exit counted 1000 filled (the report said 1000) but the venue sold 0";
  ConformanceResult skipped;
  skipped.fault = ConformanceFault::stall;
  skipped.applicable = false;
  skipped.message = "the subject does not support this fault";
  report.results = {ok, bad, skipped};

  const std::string text = to_string(report);
  CHECK(text ==
        "lost_answer       PASS  PositionClosed error=none attempts=2 filled=1000 sold=1000 of 1000 in 11.000s\n"
        "expiry            FAIL  PositionClosed error=none attempts=2 filled=1000 sold=0 of 1000 in 11.000s\n"
        "                  -> the exit counted 1000 filled (the report said 1000) but the venue sold 0\n"
        "stall             n/a   the subject does not support this fault\n"
        "conformance: 1/2 applicable faults passed (1 not applicable): FAIL\n");
  std::ostringstream one;
  one << ok;
  CHECK(one.str() == text.substr(0, text.find('\n')));
}

TEST_CASE("RecordingVenue forwards every member the venue has, and only those", "[testing][conformance][recorder]") {
  using MockRecorder = RecordingVenue<MockVenue>;
  STATIC_REQUIRE(exitguard::AwaitableVenue<MockRecorder>);
  STATIC_REQUIRE(exitguard::TokenVenue<MockRecorder>);
  STATIC_REQUIRE(exitguard::DeclaresCapabilities<MockRecorder>);
  STATIC_REQUIRE(exitguard::QueriesPosition<MockRecorder>);
  STATIC_REQUIRE(exitguard::ProvidesReferencePrice<MockRecorder>);
  STATIC_REQUIRE(exitguard::HearsExitFinished<MockRecorder>);
  STATIC_REQUIRE(exitguard::check_venue_contract<MockRecorder>());

  using TokenRecorder = RecordingVenue<MockConformanceVenue>;
  STATIC_REQUIRE_FALSE(exitguard::AwaitableVenue<TokenRecorder>);
  STATIC_REQUIRE(exitguard::TokenVenue<TokenRecorder>);

  using BareRecorder = RecordingVenue<BareAwaitableVenue>;
  STATIC_REQUIRE(exitguard::AwaitableVenue<BareRecorder>);
  STATIC_REQUIRE_FALSE(exitguard::TokenVenue<BareRecorder>);
  STATIC_REQUIRE_FALSE(exitguard::DeclaresCapabilities<BareRecorder>);
  STATIC_REQUIRE_FALSE(exitguard::QueriesPosition<BareRecorder>);
  STATIC_REQUIRE_FALSE(exitguard::ProvidesReferencePrice<BareRecorder>);
  STATIC_REQUIRE(exitguard::check_venue_contract<BareRecorder>());

  const bool exclusive = GENERATE(false, true);
  const bool queries = GENERATE(false, true);
  const bool reduce_only = GENERATE(false, true);
  asio::io_context ioc;
  MockVenue mock(ioc.get_executor(), exitguard::testing::linear_price(95.0, -1.0));
  mock.set_exclusive_attempts(exclusive);
  mock.set_position_query(queries);
  mock.set_reduce_only_enforced(reduce_only);
  MockRecorder recorder(mock);
  CHECK(same(recorder.capabilities(), mock.capabilities()));
  REQUIRE(recorder.seen_capabilities());
  CHECK(same(*recorder.seen_capabilities(), mock.capabilities()));
  CHECK(same(exitguard::declared_capabilities(recorder), exitguard::declared_capabilities(mock)));
  CHECK(recorder.get_executor() == mock.get_executor());
  CHECK(recorder.reference_price("X") == mock.reference_price("X"));
  CHECK(&recorder.inner() == &mock);

  BareAwaitableVenue bare;
  RecordingVenue<BareAwaitableVenue> bare_recorder(bare);
  REQUIRE(bare_recorder.seen_capabilities());
  CHECK(same(*bare_recorder.seen_capabilities(), VenueCapabilities{}));
}

TEST_CASE("RecordingVenue records orders and notices and hands both on", "[testing][conformance][recorder]") {
  ManualClock::reset();
  asio::io_context ioc;
  exitguard::testing::VirtualTimeDriver driver(ioc);
  Settings s = MockVenueSubject::quiet_settings();
  exitguard::BasicAdaptiveExitExecutor<ManualClock> exits(ioc.get_executor(), s);
  exitguard::ExitRequest request;
  request.position_id = "R-1";
  request.quantity = 70;
  request.signal_price = 10;

  SECTION("an awaitable venue") {
    BareAwaitableVenue bare;
    RecordingVenue<BareAwaitableVenue> recorder(bare);
    std::optional<exitguard::BasicExitReport<ManualClock>> report;
    exitguard::execute_exit(exits, recorder, request,
                            [&](boost::system::error_code, exitguard::BasicExitReport<ManualClock> r) { report = r; });
    REQUIRE(driver.run_until([&] { return !recorder.finished().empty(); }, 10s));
    REQUIRE(report);
    CHECK(report->closed());
    REQUIRE(recorder.orders().size() == 1);
    CHECK(recorder.orders()[0].quantity == 70);
    REQUIRE(bare.seen.size() == 1);
    CHECK(bare.seen[0].exclusivity_key == recorder.orders()[0].exclusivity_key);
    CHECK(recorder.orders_for("R-1").size() == 1);
    CHECK(recorder.orders_for("R-2").empty());
    const auto f = recorder.finished_for("R-1", report->exit_id);
    REQUIRE(f);
    CHECK(f->filled_quantity == 70);
    CHECK(f->exclusivity_keys == std::vector<std::string>{recorder.orders()[0].exclusivity_key});
    CHECK_FALSE(recorder.finished_for("R-1", report->exit_id + 1));
  }
  SECTION("a token venue that hears exit_finished") {
    ListeningTokenVenue listening;
    RecordingVenue<ListeningTokenVenue> recorder(listening);
    bool done = false;
    exitguard::execute_exit(exits, recorder, request,
                            [&](boost::system::error_code, exitguard::BasicExitReport<ManualClock>) { done = true; });
    REQUIRE(driver.run_until([&] { return !recorder.finished().empty(); }, 120s));
    CHECK(done);
    CHECK(recorder.orders().size() >= 1);
    REQUIRE(listening.heard.size() == 1);
    CHECK(listening.heard[0].exit_id == recorder.finished()[0].exit_id);
    CHECK(listening.heard[0].attempts == recorder.orders().size());
  }
}

}  // namespace
