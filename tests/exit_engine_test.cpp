// exitguard-test-set: sanitized
#include <exitguard/exit_engine.hpp>

// Tests of exitguard/exit_engine.hpp: the sans-IO exit engine. Every (state, event)
// pair of the event table is driven and checked, then each decision the engine makes
// is tested on its own. The engine reads no clock: every time is a point on
// steady_clock's epoch chosen by the test, so times are asserted exactly and no test
// sleeps. A small scripted venue (run()) plays the driver's part for the longer
// scenarios: it answers quotes at once, answers attempts after a latency or never,
// and calls handle_timeout at poll_timeout().

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace eg = exitguard;
using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;
using Engine = eg::BasicExitEngine<Clock>;
using Settings = eg::BasicExitEngineSettings<Clock>;
using Policy = eg::BasicRetryPolicy<Clock>;
using Step = eg::BasicEscalationStep<Clock>;
using TP = Clock::time_point;
using S = eg::ExitTransitionState;
using E = eg::ExitEvent;
using K = eg::ExitOutputKind;
using eg::Quantity;

namespace {

std::string_view name_of(K k) {
  switch (k) {
    case K::quote: return "quote";
    case K::submit: return "submit";
    case K::query_position: return "query_position";
    case K::cancel_attempt: return "cancel_attempt";
    case K::cancel_query: return "cancel_query";
    case K::complete: return "complete";
    case K::release: return "release";
    case K::attempt_finished: return "attempt_finished";
    case K::attempt_in_doubt: return "attempt_in_doubt";
    case K::retry: return "retry";
    case K::escalated: return "escalated";
    case K::late_fill: return "late_fill";
    case K::late_fill_after_completion: return "late_fill_after_completion";
  }
  return "unknown";
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<Quantity> {
  static std::string convert(Quantity q) { return eg::to_string(q); }
};
template <>
struct StringMaker<S> {
  static std::string convert(S s) { return std::string(eg::to_string(s)); }
};
template <>
struct StringMaker<E> {
  static std::string convert(E e) { return std::string(eg::to_string(e)); }
};
template <>
struct StringMaker<K> {
  static std::string convert(K k) { return std::string(name_of(k)); }
};
template <>
struct StringMaker<eg::AttemptOutcome> {
  static std::string convert(eg::AttemptOutcome o) { return std::string(eg::to_string(o)); }
};
template <>
struct StringMaker<eg::ExitFailureCause> {
  static std::string convert(eg::ExitFailureCause c) { return std::string(eg::to_string(c)); }
};
}  // namespace Catch

namespace {

constexpr TP at(Clock::duration d) { return TP{} + d; }

// The limit step of the tests' ladder: 4 attempts in 20 s, 8 s each, backoff 1 s, 2 s, 4 s.
Policy limit_policy() {
  Policy p = Policy::exit_policy();
  p.max_attempts = 4;
  p.backoff_multiplier = 2.0;
  p.max_backoff = 4s;
  return p;
}

// deadline 30 s, final window 10 s: limit at 1 % (limit_policy), then market at 5 %.
Settings base_settings() {
  Settings s;
  s.ladder = {Step{eg::OrderKind::limit, 100, limit_policy()},
              Step{eg::OrderKind::market, 500, eg::market_step_policy<Clock>()}};
  return s;
}

Settings market_only_settings() {
  Settings s = base_settings();
  s.ladder = {Step{eg::OrderKind::market, 500, eg::market_step_policy<Clock>()}};
  return s;
}

eg::ExitRequest request(Quantity quantity = 1000, Quantity lot = 1, eg::Side side = eg::Side::sell) {
  eg::ExitRequest r;
  r.position_id = "SOL-1";
  r.side = side;
  r.quantity = quantity;
  r.signal_price = 100;
  r.lot_size = lot;
  return r;
}

constexpr eg::VenueCapabilities no_caps{false, false};
constexpr eg::VenueCapabilities exclusive{true, false};
// Queryable venues enforce reduce-only here: a position report makes sending past a doubt safe
// (without it, see "a position report alone does not free sending past a doubt").
constexpr eg::VenueCapabilities queryable{false, true, true};

// --- answers -------------------------------------------------------------------

eg::AttemptAnswer status_answer(eg::SubmitStatus st, Quantity q, double price, std::string tx = "tx",
                                boost::system::error_code ec = {}) {
  eg::AttemptAnswer a;
  a.outcome.status = st;
  a.outcome.filled_quantity = q;
  a.outcome.average_price = price;
  a.outcome.transaction_id = std::move(tx);
  a.outcome.error = ec;
  return a;
}
eg::AttemptAnswer filled(Quantity q, double price = 99.5, std::string tx = "tx") {
  return status_answer(eg::SubmitStatus::filled, q, price, std::move(tx));
}
eg::AttemptAnswer partial(Quantity q, double price = 99.5, std::string tx = "tx") {
  return status_answer(eg::SubmitStatus::partially_filled, q, price, std::move(tx));
}
eg::AttemptAnswer rejected(boost::system::error_code ec, eg::FailureKind kind, bool escalates = false) {
  eg::AttemptAnswer a = status_answer(eg::SubmitStatus::rejected, 0, 0, "", ec);
  a.kind = kind;
  a.escalates = escalates;
  return a;
}
eg::AttemptAnswer transient_rejection() { return rejected(eg::error::venue_unavailable, eg::FailureKind::transient); }
eg::AttemptAnswer escalating_rejection() {
  return rejected(eg::error::slippage_exceeded, eg::FailureKind::permanent, true);
}
eg::AttemptAnswer permanent_rejection() {
  return rejected(eg::error::insufficient_funds, eg::FailureKind::permanent);
}

// --- the harness ---------------------------------------------------------------

// Settings, engine and every output polled so far. Not movable: the engine keeps a
// pointer to the settings.
struct Harness {
  Settings settings;
  Engine engine;
  std::vector<eg::ExitOutput> log;
  TP now{};

  Harness(Settings s, eg::ExitRequest r, eg::VenueCapabilities caps, std::uint64_t id)
      : settings(std::move(s)), engine(settings, std::move(r), id, caps) {}
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  std::vector<eg::ExitOutput> drain() {
    std::vector<eg::ExitOutput> fresh;
    while (auto o = engine.poll()) fresh.push_back(*o);
    log.insert(log.end(), fresh.begin(), fresh.end());
    return fresh;
  }
  template <class F>
  std::vector<eg::ExitOutput> at_time(TP t, F&& f) {
    now = t;
    f();
    return drain();
  }

  std::vector<eg::ExitOutput> start(TP t, boost::system::error_code refusal = {}) {
    return at_time(t, [&] { engine.start(t, refusal); });
  }
  std::vector<eg::ExitOutput> quote(double p) {
    return at_time(now, [&] { engine.handle_quote(p, now); });
  }
  std::vector<eg::ExitOutput> answer(std::uint32_t n, const eg::AttemptAnswer& a) {
    return at_time(now, [&] { engine.handle_answer(n, a, now); });
  }
  std::vector<eg::ExitOutput> fill(std::uint32_t n, std::string id, Quantity q, double price = 99.5) {
    return at_time(now, [&] { engine.handle_fill(n, eg::FillReport{std::move(id), q, price}, now); });
  }
  std::vector<eg::ExitOutput> position(Quantity open) {
    return at_time(now, [&] { engine.handle_position(open, now); });
  }
  std::vector<eg::ExitOutput> dead(std::uint32_t n) {
    return at_time(now, [&] { engine.handle_attempt_dead(n, now); });
  }
  std::vector<eg::ExitOutput> halt() {
    return at_time(now, [&] { engine.handle_halt(now); });
  }
  std::vector<eg::ExitOutput> cancel(eg::CancelKind k) {
    return at_time(now, [&] { engine.cancel(k, now); });
  }
  std::vector<eg::ExitOutput> timeout_at(TP t) {
    return at_time(t, [&] { engine.handle_timeout(t); });
  }
  // handle_timeout at the instant poll_timeout() gives.
  std::vector<eg::ExitOutput> timeout() {
    const auto t = engine.poll_timeout();
    REQUIRE(t);
    return timeout_at(*t);
  }
  std::vector<eg::ExitOutput> at(Clock::duration d) {
    now = ::at(d);
    return {};
  }

  std::size_t count(K k) const {
    return static_cast<std::size_t>(std::count_if(log.begin(), log.end(), [k](const auto& o) { return o.kind == k; }));
  }
  bool audited(eg::error e) const {
    const auto trail = engine.machine().audit_trail();
    return std::any_of(trail.begin(), trail.end(), [e](const auto& a) { return a.error == e; });
  }
  // Audit entries that record a fact (not a change of state) under `e`.
  std::size_t audited_count(eg::error e) const {
    const auto trail = engine.machine().audit_trail();
    return static_cast<std::size_t>(
        std::count_if(trail.begin(), trail.end(), [e](const auto& a) { return a.from == a.to && a.error == e; }));
  }
  std::string dump() const {
    std::ostringstream os;
    for (const auto& o : log) os << name_of(o.kind) << "(" << o.attempt << ") ";
    os << "\n";
    for (const auto& a : engine.machine().audit_trail())
      os << (a.time - TP{}).count() / 1000000 << "ms " << eg::to_string(a.from) << "->" << eg::to_string(a.to) << " "
         << a.reason << " #" << a.attempt << " " << a.error.message() << "\n";
    return os.str();
  }
};

std::unique_ptr<Harness> make(Settings s = base_settings(), eg::VenueCapabilities caps = no_caps,
                              eg::ExitRequest r = request(), std::uint64_t id = 1) {
  REQUIRE_FALSE(s.validate());
  return std::make_unique<Harness>(std::move(s), std::move(r), caps, id);
}

bool has(const std::vector<eg::ExitOutput>& outs, K k) {
  return std::any_of(outs.begin(), outs.end(), [k](const auto& o) { return o.kind == k; });
}
std::optional<eg::ExitOutput> find(const std::vector<eg::ExitOutput>& outs, K k) {
  for (const auto& o : outs)
    if (o.kind == k) return o;
  return std::nullopt;
}
std::vector<K> kinds(const std::vector<eg::ExitOutput>& outs) {
  std::vector<K> ks;
  for (const auto& o : outs) ks.push_back(o.kind);
  return ks;
}

// --- a scripted venue that drives an engine to its release ------------------------

struct ScriptedVenue {
  // The answer to an order, `latency` after it was sent; nullopt: it never answers.
  std::function<std::optional<eg::AttemptAnswer>(const eg::ExitOrder&)> answer = [](const eg::ExitOrder&) {
    return std::optional<eg::AttemptAnswer>{};
  };
  // The reference price for the i-th quote (0-based).
  std::function<double(std::size_t)> price = [](std::size_t) { return 100.0; };
  // The answer to a position query; nullopt: the query fails.
  std::function<std::optional<Quantity>(const Engine&)> position = [](const Engine& e) {
    return std::optional<Quantity>(e.remaining());
  };
  Clock::duration latency = 100ms;

