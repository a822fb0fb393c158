// exitguard-test-set: optimized
// Deterministic simulation of the exit engine alone (exit_engine.hpp), in virtual time,
// TigerBeetle/FoundationDB style: no Asio, no clock, no IO — a tiny simulated venue, a
// simulated driver and an event queue, all drawn from one seed.
//
// Each seed draws, deterministically (SplitMix64 and no std:: distributions; the
// engine's jitter uses std::uniform_real_distribution, so a seed replays the same with
// the same standard library):
//   - the settings: a random valid ladder of 1-3 steps (random policies, jitter on and
//     off, slippages up to 100 %), deadline, final window, per-exit attempt limit,
//     late-answer horizon, audit capacity (small ones too), jitter seed;
//   - the request: side, signal price, lot size (1..10^6 base units), a position of a
//     random number of lots plus maybe dust; rarely an invalid request or a start
//     refused by the breaker / the trading state;
//   - the venue's capabilities (exclusive attempts, position queries) and its fault
//     profile: for every attempt a fate — fill, partial fill, rejection (transient,
//     permanent, escalating slippage, in-doubt kind), an in_doubt answer (with or
//     without an error code, with or without a fill so far), no answer (lost), an
//     answered=false transport error (kind in_doubt or transient), a malformed answer
//     (filled / partially_filled with 0 or a negative quantity, an over-fill, the
//     unnamed status 7, a NaN / 0 / inf / negative price), answers at a random late
//     instant (also after the exit ended, up to and past the horizon), duplicated
//     answers; landings at random instants (also after a cancel or the horizon);
//     fill reports (late, split, duplicated, with bad prices, with 0 quantity, over-
//     filled); attempt_dead notices (never while the attempt can still land, possibly
//     after it landed in part, but on a venue without reduce-only only once all it
//     landed was reported); cancel_attempt honoured or not; quotes that are
//     NaN / 0 / inf / negative; position queries answered truthfully (now, or as of
//     when they were asked), with an invalid value, failed, or never answered;
//   - halts, terminal and partial cancels, and stray events at random instants.
//
// The venue keeps a real position in base units and, in half the schedules, is
// reduce-only: a landing never sells more than is open (in the others it sells what
// it was sent, and an oversale is a violation); on an exclusive venue at most one attempt per exclusivity
// key lands. It never lies about reality except in ways the engine is documented to
// detect (a malformed answer understates or is structurally invalid; an over-fill is
// reported only for an order that filled in full; attempt_dead only for an attempt
// that can no longer land). The driver acts on every command (quote at once
// or after a delay, submit, query, cancel), keeps one timer at poll_timeout(), and
// keeps delivering what reality produces after completion and after release.
//
// Checked for every schedule (a violation fails the seed; the first message is kept):
//   - exactly one `complete`, at or before start + deadline (the engine is complete
//     at any instant past its deadline); exactly one `release`, after `complete`, at
//     or before start + late_answer_horizon; released by the end of the run;
//   - no command after `complete` but cancel_attempt and release; no output at all
//     after `release`; after release every event is refused and changes nothing;
//   - no submit after an accepted halt or cancel; never two attempts pending at once
//     (submit / attempt_finished, and pending_attempt()); every order: attempt number
//     in sequence, quantity positive, a whole number of lots, <= remaining() and the
//     request, limit price finite and > 0, side / lot / reduce-only as requested,
//     kind as its ladder step, started with at least the step's min_attempt_window
//     before the deadline;
//   - principle 2: an attempt is sent while another may still land only on an
//     exclusive venue or after a position report since the last submit; after a
//     malformed answer, only after a position report;
//   - quantities: the engine never counts more than the venue really sold
//     (filled() <= sold, after every event), filled() + remaining() == the request,
//     each attempt's counted fill == max(its accepted answer's quantity (capped at the
//     order's), its distinct fill reports' sum (capped likewise)) — nothing counted
//     twice, nothing accepted lost — and their sum is the tracker's total; closed only
//     if less than a lot is really open; right after a position report of the venue's
//     current position, filled() == sold exactly; and filled() >= what it was right
//     after the last position report + what attempts sent after it filled (their
//     fills are never taken for ones the report already found);
//   - the report: final state terminal, error empty iff closed, ExitCancelled only
//     after an accepted cancel and with operation_aborted (an accepted terminal cancel
//     ends the exit ExitCancelled at once), filled + open == requested, attempts ==
//     submits, exit_time <= deadline, average price finite, no breaker count for a
//     closed or cancelled exit;
//   - the audit trail, entry by entry as it is recorded: stamped with the event's
//     time; first PositionOpen -> ExitSignalReceived; entries chain (each starts in
//     the state the previous one left); every accepted change is is_valid_transition;
//     no refused transition; exactly one entry into a terminal state; an event is
//     refused where the event table refuses it (and then changes nothing and emits
//     nothing); where the table allows it, it is refused if and only if its documented
//     reason holds (a quote not asked for, an answer to an attempt that already
//     answered or never existed, a fill for an attempt never sent, a position answer
//     with no query outstanding, a death of an attempt not open);
//   - poll_timeout() is never before the time of the event just handled, and a timer
//     does not keep asking for the instant it fired at (no live-lock).
//
// It prints how many schedules ran, in how long, what they ended in (a histogram of
// final errors) and how often the interesting paths were taken; with enough schedules
// it also checks that each was taken at least once. A second test case replays 2000
// seeds twice (once with the event log on) and compares their output digests.
//
// Speed: ~3 µs of CPU per schedule in Release (1,000,000 in ~2 s on 2 idle cores, ~5 s
// on a loaded machine); ~8x that under ASan+UBSan (set EXITGUARD_SIM_SCHEDULES there).
//
// Environment:
//   EXITGUARD_SIM_SCHEDULES=<n>  run n schedules (default 1000000), seeds first..first+n-1
//   EXITGUARD_SIM_FIRST_SEED=<n> the first seed (default 1)
//   EXITGUARD_SIM_THREADS=<n>    worker threads (default 2; each runs its own engines)
//   EXITGUARD_SIM_SEED=<n>       run only seed n and print its plan and event log
//   EXITGUARD_SIM_LIST_FAILURES=1 print every failing seed kept (up to 64 per thread), one line each
// e.g.  EXITGUARD_SIM_SEED=4242 build/release/tests/exit_engine_simulation_test

#include <exitguard/detail/splitmix64.hpp>
#include <exitguard/exit_engine.hpp>

#include <boost/asio/error.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using exitguard::AttemptAnswer;
using exitguard::ExitEvent;
using exitguard::ExitOutput;
using exitguard::ExitOutputKind;
using exitguard::ExitTransitionState;
using exitguard::FailureKind;
using exitguard::OrderKind;
using exitguard::Quantity;
using exitguard::Side;
using exitguard::SubmitStatus;

// A clock the engine never reads: every time is passed in.
struct SimClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<SimClock, duration>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept { return time_point{}; }
};

using Engine = exitguard::BasicExitEngine<SimClock>;
using Settings = exitguard::BasicExitEngineSettings<SimClock>;
using Policy = exitguard::BasicRetryPolicy<SimClock>;
using Step = exitguard::BasicEscalationStep<SimClock>;
using TimePoint = SimClock::time_point;

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t sec = 1'000'000'000;
constexpr std::int64_t run_cap = 300 * sec;  // virtual time per schedule (horizon <= 120 s)
constexpr std::uint64_t default_schedules = 1'000'000;
constexpr std::size_t max_events = 50'000;   // per schedule: more is a runaway

TimePoint at(std::int64_t t) { return TimePoint(SimClock::duration(t)); }
std::int64_t ns(TimePoint t) { return t.time_since_epoch().count(); }
std::int64_t ns(SimClock::duration d) { return d.count(); }

// ---------------------------------------------------------------------------
// Randomness: SplitMix64, free to seed a million times.
// ---------------------------------------------------------------------------
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) : s_(exitguard::detail::splitmix64(seed)) {}
  std::uint64_t next() {
    s_ += 0x9e3779b97f4a7c15ULL;
    return exitguard::detail::splitmix64(s_);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  // Uniform in [lo, hi] (modulo bias is irrelevant here).
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<std::int64_t>(next() % (static_cast<std::uint64_t>(hi - lo) + 1));
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  double log_uniform(double lo, double hi) { return std::exp(uniform(std::log(lo), std::log(hi))); }
  template <class T, std::size_t N>
  T pick(const std::array<T, N>& a) {
    return a[static_cast<std::size_t>(next() % N)];
  }

 private:
  std::uint64_t s_;
};

// ---------------------------------------------------------------------------
// The venue's fates.
// ---------------------------------------------------------------------------
enum class Style : std::uint8_t { fill, partial, reject, in_doubt, lost, transport, malformed };
constexpr std::size_t style_count = 7;
constexpr std::array<const char*, style_count> style_names = {"fill",      "partial",   "reject",   "in_doubt",
                                                              "lost",      "transport", "malformed"};

enum class Malformed : std::uint8_t { filled_zero, filled_negative, partial_zero, overfill, unnamed_status, bad_price };
constexpr std::array<const char*, 6> malformed_names = {"filled_zero", "filled_negative", "partial_zero",
                                                        "overfill",    "unnamed_status",  "bad_price"};

enum class QueryKind : std::uint8_t { truth_now, truth_at_issue, invalid, fail, never };
constexpr std::array<const char*, 5> query_names = {"truth_now", "truth_at_issue", "invalid", "fail", "never"};

// Per schedule: how the venue behaves (some schedules clean, some hostile).
struct Profile {
  std::array<double, style_count> weight{};  // of each style
  double p_late = 0;             // an answer comes after the attempt timeout
  double p_answer_lost = 0;      // a fill / partial / reject answer never comes
  double p_dup_answer = 0;       // the answer is delivered twice
  double p_land_later = 0;       // an in-doubt / lost attempt lands eventually
  double p_report = 0;           // a landing is also reported on the fill stream
  double p_report_late = 0;      // ... long after
  double p_split = 0, p_dup_report = 0, p_bad_report_price = 0, p_zero_report = 0, p_overfill_report = 0;
  double p_dead = 0;             // an attempt that does not land is declared dead
  double p_honour = 0;           // a cancel_attempt is honoured
  double p_bad_quote = 0, p_quote_delay = 0;
  std::array<double, 5> query_weight{};
  std::int64_t query_latency_max = 0;
  double p_stale_query_answer = 0;  // a cancelled query's answer is still handed over
};

enum class EvKind : std::uint8_t { timer, quote, land, answer, fill, dead, position, halt, cancel, stray };

struct Event {
  std::int64_t t;
  std::uint64_t seq;
  EvKind kind;
  std::uint32_t a;
  std::uint32_t b;
};
struct Later {
  bool operator()(const Event& x, const Event& y) const noexcept { return x.t != y.t ? x.t > y.t : x.seq > y.seq; }
};