  std::vector<eg::ExitOrder> orders;   // every order sent, in order
  std::vector<double> quotes;          // every price given, in order
};

// Plays the driver until the engine is released (or `limit` passes).
// Outputs before `from` (default: all polled so far) are taken as handled by the test.
void run(Harness& h, ScriptedVenue& v, std::size_t from = SIZE_MAX, TP limit = at(200s)) {
  struct Scheduled {
    TP time;
    std::uint32_t attempt;
    eg::AttemptAnswer answer;
  };
  std::vector<Scheduled> scheduled;
  std::size_t cursor = std::min(from, h.log.size());
  for (int guard = 0; guard < 100000; ++guard) {
    while (cursor < h.log.size()) {
      const eg::ExitOutput o = h.log[cursor++];
      if (o.kind == K::quote) {
        v.quotes.push_back(v.price(v.quotes.size()));
        h.quote(v.quotes.back());
      } else if (o.kind == K::submit) {
        v.orders.push_back(h.engine.order(o.attempt));
        if (auto a = v.answer(v.orders.back())) scheduled.push_back({h.now + v.latency, o.attempt, *a});
      } else if (o.kind == K::query_position) {
        if (auto p = v.position(h.engine)) {
          h.position(*p);
        } else {
          h.at_time(h.now, [&] { h.engine.handle_position_failed(eg::error::venue_unavailable, h.now); });
        }
      }
    }
    if (h.engine.is_released()) return;
    auto first = std::min_element(scheduled.begin(), scheduled.end(),
                                  [](const auto& a, const auto& b) { return a.time < b.time; });
    const auto timer = h.engine.poll_timeout();
    if (first != scheduled.end() && (!timer || first->time <= *timer)) {
      if (first->time > limit) return;
      const Scheduled s = *first;
      scheduled.erase(first);
      h.at_time(s.time, [&] { h.engine.handle_answer(s.attempt, s.answer, s.time); });
    } else if (timer) {
      if (*timer > limit) return;
      h.timeout_at(std::max(*timer, h.now));
    } else {
      return;
    }
  }
  FAIL("the scripted venue did not reach the engine's release");
}

// --- recipes: an engine in each state ---------------------------------------------

struct Recipe {
  std::unique_ptr<Harness> h;
  std::uint32_t target = 1;  // the attempt an answer, fill or death is about
};

// Attempt 1 timed out at 8 s (in doubt, still reporting); attempt 2 sent at 9 s
// (after a position report of the whole quantity on a queryable venue).
std::unique_ptr<Harness> second_attempt_after_doubt(eg::VenueCapabilities caps) {
  auto h = make(base_settings(), caps);
  h->start(at(0s));
  h->quote(100);
  REQUIRE(h->engine.pending_attempt() == 1u);
  h->timeout();  // 8 s: in doubt, backoff until 9 s
  REQUIRE(h->now == at(8s));
  REQUIRE(h->engine.state() == S::exit_timed_out);
  const auto outs = h->timeout();  // 9 s
  REQUIRE(h->now == at(9s));
  if (caps.queries_position) {
    REQUIRE(has(outs, K::query_position));
    h->position(1000);
  }
  h->quote(100);
  REQUIRE(h->engine.pending_attempt() == 2u);
  return h;
}

// An engine in state `s`, stable while one event is applied at h->now. With
// `query`, a position query is outstanding (for the position event); otherwise, in
// the states between attempts, a quote is.
Recipe into(S s, bool query) {
  Recipe r;
  const auto between = query ? queryable : exclusive;
  switch (s) {
    case S::position_open:
      r.h = make();
      break;
    case S::exit_signal_received:
      r.h = make();
      r.h->start(at(0s));
      break;
    case S::exit_submitted:
      r.h = make();
      r.h->start(at(0s));
      r.h->quote(100);
      break;
    case S::market_exit_submitted:
      r.h = make(market_only_settings());
      r.h->start(at(0s));
      r.h->quote(100);
      break;
    case S::partially_filled:
      r.h = second_attempt_after_doubt(between);
      r.h->answer(2, partial(400));
      break;
    case S::exit_timed_out:
      r.h = make(base_settings(), between);
      r.h->start(at(0s));
      r.h->quote(100);
      r.h->timeout();  // 8 s: in doubt
      r.h->timeout();  // 9 s: the backoff ended
      break;
    case S::exit_rejected:
      r.h = second_attempt_after_doubt(between);
      r.h->answer(2, transient_rejection());
      r.h->timeout();  // the backoff ended
      break;
    case S::emergency_escalation:
      r.h = second_attempt_after_doubt(between);
      r.h->answer(2, escalating_rejection());
      break;
    case S::position_closed:
      // Closed by the fill stream: attempt 1's answer is still to come.
      r.h = make();
      r.h->start(at(0s));
      r.h->quote(100);
      r.h->fill(1, "f-1", 1000);
      break;
    case S::exit_failed:
      // Attempt 1 in doubt on a venue that can neither tell nor exclude: failed at the deadline.
      r.h = make();
      r.h->start(at(0s));
      r.h->quote(100);
      r.h->timeout();
      r.h->timeout();
      r.h->timeout();
      REQUIRE(r.h->now == at(30s));
      break;
    case S::exit_cancelled:
      r.h = make();
      r.h->start(at(0s));
      r.h->quote(100);
      r.h->cancel(eg::CancelKind::terminal);
      break;
  }
  REQUIRE(r.h->engine.state() == s);
  REQUIRE_FALSE(r.h->engine.is_released());
  const bool between_attempts = s == S::partially_filled || s == S::exit_timed_out || s == S::exit_rejected ||
                                s == S::emergency_escalation;
  if (between_attempts) {
    REQUIRE(r.h->engine.query_outstanding() == query);
    REQUIRE(r.h->log.back().kind == (query ? K::query_position : K::quote));
  }
  return r;
}

// The event with a representative payload, at h.now (the timer: at poll_timeout()).
void fire(Harness& h, E e, std::uint32_t target) {
  Engine& g = h.engine;
  const TP t = h.now;
  switch (e) {
    case E::start: g.start(t); break;
    case E::quote: g.handle_quote(101, t); break;
    case E::answer: g.handle_answer(target, filled(1000, 99.0, "tx-late"), t); break;
    case E::fill: g.handle_fill(target, eg::FillReport{"f-pair", 100, 99.0}, t); break;
    case E::position: g.handle_position(g.remaining(), t); break;
    case E::attempt_dead: g.handle_attempt_dead(target, t); break;
    case E::timer: {
      const TP when = g.poll_timeout().value_or(t);
      h.now = when;
      g.handle_timeout(when);
      break;
    }
    case E::halt: g.handle_halt(t); break;
    case E::cancel: g.cancel(eg::CancelKind::terminal, t); break;
  }
}

struct Snapshot {
  S state;
  Quantity remaining, filled;
  std::uint32_t attempts;
  std::optional<TP> timeout;
  std::optional<std::uint32_t> pending;
  bool query, released;
  std::uint32_t step;
  boost::system::error_code error;
  std::size_t refused_events, audit_recorded;
  std::uint32_t anomalies;

  static Snapshot of(const Engine& g) {
    return {g.state(),         g.remaining(),   g.filled(),       g.attempts_started(),
            g.poll_timeout(),  g.pending_attempt(), g.query_outstanding(), g.is_released(),
            g.step(),          g.exit_error(),  g.machine().refused_events(), g.machine().audit_recorded(),
            g.anomalies()};
  }
};

}  // namespace

TEST_CASE("exit_engine.hpp compiles on its own and its engine reads no clock") {
  STATIC_REQUIRE(std::is_same_v<eg::ExitEngine::clock_type, std::chrono::steady_clock>);
  STATIC_REQUIRE(std::is_same_v<Engine::time_point, TP>);
  STATIC_REQUIRE(!std::is_copy_assignable_v<Harness>);
  STATIC_REQUIRE(eg::is_command(K::release) && !eg::is_command(K::attempt_finished));
  STATIC_REQUIRE(eg::exit_transition_state_count * eg::exit_event_count == 99);
}

TEST_CASE("Every state and event pair is refused or taken as the event table says") {
  static std::set<std::pair<int, int>> checked;
  static int refused_pairs = 0;
  static int taken_pairs = 0;

  const S state = GENERATE(from_range(eg::exit_transition_states.begin(), eg::exit_transition_states.end()));
  const E event = GENERATE(from_range(eg::exit_events.begin(), eg::exit_events.end()));
  const bool allowed = eg::is_allowed_event(state, event);
  INFO(eg::to_string(state) << " + " << eg::to_string(event) << (allowed ? " (allowed)" : " (refused)"));

  Recipe r = into(state, event == E::position);
  Harness& h = *r.h;
  const Snapshot before = Snapshot::of(h.engine);
  REQUIRE(h.engine.machine().refused_transitions() == 0);

  fire(h, event, r.target);
  const auto outs = h.drain();
  const Snapshot after = Snapshot::of(h.engine);
  const auto& m = h.engine.machine();

  if (!allowed) {
    CHECK(after.refused_events == before.refused_events + 1);
    CHECK(after.audit_recorded == before.audit_recorded + 1);
    const auto& last = m.audit_entry_at(m.audit_size() - 1);
    CHECK(last.event == event);
    CHECK(last.error == eg::error::event_not_allowed);
    CHECK_FALSE(last.accepted);
    CHECK(last.from == state);
    CHECK(last.to == state);
    // Nothing else changed (an anomaly is counted).
    CHECK(outs.empty());
    CHECK(after.state == before.state);
    CHECK(after.remaining == before.remaining);
    CHECK(after.filled == before.filled);
    CHECK(after.attempts == before.attempts);
    CHECK(after.timeout == before.timeout);
    CHECK(after.pending == before.pending);
    CHECK(after.query == before.query);
    CHECK(after.released == before.released);
    CHECK(after.step == before.step);
    CHECK(after.error == before.error);
    CHECK(after.anomalies == before.anomalies + 1);
    ++refused_pairs;
  } else {
    // Taken: not refused, and whatever it changed followed the transition table.
    CHECK(after.refused_events == before.refused_events);
    for (std::size_t i = m.audit_size() - (after.audit_recorded - before.audit_recorded); i < m.audit_size(); ++i) {
      CHECK(m.audit_entry_at(i).error != eg::error::event_not_allowed);
      CHECK_FALSE(m.audit_entry_at(i).event.has_value());
    }
    CHECK(m.refused_transitions() == 0);
    CHECK((after.state == state || eg::is_valid_transition(state, after.state)));
    // Something happened: a change of state or of what is outstanding, an output, or a record.
    const bool changed = after.state != before.state || !outs.empty() || after.audit_recorded != before.audit_recorded ||
                         after.filled != before.filled || after.timeout != before.timeout;
    CHECK(changed);
    ++taken_pairs;
  }
  CHECK(checked.insert({static_cast<int>(state), static_cast<int>(event)}).second);

  if (state == S::exit_cancelled && event == E::cancel) {
    REQUIRE(checked.size() == 99);
    REQUIRE(refused_pairs + taken_pairs == 99);
    REQUIRE(taken_pairs == 61);  // the table's allowed pairs: 1 + 4 + 6 + 6 + 4 * 8 + 3 * 4
  }
}

// --- the happy path and exact quantities -------------------------------------------

TEST_CASE("One attempt that fills closes the exit with complete and release and a full report") {
  const eg::Side side = GENERATE(eg::Side::sell, eg::Side::buy);
  auto h = make(base_settings(), no_caps, request(1000, 1, side), 7);
  CHECK_FALSE(h->engine.poll_timeout());  // not started: no timer
  CHECK(kinds(h->start(at(5s))) == std::vector<K>{K::quote});
  CHECK(h->engine.state() == S::exit_signal_received);
  CHECK(h->engine.poll_timeout() == at(35s));  // the deadline
  const auto sent = h->quote(100);
  REQUIRE(kinds(sent) == std::vector<K>{K::submit});
  CHECK(sent[0].attempt == 1);
  CHECK(sent[0].step == 0);
  CHECK(sent[0].order_kind == eg::OrderKind::limit);
  CHECK(h->engine.poll_timeout() == at(13s));  // the attempt's timeout
  const eg::ExitOrder o = h->engine.order(1);
  CHECK(o.exit_id == 7);
  CHECK(o.position_id == "SOL-1");
  CHECK(o.side == side);
  CHECK(o.quantity == 1000);
  CHECK(o.lot_size == 1);
  CHECK(o.kind == eg::OrderKind::limit);
  CHECK(o.limit_price == Approx(side == eg::Side::sell ? 99.0 : 101.0));
  CHECK(o.max_slippage_bps == 100);
  CHECK(o.attempt == 1);
  CHECK(o.reduce_only);
  CHECK(o.exclusivity_key == "exit-7-0");

  const double price = side == eg::Side::sell ? 99.5 : 100.5;
  h->at(7s);
  const auto done = h->answer(1, filled(1000, price, "sig-1"));
  REQUIRE(kinds(done) == (std::vector<K>{K::attempt_finished, K::complete, K::release}));
  CHECK(done[0].attempt == 1);
  CHECK(done[0].outcome == eg::AttemptOutcome::filled);
  CHECK(h->engine.is_complete());
  CHECK(h->engine.is_released());
  CHECK_FALSE(h->engine.poll_timeout());

  const auto r = h->engine.report();
  CHECK(r.exit_id == 7);
  CHECK(r.position_id == "SOL-1");
  CHECK(r.closed());
  CHECK(r.final_state == S::position_closed);
  CHECK_FALSE(r.error);
  CHECK(r.failure_cause == eg::ExitFailureCause::none);
  CHECK_FALSE(r.counts_for_breaker);
  CHECK(r.attempts == 1);
  CHECK(r.requested_quantity == 1000);
  CHECK(r.filled_quantity == 1000);
  CHECK(r.open_quantity == 0);
  CHECK(r.average_price == Approx(price));
  CHECK(r.realized_slippage_bps == Approx(50));  // half a percent worse, either side
  CHECK(r.exit_time == 2s);
  CHECK_FALSE(r.escalated);
  CHECK(r.late_fills == 0);
  CHECK(r.anomalies == 0);
  REQUIRE(r.attempt_records.size() == 1);
  CHECK(r.attempt_records[0].outcome == eg::AttemptOutcome::filled);
  CHECK(r.attempt_records[0].transaction_id == "sig-1");
  CHECK(r.attempt_records[0].filled_quantity == 1000);
  std::vector<S> path;
  for (const auto& a : r.audit_trail)
    if (a.from != a.to) path.push_back(a.to);
  CHECK(path == (std::vector<S>{S::exit_signal_received, S::exit_submitted, S::position_closed}));
}

TEST_CASE("no order for dust below one lot after the venue is flat") {
  // A venue keeping 1e-6 lots: 1000.000007 units of which 7e-6 is dust.
  const Quantity lot = 1'000'000;
  auto h = make(base_settings(), no_caps, request(1'000'000'007, lot));
  h->start(at(0s));
  h->quote(100);
  CHECK(h->engine.order(1).quantity == 1'000'000'000);
  CHECK(h->engine.order(1).lot_size == lot);
  h->at(1s);
  h->answer(1, partial(600'000'000));
  CHECK(h->engine.state() == S::partially_filled);
  CHECK(h->engine.remaining() == 400'000'007);
  const auto sent = h->quote(100);
  REQUIRE(has(sent, K::submit));
  CHECK(h->engine.order(2).quantity == 400'000'000);  // whole lots only
  h->at(2s);
  const auto done = h->answer(2, filled(400'000'000));
  CHECK(has(done, K::complete));
  CHECK(h->engine.state() == S::position_closed);
  CHECK(h->engine.remaining() == 7);  // less than a lot: closed, no third order
  CHECK(h->count(K::submit) == 2);
  CHECK(h->count(K::quote) == 2);
  const auto r = h->engine.report();
  CHECK(r.filled_quantity == 1'000'000'000);
  CHECK(r.open_quantity == 7);
  CHECK(r.attempts == 2);
  for (const auto& rec : r.attempt_records) CHECK(rec.quantity.units() % lot.units() == 0);
}

TEST_CASE("a request below one lot fails invalid_quantity having sent nothing") {
  struct Case {
    Quantity quantity, lot;
    eg::error expected;
  };
  const Case c = GENERATE(Case{0, 1, eg::error::invalid_quantity}, Case{-5, 1, eg::error::invalid_quantity},
                          Case{999, 1000, eg::error::invalid_quantity}, Case{1000, 0, eg::error::invalid_lot_size},
                          Case{1000, -1, eg::error::invalid_lot_size});
  INFO("quantity " << eg::to_string(c.quantity) << " lot " << eg::to_string(c.lot));
  auto h = make(base_settings(), queryable, request(c.quantity, c.lot));
  const auto outs = h->start(at(0s));
  CHECK(kinds(outs) == (std::vector<K>{K::complete, K::release}));
  CHECK(h->engine.state() == S::exit_failed);
  CHECK(h->engine.exit_error() == c.expected);
  CHECK(h->engine.failure_cause() == eg::ExitFailureCause::invalid_request);
  CHECK_FALSE(h->engine.counts_for_breaker());
  CHECK(h->engine.attempts_started() == 0);
  CHECK(h->engine.is_released());
}

TEST_CASE("no order is sent without a finite positive cap") {
  const double bad = GENERATE(0.0, -3.0, std::numeric_limits<double>::quiet_NaN(),
                              std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity());
  const bool after_valid_quote = GENERATE(false, true);
  INFO("reference price " << bad << (after_valid_quote ? " after a valid quote of 120" : ""));
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  double expected = 99.0;  // from the signal price
  if (after_valid_quote) {
    h->quote(120);
    CHECK(h->engine.order(1).limit_price == Approx(118.8));
    h->at(1s);
    h->answer(1, partial(500));
    expected = 118.8;  // from the last valid quote
  }
  const auto sent = h->quote(bad);
  REQUIRE(has(sent, K::submit));
  const eg::ExitOrder o = h->engine.order(h->engine.attempts_started());
  CHECK(std::isfinite(o.limit_price));
  CHECK(o.limit_price > 0);
  CHECK(o.limit_price == Approx(expected));
  CHECK(h->audited_count(eg::error::invalid_reference_price) == 1);
  CHECK(h->engine.anomalies() == 1);
}

// --- malformed answers -------------------------------------------------------------

TEST_CASE("A malformed answer is audited, counted and never re-sends the whole quantity") {
  struct Case {
    const char* name;
    eg::AttemptAnswer answer;
    eg::error expected;
  };
  const Case c = GENERATE(
      Case{"filled with 0", filled(0), eg::error::fill_without_quantity},
      Case{"filled with a negative quantity", filled(-400), eg::error::fill_without_quantity},
      Case{"partially filled with 0", partial(0), eg::error::fill_without_quantity},
      Case{"an unnamed status", status_answer(static_cast<eg::SubmitStatus>(9), 1000, 99.5), eg::error::unknown_submit_status},
      Case{"an unnamed status 255", status_answer(static_cast<eg::SubmitStatus>(255), 0, 0), eg::error::unknown_submit_status});
  // as<>: with an lvalue first, Catch2 makes a generator of references, and the
  // temporary last value dangled (UBSan at -O0: a bool loaded as 3).
  const eg::VenueCapabilities caps = GENERATE(as<eg::VenueCapabilities>{}, no_caps, exclusive, queryable,
                                              eg::VenueCapabilities{true, true, true});
  INFO(c.name << (caps.exclusive_attempts ? ", exclusive" : "") << (caps.queries_position ? ", queryable" : ""));

  auto h = make(base_settings(), caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  h->answer(1, c.answer);
  CHECK(h->audited_count(c.expected) == 1);
  CHECK(h->engine.anomalies() == 1);
  CHECK(h->engine.tracker().find(1)->outcome == eg::AttemptOutcome::in_doubt);
  CHECK(h->engine.filled() == 0);
  CHECK(h->engine.state() == S::exit_timed_out);

  if (!caps.queries_position) {
    // Only the position could tell, even on an exclusive venue: nothing more is sent.
    ScriptedVenue v;
    run(*h, v);
    CHECK(v.orders.empty());
    CHECK(h->count(K::submit) == 1);
    CHECK(h->engine.state() == S::exit_failed);
    CHECK(h->engine.exit_error() == eg::error::in_doubt_unresolvable);
    CHECK(h->engine.report().exit_time == 30s);
    CHECK(h->engine.failure_cause() == eg::ExitFailureCause::infrastructure);
  } else {
    // A position query before the next attempt, and the next attempt sized by it.
    ScriptedVenue v;
    // Attempt 1 really sold 400; every later order fills in full.
    v.position = [&v](const Engine&) {
      Quantity open = 600;
      for (const auto& o : v.orders) open -= o.quantity;
      return std::optional<Quantity>(open);
    };
    v.answer = [](const eg::ExitOrder& o) { return std::optional(filled(o.quantity)); };
    run(*h, v);
    const auto query = std::find_if(h->log.begin(), h->log.end(), [](const auto& o) { return o.kind == K::query_position; });
    const auto second = std::find_if(h->log.begin(), h->log.end(),
                                     [](const auto& o) { return o.kind == K::submit && o.attempt == 2; });
    INFO(h->dump());
    REQUIRE(query != h->log.end());
    REQUIRE(second != h->log.end());
    CHECK(query < second);
    REQUIRE(v.orders.size() == 1);
    CHECK(v.orders[0].quantity == 600);
    CHECK(h->engine.state() == S::position_closed);
    CHECK(h->engine.report().filled_quantity == 1000);  // 400 by the position's count, 600 by attempt 2
  }
}

TEST_CASE("A counted answer that is malformed is audited and corrected") {
  struct Case {
    const char* name;
    eg::AttemptAnswer answer;
    eg::error expected;
    Quantity counted;
    double average;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const Case c = GENERATE_COPY(
      Case{"an over-fill", filled(1500), eg::error::overfill, 1000, 99.5},
      Case{"a partial over-fill", partial(1001), eg::error::overfill, 1000, 99.5},
      Case{"a fill at price 0", partial(400, 0.0), eg::error::invalid_fill_price, 400, 99.0},
      Case{"a fill at a negative price", partial(400, -1.0), eg::error::invalid_fill_price, 400, 99.0},
      Case{"a fill at NaN", partial(400, nan), eg::error::invalid_fill_price, 400, 99.0},
      Case{"a fill at infinity", filled(1000, inf), eg::error::invalid_fill_price, 1000, 99.0});
  INFO(c.name);
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  h->answer(1, c.answer);
  CHECK(h->audited_count(c.expected) == 1);
  CHECK(h->engine.anomalies() == 1);
  CHECK(h->engine.filled() == c.counted);
  CHECK(h->engine.report().average_price == Approx(c.average));  // at the order's limit if the price was refused
  CHECK(std::isfinite(h->engine.report().realized_slippage_bps));
  if (c.counted == 1000) {
    CHECK(h->engine.state() == S::position_closed);
    CHECK(h->count(K::quote) == 1);
  } else {
    // The remainder goes, never the whole quantity.
    h->quote(100);
    REQUIRE(h->engine.attempts_started() == 2);
    CHECK(h->engine.order(2).quantity == 1000 - c.counted);
  }
  CHECK(h->count(K::submit) == h->engine.attempts_started());
}

TEST_CASE("an unnamed status never reports more sold than requested") {
  const int status = GENERATE(4, 9, 200, 255);
  INFO("status " << status);
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  h->answer(1, status_answer(static_cast<eg::SubmitStatus>(status), 5000, 99.5));
  const auto* rec = h->engine.tracker().find(1);
  CHECK(rec->outcome != eg::AttemptOutcome::pending);
  CHECK(rec->outcome == eg::AttemptOutcome::in_doubt);
  CHECK(rec->needs_reconciliation);
  CHECK_FALSE(h->engine.pending_attempt());
  CHECK(h->engine.filled() == 0);
  CHECK(h->engine.remaining() == 1000);
  ScriptedVenue v;
  run(*h, v);
  const auto r = h->engine.report();
  CHECK(r.filled_quantity <= r.requested_quantity);
  CHECK(r.filled_quantity == 0);
  CHECK(r.exit_time == 30s);
  CHECK(r.error == eg::error::in_doubt_unresolvable);
  CHECK(v.orders.empty());
}

TEST_CASE("a fill of an attempt sized by a reconciliation is not taken for the sale it found") {
  // Attempt 1 times out; the position says 400 of it sold; attempt 2 (600) fills in
  // full: the exit is closed. Matching attempt 2's fill with attempt 1's sale would
  // leave 400 "open" and send a third order on a flat venue.
  auto h = make(base_settings(), queryable);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s
  REQUIRE(has(h->timeout(), K::query_position));  // 9 s
  h->position(600);
  CHECK(h->engine.remaining() == 600);
  CHECK(h->engine.filled() == 400);
  h->quote(100);
  REQUIRE(h->engine.order(2).quantity == 600);
  CHECK(h->engine.order(2).exclusivity_key == "exit-1-1");  // the sale used the key up
  h->at(10s);
  h->answer(2, filled(600));
  CHECK(h->engine.state() == S::position_closed);
  CHECK(h->engine.remaining() == 0);
  CHECK(h->engine.filled() == 1000);
  CHECK(h->count(K::submit) == 2);
  // Attempt 1's own answer comes late: matched with the sale found, not counted again.
  h->at(12s);
  const auto late = h->answer(1, filled(400, 99.0));
  CHECK(h->engine.filled() == 1000);
  CHECK(h->engine.report().filled_quantity == 1000);
  CHECK(has(late, K::late_fill_after_completion));
  CHECK(h->engine.is_released());
}

// --- time, attempts and the final step ---------------------------------------------

namespace {
// The final step with short attempts: many re-quotes fit in the final window.
Settings short_market_settings() {
  Settings s = base_settings();
  s.ladder[1].policy.attempt_timeout = 2s;
  return s;
}
}  // namespace

TEST_CASE("an exit whose time ran out reports deadline_exceeded") {
  // Full outage on an exclusive venue: every attempt times out.
  auto h = make(short_market_settings(), exclusive);
  h->start(at(0s));
  ScriptedVenue v;
  v.price = [](std::size_t i) { return 100.0 - static_cast<double>(i); };
  run(*h, v, 0);
  INFO(h->dump());
  const auto r = h->engine.report();
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.error == eg::error::deadline_exceeded);
  CHECK(r.error != eg::error::attempts_exhausted);
  CHECK(r.failure_cause == eg::ExitFailureCause::infrastructure);
  CHECK(r.counts_for_breaker);
  CHECK(r.exit_time == 30s);
  CHECK(r.escalated);
  const auto market = static_cast<std::uint32_t>(std::count_if(
      v.orders.begin(), v.orders.end(), [](const auto& o) { return o.kind == eg::OrderKind::market; }));
  CHECK(market > h->settings.ladder[1].policy.max_attempts);  // re-quoted until the deadline
  CHECK(r.attempts < h->settings.max_attempts_per_exit);
  // Each order came right after its own quote, at the price of that quote.
  REQUIRE(v.orders.size() == v.quotes.size());
  for (std::size_t i = 0; i < v.orders.size(); ++i) {
    const double f = v.orders[i].kind == eg::OrderKind::market ? 0.95 : 0.99;
    CHECK(v.orders[i].limit_price == Approx(v.quotes[i] * f));
  }
}

TEST_CASE("attempts_exhausted only with time left") {
  const std::uint32_t limit = GENERATE(1u, 3u, 5u, 64u);
  INFO("attempt limit " << limit);
  Settings s = base_settings();
  s.max_attempts_per_exit = limit;
  auto h = make(s, no_caps);
  h->start(at(0s));
  ScriptedVenue v;
  v.answer = [](const eg::ExitOrder&) { return std::optional(transient_rejection()); };
  run(*h, v, 0);
  const auto r = h->engine.report();
  CHECK(r.final_state == S::exit_failed);
  if (limit < 20) {
    CHECK(r.error == eg::error::attempts_exhausted);
    CHECK(r.exit_time < 30s);  // with time left
    CHECK(r.attempts == limit);
  } else {
    CHECK(r.error == eg::error::deadline_exceeded);
    CHECK(r.attempts < limit);
  }
  CHECK(r.failure_cause == eg::ExitFailureCause::infrastructure);
}

TEST_CASE("the final market step re-quotes at the current price each time") {
  // Every attempt is rejected because the market moved: each market order is priced
  // from the quote asked for just before it.
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  ScriptedVenue v;
  v.price = [](std::size_t i) { return 100.0 * std::pow(0.99, static_cast<double>(i)); };
  v.answer = [](const eg::ExitOrder&) { return std::optional(escalating_rejection()); };
  run(*h, v, 0);
  std::size_t quotes_since_submit = 0;
  std::size_t market_submits = 0;
  for (const auto& o : h->log) {
    if (o.kind == K::quote) ++quotes_since_submit;
    if (o.kind == K::submit) {
      CHECK(quotes_since_submit == 1);
      quotes_since_submit = 0;
      if (o.order_kind == eg::OrderKind::market) ++market_submits;
    }
  }
  CHECK(market_submits > 3);
  REQUIRE(v.orders.size() == v.quotes.size());
  CHECK(v.orders[0].kind == eg::OrderKind::limit);  // the limit step escalated at once
  for (std::size_t i = 1; i < v.orders.size(); ++i) {
    CHECK(v.orders[i].kind == eg::OrderKind::market);
    CHECK(v.orders[i].limit_price == Approx(v.quotes[i] * 0.95));
    CHECK(v.orders[i].limit_price < v.orders[i - 1].limit_price * (i == 1 ? 1.0 : 0.995));
  }
  CHECK(h->count(K::escalated) == 1);
  CHECK(h->engine.exit_error() == eg::error::deadline_exceeded);
}

TEST_CASE("The breaker's cause of a failed exit") {
  struct Case {
    const char* name;
    std::function<std::optional<eg::AttemptAnswer>(const eg::ExitOrder&)> answer;
    eg::VenueCapabilities caps;
    eg::ExitFailureCause cause;
    eg::error error;
    bool counts;  // without breaker_counts_market_rejections
  };
  const Case c = GENERATE(values<Case>({
      {"every failed attempt an escalating rejection, at the widest cap at last",
       [](const eg::ExitOrder&) { return std::optional(escalating_rejection()); }, no_caps, eg::ExitFailureCause::market,
       eg::error::deadline_exceeded, false},
      {"escalating rejections after one transient one",
       [](const eg::ExitOrder& o) {
         return std::optional(o.attempt == 1 ? transient_rejection() : escalating_rejection());
       },
       no_caps, eg::ExitFailureCause::infrastructure, eg::error::deadline_exceeded, true},
      {"timeouts", [](const eg::ExitOrder&) { return std::optional<eg::AttemptAnswer>(); }, exclusive,
       eg::ExitFailureCause::infrastructure, eg::error::deadline_exceeded, true},
      {"timeouts on a venue that cannot resolve doubt", [](const eg::ExitOrder&) { return std::optional<eg::AttemptAnswer>(); },
       no_caps, eg::ExitFailureCause::infrastructure, eg::error::in_doubt_unresolvable, true},
      {"a permanent rejection", [](const eg::ExitOrder&) { return std::optional(permanent_rejection()); }, no_caps,
       eg::ExitFailureCause::venue, eg::error::insufficient_funds, true},
      {"a permanent rejection after an escalating one",
       [](const eg::ExitOrder& o) {
         return std::optional(o.attempt == 1 ? escalating_rejection() : permanent_rejection());
       },
       no_caps, eg::ExitFailureCause::venue, eg::error::insufficient_funds, true},
  }));
  const bool counts_market = GENERATE(false, true);
  INFO(c.name << (counts_market ? ", breaker_counts_market_rejections" : ""));
  Settings s = short_market_settings();
  s.breaker_counts_market_rejections = counts_market;
  auto h = make(s, c.caps);
  h->start(at(0s));
  ScriptedVenue v;
  v.answer = c.answer;
  run(*h, v, 0);
  const auto r = h->engine.report();
  CHECK(r.final_state == S::exit_failed);
  CHECK(r.error == c.error);
  CHECK(r.failure_cause == c.cause);
  CHECK(r.counts_for_breaker == (c.cause == eg::ExitFailureCause::market ? counts_market : c.counts));
  CHECK(h->engine.counts_for_breaker() == r.counts_for_breaker);
}

TEST_CASE("An exit refused at its start or cancelled does not count for the breaker") {
  const bool refused = GENERATE(false, true);
  auto h = make(base_settings(), no_caps);
  if (refused) {
    const auto outs = h->start(at(0s), eg::error::circuit_open);
    CHECK(kinds(outs) == (std::vector<K>{K::complete, K::release}));
    CHECK(h->engine.exit_error() == eg::error::circuit_open);
    CHECK(h->engine.failure_cause() == eg::ExitFailureCause::refused);
  } else {
    h->start(at(0s));
    h->cancel(eg::CancelKind::terminal);
    CHECK(h->engine.failure_cause() == eg::ExitFailureCause::cancelled);
  }
  CHECK(h->engine.is_released());
  CHECK_FALSE(h->engine.counts_for_breaker());
  CHECK(h->engine.attempts_started() == 0);
}

// --- reality wins ------------------------------------------------------------------

TEST_CASE("a landing after a cancelled exit is recorded") {
  // After the exit ended (failed in doubt, or cancelled with the attempt in flight),
  // attempt 1 lands: recorded once, announced once, the report corrected.
  const bool cancelled = GENERATE(false, true);
  const bool by_fill_report = GENERATE(false, true);
  INFO((cancelled ? "cancelled" : "failed in doubt") << (by_fill_report ? ", fill reports first" : ", answer first"));
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  if (cancelled) {
    h->at(1s);
    h->cancel(eg::CancelKind::terminal);
    CHECK(h->engine.state() == S::exit_cancelled);
  } else {
    ScriptedVenue v;
    run(*h, v, SIZE_MAX, at(30s));
    CHECK(h->engine.exit_error() == eg::error::in_doubt_unresolvable);
  }
  const S final_state = h->engine.state();
  REQUIRE(eg::is_terminal(final_state));
  REQUIRE_FALSE(h->engine.is_released());
  CHECK(h->engine.report().filled_quantity == 0);
  h->at(40s);
  std::vector<eg::ExitOutput> late;
  if (by_fill_report) {
    auto outs = h->fill(1, "f-1", 300, 99.0);
    late.insert(late.end(), outs.begin(), outs.end());
    const auto dup = h->fill(1, "f-1", 300, 99.0);  // the same fill again
    CHECK(dup.empty());
    CHECK(h->audited_count(eg::error::duplicate_fill) == 1);
    CHECK(h->engine.filled() == 300);
    outs = h->fill(1, "f-2", 700, 99.0);
    late.insert(late.end(), outs.begin(), outs.end());
    outs = h->answer(1, filled(1000, 99.0, "sig-1"));  // the same 1000 in the answer: not counted again
    late.insert(late.end(), outs.begin(), outs.end());
  } else {
    late = h->answer(1, filled(1000, 99.0, "sig-1"));
    const auto again = h->at_time(h->now, [&] { h->engine.handle_answer(1, filled(1000, 99.0, "sig-1"), h->now); });
    CHECK(again.empty());
  }
  Quantity announced = 0;
  for (const auto& o : late)
    if (o.kind == K::late_fill_after_completion) {
      CHECK(o.attempt == 1);
      announced += o.quantity;
    }
  CHECK(announced == 1000);
  CHECK(h->count(K::late_fill) == 0);
  CHECK(h->count(K::complete) == 1);
  const auto r = h->engine.report();
  CHECK(r.final_state == final_state);  // the end stays as it was; the quantities are corrected
  CHECK(r.filled_quantity == 1000);
  CHECK(r.open_quantity == 0);
  CHECK(r.average_price == Approx(99.0));
  CHECK(r.late_fills >= 1);
  CHECK(r.attempt_records[0].filled_quantity == 1000);
  CHECK(r.attempt_records[0].late_fill);
  CHECK(h->engine.is_released());
  CHECK(h->engine.report().filled_quantity <= h->engine.report().requested_quantity);
}

TEST_CASE("A late fill while the exit runs is announced and closes it if it covers the rest") {
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s: attempt 1 in doubt
  h->timeout();  // 9 s
  h->quote(100);  // attempt 2
  REQUIRE(h->engine.pending_attempt() == 2u);
  h->at(10s);
  const auto outs = h->fill(1, "f-1", 1000);
  REQUIRE(has(outs, K::late_fill));
  CHECK(find(outs, K::late_fill)->quantity == 1000);
  CHECK_FALSE(has(outs, K::late_fill_after_completion));
  CHECK(h->engine.state() == S::position_closed);
  // Attempt 2, in flight, is asked to stop.
  REQUIRE(has(outs, K::cancel_attempt));
  CHECK(find(outs, K::cancel_attempt)->attempt == 2);
  CHECK(h->engine.report().late_fills == 1);
}

TEST_CASE("an in_doubt answer with an error code stays in doubt") {
  const eg::FailureKind kind = GENERATE(eg::FailureKind::permanent, eg::FailureKind::transient);
  const bool escalates = GENERATE(false, true);
  const Quantity filled_part = GENERATE(Quantity{0}, Quantity{300});
  const bool with_code = GENERATE(true, false);
  const boost::system::error_code code = with_code ? make_error_code(eg::error::insufficient_funds)
                                                   : boost::system::error_code{};
  INFO(eg::to_string(kind) << (escalates ? ", escalates" : "") << ", filled " << eg::to_string(filled_part)
                           << (with_code ? ", insufficient_funds" : ", no error code"));
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  eg::AttemptAnswer a = status_answer(eg::SubmitStatus::in_doubt, filled_part, 99.5, "sig-1", code);
  a.kind = kind;
  a.escalates = escalates;
  const auto outs = h->answer(1, a);
  CHECK(has(outs, K::attempt_in_doubt));
  CHECK_FALSE(has(outs, K::escalated));
  CHECK_FALSE(has(outs, K::complete));
  CHECK(h->engine.state() == S::exit_timed_out);
  CHECK(h->engine.tracker().find(1)->outcome == eg::AttemptOutcome::in_doubt);
  CHECK(h->engine.tracker().find(1)->error == (with_code ? code : make_error_code(eg::error::in_doubt)));
  CHECK(h->engine.filled() == filled_part);
  CHECK(h->engine.step() == 0);
  ScriptedVenue v;
  run(*h, v);
  CHECK(v.orders.empty());  // in doubt on a venue that can neither tell nor exclude
  CHECK(h->engine.exit_error() == eg::error::in_doubt_unresolvable);
  CHECK(h->engine.failure_cause() == eg::ExitFailureCause::infrastructure);
}

TEST_CASE("A filled answer carrying an error code is a fill") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  h->answer(1, status_answer(eg::SubmitStatus::filled, 1000, 99.5, "sig-1", eg::error::slippage_exceeded));
  CHECK(h->engine.state() == S::position_closed);
  CHECK(h->engine.filled() == 1000);
}

TEST_CASE("Fill reports are deduplicated by fill id and an answer with its fill reports counts once") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  h->fill(1, "f-1", 300, 99.0);
  h->fill(1, "f-1", 300, 99.0);
  CHECK(h->engine.filled() == 300);
  CHECK(h->audited_count(eg::error::duplicate_fill) == 1);
  h->fill(1, "f-2", 300, 98.0);
  CHECK(h->engine.filled() == 600);
  CHECK(h->engine.remaining() == 400);
  CHECK(h->engine.state() == S::exit_submitted);  // the attempt's answer is still to come
  // The answer reports the same 600: counted once.
  h->answer(1, partial(600, 98.5));
  CHECK(h->engine.filled() == 600);
  CHECK(h->engine.state() == S::partially_filled);
  h->quote(100);
  REQUIRE(h->engine.attempts_started() == 2);
  CHECK(h->engine.order(2).quantity == 400);
  // A fill id is per attempt: "f-1" of attempt 2 is another fill.
  h->fill(2, "f-1", 100, 99.0);
  CHECK(h->engine.filled() == 700);
  // Fill reports beyond an answer that counted more: the larger total counts.
  h->answer(2, filled(400, 99.0));
  CHECK(h->engine.filled() == 1000);
  CHECK(h->engine.state() == S::position_closed);
  CHECK(h->engine.report().filled_quantity == 1000);
  CHECK(h->engine.anomalies() == 0);
}

TEST_CASE("A fill report seen twice is a duplicate even when it filled the whole order") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  h->fill(1, "f-1", 1000);
  REQUIRE(h->engine.state() == S::position_closed);
  REQUIRE_FALSE(h->engine.is_released());  // attempt 1's answer is still to come
  const auto anomalies = h->engine.anomalies();
  h->at(2s);
  CHECK(h->fill(1, "f-1", 1000).empty());
  CHECK(h->audited_count(eg::error::duplicate_fill) == 1);
  CHECK(h->audited_count(eg::error::overfill) == 0);
  CHECK(h->engine.anomalies() == anomalies);  // a duplicate is expected, not an anomaly
  CHECK(h->engine.filled() == 1000);
  CHECK(h->count(K::late_fill_after_completion) == 0);
}

TEST_CASE("Fill reports never add up to more than the order") {
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // attempt 1 in doubt, still reporting
  h->timeout();
  h->quote(100);
  h->at(10s);
  h->answer(2, partial(500));
  REQUIRE(h->engine.remaining() == 500);
  // Attempt 1 (1000) reports 800, then 800 more: 200 of those are refused.
  h->fill(1, "f-1", 800);
  h->fill(1, "f-2", 800);
  CHECK(h->audited_count(eg::error::overfill) == 1);
  CHECK(h->engine.tracker().find(1)->filled_quantity == 1000);
  CHECK(h->engine.report().filled_quantity == 1500);  // reality: attempt 2's 500 and attempt 1's 1000
  CHECK(h->engine.report().filled_quantity.units() <= 2 * h->engine.report().requested_quantity.units());
}

TEST_CASE("A position report that is negative or above the position is refused") {
  const Quantity bad = GENERATE(Quantity{-1}, Quantity{1001}, Quantity::max());
  INFO("position " << eg::to_string(bad));
  auto h = make(base_settings(), queryable);
  h->start(at(0s));
  h->quote(100);
  h->timeout();
  REQUIRE(has(h->timeout(), K::query_position));
  h->position(bad);
  CHECK(h->audited_count(eg::error::invalid_position_report) == 1);
  CHECK(h->engine.anomalies() == 1);
  CHECK(h->engine.remaining() == 1000);
  CHECK_FALSE(h->engine.query_outstanding());
  ScriptedVenue v;
  run(*h, v);
  CHECK(v.orders.empty());  // the doubt was not resolved: nothing more was sent
  CHECK(h->count(K::query_position) == 1);
  CHECK(h->engine.exit_error() == eg::error::in_doubt_unresolvable);
}

TEST_CASE("A position query that fails or times out leaves the doubt standing") {
  const bool times_out = GENERATE(false, true);
  auto h = make(base_settings(), queryable);
  h->start(at(0s));
  h->quote(100);
  h->timeout();
  REQUIRE(has(h->timeout(), K::query_position));
  if (times_out) {
    CHECK(h->engine.poll_timeout() == at(17s));  // the step's attempt timeout
    const auto outs = h->timeout();
    CHECK(has(outs, K::cancel_query));
  } else {
    h->at_time(h->now, [&] { h->engine.handle_position_failed({}, h->now); });
  }
  CHECK(h->audited_count(eg::error::position_query_failed) == 1);
  CHECK_FALSE(h->engine.query_outstanding());
  ScriptedVenue v;
  run(*h, v);
  CHECK(v.orders.empty());
  CHECK(h->engine.exit_error() == eg::error::in_doubt_unresolvable);
}

// --- attempts that die, halts, cancels ---------------------------------------------

TEST_CASE("attempt_dead on a pending attempt fails it and the next attempt follows the backoff") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(2s);
  const auto outs = h->dead(1);
  REQUIRE(has(outs, K::attempt_finished));
  CHECK(find(outs, K::attempt_finished)->outcome == eg::AttemptOutcome::expired);
  CHECK(has(outs, K::retry));
  CHECK(h->engine.state() == S::exit_rejected);
  CHECK(h->engine.tracker().find(1)->outcome == eg::AttemptOutcome::expired);
  CHECK(h->engine.poll_timeout() == at(3s));
  CHECK(has(h->timeout(), K::quote));
  h->quote(100);
  CHECK(h->engine.order(2).quantity == 1000);  // it could not land: the whole quantity again
  // Its answer is no longer taken.
  const auto refused = h->engine.machine().refused_events();
  h->answer(1, filled(1000));
  CHECK(h->engine.machine().refused_events() == refused + 1);
  CHECK(h->engine.filled() == 0);
}

TEST_CASE("attempt_dead on an in-doubt attempt resolves the doubt") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s: in doubt
  CHECK(h->timeout().empty());  // 9 s: nothing may be sent
  CHECK(h->engine.poll_timeout() == at(30s));
  h->at(12s);
  const auto outs = h->dead(1);
  CHECK(kinds(outs) == std::vector<K>{K::quote});
  h->quote(100);
  REQUIRE(h->engine.attempts_started() == 2);
  CHECK(h->engine.order(2).quantity == 1000);
  h->at(13s);
  h->answer(2, filled(1000));
  CHECK(h->engine.state() == S::position_closed);
  CHECK(h->engine.is_released());
}

TEST_CASE("A halt while an attempt is in flight waits for its answer then fails trading_halted") {
  struct Case {
    const char* name;
    eg::AttemptAnswer answer;
    S state;
    Quantity filled;
  };
  const Case c = GENERATE(values<Case>({{"filled", filled(1000), S::position_closed, 1000},
                                        {"partially filled", partial(400), S::exit_failed, 400},
                                        {"rejected", transient_rejection(), S::exit_failed, 0}}));
  INFO(c.name);
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  const auto outs = h->halt();
  CHECK(outs.empty());  // nothing is cancelled: the attempt may still fill
  CHECK(h->engine.state() == S::exit_submitted);
  CHECK(h->audited_count(eg::error::trading_halted) == 1);
  h->at(2s);
  h->answer(1, c.answer);
  CHECK(h->engine.state() == c.state);
  CHECK(h->engine.filled() == c.filled);
  CHECK(h->count(K::submit) == 1);
  if (c.state == S::exit_failed) {
    CHECK(h->engine.exit_error() == eg::error::trading_halted);
    CHECK(h->engine.failure_cause() == eg::ExitFailureCause::refused);
    CHECK_FALSE(h->engine.counts_for_breaker());
  }
  CHECK(h->engine.is_released());
}

TEST_CASE("A terminal cancel stops the exit at once") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  const auto outs = h->cancel(eg::CancelKind::terminal);
  CHECK(kinds(outs) == (std::vector<K>{K::attempt_finished, K::cancel_attempt, K::complete}));
  CHECK(outs[0].outcome == eg::AttemptOutcome::cancelled);
  CHECK(outs[1].attempt == 1);
  CHECK(h->engine.state() == S::exit_cancelled);
  CHECK(h->engine.exit_error() == boost::asio::error::operation_aborted);
  CHECK(h->engine.failure_cause() == eg::ExitFailureCause::cancelled);
  CHECK_FALSE(h->engine.counts_for_breaker());
  CHECK(h->engine.tracker().find(1)->outcome == eg::AttemptOutcome::cancelled);
  CHECK_FALSE(h->engine.is_released());  // its answer is still taken
  h->at(2s);
  h->answer(1, rejected(boost::asio::error::operation_aborted, eg::FailureKind::permanent));
  CHECK(h->engine.is_released());
  CHECK(h->engine.state() == S::exit_cancelled);
  CHECK(h->engine.filled() == 0);
}