struct SimAttempt {
  // the order
  Quantity qty;
  double limit = 0;
  std::uint64_t key = 0;
  std::int64_t sent = 0;
  std::uint32_t step = 0;
  // the fate
  Style style = Style::fill;
  Malformed mal = Malformed::filled_zero;
  FailureKind reject_kind = FailureKind::transient;
  bool escalates = false;
  boost::system::error_code reject_error;
  boost::system::error_code doubt_error;
  FailureKind transport_kind = FailureKind::in_doubt;
  std::uint8_t chunks = 0;       // planned landings (0-2)
  std::uint8_t chunks_done = 0;  // landing events processed
  Quantity chunk_qty[2];
  // reality
  bool venue_cancelled = false;  // a cancel was honoured: nothing more lands
  bool dead_planned = false;
  Quantity landed;               // really sold
  double notional = 0;
  // the driver's mirror of what the engine knows
  bool reporting = true;          // the engine still takes its answer
  bool malformed_pending = false; // a malformed answer that only a position report settles
  Quantity answer_known;          // counted from its accepted answer
  Quantity reports_sum;           // distinct fill reports' quantities delivered
};

struct FillMsg {
  std::uint32_t attempt;
  std::uint32_t id;
  Quantity qty;
  double price;
  bool counted = false;
};

struct Query {
  std::int64_t issued;
  Quantity open_at_issue;
  QueryKind kind;
  bool cancelled = false;
};

// ---------------------------------------------------------------------------
// Counters (per thread, merged).
// ---------------------------------------------------------------------------
struct Counters {
  std::uint64_t schedules = 0, closed = 0, failed = 0, cancelled = 0, anomalies = 0, with_anomalies = 0;
  std::uint64_t attempts = 0, max_attempts = 0, events = 0, max_events_seen = 0, max_reporting_at_release = 0;
  std::uint64_t late_fill_notices = 0, late_fills_after_completion = 0, escalations = 0, retries = 0;
  std::uint64_t queries = 0, reconciliations = 0, refused_events = 0, refused_after_release = 0;
  std::uint64_t reduce_only_saves = 0, reduce_only_saves_exclusive = 0, exclusive_blocks = 0;
  std::uint64_t landings_after_complete = 0, landings_after_release = 0, horizon_releases = 0;
  std::uint64_t malformed_answers = 0, partial_fills = 0, answers_after_release = 0, audit_unchecked = 0;
  std::uint64_t terminal_cancels = 0, partial_cancels = 0, halts = 0, refused_starts = 0;
  std::array<std::uint64_t, 1002> errors{};  // exitguard error value; 1000 operation_aborted; 1001 other; 0 none

  void merge(const Counters& o) {
    std::uint64_t Counters::* const fields[] = {
        &Counters::schedules, &Counters::closed, &Counters::failed, &Counters::cancelled, &Counters::anomalies,
        &Counters::with_anomalies, &Counters::attempts, &Counters::events, &Counters::late_fill_notices,
        &Counters::late_fills_after_completion, &Counters::escalations, &Counters::retries, &Counters::queries,
        &Counters::reconciliations, &Counters::refused_events, &Counters::refused_after_release,
        &Counters::reduce_only_saves, &Counters::reduce_only_saves_exclusive, &Counters::exclusive_blocks,
        &Counters::landings_after_complete, &Counters::landings_after_release, &Counters::horizon_releases,
        &Counters::malformed_answers, &Counters::partial_fills, &Counters::answers_after_release,
        &Counters::audit_unchecked, &Counters::terminal_cancels, &Counters::partial_cancels, &Counters::halts,
        &Counters::refused_starts};
    for (auto f : fields) this->*f += o.*f;
    max_attempts = std::max(max_attempts, o.max_attempts);
    max_events_seen = std::max(max_events_seen, o.max_events_seen);
    max_reporting_at_release = std::max(max_reporting_at_release, o.max_reporting_at_release);
    for (std::size_t i = 0; i < errors.size(); ++i) errors[i] += o.errors[i];
  }
};

std::size_t error_slot(const boost::system::error_code& ec) {
  if (!ec) return 0;
  if (ec.category() == exitguard::error_category() && ec.value() > 0 && ec.value() < 1000)
    return static_cast<std::size_t>(ec.value());
  if (ec == boost::asio::error::operation_aborted) return 1000;
  return 1001;
}
std::string slot_name(std::size_t i) {
  if (i == 0) return "none (closed)";
  if (i == 1000) return "operation_aborted";
  if (i == 1001) return "other";
  const auto name = exitguard::error_name(static_cast<exitguard::error>(i));
  return name.empty() ? "error " + std::to_string(i) : std::string(name);
}