TEST_CASE("A partial cancel sends nothing more and ends when the attempt in flight settles") {
  struct Case {
    const char* name;
    std::optional<eg::AttemptAnswer> answer;  // nullopt: it times out
    Quantity filled;
    std::uint32_t attempt_limit = 64;
    bool at_deadline = false;  // the attempt's timeout is the exit's deadline
  };
  const Case c = GENERATE(values<Case>({{"partially filled", partial(400), 400},
                                        {"rejected", transient_rejection(), 0},
                                        {"escalating rejection", escalating_rejection(), 0},
                                        {"permanent rejection", permanent_rejection(), 0},
                                        {"rejected with the attempt limit reached", transient_rejection(), 0, 1},
                                        {"timed out", std::nullopt, 0},
                                        {"timed out at the deadline", std::nullopt, 0, 64, true}}));
  INFO(c.name);
  Settings s = c.at_deadline ? market_only_settings() : base_settings();
  s.max_attempts_per_exit = c.attempt_limit;
  if (c.at_deadline) {
    s.deadline = 4s;
    s.final_window = 3s;
  }
  auto h = make(s, exclusive);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  CHECK(h->cancel(eg::CancelKind::partial).empty());
  CHECK(h->engine.state() == (c.at_deadline ? S::market_exit_submitted : S::exit_submitted));
  CHECK(h->engine.pending_attempt() == 1u);
  if (c.answer) {
    h->at(2s);
    h->answer(1, *c.answer);
  } else {
    h->timeout();
    CHECK(h->now == (c.at_deadline ? at(4s) : at(8s)));
  }
  CHECK(h->engine.state() == S::exit_cancelled);
  CHECK(h->engine.exit_error() == boost::asio::error::operation_aborted);
  CHECK(h->engine.failure_cause() == eg::ExitFailureCause::cancelled);
  CHECK_FALSE(h->engine.counts_for_breaker());
  CHECK(h->engine.filled() == c.filled);
  CHECK(h->count(K::submit) == 1);
  CHECK(h->count(K::quote) == 1);
  CHECK(h->count(K::complete) == 1);
  CHECK(h->count(K::retry) == 0);      // nothing more will be tried
  CHECK(h->count(K::escalated) == 0);
}

TEST_CASE("A partial cancel with nothing in flight ends the exit at once") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));  // a quote is outstanding
  const auto outs = h->cancel(eg::CancelKind::partial);
  CHECK(kinds(outs) == (std::vector<K>{K::complete, K::release}));
  CHECK(h->engine.state() == S::exit_cancelled);
}

// --- the late-answer horizon -------------------------------------------------------

TEST_CASE("Late answers are taken until the horizon then everything is released") {
  auto h = make(base_settings(), no_caps);
  h->start(at(5s));
  h->quote(100);
  ScriptedVenue v;
  run(*h, v, SIZE_MAX, at(35s));  // attempt 1 never answers: failed in doubt at the deadline
  REQUIRE(h->engine.state() == S::exit_failed);
  REQUIRE(h->engine.exit_error() == eg::error::in_doubt_unresolvable);
  REQUIRE_FALSE(h->engine.is_released());
  CHECK(h->engine.poll_timeout() == at(5s + 90s));
  // Early timer calls change nothing.
  CHECK(h->timeout_at(at(60s)).empty());
  CHECK_FALSE(h->engine.is_released());
  const auto outs = h->timeout();
  CHECK(h->now == at(95s));
  REQUIRE(kinds(outs) == (std::vector<K>{K::cancel_attempt, K::release}));
  CHECK(outs[0].attempt == 1);
  CHECK(h->engine.is_released());
  CHECK_FALSE(h->engine.poll_timeout());

  // After the release every event is refused, and changes nothing.
  const E event = GENERATE(from_range(eg::exit_events.begin(), eg::exit_events.end()));
  INFO(eg::to_string(event));
  const Snapshot before = Snapshot::of(h->engine);
  h->at(100s);
  fire(*h, event, 1);
  const auto more = h->drain();
  const Snapshot after = Snapshot::of(h->engine);
  CHECK(more.empty());
  CHECK(after.refused_events == before.refused_events + 1);
  const auto& m = h->engine.machine();
  CHECK(m.audit_entry_at(m.audit_size() - 1).event == event);
  CHECK(m.audit_entry_at(m.audit_size() - 1).error == eg::error::event_not_allowed);
  CHECK(after.filled == before.filled);
  CHECK(after.remaining == before.remaining);
  CHECK(after.state == before.state);
  CHECK_FALSE(after.timeout);
}