constexpr std::string_view kind_name(ExitOutputKind k) {
  switch (k) {
    case ExitOutputKind::quote: return "quote";
    case ExitOutputKind::submit: return "submit";
    case ExitOutputKind::query_position: return "query_position";
    case ExitOutputKind::cancel_attempt: return "cancel_attempt";
    case ExitOutputKind::cancel_query: return "cancel_query";
    case ExitOutputKind::complete: return "complete";
    case ExitOutputKind::release: return "release";
    case ExitOutputKind::attempt_finished: return "attempt_finished";
    case ExitOutputKind::attempt_in_doubt: return "attempt_in_doubt";
    case ExitOutputKind::retry: return "retry";
    case ExitOutputKind::escalated: return "escalated";
    case ExitOutputKind::late_fill: return "late_fill";
    case ExitOutputKind::late_fill_after_completion: return "late_fill_after_completion";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// One schedule.
// ---------------------------------------------------------------------------
class Simulator {
 public:
  // Runs seed `seed`; returns the first violation, or an empty string. With `log`,
  // appends the plan and every event and output.
  std::string run(std::uint64_t seed, Counters& c, std::string* log = nullptr, std::uint64_t* digest = nullptr) {
    seed_ = seed;
    log_ = log;
    c_ = &c;
    violation_.clear();
    stop_ = false;
    digest_ = 0xcbf29ce484222325ULL;
    try {
      simulate();
    } catch (const std::exception& ex) {
      violate("exception: %s", ex.what());
    }
    engine_.reset();
    if (digest) *digest = digest_;
    return violation_;
  }

 private:
  // --- plan --------------------------------------------------------------------
  Policy random_policy(bool final_step) {
    Policy p;
    p.max_attempts = static_cast<std::uint32_t>(rng_.chance(0.05) ? rng_.between(10, 100) : rng_.between(1, 5));
    p.total_timeout = SimClock::duration(rng_.between(200 * ms, 30 * sec));
    p.attempt_timeout = SimClock::duration(rng_.chance(0.3) ? rng_.between(50 * ms, 1 * sec)
                                                          : rng_.between(50 * ms, ns(p.total_timeout)));
    p.initial_backoff = SimClock::duration(rng_.chance(0.2) ? 0 : rng_.between(1 * ms, 2 * sec));
    p.backoff_multiplier = rng_.chance(0.2) ? 1.0 : rng_.uniform(1.0, 3.0);
    const std::int64_t max_b = std::min<std::int64_t>(ns(p.total_timeout) - 1, 5 * sec);
    p.max_backoff = SimClock::duration(rng_.between(ns(p.initial_backoff), std::max(ns(p.initial_backoff), max_b)));
    p.jitter = rng_.pick(std::array<exitguard::Jitter, 4>{exitguard::Jitter::none, exitguard::Jitter::full,
                                                          exitguard::Jitter::equal, exitguard::Jitter::decorrelated});
    p.min_attempt_window = SimClock::duration(rng_.between(1 * ms, std::min<std::int64_t>(ns(p.attempt_timeout), final_step ? 2 * sec : ns(p.attempt_timeout))));
    return p;
  }

  void draw_settings() {
    for (int tries = 0;; ++tries) {
      settings_.ladder.clear();
      if (tries >= 20 || rng_.chance(0.08)) {
        settings_.ladder = exitguard::default_ladder<SimClock>();
        settings_.deadline = std::chrono::seconds(30);
        settings_.final_window = std::chrono::seconds(10);
        settings_.audit_capacity = 128;
        settings_.max_attempts_per_exit = 64;
        settings_.late_answer_horizon = std::chrono::seconds(90);
        settings_.jitter_seed = rng_.next();
        settings_.breaker_counts_market_rejections = false;
        if (!settings_.validate()) return;
        continue;
      }
      const auto steps = static_cast<std::size_t>(rng_.between(1, 3));
      for (std::size_t i = 0; i < steps; ++i) {
        Step st;
        const bool last = i + 1 == steps;
        st.kind = last ? OrderKind::market : OrderKind::limit;
        st.max_slippage_bps = rng_.chance(0.02) ? 10000.0
                                                : rng_.pick(std::array<double, 6>{1, 50, 100, 500, 2000, 0}) ;
        if (!(st.max_slippage_bps > 0)) st.max_slippage_bps = rng_.uniform(0.01, 9999);
        st.policy = random_policy(last);
        settings_.ladder.push_back(st);
      }
      settings_.deadline = SimClock::duration(rng_.chance(0.3) ? 30 * sec : rng_.between(1 * sec, 60 * sec));
      const std::int64_t d = ns(settings_.deadline);
      settings_.final_window = SimClock::duration(rng_.chance(0.3) ? d / 3 : rng_.between(1 * ms, d - 1));
      settings_.audit_capacity = rng_.pick(std::array<std::size_t, 5>{8, 16, 128, 128, 1024});
      settings_.max_attempts_per_exit =
          rng_.pick(std::array<std::uint32_t, 7>{1, 2, 4, 16, 64, 64, 64});
      settings_.late_answer_horizon =
          SimClock::duration(rng_.chance(0.7) ? 90 * sec : rng_.between(d + 1, 120 * sec));
      settings_.jitter_seed = rng_.next();
      settings_.breaker_counts_market_rejections = rng_.chance(0.5);
      if (!settings_.validate()) return;
    }
  }

  void draw_profile() {
    Profile& p = profile_;
    const double level = rng_.pick(std::array<double, 6>{0.0, 0.05, 0.2, 0.5, 1.0, 3.0});
    auto w = [&](double scale) { return rng_.chance(0.25) ? 0.0 : rng_.uniform(0, scale * level); };
    p.weight[static_cast<std::size_t>(Style::fill)] = rng_.pick(std::array<double, 4>{1.0, 1.0, 0.3, 0.05});
    p.weight[static_cast<std::size_t>(Style::partial)] = w(0.6);
    p.weight[static_cast<std::size_t>(Style::reject)] = w(0.8);
    p.weight[static_cast<std::size_t>(Style::in_doubt)] = w(0.6);
    p.weight[static_cast<std::size_t>(Style::lost)] = w(0.8);
    p.weight[static_cast<std::size_t>(Style::transport)] = w(0.4);
    p.weight[static_cast<std::size_t>(Style::malformed)] = w(0.4);
    p.p_late = w(0.5);
    p.p_answer_lost = w(0.2);
    p.p_dup_answer = w(0.2);
    p.p_land_later = rng_.uniform(0, 1);
    p.p_report = rng_.pick(std::array<double, 4>{0.0, 0.3, 0.8, 1.0});
    p.p_report_late = w(0.5);
    p.p_split = w(0.5);
    p.p_dup_report = w(0.5);
    p.p_bad_report_price = w(0.3);
    p.p_zero_report = w(0.2);
    p.p_overfill_report = w(0.2);
    p.p_dead = rng_.uniform(0, 1);
    p.p_honour = rng_.uniform(0, 1);
    p.p_bad_quote = w(0.3);
    p.p_quote_delay = w(0.5);
    p.query_weight = {1.0, rng_.uniform(0, 1), w(0.5), w(0.5), w(0.3)};
    p.query_latency_max = rng_.pick(std::array<std::int64_t, 4>{1 * ms, 100 * ms, 2 * sec, 20 * sec});
    p.p_stale_query_answer = rng_.uniform(0, 1);
    storm_ = rng_.chance(0.03);
    if (storm_) {  // attempt after attempt that never answers: dozens reporting at the horizon
      p.weight = {0.05, 0, 0.2, 0.2, 1.0, 0.2, 0.05};
      p.p_land_later = 0.02;
      p.p_dead = 0.05;
    }
  }

  template <std::size_t N>
  std::size_t pick_weighted(const std::array<double, N>& w) {
    double total = 0;
    for (double x : w) total += x;
    double u = rng_.unit() * total;
    for (std::size_t i = 0; i < N; ++i) {
      if (u < w[i]) return i;
      u -= w[i];
    }
    return 0;
  }

  // --- the run -------------------------------------------------------------------
  void simulate() {
    rng_ = Rng(seed_);
    heap_.clear();
    attempts_.clear();
    fills_.clear();
    queries_.clear();
    key_owner_.clear();
    seq_ = 0;
    draw_settings();
    draw_profile();

    // The request and the venue's position.
    request_ = exitguard::ExitRequest{};
    request_.position_id = "pos";
    request_.side = rng_.chance(0.5) ? Side::sell : Side::buy;
    const std::int64_t lot = rng_.chance(0.3) ? rng_.pick(std::array<std::int64_t, 4>{1, 10, 1000, 1000000})
                                              : rng_.between(1, 1000000);
    std::int64_t lots = rng_.chance(0.2) ? 1 : rng_.chance(0.1) ? rng_.between(1, 1000000) : rng_.between(1, 1000);
    if (rng_.chance(0.01)) lots = rng_.between(std::int64_t{1} << 60, std::int64_t{1} << 62) / lot;  // near the range
    const std::int64_t dust = rng_.chance(0.3) ? rng_.between(0, lot - 1) : 0;
    request_.lot_size = lot;
    request_.quantity = lots * lot + dust;
    request_.signal_price = rng_.log_uniform(1e-4, 1e5);
    request_.decimals = static_cast<unsigned>(rng_.between(0, 9));
    refusal_ = {};
    if (rng_.chance(0.01)) {
      switch (rng_.between(0, 3)) {
        case 0: request_.quantity = rng_.between(0, lot - 1); break;
        case 1: request_.signal_price = rng_.pick(std::array<double, 4>{0.0, -1.0, std::nan(""), HUGE_VAL}); break;
        case 2: refusal_ = exitguard::error::circuit_open; break;
        default: refusal_ = exitguard::error::trading_halted; break;
      }
    }
    open_ = request_.quantity;
    sold_ = 0;
    price_ = request_.signal_price;
    caps_.exclusive_attempts = rng_.chance(0.5);
    caps_.queries_position = rng_.chance(0.5);
    // Without it the venue fills whatever it is sent: only the engine stands between
    // a late landing and an oversale.
    caps_.enforces_reduce_only = rng_.chance(0.5);
    if (storm_) {
      caps_.exclusive_attempts = true;
      settings_.max_attempts_per_exit = 64;
      for (auto& st : settings_.ladder) {
        st.policy.attempt_timeout = std::min(st.policy.attempt_timeout, SimClock::duration(rng_.between(50 * ms, 500 * ms)));
        st.policy.min_attempt_window = std::min(st.policy.min_attempt_window, st.policy.attempt_timeout);
        st.policy.initial_backoff = std::min(st.policy.initial_backoff, SimClock::duration(50 * ms));
        st.policy.max_backoff = std::max(st.policy.initial_backoff, std::min(st.policy.max_backoff, SimClock::duration(100 * ms)));
      }
      if (settings_.validate()) {  // cannot happen (every change keeps the policy valid); stay valid anyway
        storm_ = false;
        draw_settings();
      }
    }

    t0_ = rng_.chance(0.05) ? 0 : rng_.between(0, 1'000'000 * sec);
    deadline_ = t0_ + ns(settings_.deadline);
    horizon_ = t0_ + ns(settings_.late_answer_horizon);
    now_ = t0_;

    // Outside events.
    if (rng_.chance(0.06)) push(instant(t0_, deadline_ + 2 * sec), EvKind::halt, 0, 0);
    const int cancels = rng_.chance(0.12) ? static_cast<int>(rng_.between(1, 2)) : 0;
    for (int i = 0; i < cancels; ++i) push(instant(t0_, deadline_ + 2 * sec), EvKind::cancel, rng_.chance(0.6) ? 0 : 1, 0);
    const int strays = rng_.chance(0.1) ? static_cast<int>(rng_.between(1, 3)) : 0;
    for (int i = 0; i < strays; ++i)
      push(instant(t0_, horizon_ + 10 * sec), EvKind::stray, static_cast<std::uint32_t>(rng_.between(0, 5)), 0);

    if (log_) describe();

    // Driver state.
    engine_.reset();
    engine_.emplace(settings_, request_, seed_, caps_);
    completes_ = releases_ = 0;
    complete_t_ = release_t_ = 0;
    pending_ = 0;
    quote_outstanding_ = false;
    quote_now_ = false;
    current_query_ = -1;
    reconciled_since_submit_ = false;
    recon_base_ = Quantity{};
    recon_through_ = 0;
    halt_accepted_ = cancel_accepted_ = false;
    terminal_cancel_accepted_ = false;
    timer_armed_ = false;
    timer_gen_ = 0;
    timer_t_ = 0;
    same_instant_timers_ = 0;
    audit_cursor_ = 0;
    chain_state_ = ExitTransitionState::position_open;
    terminal_entries_ = 0;
    first_entry_checked_ = false;
    events_ = 0;

    call(ExitEvent::start, 0, [&] { engine_->start(at(now_), refusal_); });
    if (refusal_) ++c_->refused_starts;
    settle_immediate();

    while (!heap_.empty() && !stop_) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      const Event e = heap_.back();
      heap_.pop_back();
      if (e.t > t0_ + run_cap) break;
      if (++events_ > max_events) {
        violate("runaway: more than %zu events", max_events);
        break;
      }
      now_ = e.t;
      if (completes_ == 0 && now_ > deadline_) {
        violate("not complete at %s, after its deadline %s", rel(now_).c_str(), rel(deadline_).c_str());
        break;
      }
      dispatch(e);
      settle_immediate();
    }
    if (stop_) return;
    finish();
  }

  void settle_immediate() {
    while (quote_now_ && !stop_) {
      quote_now_ = false;
      deliver_quote();
    }
  }

  void dispatch(const Event& e) {
    switch (e.kind) {
      case EvKind::timer: {
        if (!timer_armed_ || e.a != timer_gen_) return;  // superseded
        timer_armed_ = false;
        logf("timer");
        call(ExitEvent::timer, 0, [&] { engine_->handle_timeout(at(now_)); });
        const auto pt = engine_->poll_timeout();
        if (pt && ns(*pt) == now_) {
          if (++same_instant_timers_ > 3) violate("live-lock: the timer keeps asking for %s", rel(now_).c_str());
        } else {
          same_instant_timers_ = 0;
        }
        return;
      }
      case EvKind::quote: deliver_quote(); return;
      case EvKind::land: land(e.a, e.b); return;
      case EvKind::answer: deliver_answer(e.a, e.b != 0); return;
      case EvKind::fill: deliver_fill(e.a); return;
      case EvKind::dead: {
        SimAttempt& a = attempts_[e.a - 1];
        if (can_land_later(a, e.a)) return;  // it would be a lie: the venue never tells one
        // Without reduce-only, "dead" must also mean "nothing landed that was not
        // reported" (venue.hpp): else re-sending the whole remainder could oversell.
        if (!caps_.enforces_reduce_only && a.landed > std::max(a.answer_known, a.reports_sum)) return;
        logf("attempt_dead #%u", e.a);
        const auto outcome = engine_->tracker().find(e.a)->outcome;
        call(ExitEvent::attempt_dead, e.a, [&] { engine_->handle_attempt_dead(e.a, at(now_)); },
             !exitguard::may_still_land(outcome), [&] { a.reporting = false; });
        check_attempt(e.a);
        return;
      }
      case EvKind::position: deliver_position(e.a); return;
      case EvKind::halt: {
        logf("halt");
        call(ExitEvent::halt, 0, [&] { engine_->handle_halt(at(now_)); }, false, [&] {
          halt_accepted_ = true;
          ++c_->halts;
        });
        return;
      }
      case EvKind::cancel: {
        const bool terminal = e.a == 0;
        logf("cancel %s", terminal ? "terminal" : "partial");
        const bool was_complete = completes_ > 0;
        bool taken = false;
        call(
            ExitEvent::cancel, 0,
            [&] { engine_->cancel(terminal ? exitguard::CancelKind::terminal : exitguard::CancelKind::partial, at(now_)); },
            false, [&] {
              taken = true;
              cancel_accepted_ = true;
            });
        if (taken) {
          if (terminal) {
            terminal_cancel_accepted_ = true;
            ++c_->terminal_cancels;
            if (!was_complete && (completes_ == 0 || engine_->state() != ExitTransitionState::exit_cancelled))
              violate("a terminal cancel did not end the exit ExitCancelled at once");
          } else {
            ++c_->partial_cancels;
          }
        }
        return;
      }
      case EvKind::stray: stray(e.a); return;
    }
  }

  // Events that nothing asked for: refused for their documented reason, or by the table.
  void stray(std::uint32_t which) {
    const std::uint32_t far = 999;
    switch (which) {
      case 0:
        logf("stray quote");
        // Taken if a quote was asked for: then it is the answer, and the real one is refused later.
        call(ExitEvent::quote, 0, [&] { engine_->handle_quote(price_, at(now_)); }, false,
             [&] { quote_outstanding_ = false; });
        return;
      case 1: {
        logf("stray answer #%u", far);
        AttemptAnswer a;
        a.outcome.status = SubmitStatus::filled;
        a.outcome.filled_quantity = request_.quantity;
        a.outcome.average_price = price_;
        call(ExitEvent::answer, far, [&] { engine_->handle_answer(far, a, at(now_)); });
        return;
      }
      case 2: {
        logf("stray fill #%u", far);
        exitguard::FillReport f{"stray", request_.quantity, price_};
        call(ExitEvent::fill, far, [&] { engine_->handle_fill(far, f, at(now_)); });
        return;
      }
      case 3:
        logf("stray attempt_dead #%u", far);
        call(ExitEvent::attempt_dead, far, [&] { engine_->handle_attempt_dead(far, at(now_)); }, true);
        return;
      case 4:
        if (engine_->query_outstanding()) return;  // a real answer would be taken: not a stray
        logf("stray position");
        call(ExitEvent::position, 0, [&] { engine_->handle_position(open_, at(now_)); });
        return;
      default:
        if (engine_->query_outstanding()) return;
        logf("stray position failure");
        call(ExitEvent::position, 0, [&] { engine_->handle_position_failed({}, at(now_)); });
        return;
    }
  }

  // --- the engine call, with every per-event check ---------------------------------
  // `must_refuse`: where the table allows this event, the engine must refuse it, and
  // only then, for its documented reason (computed before the call: a quote not asked
  // for, an answer to an attempt that already answered or never existed, a fill for an
  // attempt never sent, a position answer with no query outstanding; the caller says
  // it for attempt_dead: an attempt not open). `on_taken` updates the
  // driver's mirror of the engine when the event was taken, before the outputs are
  // acted on (they may depend on it). Returns whether the event was taken (not refused).
  struct NoHook {
    void operator()() const noexcept {}
  };
  template <class F, class G = NoHook>
  bool call(ExitEvent ev, std::uint32_t n, F&& f, bool must_refuse = false, G&& on_taken = G{}) {
    Engine& eng = *engine_;
    const ExitTransitionState st = eng.state();
    const bool released = eng.is_released();
    const bool allowed = !released && exitguard::is_allowed_event(st, ev);
    const std::size_t refused0 = eng.machine().refused_events();
    const Quantity filled0 = eng.filled();
    switch (ev) {
      case ExitEvent::quote: must_refuse = must_refuse || !quote_outstanding_; break;
      case ExitEvent::answer:
        must_refuse = must_refuse || n < 1 || n > attempts_.size() || !attempts_[n - 1].reporting;
        break;
      case ExitEvent::fill: must_refuse = must_refuse || n < 1 || n > attempts_.size(); break;
      case ExitEvent::position: must_refuse = must_refuse || !eng.query_outstanding(); break;
      default: break;
    }
    f();
    ++c_->events;
    const bool refused = eng.machine().refused_events() != refused0;
    if (refused) {
      ++c_->refused_events;
      if (released) ++c_->refused_after_release;
    }
    if (!allowed && !refused)
      violate("event %s in state %s%s was taken although the table refuses it",
              std::string(exitguard::to_string(ev)).c_str(), std::string(exitguard::to_string(st)).c_str(),
              released ? " (released)" : "");
    if (allowed && refused && !must_refuse)
      violate("event %s (attempt %u) refused in state %s although the table allows it",
              std::string(exitguard::to_string(ev)).c_str(), n, std::string(exitguard::to_string(st)).c_str());
    if (allowed && !refused && must_refuse)
      violate("event %s (attempt %u) taken in state %s although it had to be refused (not asked for, already "
              "answered, never sent or not open)",
              std::string(exitguard::to_string(ev)).c_str(), n, std::string(exitguard::to_string(st)).c_str());
    if (refused && (eng.state() != st || eng.filled() != filled0))
      violate("refused event %s changed the exit", std::string(exitguard::to_string(ev)).c_str());
    if (!refused) on_taken();
    check_audit();
    const std::size_t outputs = drain();
    if (refused && outputs > 0) violate("refused event %s emitted %zu outputs", std::string(exitguard::to_string(ev)).c_str(), outputs);
    if (released && outputs > 0) violate("output after release");
    update_timer();
    check_quantities();
    if (completes_ == 0 && eng.is_complete()) violate("complete without a complete output");
    const auto p = eng.pending_attempt();
    if (p.value_or(0) != pending_) violate("pending_attempt() %u, outputs say %u", p.value_or(0), pending_);
    return !refused;
  }

  std::size_t drain() {
    std::size_t k = 0;
    while (auto o = engine_->poll()) {
      ++k;
      on_output(*o);
      if (stop_) break;
    }
    return k;
  }

  void update_timer() {
    const auto pt = engine_->poll_timeout();
    if (!pt) {
      timer_armed_ = false;
      return;
    }
    const std::int64_t t = ns(*pt);
    if (t < now_) violate("poll_timeout() %s is before now %s", rel(t).c_str(), rel(now_).c_str());
    if (timer_armed_ && t == timer_t_) return;
    ++timer_gen_;
    timer_armed_ = true;
    timer_t_ = t;
    push(t, EvKind::timer, timer_gen_, 0);
  }

  void on_output(const ExitOutput& o) {
    digest_ = (digest_ ^ (static_cast<std::uint64_t>(o.kind) | static_cast<std::uint64_t>(o.attempt) << 8 |
                          static_cast<std::uint64_t>(now_ - t0_) << 24)) * 0x100000001b3ULL;
    if (log_) logf("  -> %s%s%s", std::string(kind_name(o.kind)).c_str(),
                   o.attempt ? (" #" + std::to_string(o.attempt)).c_str() : "",
                   o.quantity.is_positive() ? (" qty " + std::to_string(o.quantity.units())).c_str() : "");
    if (releases_ > 0) return violate("output %s after release", std::string(kind_name(o.kind)).c_str());
    if (completes_ > 0 && exitguard::is_command(o.kind) && o.kind != ExitOutputKind::cancel_attempt &&
        o.kind != ExitOutputKind::release)
      return violate("command %s after complete", std::string(kind_name(o.kind)).c_str());
    switch (o.kind) {
      case ExitOutputKind::quote:
        if (quote_outstanding_) return violate("a second quote asked for while one is outstanding");
        quote_outstanding_ = true;
        if (rng_.chance(profile_.p_quote_delay))
          push(now_ + rng_.between(0, 3 * sec), EvKind::quote, 0, 0);
        else
          quote_now_ = true;
        return;
      case ExitOutputKind::submit: return on_submit(o.attempt);
      case ExitOutputKind::query_position: {
        if (!engine_->query_outstanding()) return violate("query_position without a query outstanding");
        if (current_query_ >= 0) return violate("a second query while one is outstanding");
        ++c_->queries;
        const auto kind = static_cast<QueryKind>(pick_weighted(profile_.query_weight));
        queries_.push_back(Query{now_, open_, kind});
        current_query_ = static_cast<int>(queries_.size() - 1);
        if (kind != QueryKind::never)
          push(now_ + rng_.between(0, profile_.query_latency_max), EvKind::position,
               static_cast<std::uint32_t>(current_query_), 0);
        return;
      }
      case ExitOutputKind::cancel_query:
        if (current_query_ < 0) return violate("cancel_query without a query");
        queries_[static_cast<std::size_t>(current_query_)].cancelled = true;
        current_query_ = -1;
        return;
      case ExitOutputKind::cancel_attempt: {
        if (o.attempt < 1 || o.attempt > attempts_.size()) return violate("cancel_attempt #%u never sent", o.attempt);
        SimAttempt& a = attempts_[o.attempt - 1];
        if (!a.venue_cancelled && rng_.chance(profile_.p_honour)) {
          a.venue_cancelled = true;
          if (!a.dead_planned && rng_.chance(profile_.p_dead)) {
            a.dead_planned = true;
            push(now_ + rng_.between(0, 5 * sec), EvKind::dead, o.attempt, 0);
          }
        }
        return;
      }
      case ExitOutputKind::complete: {
        if (++completes_ > 1) return violate("a second complete");
        complete_t_ = now_;
        if (now_ > deadline_) violate("complete at %s, after the deadline %s", rel(now_).c_str(), rel(deadline_).c_str());
        if (!engine_->is_complete()) violate("complete while the state is %s", std::string(exitguard::to_string(engine_->state())).c_str());
        if (pending_ != 0) violate("complete with attempt #%u still pending", pending_);
        return;
      }
      case ExitOutputKind::release: {
        ++releases_;
        release_t_ = now_;
        anomalies_at_release_ = engine_->anomalies();
        reporting_at_release_ = 0;
        for (const auto& a : attempts_) reporting_at_release_ += a.reporting ? 1u : 0u;
        if (completes_ == 0) violate("release before complete");
        if (now_ > horizon_) violate("release at %s, after the horizon %s", rel(now_).c_str(), rel(horizon_).c_str());
        if (now_ == horizon_ && now_ > complete_t_) ++c_->horizon_releases;
        return;
      }
      case ExitOutputKind::attempt_finished:
        if (o.attempt != pending_) return violate("attempt_finished #%u but #%u is pending", o.attempt, pending_);
        pending_ = 0;
        return;
      case ExitOutputKind::retry: ++c_->retries; return;
      case ExitOutputKind::escalated: ++c_->escalations; return;
      case ExitOutputKind::late_fill: ++c_->late_fill_notices; return;
      case ExitOutputKind::late_fill_after_completion:
        ++c_->late_fills_after_completion;
        if (completes_ == 0) violate("late_fill_after_completion before complete");
        return;
      case ExitOutputKind::attempt_in_doubt: return;
    }
  }

  void on_submit(std::uint32_t n) {
    Engine& eng = *engine_;
    if (completes_ > 0) return violate("submit #%u after complete", n);
    if (n != attempts_.size() + 1) return violate("submit #%u out of sequence (after %zu)", n, attempts_.size());
    if (pending_ != 0) return violate("submit #%u while #%u is pending", n, pending_);
    if (halt_accepted_) return violate("submit #%u after a halt", n);
    if (cancel_accepted_) return violate("submit #%u after a cancel", n);
    const exitguard::ExitOrder ord = eng.order(n);
    const Quantity lot = request_.lot_size;
    if (!ord.quantity.is_positive()) return violate("submit #%u of %lld", n, static_cast<long long>(ord.quantity.units()));
    if (ord.quantity.units() % lot.units() != 0) return violate("submit #%u: %lld is not a whole number of lots of %lld", n,
                                                                static_cast<long long>(ord.quantity.units()), static_cast<long long>(lot.units()));
    if (ord.quantity > eng.remaining()) return violate("submit #%u of %lld > remaining %lld", n, static_cast<long long>(ord.quantity.units()),
                                                       static_cast<long long>(eng.remaining().units()));
    if (ord.quantity > request_.quantity) return violate("submit #%u larger than the request", n);
    if (!(ord.limit_price > 0) || !std::isfinite(ord.limit_price)) return violate("submit #%u with limit price %g", n, ord.limit_price);
    if (ord.side != request_.side || ord.lot_size != lot || !ord.reduce_only || ord.attempt != n || ord.exit_id != seed_)
      return violate("submit #%u: order fields differ from the request", n);
    if (ord.step >= settings_.ladder.size() || ord.kind != settings_.ladder[ord.step].kind)
      return violate("submit #%u: kind/step mismatch", n);
    const auto& pol = settings_.ladder[ord.step].policy;
    if (now_ + ns(pol.min_attempt_window) > deadline_)
      return violate("submit #%u at %s: less than the step's min_attempt_window before the deadline", n, rel(now_).c_str());
    // Principle 2.
    bool malformed_open = false;
    for (std::uint32_t k = 1; k < n; ++k)
      if (attempts_[k - 1].malformed_pending && exitguard::may_still_land(eng.tracker().find(k)->outcome)) malformed_open = true;
    if (eng.tracker().any_in_doubt() && (!caps_.exclusive_attempts || malformed_open) &&
        !(reconciled_since_submit_ && caps_.enforces_reduce_only))
      return violate("submit #%u while an attempt may still land, %s", n,
                     malformed_open ? "after a malformed answer, without a position report"
                                    : "on a non-exclusive venue, without a position report on a reduce-only venue");
    std::uint64_t key = 0;
    {
      const auto pos = ord.exclusivity_key.rfind('-');
      const char* b = ord.exclusivity_key.data() + (pos == std::string::npos ? 0 : pos + 1);
      const char* e = ord.exclusivity_key.data() + ord.exclusivity_key.size();
      if (pos == std::string::npos || std::from_chars(b, e, key).ec != std::errc{})
        return violate("submit #%u: exclusivity key '%s'", n, ord.exclusivity_key.c_str());
    }
    attempts_.emplace_back();
    SimAttempt& a = attempts_.back();
    a.qty = ord.quantity;
    a.limit = ord.limit_price;
    a.key = key;
    a.sent = now_;
    a.step = ord.step;
    pending_ = n;
    reconciled_since_submit_ = false;
    plan_attempt(a, n, ns(pol.attempt_timeout));
  }

  Quantity partial_of(Quantity q) {
    const std::int64_t lot = request_.lot_size.units();
    const std::int64_t lots = q.units() / lot;
    if (rng_.chance(0.1) && q.units() > 1) return rng_.between(1, q.units() - 1);  // not a whole number of lots
    if (lots <= 1) return q;
    return rng_.between(1, lots - 1) * lot;
  }

  void plan_attempt(SimAttempt& a, std::uint32_t n, std::int64_t attempt_timeout) {
    const Profile& p = profile_;
    a.style = static_cast<Style>(pick_weighted(p.weight));
    const bool late = rng_.chance(p.p_late);
    std::int64_t answer_lat;
    if (late) {
      answer_lat = rng_.chance(0.2) ? attempt_timeout : instant(a.sent + attempt_timeout, a.sent + 150 * sec) - a.sent;
    } else {
      answer_lat = rng_.chance(0.05) ? attempt_timeout : rng_.between(0, attempt_timeout * 9 / 10);
    }
    const std::int64_t answer_t = a.sent + answer_lat;
    bool answer = true;
    auto land_at = [&](std::int64_t t, Quantity q) {
      a.chunk_qty[a.chunks] = q;
      push(t, EvKind::land, n, a.chunks);
      ++a.chunks;
    };
    auto later = [&](std::int64_t from) { return instant(from, a.sent + 150 * sec); };
    switch (a.style) {
      case Style::fill:
      case Style::partial:
        land_at(a.sent + rng_.between(0, answer_lat), a.style == Style::fill ? a.qty : partial_of(a.qty));
        answer = !rng_.chance(p.p_answer_lost);
        break;
      case Style::reject: {
        switch (rng_.between(0, 6)) {
          case 0:
          case 1:
            a.reject_error = exitguard::error::slippage_exceeded;
            a.reject_kind = FailureKind::transient;
            a.escalates = true;
            break;
          case 2:
            a.reject_error = exitguard::error::venue_unavailable;
            a.reject_kind = FailureKind::transient;
            break;
          case 3:
            a.reject_error = exitguard::error::insufficient_funds;
            a.reject_kind = FailureKind::permanent;
            break;
          case 4:
            a.reject_error = boost::asio::error::timed_out;
            a.reject_kind = FailureKind::in_doubt;
            break;
          case 5:
            a.reject_error = {};
            a.reject_kind = FailureKind::transient;
            a.escalates = rng_.chance(0.5);
            break;
          default:
            a.reject_error = boost::asio::error::connection_refused;
            a.reject_kind = FailureKind::transient;
            break;
        }
        answer = !rng_.chance(p.p_answer_lost);
        break;
      }
      case Style::in_doubt:
        a.doubt_error = rng_.chance(0.5) ? boost::system::error_code{} : boost::system::error_code(boost::asio::error::timed_out);
        if (rng_.chance(0.3) && a.qty.units() >= 2 * request_.lot_size.units()) {
          const Quantity first = partial_of(a.qty);
          land_at(a.sent + rng_.between(0, answer_lat), first);
          if (rng_.chance(p.p_land_later)) land_at(later(answer_t), a.qty - first);
        } else if (rng_.chance(p.p_land_later)) {
          land_at(later(a.sent), rng_.chance(0.7) ? a.qty : partial_of(a.qty));
        }
        break;
      case Style::lost:
        answer = false;
        if (rng_.chance(p.p_land_later)) land_at(later(a.sent), rng_.chance(0.7) ? a.qty : partial_of(a.qty));
        break;
      case Style::transport:
        a.transport_kind = rng_.chance(0.7) ? FailureKind::in_doubt : FailureKind::transient;
        if (a.transport_kind == FailureKind::in_doubt && rng_.chance(p.p_land_later))
          land_at(later(a.sent), rng_.chance(0.7) ? a.qty : partial_of(a.qty));
        break;
      case Style::malformed:
        a.mal = static_cast<Malformed>(rng_.between(0, 5));
        ++c_->malformed_answers;
        if (a.mal == Malformed::overfill) {
          land_at(a.sent + rng_.between(0, answer_lat), a.qty);
        } else if (a.mal == Malformed::bad_price) {
          land_at(a.sent + rng_.between(0, answer_lat), rng_.chance(0.7) ? a.qty : partial_of(a.qty));
        } else if (rng_.chance(0.5)) {
          land_at(a.sent + rng_.between(0, answer_lat), rng_.chance(0.6) ? a.qty : partial_of(a.qty));
        } else if (rng_.chance(0.3)) {
          land_at(later(answer_t), a.qty);
        }
        break;
    }
    if (answer) {
      push(answer_t, EvKind::answer, n, 0);
      if (rng_.chance(p.p_dup_answer)) push(answer_t + rng_.between(0, 10 * sec), EvKind::answer, n, 1);
    }
    if (a.chunks == 0 ? rng_.chance(p.p_dead) : rng_.chance(p.p_dead * 0.3)) {
      // For one that lands: after its last landing, if nothing more can land by then
      // (e.g. a partially filled order that expired).
      a.dead_planned = true;
      push(instant(a.sent, a.sent + 120 * sec), EvKind::dead, n, 0);
    }
    if (log_)
      logf("  venue: #%u %s%s%s, qty %lld, %u landing(s)%s, answer %s at %s", n, style_names[static_cast<std::size_t>(a.style)],
           a.style == Style::malformed ? "/" : "", a.style == Style::malformed ? malformed_names[static_cast<std::size_t>(a.mal)] : "",
           static_cast<long long>(a.qty.units()), static_cast<unsigned>(a.chunks), a.dead_planned ? ", dead planned" : "",
           answer ? (late ? "late" : "in time") : "never", answer ? rel(answer_t).c_str() : "-");
  }

  // --- the venue -----------------------------------------------------------------
  bool can_land_later(const SimAttempt& a, std::uint32_t n) const {
    if (a.venue_cancelled || a.chunks_done >= a.chunks) return false;
    if (caps_.exclusive_attempts && a.key < key_owner_.size() && key_owner_[a.key] != 0 && key_owner_[a.key] != n)
      return false;
    return true;
  }

  double fill_price(const SimAttempt& a) {
    const double f = rng_.uniform(0, 0.001);
    return request_.side == Side::sell ? a.limit * (1 + f) : a.limit * (1 - f);
  }

  void land(std::uint32_t n, std::uint32_t chunk) {
    SimAttempt& a = attempts_[n - 1];
    ++a.chunks_done;
    if (a.venue_cancelled) return;
    const Quantity want = a.chunk_qty[chunk];
    if (caps_.exclusive_attempts) {
      if (key_owner_.size() <= a.key) key_owner_.resize(a.key + 1, 0);
      if (key_owner_[a.key] != 0 && key_owner_[a.key] != n) {
        ++c_->exclusive_blocks;
        logf("venue: #%u cannot land: key %llu already landed with #%u", n, static_cast<unsigned long long>(a.key),
             key_owner_[a.key]);
        return;
      }
    }
    const Quantity got = caps_.enforces_reduce_only ? std::min(want, open_) : want;
    if (got < want) {
      ++c_->reduce_only_saves;
      if (caps_.exclusive_attempts) ++c_->reduce_only_saves_exclusive;
      logf("venue: reduce-only: #%u wanted %lld, %lld open", n, static_cast<long long>(want.units()),
           static_cast<long long>(open_.units()));
    }
    if (!got.is_positive()) return;
    if (caps_.exclusive_attempts) key_owner_[a.key] = n;
    const double px = fill_price(a);
    open_ -= got;
    sold_ += got;
    if (sold_ > request_.quantity)
      violate("oversold: #%u landed, the venue sold %lld of %lld", n, static_cast<long long>(sold_.units()),
              static_cast<long long>(request_.quantity.units()));
    a.landed += got;
    a.notional += static_cast<double>(got.units()) * px;
    if (completes_ > 0) ++c_->landings_after_complete;
    if (releases_ > 0) ++c_->landings_after_release;
    logf("venue: #%u lands %lld at %g (open %lld)", n, static_cast<long long>(got.units()), px,
         static_cast<long long>(open_.units()));
    const Profile& p = profile_;
    if (rng_.chance(p.p_report)) {
      const std::int64_t t = now_ + (rng_.chance(p.p_report_late) ? rng_.between(0, 100 * sec) : rng_.between(0, 500 * ms));
      auto report = [&](std::int64_t when, Quantity q) {
        double price = px;
        if (rng_.chance(p.p_bad_report_price))
          price = rng_.pick(std::array<double, 4>{std::nan(""), 0.0, HUGE_VAL, -px});
        fills_.push_back(FillMsg{n, static_cast<std::uint32_t>(fills_.size()), q, price});
        const auto idx = static_cast<std::uint32_t>(fills_.size() - 1);
        push(when, EvKind::fill, idx, 0);
        if (rng_.chance(p.p_dup_report)) push(when + rng_.between(0, 5 * sec), EvKind::fill, idx, 0);
      };
      if (got.units() >= 2 && rng_.chance(p.p_split)) {
        const Quantity q1 = rng_.between(1, got.units() - 1);
        report(t, q1);
        report(t + rng_.between(0, 2 * sec), got - q1);
      } else if (a.landed == a.qty && got == a.qty && rng_.chance(p.p_overfill_report)) {
        report(t, a.qty + Quantity(rng_.between(1, a.qty.units())));  // malformed: more than the order
      } else {
        report(t, got);
      }
    }
    if (rng_.chance(p.p_zero_report)) {
      fills_.push_back(FillMsg{n, static_cast<std::uint32_t>(fills_.size()),
                               rng_.chance(0.5) ? Quantity{} : Quantity(-rng_.between(1, 1000)), px});
      push(now_ + rng_.between(0, 1 * sec), EvKind::fill, static_cast<std::uint32_t>(fills_.size() - 1), 0);
    }
  }

  AttemptAnswer make_answer(const SimAttempt& a, std::uint32_t n) {
    AttemptAnswer ans;
    auto& o = ans.outcome;
    o.transaction_id = "tx" + std::to_string(n);
    const bool future = can_land_later(a, n);
    const double avg = a.landed.is_positive() ? a.notional / static_cast<double>(a.landed.units()) : 0;
    auto truthful = [&] {
      if (future) {
        o.status = SubmitStatus::in_doubt;
        o.filled_quantity = a.landed;
        o.average_price = avg;
        o.error = exitguard::error::in_doubt;
        ans.kind = FailureKind::in_doubt;
      } else if (a.landed.is_positive()) {
        o.status = a.landed == a.qty ? SubmitStatus::filled : SubmitStatus::partially_filled;
        o.filled_quantity = a.landed;
        o.average_price = avg;
      } else {
        o.status = SubmitStatus::rejected;
        if (a.venue_cancelled) {
          o.error = boost::asio::error::operation_aborted;
          ans.kind = FailureKind::permanent;
        } else if (a.style == Style::reject) {
          o.error = a.reject_error;
          ans.kind = a.reject_kind;
          ans.escalates = a.escalates;
        } else {
          // Superseded on its key, or nothing left to sell (reduce-only).
          o.error = exitguard::error::insufficient_funds;
          ans.kind = (n & 1) ? FailureKind::permanent : FailureKind::transient;
        }
      }
    };
    switch (a.style) {
      case Style::fill:
      case Style::partial:
      case Style::reject: truthful(); break;
      case Style::in_doubt:
        o.status = SubmitStatus::in_doubt;
        o.filled_quantity = a.landed;
        o.average_price = avg;
        o.error = a.doubt_error;
        ans.kind = FailureKind::in_doubt;
        break;
      case Style::lost: truthful(); break;  // never delivered
      case Style::transport:
        ans.answered = false;
        ans.kind = a.transport_kind;
        o.error = a.transport_kind == FailureKind::in_doubt ? boost::system::error_code(boost::asio::error::timed_out)
                                                            : boost::system::error_code(boost::asio::error::connection_refused);
        o.status = rng_.chance(0.5) ? SubmitStatus::filled : SubmitStatus::rejected;  // meaningless when !answered
        o.filled_quantity = rng_.chance(0.5) ? a.qty : Quantity{};
        break;
      case Style::malformed:
        switch (a.mal) {
          case Malformed::filled_zero:
            o.status = SubmitStatus::filled;
            o.average_price = rng_.chance(0.5) ? avg : 0;
            break;
          case Malformed::filled_negative:
            o.status = SubmitStatus::filled;
            o.filled_quantity = rng_.chance(0.5) ? Quantity(-a.qty.units()) : Quantity(std::numeric_limits<std::int64_t>::min());
            o.average_price = avg;
            break;
          case Malformed::partial_zero: o.status = SubmitStatus::partially_filled; break;
          case Malformed::unnamed_status:
            o.status = static_cast<SubmitStatus>(7);
            o.filled_quantity = rng_.chance(0.5) ? a.qty : a.landed;
            o.average_price = avg;
            break;
          case Malformed::overfill:
            if (a.landed != a.qty || future) {  // it did not fill in full: an over-fill would be a lie
              truthful();
            } else {
              o.status = SubmitStatus::filled;
              o.filled_quantity = rng_.chance(0.3) ? Quantity::max() : a.qty + Quantity(rng_.between(1, a.qty.units()));
              o.average_price = avg;
            }
            break;
          case Malformed::bad_price:
            truthful();
            if (o.filled_quantity.is_positive())
              o.average_price = rng_.pick(std::array<double, 5>{std::nan(""), 0.0, HUGE_VAL, -HUGE_VAL, -1.0});
            break;
        }
        break;
    }
    return ans;
  }

  bool answer_is_malformed(const SimAttempt& a) const {
    return a.style == Style::malformed &&
           (a.mal == Malformed::filled_zero || a.mal == Malformed::filled_negative ||
            a.mal == Malformed::partial_zero || a.mal == Malformed::unnamed_status);
  }

  // What the engine must count from an accepted answer (before the call, the attempt may still land).
  static Quantity counted_from(const AttemptAnswer& ans, Quantity order) {
    if (!ans.answered) return Quantity{};
    const auto& o = ans.outcome;
    switch (o.status) {
      case SubmitStatus::filled:
      case SubmitStatus::partially_filled:
      case SubmitStatus::in_doubt: return o.filled_quantity.is_positive() ? std::min(o.filled_quantity, order) : Quantity{};
      default: return Quantity{};
    }
  }

  void deliver_answer(std::uint32_t n, bool duplicate) {
    SimAttempt& a = attempts_[n - 1];
    const AttemptAnswer ans = make_answer(a, n);
    if (log_)
      logf("answer #%u%s: %s%s%s qty %lld px %g err '%s' kind %s%s", n, duplicate ? " (again)" : "",
           ans.answered ? "" : "answered=false ", std::string(exitguard::to_string(ans.outcome.status)).c_str(),
           static_cast<unsigned>(ans.outcome.status) > 3 ? "(7)" : "",
           static_cast<long long>(ans.outcome.filled_quantity.units()), ans.outcome.average_price,
           ans.outcome.error.message().c_str(), std::string(exitguard::to_string(ans.kind)).c_str(),
           ans.escalates ? " escalates" : "");
    const auto outcome = engine_->tracker().find(n)->outcome;
    if (releases_ > 0) ++c_->answers_after_release;
    call(ExitEvent::answer, n, [&] { engine_->handle_answer(n, ans, at(now_)); }, false, [&] {
      a.reporting = false;
      if (exitguard::may_still_land(outcome)) {
        a.answer_known = counted_from(ans, a.qty);
        if (answer_is_malformed(a)) a.malformed_pending = true;
        if (ans.outcome.status == SubmitStatus::partially_filled) ++c_->partial_fills;
      }
    });
    check_attempt(n);
  }

  void deliver_fill(std::uint32_t idx) {
    FillMsg& m = fills_[idx];
    const std::string id = "f" + std::to_string(m.id);
    logf("fill #%u %s qty %lld px %g%s", m.attempt, id.c_str(), static_cast<long long>(m.qty.units()), m.price,
         m.counted ? " (again)" : "");
    const exitguard::FillReport f{id, m.qty, m.price};
    call(ExitEvent::fill, m.attempt, [&] { engine_->handle_fill(m.attempt, f, at(now_)); }, false, [&] {
      if (m.qty.is_positive() && !m.counted) {
        m.counted = true;
        attempts_[m.attempt - 1].reports_sum += m.qty;
      }
    });
    check_attempt(m.attempt);
  }

  void deliver_position(std::uint32_t qi) {
    Query& q = queries_[qi];
    if (q.cancelled) {
      // The driver tags its queries: a stale answer is dropped while a newer query is
      // outstanding, and otherwise sometimes handed over (to be refused).
      if (current_query_ >= 0 || !rng_.chance(profile_.p_stale_query_answer)) return;
    } else {
      current_query_ = -1;
    }
    switch (q.kind) {
      case QueryKind::truth_now:
      case QueryKind::truth_at_issue: {
        const Quantity open = q.kind == QueryKind::truth_now ? open_ : q.open_at_issue;
        logf("position %lld (%s)%s", static_cast<long long>(open.units()), query_names[static_cast<std::size_t>(q.kind)],
             q.cancelled ? " stale" : "");
        call(ExitEvent::position, 0, [&] { engine_->handle_position(open, at(now_)); }, false, [&] {
          ++c_->reconciliations;
          reconciled_since_submit_ = true;
          for (auto& a : attempts_) a.malformed_pending = false;
          // The position as it is now: what the engine counts is then exactly what was sold.
          if (q.kind == QueryKind::truth_now && engine_->filled() != sold_)
            violate("after a position report of %lld open, the engine counts %lld sold, the venue sold %lld",
                    static_cast<long long>(open.units()), static_cast<long long>(engine_->filled().units()),
                    static_cast<long long>(sold_.units()));
          recon_base_ = engine_->filled();
          recon_through_ = static_cast<std::uint32_t>(attempts_.size());
        });
        break;
      }
      case QueryKind::invalid: {
        const Quantity v = rng_.pick(std::array<Quantity, 4>{Quantity(-1), request_.quantity + Quantity(1),
                                                             Quantity::max(),
                                                             Quantity(std::numeric_limits<std::int64_t>::min())});
        logf("position %lld (invalid)%s", static_cast<long long>(v.units()), q.cancelled ? " stale" : "");
        call(ExitEvent::position, 0, [&] { engine_->handle_position(v, at(now_)); });
        break;
      }
      case QueryKind::fail:
      case QueryKind::never: {
        logf("position query failed%s", q.cancelled ? " stale" : "");
        const boost::system::error_code why =
            rng_.chance(0.5) ? boost::system::error_code{} : boost::system::error_code(boost::asio::error::timed_out);
        call(ExitEvent::position, 0, [&] { engine_->handle_position_failed(why, at(now_)); });
        break;
      }
    }
  }

  void deliver_quote() {
    price_ *= 1 + rng_.uniform(-0.02, 0.02);
    double p = price_;
    if (rng_.chance(profile_.p_bad_quote))
      p = rng_.pick(std::array<double, 5>{std::nan(""), 0.0, HUGE_VAL, -price_, -HUGE_VAL});
    logf("quote %g", p);
    call(ExitEvent::quote, 0, [&] { engine_->handle_quote(p, at(now_)); }, false, [&] { quote_outstanding_ = false; });
  }

  // --- checks ----------------------------------------------------------------------
  void check_attempt(std::uint32_t n) {
    if (n < 1 || n > attempts_.size()) return;
    const SimAttempt& a = attempts_[n - 1];
    const Quantity expected = std::max(a.answer_known, std::min(a.reports_sum, a.qty));
    const Quantity counted = engine_->tracker().find(n)->filled_quantity;
    if (counted != expected)
      violate("attempt #%u counts %lld; its accepted answer said %lld, its distinct fill reports %lld (order %lld)", n,
              static_cast<long long>(counted.units()), static_cast<long long>(a.answer_known.units()),
              static_cast<long long>(a.reports_sum.units()), static_cast<long long>(a.qty.units()));
  }

  void check_quantities() {
    const Quantity filled = engine_->filled();
    // Attempts sent after the last position report were sized by it: what they fill
    // adds to what it found (it cannot be in it).
    if (recon_through_ < attempts_.size()) {
      Quantity since = recon_base_;
      for (std::uint32_t n = recon_through_ + 1; n <= attempts_.size(); ++n) since += engine_->tracker().find(n)->filled_quantity;
      if (filled < since)
        violate("the engine counts %lld sold, less than the last position report's %lld plus what attempts sent "
                "after it filled",
                static_cast<long long>(filled.units()), static_cast<long long>(since.units()));
    }
    if (filled > sold_)
      violate("the engine counts %lld sold, the venue sold %lld", static_cast<long long>(filled.units()),
              static_cast<long long>(sold_.units()));
    if (filled + engine_->remaining() != request_.quantity && engine_->state() != ExitTransitionState::position_open &&
        !(engine_->remaining() == Quantity{} && filled == Quantity{}))
      violate("filled %lld + remaining %lld != requested %lld", static_cast<long long>(filled.units()),
              static_cast<long long>(engine_->remaining().units()), static_cast<long long>(request_.quantity.units()));
  }

  void check_audit() {
    const auto& m = engine_->machine();
    const std::size_t recorded = m.audit_recorded();
    const std::size_t fresh = recorded - audit_cursor_;
    const std::size_t size = m.audit_size();
    std::size_t first = size - std::min(fresh, size);
    if (fresh > size) {
      ++c_->audit_unchecked;
      chain_state_ = m.audit_entry_at(first).from;  // entries were dropped before we saw them
      first_entry_checked_ = true;
    }
    for (std::size_t i = first; i < size; ++i) {
      const auto& e = m.audit_entry_at(i);
      if (ns(e.time) != now_) return violate("audit entry stamped %s at %s", rel(ns(e.time)).c_str(), rel(now_).c_str());
      if (!first_entry_checked_) {
        first_entry_checked_ = true;
        if (e.from != ExitTransitionState::position_open || e.to != ExitTransitionState::exit_signal_received || !e.accepted)
          return violate("the first audit entry is not PositionOpen -> ExitSignalReceived");
      }
      if (e.from != chain_state_)
        return violate("audit chain broken: entry from %s after %s", std::string(exitguard::to_string(e.from)).c_str(),
                       std::string(exitguard::to_string(chain_state_)).c_str());
      if (e.event) {
        if (e.accepted || e.to != e.from) return violate("a refused event's entry is malformed");
        continue;
      }
      if (!e.accepted)
        return violate("refused transition %s -> %s (%s)", std::string(exitguard::to_string(e.from)).c_str(),
                       std::string(exitguard::to_string(e.to)).c_str(), std::string(e.reason).c_str());
      if (e.from != e.to && !exitguard::is_valid_transition(e.from, e.to))
        return violate("accepted transition %s -> %s is not in the table", std::string(exitguard::to_string(e.from)).c_str(),
                       std::string(exitguard::to_string(e.to)).c_str());
      if (e.from != e.to && exitguard::is_terminal(e.to) && ++terminal_entries_ > 1)
        return violate("a second terminal transition");
      chain_state_ = e.to;
    }
    audit_cursor_ = recorded;
    if (chain_state_ != engine_->state() && size > 0) violate("the audit trail ends in %s, the engine is in %s",
                                                             std::string(exitguard::to_string(chain_state_)).c_str(),
                                                             std::string(exitguard::to_string(engine_->state())).c_str());
    if (m.refused_transitions() != 0) violate("the machine refused a transition");
  }

  void finish() {
    Engine& eng = *engine_;
    Counters& c = *c_;
    if (completes_ != 1) return violate("%u complete outputs", completes_);
    if (releases_ != 1) return violate("%u release outputs (released: %d)", releases_, eng.is_released() ? 1 : 0);
    if (!eng.is_released()) return violate("not released at the end of the run");
    if (release_t_ < complete_t_) return violate("released before complete");
    // After release, every event is refused and changes nothing.
    now_ += 1 * sec;
    call(ExitEvent::timer, 0, [&] { eng.handle_timeout(at(now_)); });
    call(ExitEvent::quote, 0, [&] { eng.handle_quote(price_, at(now_)); });
    call(ExitEvent::halt, 0, [&] { eng.handle_halt(at(now_)); });
    call(ExitEvent::cancel, 0, [&] { eng.cancel(exitguard::CancelKind::terminal, at(now_)); });
    call(ExitEvent::position, 0, [&] { eng.handle_position(Quantity{}, at(now_)); });
    call(ExitEvent::start, 0, [&] { eng.start(at(now_)); });
    if (!attempts_.empty()) {
      AttemptAnswer ans;
      ans.outcome.status = SubmitStatus::filled;
      ans.outcome.filled_quantity = attempts_[0].qty;
      ans.outcome.average_price = 1;
      call(ExitEvent::answer, 1, [&] { eng.handle_answer(1, ans, at(now_)); });
      const exitguard::FillReport f{"after-release", attempts_[0].qty, 1.0};
      call(ExitEvent::fill, 1, [&] { eng.handle_fill(1, f, at(now_)); });
      call(ExitEvent::attempt_dead, 1, [&] { eng.handle_attempt_dead(1, at(now_)); });
    }
    if (stop_) return;

    const auto r = eng.report();
    const bool closed = r.final_state == ExitTransitionState::position_closed;
    if (!exitguard::is_terminal(r.final_state)) return violate("final state %s is not terminal", std::string(exitguard::to_string(r.final_state)).c_str());
    if (closed == static_cast<bool>(r.error)) return violate("closed %d but error '%s'", closed ? 1 : 0, r.error.message().c_str());
    const bool cancelled = r.final_state == ExitTransitionState::exit_cancelled;
    if (cancelled && !cancel_accepted_) return violate("ExitCancelled without a cancel");
    if (cancelled && r.error != boost::asio::error::operation_aborted) return violate("ExitCancelled with '%s'", r.error.message().c_str());
    if (terminal_cancel_accepted_ && !cancelled) return violate("a terminal cancel was accepted, the exit did not end ExitCancelled");
    if (closed && open_ >= request_.lot_size)
      return violate("PositionClosed but the venue still has %lld open (lot %lld)", static_cast<long long>(open_.units()),
                     static_cast<long long>(request_.lot_size.units()));
    if (r.filled_quantity > request_.quantity) return violate("report: filled more than the request");
    if (r.filled_quantity > sold_) return violate("report: filled %lld, the venue sold %lld", static_cast<long long>(r.filled_quantity.units()),
                                                  static_cast<long long>(sold_.units()));
    if (r.requested_quantity != request_.quantity) return violate("report: requested quantity");
    if (r.filled_quantity + r.open_quantity != request_.quantity && r.attempts > 0)
      return violate("report: filled + open != requested");
    if (r.attempts != attempts_.size() || r.attempt_records.size() != attempts_.size()) return violate("report: attempts %u, submits %zu", r.attempts, attempts_.size());
    if (ns(r.exit_time) > ns(settings_.deadline) || ns(r.exit_time) < 0) return violate("report: exit_time %s", rel(t0_ + ns(r.exit_time)).c_str());
    if (!std::isfinite(r.average_price) || r.average_price < 0) return violate("report: average price %g", r.average_price);
    if (closed && r.failure_cause != exitguard::ExitFailureCause::none) return violate("closed with a failure cause");
    if ((closed || cancelled) && r.counts_for_breaker) return violate("a closed or cancelled exit counts for the breaker");
    Quantity sum;
    for (std::uint32_t n = 1; n <= attempts_.size(); ++n) {
      check_attempt(n);
      sum += eng.tracker().find(n)->filled_quantity;
    }
    if (sum != eng.tracker().filled_quantity()) return violate("the tracker's total is not the sum of its attempts");
    if (stop_) return;

    ++c.schedules;
    if (closed) ++c.closed;
    else if (cancelled) ++c.cancelled;
    else ++c.failed;
    c.anomalies += anomalies_at_release_;
    if (anomalies_at_release_ > 0) ++c.with_anomalies;
    c.max_reporting_at_release = std::max<std::uint64_t>(c.max_reporting_at_release, reporting_at_release_);
    c.attempts += r.attempts;
    c.max_attempts = std::max<std::uint64_t>(c.max_attempts, r.attempts);
    c.max_events_seen = std::max<std::uint64_t>(c.max_events_seen, events_);
    ++c.errors[error_slot(r.error)];
    if (log_)
      logf("end: %s '%s', filled %lld of %lld (venue sold %lld, open %lld), %u attempts, %u anomalies, complete at %s, released at %s",
           std::string(exitguard::to_string(r.final_state)).c_str(), r.error.message().c_str(),
           static_cast<long long>(r.filled_quantity.units()), static_cast<long long>(request_.quantity.units()),
           static_cast<long long>(sold_.units()), static_cast<long long>(open_.units()), r.attempts, r.anomalies,
           rel(complete_t_).c_str(), rel(release_t_).c_str());
  }

  // --- helpers ---------------------------------------------------------------------
  // A random instant in [lo, hi]; one time in five, one of the engine's own instants in
  // it (start, the final window's start, the deadline, the horizon): ties are where
  // ordering bugs live.
  std::int64_t instant(std::int64_t lo, std::int64_t hi) {
    if (rng_.chance(0.2)) {
      const std::array<std::int64_t, 4> special = {t0_, deadline_ - ns(settings_.final_window), deadline_, horizon_};
      const std::int64_t t = rng_.pick(special);
      if (t >= lo && t <= hi) return t;
    }
    return rng_.between(lo, hi);
  }

  void push(std::int64_t t, EvKind kind, std::uint32_t a, std::uint32_t b) {
    heap_.push_back(Event{t, seq_++, kind, a, b});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
  }

  std::string rel(std::int64_t t) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.6fs", static_cast<double>(t - t0_) / 1e9);
    return buf;
  }

  __attribute__((format(printf, 2, 3))) void logf(const char* fmt, ...) {
    if (!log_) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *log_ += rel(now_);
    *log_ += "  ";
    *log_ += buf;
    *log_ += '\n';
  }

  __attribute__((format(printf, 2, 3))) void violate(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (violation_.empty()) violation_ = std::string("at ") + rel(now_) + ": " + buf;
    stop_ = true;
    if (log_) *log_ += "  !!! VIOLATION: " + std::string(buf) + "\n";
  }

  void describe() {
    std::string& o = *log_;
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "seed %llu: %s %lld base units (lot %lld), signal %g%s; venue %s, %s queries; deadline %.3fs, final "
                  "window %.3fs, horizon %.3fs, attempts/exit %u, audit %zu\n",
                  static_cast<unsigned long long>(seed_), request_.side == Side::sell ? "sell" : "buy",
                  static_cast<long long>(request_.quantity.units()), static_cast<long long>(request_.lot_size.units()),
                  request_.signal_price, refusal_ ? (" refused: " + refusal_.message()).c_str() : "",
                  caps_.exclusive_attempts ? "exclusive" : "non-exclusive", caps_.queries_position ? "with" : "no",
                  static_cast<double>(ns(settings_.deadline)) / 1e9, static_cast<double>(ns(settings_.final_window)) / 1e9,
                  static_cast<double>(ns(settings_.late_answer_horizon)) / 1e9, settings_.max_attempts_per_exit,
                  settings_.audit_capacity);
    o += buf;
    for (std::size_t i = 0; i < settings_.ladder.size(); ++i) {
      const auto& s = settings_.ladder[i];
      const auto& p = s.policy;
      std::snprintf(buf, sizeof buf,
                    "  step %zu: %s %.2f bps; attempts %u, total %.3fs, attempt %.3fs, backoff %.3fs x%.2f max %.3fs, "
                    "jitter %s, window %.3fs\n",
                    i, s.kind == OrderKind::market ? "market" : "limit", s.max_slippage_bps, p.max_attempts,
                    static_cast<double>(ns(p.total_timeout)) / 1e9, static_cast<double>(ns(p.attempt_timeout)) / 1e9,
                    static_cast<double>(ns(p.initial_backoff)) / 1e9, p.backoff_multiplier,
                    static_cast<double>(ns(p.max_backoff)) / 1e9, std::string(exitguard::to_string(p.jitter)).c_str(),
                    static_cast<double>(ns(p.min_attempt_window)) / 1e9);
      o += buf;
    }
    const Profile& p = profile_;
    std::snprintf(buf, sizeof buf,
                  "  venue: weights fill %.2f partial %.2f reject %.2f in_doubt %.2f lost %.2f transport %.2f malformed "
                  "%.2f; late %.2f, lost answer %.2f, dup answer %.2f, lands later %.2f, reports %.2f, dead %.2f, "
                  "honours cancels %.2f, bad quotes %.2f\n",
                  p.weight[0], p.weight[1], p.weight[2], p.weight[3], p.weight[4], p.weight[5], p.weight[6], p.p_late,
                  p.p_answer_lost, p.p_dup_answer, p.p_land_later, p.p_report, p.p_dead, p.p_honour, p.p_bad_quote);
    o += buf;
  }

  // --- state -------------------------------------------------------------------------
  std::uint64_t seed_ = 0;
  std::string* log_ = nullptr;
  Counters* c_ = nullptr;
  std::string violation_;
  bool stop_ = false;
  std::uint64_t digest_ = 0;
  Rng rng_;

  Settings settings_;
  exitguard::ExitRequest request_;
  exitguard::VenueCapabilities caps_;
  Profile profile_;
  bool storm_ = false;
  boost::system::error_code refusal_;
  std::optional<Engine> engine_;

  std::vector<Event> heap_;
  std::uint64_t seq_ = 0;
  std::vector<SimAttempt> attempts_;
  std::vector<FillMsg> fills_;
  std::vector<Query> queries_;
  std::vector<std::uint32_t> key_owner_;  // exclusivity key -> the attempt that landed with it

  std::int64_t t0_ = 0, deadline_ = 0, horizon_ = 0, now_ = 0;
  Quantity open_, sold_;
  double price_ = 0;

  unsigned completes_ = 0, releases_ = 0;
  std::int64_t complete_t_ = 0, release_t_ = 0;
  std::uint32_t pending_ = 0;
  bool quote_outstanding_ = false, quote_now_ = false;
  int current_query_ = -1;
  bool reconciled_since_submit_ = false;
  Quantity recon_base_;             // filled() right after the last accepted position report
  std::uint32_t recon_through_ = 0; // attempts sent before it
  bool halt_accepted_ = false, cancel_accepted_ = false, terminal_cancel_accepted_ = false;
  bool timer_armed_ = false;
  std::uint32_t timer_gen_ = 0;
  std::int64_t timer_t_ = 0;
  int same_instant_timers_ = 0;
  std::size_t audit_cursor_ = 0;
  ExitTransitionState chain_state_ = ExitTransitionState::position_open;
  unsigned terminal_entries_ = 0;
  bool first_entry_checked_ = false;
  std::size_t events_ = 0;
  std::uint32_t anomalies_at_release_ = 0;
  std::uint32_t reporting_at_release_ = 0;
};