TEST_CASE("An exit with nothing left to report is released when it completes") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  const auto outs = h->answer(1, permanent_rejection());
  CHECK(kinds(outs) == (std::vector<K>{K::attempt_finished, K::complete, K::release}));
  CHECK(h->engine.exit_error() == eg::error::insufficient_funds);
  CHECK(h->engine.failure_cause() == eg::ExitFailureCause::venue);
}

TEST_CASE("Releasing many attempts still reporting does not overflow the outputs") {
  // A long outage on an exclusive venue with short attempts: every attempt stays in
  // doubt, so every one is still reporting when the horizon releases them.
  Settings s = base_settings();
  s.deadline = 120s;
  s.final_window = 100s;
  s.late_answer_horizon = 300s;
  s.max_attempts_per_exit = 1000;
  s.audit_capacity = 4096;
  s.ladder[1].policy.attempt_timeout = 500ms;
  s.ladder[1].policy.initial_backoff = 0s;
  s.ladder[1].policy.max_backoff = 0s;
  auto h = make(s, exclusive);
  h->start(at(0s));
  ScriptedVenue v;
  REQUIRE_NOTHROW(run(*h, v, 0, at(400s)));
  CHECK(h->engine.is_released());
  CHECK(h->engine.attempts_started() > 100);
  CHECK(h->count(K::cancel_attempt) == h->engine.attempts_started());
  CHECK(h->engine.exit_error() == eg::error::deadline_exceeded);
}

TEST_CASE("The final step has the time left before the deadline whatever its policy's total_timeout") {
  // A 2 min deadline; the limit step escalates at once; the market step's policy says
  // 30 s in all, but it is the last step: it re-quotes until the deadline.
  Settings s = base_settings();
  s.deadline = 120s;
  s.final_window = 10s;
  s.late_answer_horizon = 180s;
  auto h = make(s, no_caps);
  h->start(at(0s));
  ScriptedVenue v;
  v.answer = [](const eg::ExitOrder& o) {
    return std::optional(o.attempt == 1 ? escalating_rejection() : transient_rejection());
  };
  run(*h, v, 0);
  const auto r = h->engine.report();
  CHECK(r.error == eg::error::deadline_exceeded);
  CHECK(r.exit_time > 115s);  // not at 30 s with 90 s left
  CHECK(r.exit_time <= 120s);
  REQUIRE_FALSE(v.orders.empty());
  CHECK(v.orders.back().attempt == r.attempts);
  CHECK(r.attempt_records.back().started > at(100s));
}

// --- exclusive venues: superseded attempts -----------------------------------------

TEST_CASE("An exclusive venue's attempt superseded by a late landing is not a failure") {
  // Attempt 1 times out; attempt 2 goes with the same key; attempt 1 lands in part,
  // late, so attempt 2 could not: its rejection (even a permanent one) says nothing
  // about the venue. The remainder goes at once with a new key.
  const eg::AttemptAnswer second = GENERATE(permanent_rejection(), transient_rejection());
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s
  h->timeout();  // 9 s
  h->quote(100);
  REQUIRE(h->engine.pending_attempt() == 2u);
  CHECK(h->engine.order(2).exclusivity_key == h->engine.order(1).exclusivity_key);
  h->at(10s);
  const auto late = h->answer(1, partial(300, 99.0));
  REQUIRE(has(late, K::late_fill));
  CHECK(find(late, K::late_fill)->quantity == 300);
  CHECK(h->engine.remaining() == 700);
  h->at(11s);
  const auto outs = h->answer(2, second);
  CHECK_FALSE(has(outs, K::retry));
  CHECK_FALSE(has(outs, K::complete));
  CHECK(kinds(outs) == (std::vector<K>{K::attempt_finished, K::quote}));
  h->quote(100);
  REQUIRE(h->engine.attempts_started() == 3);
  const auto o3 = h->engine.order(3);
  CHECK(o3.quantity == 700);
  CHECK(o3.exclusivity_key != h->engine.order(2).exclusivity_key);
  CHECK(o3.exclusivity_key == "exit-1-1");
  h->at(12s);
  h->answer(3, filled(700));
  CHECK(h->engine.state() == S::position_closed);
  CHECK(h->engine.filled() == 1000);
}

TEST_CASE("On an exclusive venue an attempt whose key another attempt used does not block the remainder") {
  // Attempt 1 times out; attempt 2, on the same key, fills in part: the key landed
  // with attempt 2, so attempt 1 can no longer land. The remainder goes at once.
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s: attempt 1 in doubt
  h->timeout();  // 9 s
  h->quote(100);
  REQUIRE(h->engine.pending_attempt() == 2u);
  h->at(10s);
  const auto outs = h->answer(2, partial(400));
  CHECK(h->engine.state() == S::partially_filled);
  CHECK(has(outs, K::quote));
  h->quote(100);
  REQUIRE(h->engine.attempts_started() == 3);
  CHECK(h->engine.order(3).quantity == 600);
  CHECK(h->engine.order(3).exclusivity_key == "exit-1-1");
  h->at(11s);
  h->answer(3, filled(600));
  CHECK(h->engine.state() == S::position_closed);
}