std::optional<std::uint64_t> env_number(const char* name) {
  const char* s = std::getenv(name);
  if (!s || !*s) return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0') FAIL(name << " must be a non-negative integer, got '" << s << "'");
  return static_cast<std::uint64_t>(v);
}

struct Failure {
  std::uint64_t seed;
  std::string what;
};

}  // namespace

TEST_CASE("ExitEngine: a million seeded fault schedules keep every invariant", "[simulation][engine]") {
  const auto only_seed = env_number("EXITGUARD_SIM_SEED");
  if (only_seed) {
    Simulator sim;
    Counters c;
    std::string log;
    const std::string violation = sim.run(*only_seed, c, &log);
    std::cout << log << (violation.empty() ? "seed passed\n" : "seed FAILED: " + violation + "\n");
    INFO("replay of seed " << *only_seed);
    CHECK(violation.empty());
    return;
  }
  const std::uint64_t count = env_number("EXITGUARD_SIM_SCHEDULES").value_or(default_schedules);
  const std::uint64_t first = env_number("EXITGUARD_SIM_FIRST_SEED").value_or(1);
  const unsigned threads = static_cast<unsigned>(std::clamp<std::uint64_t>(env_number("EXITGUARD_SIM_THREADS").value_or(2), 1, 64));

  constexpr std::size_t kept_failures = 64;
  std::vector<Counters> counters(threads);
  std::vector<std::vector<Failure>> failures(threads);
  std::vector<std::uint64_t> failure_counts(threads, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t cpu0 = std::clock();
  {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        Simulator sim;
        for (std::uint64_t i = t; i < count; i += threads) {
          const std::uint64_t seed = first + i;
          std::string v = sim.run(seed, counters[t]);
          if (v.empty()) continue;
          ++failure_counts[t];
          if (failures[t].size() < kept_failures) failures[t].push_back(Failure{seed, std::move(v)});
        }
      });
    for (auto& th : pool) th.join();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;

  Counters c;
  for (const auto& x : counters) c.merge(x);
  std::vector<Failure> failing;
  std::uint64_t failed_seeds = 0;
  for (unsigned t = 0; t < threads; ++t) {
    failed_seeds += failure_counts[t];
    for (auto& f : failures[t]) failing.push_back(std::move(f));
  }
  std::sort(failing.begin(), failing.end(), [](const Failure& a, const Failure& b) { return a.seed < b.seed; });

  std::printf("exit engine simulation: %llu schedules in %.2f s (%.0f schedules/s), closed %llu, failed %llu, "
              "cancelled %llu, anomalies %llu (in %llu schedules)\n",
              static_cast<unsigned long long>(count), wall, static_cast<double>(count) / wall,
              static_cast<unsigned long long>(c.closed), static_cast<unsigned long long>(c.failed),
              static_cast<unsigned long long>(c.cancelled), static_cast<unsigned long long>(c.anomalies),
              static_cast<unsigned long long>(c.with_anomalies));
  std::printf("  seeds %llu..%llu on %u thread(s), %.2f s of CPU; %llu attempts (max %llu in one exit), %llu events (max %llu in one "
              "schedule), %llu retries, %llu escalations, %llu partial fills, %llu malformed answers\n",
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + count - 1), threads, cpu,
              static_cast<unsigned long long>(c.attempts), static_cast<unsigned long long>(c.max_attempts),
              static_cast<unsigned long long>(c.events), static_cast<unsigned long long>(c.max_events_seen),
              static_cast<unsigned long long>(c.retries), static_cast<unsigned long long>(c.escalations),
              static_cast<unsigned long long>(c.partial_fills), static_cast<unsigned long long>(c.malformed_answers));
  std::printf("  %llu late fills, %llu after completion; %llu landings after complete, %llu after release; %llu "
              "queries, %llu reconciliations; %llu refused events (%llu after release); %llu releases at the horizon "
              "(at most %llu attempts still reporting at a release)\n",
              static_cast<unsigned long long>(c.late_fill_notices), static_cast<unsigned long long>(c.late_fills_after_completion),
              static_cast<unsigned long long>(c.landings_after_complete), static_cast<unsigned long long>(c.landings_after_release),
              static_cast<unsigned long long>(c.queries), static_cast<unsigned long long>(c.reconciliations),
              static_cast<unsigned long long>(c.refused_events), static_cast<unsigned long long>(c.refused_after_release),
              static_cast<unsigned long long>(c.horizon_releases), static_cast<unsigned long long>(c.max_reporting_at_release));
  std::printf("  venue: %llu landings blocked by an exclusive key, %llu clamped by reduce-only (%llu on exclusive "
              "venues); %llu terminal / %llu partial cancels, %llu halts, %llu refused starts; %llu audit batches "
              "larger than the ring\n",
              static_cast<unsigned long long>(c.exclusive_blocks), static_cast<unsigned long long>(c.reduce_only_saves),
              static_cast<unsigned long long>(c.reduce_only_saves_exclusive), static_cast<unsigned long long>(c.terminal_cancels),
              static_cast<unsigned long long>(c.partial_cancels), static_cast<unsigned long long>(c.halts),
              static_cast<unsigned long long>(c.refused_starts), static_cast<unsigned long long>(c.audit_unchecked));
  std::printf("  final errors:");
  for (std::size_t i = 0; i < c.errors.size(); ++i)
    if (c.errors[i]) std::printf(" %s %llu;", slot_name(i).c_str(), static_cast<unsigned long long>(c.errors[i]));
  std::printf("\n");
  std::fflush(stdout);

  if (env_number("EXITGUARD_SIM_LIST_FAILURES").value_or(0) != 0)
    for (const auto& f : failing) std::printf("  failing seed %llu: %s\n", static_cast<unsigned long long>(f.seed), f.what.c_str());
  constexpr std::size_t detailed = 3;
  for (std::size_t i = 0; i < failing.size() && i < detailed; ++i) {
    Simulator sim;
    Counters scratch;
    std::string log;
    sim.run(failing[i].seed, scratch, &log);
    INFO("seed " << failing[i].seed << " (replay: EXITGUARD_SIM_SEED=" << failing[i].seed << ")");
    INFO(log);
    FAIL_CHECK(failing[i].what);
  }
  {
    std::string list;
    for (std::size_t i = 0; i < failing.size() && i < 50; ++i)
      list += (i ? ", " : "") + std::to_string(failing[i].seed) + (i < 10 ? " (" + failing[i].what + ")" : "");
    INFO(failed_seeds << " of " << count << " schedules failed: " << list);
    CHECK(failed_seeds == 0);
  }
  // The schedules must reach the interesting paths, or the invariants prove little.
  if (count >= 20000) {
    CHECK(c.closed > 0);
    CHECK(c.failed > 0);
    CHECK(c.cancelled > 0);
    CHECK(c.partial_fills > 0);
    CHECK(c.escalations > 0);
    CHECK(c.late_fills_after_completion > 0);
    CHECK(c.landings_after_release > 0);
    CHECK(c.reconciliations > 0);
    CHECK(c.refused_after_release > 0);
    CHECK(c.horizon_releases > 0);
    CHECK(c.exclusive_blocks > 0);
    CHECK(c.errors[static_cast<std::size_t>(exitguard::error::in_doubt_unresolvable)] > 0);
    CHECK(c.errors[static_cast<std::size_t>(exitguard::error::deadline_exceeded)] > 0);
    CHECK(c.errors[static_cast<std::size_t>(exitguard::error::attempts_exhausted)] > 0);
    CHECK(c.errors[static_cast<std::size_t>(exitguard::error::trading_halted)] > 0);
  }
}

TEST_CASE("ExitEngine simulation: a seed replays identically", "[simulation][engine]") {
  if (env_number("EXITGUARD_SIM_SEED")) return;
  Simulator a, b;
  Counters ca, cb;
  for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
    std::uint64_t da = 0, db = 0;
    const std::string va = a.run(seed, ca, nullptr, &da);
    // The second run logs: logging must not change what happens.
    std::string log;
    const std::string vb = b.run(seed, cb, &log, &db);
    INFO("seed " << seed);
    REQUIRE(va == vb);
    REQUIRE(da == db);
  }
}