TEST_CASE("On an exclusive venue an attempt in doubt that landed in part blocks the next one") {
  // Its key landed with it: it may fill more beside a new attempt on a new key.
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  h->quote(100);
  h->at(1s);
  h->answer(1, status_answer(eg::SubmitStatus::in_doubt, 300, 99.5, "sig-1", {}));
  CHECK(h->engine.filled() == 300);
  ScriptedVenue v;
  run(*h, v);
  CHECK(v.orders.empty());
  CHECK(h->engine.exit_error() == eg::error::in_doubt_unresolvable);
}

TEST_CASE("An exclusive venue's rejection on the current key counts as a failure") {
  auto h = make(base_settings(), exclusive);
  h->start(at(0s));
  h->quote(100);
  h->timeout();
  h->timeout();
  h->quote(100);
  h->at(10s);
  h->answer(2, permanent_rejection());
  CHECK(h->engine.state() == S::exit_failed);
  CHECK(h->engine.exit_error() == eg::error::insufficient_funds);
}

// --- determinism and jitter --------------------------------------------------------

namespace {

struct Run {
  std::vector<eg::ExitOutput> outputs;
  std::vector<std::optional<TP>> timeouts;
  eg::BasicExitReport<Clock> report;
};

// A mixed scenario: a jittered limit step, an in-doubt attempt, a reconciliation,
// a partial fill, an escalation, a late fill, a fill report, a duplicate.
Run mixed_run(std::uint64_t seed, std::uint64_t exit_id) {
  Settings s = base_settings();
  s.jitter_seed = seed;
  s.ladder[0].policy.jitter = eg::Jitter::full;
  s.ladder[1].policy.jitter = eg::Jitter::decorrelated;
  auto h = make(s, queryable, request(10'000, 10), exit_id);
  h->start(at(0s));
  ScriptedVenue v;
  v.price = [](std::size_t i) { return 100.0 - 0.25 * static_cast<double>(i); };
  v.answer = [](const eg::ExitOrder& o) -> std::optional<eg::AttemptAnswer> {
    switch (o.attempt) {
      case 1: return std::nullopt;  // in doubt: a position query follows
      case 2: return transient_rejection();
      case 3: return partial(2'000, 99.0);
      case 4: return escalating_rejection();
      case 5: return transient_rejection();
      default: return filled(o.quantity, 95.0);
    }
  };
  v.position = [&v](const Engine& e) {
    // Attempt 1 sold 1000 of the 10,000 before the first query.
    return std::optional<Quantity>(v.orders.size() == 1 ? Quantity{9'000} : e.remaining());
  };
  run(*h, v, 0);
  h->now += 1s;
  h->fill(1, "late-1", 1'000, 98.0);
  h->fill(1, "late-1", 1'000, 98.0);
  Run r;
  r.outputs = h->log;
  r.report = h->engine.report();
  return r;
}

bool same(const eg::ExitOutput& a, const eg::ExitOutput& b) {
  return a.kind == b.kind && a.attempt == b.attempt && a.step == b.step && a.order_kind == b.order_kind &&
         a.outcome == b.outcome && a.quantity == b.quantity;
}

bool same(const eg::BasicAuditEntry<Clock>& a, const eg::BasicAuditEntry<Clock>& b) {
  return a.time == b.time && a.from == b.from && a.to == b.to && a.attempt == b.attempt && a.step == b.step &&
         a.reason == b.reason && a.transaction_id == b.transaction_id && a.accepted == b.accepted &&
         a.error == b.error && a.event == b.event;
}

std::vector<TP> retry_times(const Run& r) {
  std::vector<TP> times;
  for (const auto& rec : r.report.attempt_records) times.push_back(rec.started);
  return times;
}

}  // namespace

TEST_CASE("The same events give the same outputs and report") {
  const Run a = mixed_run(42, 9);
  const Run b = mixed_run(42, 9);
  INFO(a.outputs.size() << " outputs, " << a.report.audit_trail.size() << " audit entries");
  CHECK(a.report.attempts >= 6);
  CHECK(a.report.escalated);
  CHECK(a.report.closed());
  REQUIRE(a.outputs.size() == b.outputs.size());
  for (std::size_t i = 0; i < a.outputs.size(); ++i) CHECK(same(a.outputs[i], b.outputs[i]));
  REQUIRE(a.report.audit_trail.size() == b.report.audit_trail.size());
  for (std::size_t i = 0; i < a.report.audit_trail.size(); ++i) CHECK(same(a.report.audit_trail[i], b.report.audit_trail[i]));
  CHECK(retry_times(a) == retry_times(b));
  CHECK(a.report.filled_quantity == b.report.filled_quantity);
  CHECK(a.report.average_price == b.report.average_price);
  CHECK(a.report.exit_time == b.report.exit_time);
  CHECK(a.report.error == b.report.error);
  CHECK(a.report.anomalies == b.report.anomalies);
  CHECK(a.report.late_fills == b.report.late_fills);
  // Every quantity adds up exactly.
  CHECK(a.report.filled_quantity == 10'000);
  CHECK(a.report.open_quantity == 0);
}

TEST_CASE("Jitter drawn from the seeded generator is reproducible") {
  const Run a = mixed_run(42, 9);
  CHECK(retry_times(a) == retry_times(mixed_run(42, 9)));
  // Another seed, or another exit under the same seed, draws other delays.
  CHECK(retry_times(a) != retry_times(mixed_run(43, 9)));
  CHECK(retry_times(a) != retry_times(mixed_run(42, 10)));
  // Full jitter: each delay of the limit step is within [0, its base backoff].
  const auto t = retry_times(a);
  REQUIRE(t.size() >= 3);
  const Policy p = limit_policy();
  // attempt 2 starts after the query that followed attempt 1's timeout; attempt 3 after
  // attempt 2's rejection (100 ms after it was sent) and a backoff of at most 2 s.
  CHECK(t[2] - (t[1] + 100ms) >= 0s);
  CHECK(t[2] - (t[1] + 100ms) <= p.base_backoff(2));
}

TEST_CASE("A late rejection of an attempt in doubt resolves the doubt") {
  auto h = make(base_settings(), no_caps);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s: in doubt
  CHECK(h->timeout().empty());  // 9 s: blocked
  h->at(10s);
  const auto outs = h->answer(1, transient_rejection());
  CHECK(kinds(outs) == std::vector<K>{K::quote});  // certainly not filled: the next attempt may go
  CHECK(h->engine.tracker().find(1)->outcome == eg::AttemptOutcome::rejected);
  h->quote(100);
  REQUIRE(h->engine.attempts_started() == 2);
  CHECK(h->engine.order(2).quantity == 1000);
}

TEST_CASE("A position report alone does not free sending past a doubt: the attempt's death does") {
  // Query, no exclusivity, no reduce-only: the report sizes nothing while attempt 1
  // may still land (a transaction whose blockhash is still valid).
  auto h = make(base_settings(), eg::VenueCapabilities{false, true, false});
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s: in doubt
  const auto asked = h->timeout();  // 9 s
  REQUIRE(has(asked, K::query_position));
  CHECK(h->position(1000).empty());  // still blocked: attempt 1 may land beside a second one
  CHECK(h->engine.attempts_started() == 1);
  // It asks again one attempt_timeout later (it may have landed without an answer), not in a loop.
  CHECK(h->engine.poll_timeout() == at(9s) + limit_policy().attempt_timeout);
  CHECK(kinds(h->timeout()) == std::vector<K>{K::query_position});
  CHECK(h->position(1000).empty());
  h->at(9s + limit_policy().attempt_timeout + 1s);
  eg::AttemptAnswer dead = transient_rejection();
  dead.outcome.error = eg::error::attempt_expired;
  const auto outs = h->answer(1, dead);
  CHECK(kinds(outs) == std::vector<K>{K::quote});  // known dead: the next attempt may go
  h->quote(100);
  REQUIRE(h->engine.attempts_started() == 2);
  CHECK(h->engine.order(2).quantity == 1000);
}

TEST_CASE("A position report frees sending past a doubt on a venue that enforces reduce-only") {
  auto h = make(base_settings(), eg::VenueCapabilities{false, true, true});
  h->start(at(0s));
  h->quote(100);
  h->timeout();
  REQUIRE(has(h->timeout(), K::query_position));
  CHECK(kinds(h->position(600)) == std::vector<K>{K::quote});
  h->quote(100);
  REQUIRE(h->engine.attempts_started() == 2);
  CHECK(h->engine.order(2).quantity == 600);
}

TEST_CASE("Orders carry the key prefix, the exit id, the key generation and the attempt's time in force") {
  Settings s = base_settings();
  Engine engine(s, request(), 17, exclusive, "bot1-00000000000000ff");
  engine.start(at(0s));
  while (engine.poll()) {
  }
  engine.handle_quote(100, at(0s));
  while (engine.poll()) {
  }
  REQUIRE(engine.pending_attempt() == 1u);
  const eg::ExitOrder o = engine.order(1);
  CHECK(o.exclusivity_key == "bot1-00000000000000ff-17-0");
  CHECK(o.time_in_force == std::chrono::nanoseconds(limit_policy().attempt_timeout));
  CHECK(engine.exclusivity_keys() == std::vector<std::string>{"bot1-00000000000000ff-17-0"});
}

TEST_CASE("A malformed answer after a position report makes it stale: the position is asked again at once") {
  auto h = make(base_settings(), queryable);
  h->start(at(0s));
  h->quote(100);
  h->timeout();  // 8 s: in doubt
  REQUIRE(has(h->timeout(), K::query_position));  // 9 s
  REQUIRE(kinds(h->position(1000)) == std::vector<K>{K::quote});
  h->at(9100ms);
  // Attempt 1's late answer says "filled" with nothing: only the position tells now.
  const auto outs = h->answer(1, filled(0));
  CHECK(has(outs, K::query_position));
  CHECK(h->engine.attempts_started() == 1);
}
