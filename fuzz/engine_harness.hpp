// fuzz/engine_harness.hpp — drives one BasicExitEngine from fuzzer bytes and checks it.
//
// Shared by fuzz/exit_engine_fuzzer.cpp and fuzz/venue_answer_fuzzer.cpp. It decodes
// engine settings (a ladder of 1-3 steps, built valid by construction, or raw values
// that only validate() sees unless they happen to be valid), venue capabilities and
// an exit request, and wraps every engine call (`EngineHarness::start`, `answer`, ...)
// in the same checks. After each call it drains poll() and checks:
//
//   outputs   at most one `complete` and one `release`, release after complete, no
//             output at all after release, after complete only cancel_attempt,
//             late_fill_after_completion and release; a `submit` never after complete,
//             numbered started()+1 in order, its order a positive whole number of lots
//             equal to round_down_to_lot(remaining()), at most the request, with a
//             finite positive limit price; late_fill only before complete,
//             late_fill_after_completion only after; attempt numbers of notices exist;
//   doubt     (principle 2) a submit on a non-exclusive venue while an earlier attempt
//             is in doubt needs a position report after that attempt went into doubt,
//             and one report sizes one attempt (at most the open quantity it reported);
//             after a malformed answer (filled / partially_filled without a positive
//             quantity, an unnamed status) no submit at all, on any venue, until a
//             position report, unless that attempt can no longer land;
//   refusals  an event the table refuses (or any event once released) changes
//             nothing: state, filled(), remaining(), attempts_started(), no outputs;
//             it adds one anomaly and one audit entry (event set, not accepted,
//             event_not_allowed); note_callback_failure after release does nothing;
//   audit     every entry is stamped with the event's time, its `from` is the state
//             the previous entry left (consecutive transitions chain), an accepted one
//             is a note (from == to) or is_valid_transition, no transition is refused,
//             the chain ends at state(); an entry's error is of the exitguard category
//             or one the harness handed the engine (the venue's);
//   counting  each attempt's counted fill is exactly the larger of its answered
//             quantity (the answer's, capped at the order) and its reported quantity
//             (distinct fill reports, each capped so that they sum to at most the
//             order), modelled here independently of the tracker; filled() is never
//             negative, remaining() within [0, request]; remaining() + filled() is the
//             request, or (an over-fill beyond the position: attempts that all landed)
//             remaining() is 0 and filled() is the tracker's sum, more than the
//             request: filled() <= max(request, sum of the orders' quantities);
//             anomalies() grows by exactly what the answer or fill report deserved;
//   report    report() does not throw; its filled_quantity == filled(), attempts ==
//             attempts_started(), open_quantity == remaining();
//   time      state() is one of the 11; once terminal it stays; poll_timeout() is
//             empty once released, at most the deadline while running, and after an
//             accepted handle_timeout at or past it, it moved on (non-terminal: after
//             now; terminal at or past the horizon: released);
//   liveness  finish(): handle_timeout at each poll_timeout() releases the engine.
//
// Any exception from an engine call is a failure (the engine's own std::length_error
// for more than 24 unpolled outputs included: the harness polls after every call).
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/exit_engine.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/venue.hpp>

#include "fuzz_input.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace exitguard_fuzz {

using Clock = std::chrono::steady_clock;
using time_point = Clock::time_point;
using duration = Clock::duration;
using Engine = exitguard::BasicExitEngine<Clock>;
using EngineSettings = exitguard::BasicExitEngineSettings<Clock>;
using Policy = exitguard::BasicRetryPolicy<Clock>;
using exitguard::AttemptAnswer;
using exitguard::AttemptOutcome;
using exitguard::ExitEvent;
using exitguard::ExitOutput;
using exitguard::ExitOutputKind;
using exitguard::ExitRequest;
using exitguard::ExitTransitionState;
using exitguard::Quantity;
using exitguard::SubmitStatus;
using exitguard::VenueCapabilities;

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// A category of the venue's own errors: the audit trail may carry them.
class venue_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "fuzz.venue"; }
  std::string message(int value) const override { return "venue error " + std::to_string(value); }
};
inline const boost::system::error_category& venue_category() noexcept {
  static const venue_category_impl c;
  return c;
}

inline time_point saturating_add(time_point t, duration d) noexcept {
  if (d <= duration::zero()) return t;
  return t > time_point::max() - d ? time_point::max() : t + d;
}

inline Quantity q_mul(Quantity a, std::int64_t k) noexcept {
  std::int64_t r = 0;
  if (__builtin_mul_overflow(a.units(), k, &r)) return Quantity::max();
  return Quantity(r);
}

// --- settings ------------------------------------------------------------------------

// What docs/configuration.md says a valid policy is (as in settings_fuzzer.cpp).
inline bool documented_valid(const Policy& p) {
  const duration zero = duration::zero();
  const double m = p.backoff_multiplier;
  const bool jitter_ok = p.jitter == exitguard::Jitter::none || p.jitter == exitguard::Jitter::full ||
                         p.jitter == exitguard::Jitter::equal || p.jitter == exitguard::Jitter::decorrelated;
  return p.max_attempts >= 1 && p.max_attempts <= exitguard::max_retry_attempts && p.total_timeout > zero &&
         p.total_timeout <= duration::max() / 4 && p.attempt_timeout > zero &&
         p.attempt_timeout <= p.total_timeout && p.initial_backoff >= zero && std::isfinite(m) && m >= 1.0 &&
         m <= 100.0 && p.max_backoff >= p.initial_backoff && p.max_backoff < p.total_timeout && jitter_ok &&
         p.min_attempt_window > zero && p.min_attempt_window <= p.attempt_timeout;
}

// What the engine's settings documentation says is valid.
inline bool documented_valid(const EngineSettings& s) {
  if (s.ladder.empty() || s.ladder.size() > exitguard::max_ladder_steps) return false;
  for (std::size_t i = 0; i < s.ladder.size(); ++i) {
    const auto& step = s.ladder[i];
    if ((step.kind == exitguard::OrderKind::market) != (i + 1 == s.ladder.size())) return false;
    if (!(step.max_slippage_bps > 0 && step.max_slippage_bps <= 10000)) return false;
    if (!documented_valid(step.policy)) return false;
  }
  return s.deadline > duration::zero() && s.deadline <= std::chrono::minutes(10) &&
         s.final_window > duration::zero() && s.final_window < s.deadline &&
         s.ladder.back().policy.min_attempt_window <= s.final_window && s.audit_capacity >= 8 &&
         s.audit_capacity <= 65536 && s.max_attempts_per_exit >= 1 && s.max_attempts_per_exit <= 1000 &&
         s.late_answer_horizon > s.deadline && s.late_answer_horizon <= std::chrono::hours(1);
}

inline duration ms_of(std::int64_t v) { return milliseconds(v); }

// A policy valid by construction, in milliseconds (total up to 65.5 s).
inline Policy constructed_policy(FuzzInput& in) {
  Policy p;
  p.max_attempts = 1 + in.byte() % 6;
  const std::int64_t total = 1 + in.take<std::uint16_t>();
  p.total_timeout = ms_of(total);
  const std::int64_t attempt = 1 + in.take<std::uint16_t>() % total;
  p.attempt_timeout = ms_of(attempt);
  const std::int64_t initial = in.take<std::uint16_t>() % total;
  p.initial_backoff = ms_of(initial);
  p.max_backoff = ms_of(initial + in.take<std::uint16_t>() % (total - initial));
  p.backoff_multiplier = 1.0 + 99.0 * in.byte() / 255.0;
  p.jitter = static_cast<exitguard::Jitter>(in.byte() % 4);
  p.min_attempt_window = ms_of(1 + in.take<std::uint16_t>() % attempt);
  return p;
}

// Any values (ticks_ns tags: negative, huge, the boundaries), mostly invalid.
inline Policy raw_policy(FuzzInput& in) {
  Policy p = Policy::exit_policy();
  const std::uint8_t mask = in.byte();
  if (mask & 0x01) p.max_attempts = in.count();
  if (mask & 0x02) p.total_timeout = nanoseconds(in.ticks_ns());
  if (mask & 0x04) p.attempt_timeout = nanoseconds(in.ticks_ns());
  if (mask & 0x08) p.initial_backoff = nanoseconds(in.ticks_ns());
  if (mask & 0x10) p.backoff_multiplier = in.ratio();
  if (mask & 0x20) p.max_backoff = nanoseconds(in.ticks_ns());
  if (mask & 0x40) p.jitter = static_cast<exitguard::Jitter>(static_cast<int>(in.count()));
  if (mask & 0x80) p.min_attempt_window = nanoseconds(in.ticks_ns());
  return p;
}

// Settings layout (little-endian):
//   u8 mode      bit 0: raw (any values) or constructed; bits 1-7: ladder steps
//                (constructed: 1 + (mode>>1) % 3; raw: (mode>>1) % 10, so 0 and 9 too)
//   per step     constructed: u16 slippage (1 + v % 10000 bps; v >= 60000: an edge
//                0, 10000, 10001, NaN), the policy (constructed_policy);
//                raw: u8 kind (bit 0 flips limit/market), ratio() slippage x 100,
//                raw_policy
//   constructed: u16 deadline (2 + 9 v ms), u16 final window (1 + v % (deadline-1) ms,
//                at least the last step's min_attempt_window), u16 horizon
//                (deadline + 1 + 40 v ms), u8 audit capacity (8, 16, 128, 65536, 7),
//                u8 exit attempt limit (1 + v % 32, 64, 1000; 0 and 1001 rarely)
//   raw:         tagged ns deadline, final window, horizon; count() audit capacity
//                and attempt limit
//   u16 jitter seed, u8 flags (bit 0: breaker_counts_market_rejections)
inline EngineSettings decode_settings(FuzzInput& in) {
  EngineSettings s;
  const std::uint8_t mode = in.byte();
  const bool raw = (mode & 1) != 0;
  const unsigned steps = raw ? (mode >> 1) % 10 : 1 + (mode >> 1) % 3;
  s.ladder.clear();
  for (unsigned i = 0; i < steps; ++i) {
    exitguard::BasicEscalationStep<Clock> step;
    step.kind = i + 1 == steps ? exitguard::OrderKind::market : exitguard::OrderKind::limit;
    if (raw) {
      if (in.byte() & 1)
        step.kind = step.kind == exitguard::OrderKind::market ? exitguard::OrderKind::limit
                                                              : exitguard::OrderKind::market;
      step.max_slippage_bps = in.ratio() * 100;
      step.policy = raw_policy(in);
    } else {
      const std::uint16_t v = in.take<std::uint16_t>();
      static constexpr std::array<double, 4> edges{0.0, 10000.0, 10001.0,
                                                   std::numeric_limits<double>::quiet_NaN()};
      step.max_slippage_bps = v >= 60000 ? edges[v % 4] : 1.0 + v % 10000;
      step.policy = constructed_policy(in);
    }
    s.ladder.push_back(step);
  }
  if (raw) {
    s.deadline = nanoseconds(in.ticks_ns());
    s.final_window = nanoseconds(in.ticks_ns());
    s.late_answer_horizon = nanoseconds(in.ticks_ns());
    s.audit_capacity = in.count();
    s.max_attempts_per_exit = in.count();
  } else {
    const std::int64_t deadline = 2 + 9 * std::int64_t{in.take<std::uint16_t>()};
    s.deadline = ms_of(deadline);
    s.final_window = ms_of(1 + in.take<std::uint16_t>() % (deadline - 1));
    if (!s.ladder.empty() && s.final_window < s.ladder.back().policy.min_attempt_window)
      s.final_window = s.ladder.back().policy.min_attempt_window;
    s.late_answer_horizon = s.deadline + ms_of(1 + 40 * std::int64_t{in.take<std::uint16_t>()});
    static constexpr std::array<std::size_t, 8> capacities{8, 16, 128, 65536, 8, 128, 65536, 7};
    s.audit_capacity = capacities[in.byte() % capacities.size()];
    const std::uint8_t a = in.byte();
    s.max_attempts_per_exit = a < 224 ? 1 + a % 32 : a < 240 ? 64 : a < 252 ? 1000 : a % 2 == 0 ? 0 : 1001;
  }
  s.jitter_seed = in.take<std::uint16_t>();
  s.breaker_counts_market_rejections = (in.byte() & 1) != 0;
  return s;
}

// validate() agrees with the documentation, and refuses with a configuration error.
inline bool check_settings(const EngineSettings& s) {
  const boost::system::error_code ec = s.validate();
  EXITGUARD_FUZZ_CHECK(!ec == documented_valid(s));
  if (ec) {
    EXITGUARD_FUZZ_CHECK(ec.category() == exitguard::error_category());
    EXITGUARD_FUZZ_CHECK(ec == exitguard::condition::invalid_configuration);
    return false;
  }
  return true;
}

// --- request and capabilities ----------------------------------------------------------

// u8 flags (bit 0 exclusive_attempts, bit 1 queries_position, bit 2 side buy,
// bit 3 enforces_reduce_only),
// lot (tag u8 % 4: 1; 1 + u16; an edge 0, -1, INT64_MIN, INT64_MAX, 10^6; raw i64),
// quantity (tag % 4: lot x (1 + u8) + u8 % lot of dust; lot x (1 + u16); an edge
// 0, lot - 1, lot, INT64_MAX, -1, INT64_MIN; raw i64), signal price (tag % 4:
// 1 + u16/100; 100; raw double; an edge 0, NaN, inf, -1, DBL_MAX, denorm, 1e-300),
// u8 exit id.
struct DecodedRequest {
  ExitRequest request;
  VenueCapabilities caps;
  std::uint64_t exit_id = 0;
};

inline DecodedRequest decode_request(FuzzInput& in) {
  DecodedRequest d;
  const std::uint8_t flags = in.byte();
  d.caps.exclusive_attempts = (flags & 1) != 0;
  d.caps.queries_position = (flags & 2) != 0;
  d.caps.enforces_reduce_only = (flags & 8) != 0;
  d.request.position_id = "fuzz";
  d.request.side = (flags & 4) != 0 ? exitguard::Side::buy : exitguard::Side::sell;
  using L = std::numeric_limits<std::int64_t>;
  Quantity lot = 1;
  switch (in.byte() % 4) {
    case 0: lot = 1; break;
    case 1: lot = 1 + std::int64_t{in.take<std::uint16_t>()}; break;
    case 2: {
      static constexpr std::array<std::int64_t, 5> edges{0, -1, L::min(), L::max(), 1'000'000};
      lot = in.pick(edges);
      break;
    }
    default: lot = in.take<std::int64_t>(); break;
  }
  d.request.lot_size = lot;
  const Quantity l = lot.is_positive() ? lot : Quantity(1);
  switch (in.byte() % 4) {
    case 0: {
      const std::int64_t lots = 1 + in.byte();
      d.request.quantity = q_mul(l, lots) + Quantity(in.byte() % l.units());
      break;
    }
    case 1: d.request.quantity = q_mul(l, 1 + std::int64_t{in.take<std::uint16_t>()}); break;
    case 2: {
      const std::array<Quantity, 6> edges{Quantity(0), lot - Quantity(1), lot, Quantity::max(), Quantity(-1),
                                          Quantity(L::min())};
      d.request.quantity = in.pick(edges);
      break;
    }
    default: d.request.quantity = in.take<std::int64_t>(); break;
  }
  using D = std::numeric_limits<double>;
  switch (in.byte() % 4) {
    case 0: d.request.signal_price = 1.0 + in.take<std::uint16_t>() / 100.0; break;
    case 1: d.request.signal_price = 100.0; break;
    case 2: d.request.signal_price = in.raw_double(); break;
    default: {
      static const std::array<double, 7> edges{0.0, D::quiet_NaN(), D::infinity(), -1.0, D::max(), D::denorm_min(),
                                               1e-300};
      d.request.signal_price = in.pick(edges);
      break;
    }
  }
  d.exit_id = in.byte();
  return d;
}

// --- the harness ------------------------------------------------------------------------

class EngineHarness {
 public:
  EngineHarness(const EngineSettings& settings, const DecodedRequest& d, time_point start_time)
      : settings_(settings),
        request_(d.request),
        caps_(d.caps),
        engine_(settings, d.request, d.exit_id, d.caps),
        now_(start_time) {
    categories_.push_back(&exitguard::error_category());
  }

  Engine& engine() noexcept { return engine_; }
  const Engine& engine() const noexcept { return engine_; }
  time_point now() const noexcept { return now_; }
  bool completed() const noexcept { return completes_ > 0; }
  bool released() const noexcept { return releases_ > 0; }
  bool quote_asked() const noexcept { return quote_asked_; }
  bool query_asked() const noexcept { return query_asked_; }
  std::uint32_t submits() const noexcept { return submits_; }
  std::uint32_t malformed_answers() const noexcept { return malformed_answers_; }
  const std::vector<ExitOutput>& last_outputs() const noexcept { return outputs_; }
  const VenueCapabilities& caps() const noexcept { return caps_; }
  const ExitRequest& request() const noexcept { return request_; }

  // Moves time forward (never back).
  void advance_to(time_point t) noexcept {
    if (t > now_) now_ = t;
  }
  void advance_by(duration d) noexcept { now_ = saturating_add(now_, d); }

  // The venue's error category is allowed in the audit trail once handed over.
  void allow(const boost::system::error_code& ec) {
    if (!ec) return;
    for (const auto* c : categories_)
      if (*c == ec.category()) return;
    categories_.push_back(&ec.category());
  }

  // --- the events, each checked --------------------------------------------------------

  void start(boost::system::error_code refusal = {}) {
    allow(refusal);
    run(ExitEvent::start, [&] { engine_.start(now_, refusal); }, allowed_now(ExitEvent::start) ? 0 : -1);
  }

  void quote(double price) {
    const bool asked = quote_asked_;
    const bool allowed = allowed_now(ExitEvent::quote);
    if (allowed && asked) quote_asked_ = false;
    run(ExitEvent::quote, [&] { engine_.handle_quote(price, now_); },
        allowed ? (asked ? (valid_price(price) ? 0 : 1) : -3) : -1);
  }

  void answer(std::uint32_t number, const AttemptAnswer& a) {
    allow(a.outcome.error);
    const auto* rec = engine_.tracker().find(number);
    const bool allowed = allowed_now(ExitEvent::answer);
    const bool refused = allowed && (!rec || answered_[number - 1]);  // unknown, or answered already
    const bool judged = allowed && !refused && exitguard::may_still_land(rec->outcome);
    const std::uint32_t anomalies_before = engine_.anomalies();
    // What the engine should make of it, if it judges it (unanswered: nothing counted).
    const auto status = a.outcome.status;
    const bool named = status == SubmitStatus::filled || status == SubmitStatus::partially_filled ||
                       status == SubmitStatus::rejected || status == SubmitStatus::in_doubt;
    const bool fills = status == SubmitStatus::filled || status == SubmitStatus::partially_filled;
    const bool malformed = a.answered && (!named || (fills && !a.outcome.filled_quantity.is_positive()));
    const bool counts = a.answered && (fills || status == SubmitStatus::in_doubt) &&
                        a.outcome.filled_quantity.is_positive();
    int expected = !allowed ? -1 : refused ? -3 : 0;
    Quantity counted;
    if (judged) {
      if (malformed) ++expected;
      if (counts) {
        counted = std::min(a.outcome.filled_quantity, rec->quantity);
        if (a.outcome.filled_quantity > rec->quantity) ++expected;
        if (!valid_price(a.outcome.average_price)) ++expected;
      }
      // Set before the call: its checks (and a submit in this very call) use them.
      if (malformed) malformed_[number - 1] = true;
      if (counted.is_positive()) answered_q_[number - 1] = counted;
    }
    run(ExitEvent::answer, [&] { engine_.handle_answer(number, a, now_); }, expected);
    if (!allowed || refused) return;
    answered_[number - 1] = true;
    if (!judged) EXITGUARD_FUZZ_CHECK(engine_.anomalies() == anomalies_before);
    if (judged && malformed) {
      ++malformed_answers_;
      EXITGUARD_FUZZ_CHECK(engine_.anomalies() > anomalies_before);
      // The attempt needs reconciliation (unless it was cancelled: the exit ended).
      const auto* after = engine_.tracker().find(number);
      EXITGUARD_FUZZ_CHECK(after->needs_reconciliation || after->outcome == AttemptOutcome::cancelled);
    }
  }

  void fill(std::uint32_t number, const exitguard::FillReport& f) {
    const auto* rec = engine_.tracker().find(number);
    const bool allowed = allowed_now(ExitEvent::fill);
    int expected = -1;  // refused
    Quantity q = f.quantity;
    if (allowed && rec) {
      // As handle_fill: a quantity, then a duplicate id (whatever else is wrong), the
      // cap at the order, the price, the id table's room.
      expected = 0;
      bool seen = false;
      for (const auto& id : fill_ids_) seen = seen || (id.first == number && id.second == f.fill_id);
      seen = seen && !f.fill_id.empty();
      if (!q.is_positive()) {
        expected = 1;
      } else if (!seen) {
        const Quantity room = rec->quantity - reported_q_[number - 1];
        if (q > room) {
          ++expected;
          q = room;
        }
        if (q.is_positive()) {
          if (!valid_price(f.price)) ++expected;
          bool full = false;
          if (!f.fill_id.empty()) {
            full = fill_ids_.size() >= exitguard::BasicExitAttemptTracker<Clock>::max_fill_ids;
            if (!full) fill_ids_.emplace_back(number, f.fill_id);
          }
          if (!full) reported_q_[number - 1] += q;  // before the call: its checks use it
        }
      }
    } else if (allowed) {
      expected = -3;  // an attempt never sent: refused after acceptance
    }
    run(ExitEvent::fill, [&] { engine_.handle_fill(number, f, now_); }, expected);
  }

  void position(Quantity open) {
    const bool allowed = allowed_now(ExitEvent::position);
    const bool outstanding = engine_.query_outstanding();
    const bool valid = open >= Quantity{} && open <= request_.quantity;
    if (allowed && outstanding) query_asked_ = false;
    if (allowed && outstanding && valid) {
      // Before the call (whose index is events_ + 1): it may send at once.
      reconciled_at_ = events_ + 1;
      reconcile_credit_ = true;
      reconciled_open_ = open;
      ++position_reports_;
      std::fill(malformed_.begin(), malformed_.end(), false);
    }
    run(ExitEvent::position, [&] { engine_.handle_position(open, now_); },
        allowed ? (outstanding ? (valid ? 0 : 1) : -3) : -1);
  }

  void position_failed(boost::system::error_code why) {
    allow(why);
    const bool allowed = allowed_now(ExitEvent::position);
    const bool outstanding = engine_.query_outstanding();
    if (allowed && outstanding) query_asked_ = false;
    run(ExitEvent::position, [&] { engine_.handle_position_failed(why, now_); }, allowed ? (outstanding ? 0 : -3) : -1);
  }

  void attempt_dead(std::uint32_t number) {
    const auto* rec = engine_.tracker().find(number);
    const bool allowed = allowed_now(ExitEvent::attempt_dead);
    const bool open = rec && exitguard::may_still_land(rec->outcome);
    run(ExitEvent::attempt_dead, [&] { engine_.handle_attempt_dead(number, now_); }, allowed ? (open ? 0 : -3) : -1);
    if (allowed && open) answered_[number - 1] = true;  // no answer is taken after its death
  }

  void timeout() {
    const std::optional<time_point> due = engine_.poll_timeout();
    const bool allowed = allowed_now(ExitEvent::timer);
    const bool was_terminal = exitguard::is_terminal(engine_.state());
    run(ExitEvent::timer, [&] { engine_.handle_timeout(now_); }, allowed ? 0 : -1);
    if (!allowed || !due || now_ < *due) return;
    // At or past the instant it asked for, the timer makes progress.
    if (was_terminal) {
      EXITGUARD_FUZZ_CHECK(engine_.is_released());
    } else if (!exitguard::is_terminal(engine_.state())) {
      const auto next = engine_.poll_timeout();
      EXITGUARD_FUZZ_CHECK(next.has_value() && *next > now_);
    }
  }

  void halt() { run(ExitEvent::halt, [&] { engine_.handle_halt(now_); }, allowed_now(ExitEvent::halt) ? 0 : -1); }

  void cancel(exitguard::CancelKind kind) {
    run(ExitEvent::cancel, [&] { engine_.cancel(kind, now_); }, allowed_now(ExitEvent::cancel) ? 0 : -1);
  }

  void callback_failure(std::uint32_t attempt) {
    const bool released = engine_.is_released();
    run(std::nullopt, [&] { engine_.note_callback_failure("fuzz callable threw", now_, attempt); },
        released ? -4 : 1);
  }

  // Liveness: with only timers from now on, the engine is released.
  void finish() {
    if (engine_.state() == ExitTransitionState::position_open) return;
    for (int i = 0; i < 4096 && !engine_.is_released(); ++i) {
      const auto due = engine_.poll_timeout();
      EXITGUARD_FUZZ_CHECK(due.has_value());
      advance_to(*due);
      timeout();
    }
    EXITGUARD_FUZZ_CHECK(engine_.is_released());
    EXITGUARD_FUZZ_CHECK(!engine_.poll_timeout().has_value());
    force_report_ = true;
    check_state();
  }

  static bool valid_price(double p) noexcept { return p > 0 && std::isfinite(p); }

 private:
  bool allowed_now(ExitEvent e) const noexcept {
    return !engine_.is_released() && exitguard::is_allowed_event(engine_.state(), e);
  }

  // One engine call, then every check. `expected_anomalies`: >= 0 exactly that many
  // (and the call is not refused); -1 refused by the event table (or released);
  // -2 checked by the caller; -3 refused after acceptance (one anomaly, one refused
  // event: an attempt never sent, no query outstanding); -4 nothing at all happens.
  template <class F>
  void run(std::optional<ExitEvent> event, F&& call, int expected_anomalies = -2) {
    ++events_;
    const ExitTransitionState state_before = engine_.state();
    const Quantity filled_before = engine_.filled();
    const Quantity remaining_before = engine_.remaining();
    const std::uint32_t started_before = engine_.attempts_started();
    const std::uint32_t anomalies_before = engine_.anomalies();
    const std::size_t recorded_before = engine_.machine().audit_recorded();
    const std::size_t refused_before = engine_.machine().refused_events();
    try {
      call();
    } catch (...) {
      fail("an engine call threw", __FILE__, __LINE__);
    }
    drain();
#ifdef EXITGUARD_FUZZ_TRACE
    trace(event, state_before);
#endif
    const bool unchanged = engine_.state() == state_before && engine_.filled() == filled_before &&
                           engine_.remaining() == remaining_before && engine_.attempts_started() == started_before &&
                           outputs_.empty();
    if (expected_anomalies == -1) {
      // Refused by the table: nothing changes but one anomaly and one audit entry.
      EXITGUARD_FUZZ_CHECK(event.has_value());
      EXITGUARD_FUZZ_CHECK(unchanged);
      EXITGUARD_FUZZ_CHECK(engine_.anomalies() == anomalies_before + 1);
      EXITGUARD_FUZZ_CHECK(engine_.machine().refused_events() == refused_before + 1);
      EXITGUARD_FUZZ_CHECK(engine_.machine().audit_recorded() == recorded_before + 1);
      const auto& e = last_audit_entry();
      EXITGUARD_FUZZ_CHECK(e.event == event && !e.accepted && e.from == state_before && e.to == state_before &&
                           e.error == exitguard::error::event_not_allowed);
    } else if (expected_anomalies == -3) {
      EXITGUARD_FUZZ_CHECK(unchanged);
      EXITGUARD_FUZZ_CHECK(engine_.anomalies() == anomalies_before + 1);
      EXITGUARD_FUZZ_CHECK(engine_.machine().refused_events() == refused_before + 1);
    } else if (expected_anomalies == -4) {
      EXITGUARD_FUZZ_CHECK(unchanged);
      EXITGUARD_FUZZ_CHECK(engine_.anomalies() == anomalies_before);
      EXITGUARD_FUZZ_CHECK(engine_.machine().audit_recorded() == recorded_before);
    } else if (expected_anomalies >= 0) {
      EXITGUARD_FUZZ_CHECK(engine_.machine().refused_events() == refused_before);
      EXITGUARD_FUZZ_CHECK(engine_.anomalies() == anomalies_before + static_cast<std::uint32_t>(expected_anomalies));
    }
    if (!event) EXITGUARD_FUZZ_CHECK(engine_.state() == state_before && outputs_.empty());
    check_audit();
    check_state();
  }

#ifdef EXITGUARD_FUZZ_TRACE
  // -DEXITGUARD_FUZZ_TRACE: each call, its state change and outputs on stderr (to see
  // what a seed reaches: build/fuzz/fuzz/<name>_fuzzer SEED).
  void trace(std::optional<ExitEvent> event, ExitTransitionState before) const {
    std::fprintf(stderr, "[%3llu] t=%+.3fs %-12s %s -> %s  filled %lld remaining %lld attempts %u anomalies %u:",
                 static_cast<unsigned long long>(events_),
                 std::chrono::duration<double>(now_.time_since_epoch() - nanoseconds(1'000'000'000'000LL)).count(),
                 event ? std::string(exitguard::to_string(*event)).c_str() : "callback",
                 std::string(exitguard::to_string(before)).c_str(), std::string(exitguard::to_string(engine_.state())).c_str(),
                 static_cast<long long>(engine_.filled().units()), static_cast<long long>(engine_.remaining().units()),
                 engine_.attempts_started(), engine_.anomalies());
    static constexpr const char* names[] = {"quote", "submit", "query", "cancel_attempt", "cancel_query", "complete",
                                            "release", "finished", "in_doubt", "retry", "escalated", "late_fill",
                                            "late_fill_after_completion"};
    for (const auto& o : outputs_) std::fprintf(stderr, " %s(%u)", names[static_cast<int>(o.kind)], o.attempt);
    std::fprintf(stderr, "\n");
  }
#endif

  const exitguard::BasicAuditEntry<Clock>& last_audit_entry() const {
    const auto& m = engine_.machine();
    EXITGUARD_FUZZ_CHECK(m.audit_size() > 0);
    return m.audit_entry_at(m.audit_size() - 1);
  }

  void drain() {
    outputs_.clear();
    while (auto o = engine_.poll()) {
      outputs_.push_back(*o);
      on_output(*o);
    }
    // Doubt and malformed answers seen after this event (for the next submits).
    const auto& recs = engine_.tracker().attempts();
    for (const auto& r : recs) {
      const bool doubt = r.outcome == AttemptOutcome::in_doubt || r.outcome == AttemptOutcome::cancelled;
      if (doubt && doubt_since_[r.number - 1] == 0) doubt_since_[r.number - 1] = events_;
      if (!doubt) doubt_since_[r.number - 1] = 0;
    }
  }

  void on_output(const ExitOutput& o) {
    EXITGUARD_FUZZ_CHECK(o.kind <= ExitOutputKind::late_fill_after_completion);
    EXITGUARD_FUZZ_CHECK(releases_ == 0);  // nothing after release
    const std::uint32_t started = engine_.attempts_started();
    if (completes_ > 0)
      EXITGUARD_FUZZ_CHECK(o.kind == ExitOutputKind::cancel_attempt || o.kind == ExitOutputKind::release ||
                           o.kind == ExitOutputKind::late_fill_after_completion);
    switch (o.kind) {
      case ExitOutputKind::quote: quote_asked_ = true; break;
      case ExitOutputKind::query_position:
        query_asked_ = true;
        EXITGUARD_FUZZ_CHECK(caps_.queries_position);
        break;
      case ExitOutputKind::submit: on_submit(o); break;
      case ExitOutputKind::cancel_attempt:
      case ExitOutputKind::attempt_finished:
      case ExitOutputKind::attempt_in_doubt:
      case ExitOutputKind::late_fill:
      case ExitOutputKind::late_fill_after_completion:
        EXITGUARD_FUZZ_CHECK(o.attempt >= 1 && o.attempt <= started);
        if (o.kind == ExitOutputKind::late_fill) EXITGUARD_FUZZ_CHECK(completes_ == 0 && o.quantity.is_positive());
        if (o.kind == ExitOutputKind::late_fill_after_completion)
          EXITGUARD_FUZZ_CHECK(completes_ == 1 && o.quantity.is_positive());
        break;
      case ExitOutputKind::complete:
        EXITGUARD_FUZZ_CHECK(completes_ == 0);
        EXITGUARD_FUZZ_CHECK(exitguard::is_terminal(engine_.state()));
        ++completes_;
        quote_asked_ = query_asked_ = false;
        break;
      case ExitOutputKind::release:
        EXITGUARD_FUZZ_CHECK(completes_ == 1 && releases_ == 0);
        EXITGUARD_FUZZ_CHECK(engine_.is_released());
        ++releases_;
        break;
      case ExitOutputKind::cancel_query:
        query_asked_ = false;
        break;
      case ExitOutputKind::retry:
      case ExitOutputKind::escalated:
        EXITGUARD_FUZZ_CHECK(o.step < settings_.ladder.size());
        break;
    }
  }

  void on_submit(const ExitOutput& o) {
    EXITGUARD_FUZZ_CHECK(completes_ == 0);
    EXITGUARD_FUZZ_CHECK(o.attempt == submits_ + 1);
    EXITGUARD_FUZZ_CHECK(o.attempt == engine_.attempts_started());
    EXITGUARD_FUZZ_CHECK(engine_.pending_attempt() == o.attempt);
    EXITGUARD_FUZZ_CHECK(o.step < settings_.ladder.size());
    submits_ = o.attempt;
    answered_.push_back(false);
    malformed_.push_back(false);
    doubt_since_.push_back(0);
    answered_q_.emplace_back();
    reported_q_.emplace_back();
    const exitguard::ExitOrder order = engine_.order(o.attempt);
    const Quantity lot = request_.lot_size;
    EXITGUARD_FUZZ_CHECK(lot.is_positive());
    EXITGUARD_FUZZ_CHECK(order.quantity.is_positive());
    EXITGUARD_FUZZ_CHECK(order.quantity.units() % lot.units() == 0);
    EXITGUARD_FUZZ_CHECK(order.quantity <= engine_.remaining());
    EXITGUARD_FUZZ_CHECK(order.quantity == exitguard::round_down_to_lot(engine_.remaining(), lot));
    EXITGUARD_FUZZ_CHECK(order.quantity <= request_.quantity);
    EXITGUARD_FUZZ_CHECK(valid_price(order.limit_price));
    EXITGUARD_FUZZ_CHECK(order.kind == settings_.ladder[order.step].kind);
    EXITGUARD_FUZZ_CHECK(order.attempt == o.attempt && order.lot_size == lot);
    // Principle 2.
    const auto& recs = engine_.tracker().attempts();
    bool doubt_needs_report = false;
    for (std::size_t i = 0; i + 1 < recs.size(); ++i) {
      const auto& r = recs[i];
      if (malformed_[i] && exitguard::may_still_land(r.outcome))
        fail("submit after a malformed answer without a position report", __FILE__, __LINE__);
      const bool doubt = r.outcome == AttemptOutcome::in_doubt || r.outcome == AttemptOutcome::cancelled;
      if (doubt && !caps_.exclusive_attempts) {
        // Seen in doubt before this call (else it went into doubt in it: since = now).
        const std::uint64_t since = doubt_since_[i] == 0 ? events_ : doubt_since_[i];
        if (!(reconciled_at_ > since))
          fail("submit while an attempt is in doubt on a non-exclusive venue, without a position report", __FILE__,
               __LINE__);
        // A report frees the next attempt only where the venue enforces reduce-only.
        if (!caps_.enforces_reduce_only)
          fail("submit while an attempt is in doubt on a venue that is neither exclusive nor reduce-only", __FILE__,
               __LINE__);
        doubt_needs_report = true;
      }
    }
    if (doubt_needs_report) {
      EXITGUARD_FUZZ_CHECK(reconcile_credit_);
      EXITGUARD_FUZZ_CHECK(order.quantity <= reconciled_open_);
    }
    reconcile_credit_ = false;
  }

  void check_audit() {
    const auto& m = engine_.machine();
    const std::size_t recorded = m.audit_recorded();
    EXITGUARD_FUZZ_CHECK(recorded >= audit_seen_);
    const std::size_t fresh = recorded - audit_seen_;
    const std::size_t size = m.audit_size();
    EXITGUARD_FUZZ_CHECK(size <= m.audit_capacity());
    const std::size_t available = std::min(fresh, size);
    std::size_t first = size - available;
    if (available < fresh && available > 0) chain_ = m.audit_entry_at(first).from;  // some were dropped
    for (std::size_t i = first; i < size; ++i) {
      const auto& e = m.audit_entry_at(i);
      EXITGUARD_FUZZ_CHECK(e.time == now_);
      EXITGUARD_FUZZ_CHECK(static_cast<std::size_t>(e.from) < exitguard::exit_transition_state_count);
      EXITGUARD_FUZZ_CHECK(static_cast<std::size_t>(e.to) < exitguard::exit_transition_state_count);
      EXITGUARD_FUZZ_CHECK(e.from == chain_);
      if (e.event) {
        EXITGUARD_FUZZ_CHECK(!e.accepted && e.from == e.to && e.error == exitguard::error::event_not_allowed);
      } else {
        // The engine never asks for a transition the table refuses.
        EXITGUARD_FUZZ_CHECK(e.accepted);
        EXITGUARD_FUZZ_CHECK(e.from == e.to || exitguard::is_valid_transition(e.from, e.to));
        chain_ = e.to;
      }
      if (e.error) {
        bool known = false;
        for (const auto* c : categories_) known = known || *c == e.error.category();
        EXITGUARD_FUZZ_CHECK(known);
      }
    }
    EXITGUARD_FUZZ_CHECK(chain_ == engine_.state() || (available < fresh && available == 0));
    chain_ = engine_.state();
    EXITGUARD_FUZZ_CHECK(m.refused_transitions() == 0);
    audit_seen_ = recorded;
  }

  void check_counts() const {
    const auto& recs = engine_.tracker().attempts();
    EXITGUARD_FUZZ_CHECK(recs.size() == answered_q_.size());
    Quantity sum;
    for (std::size_t i = 0; i < recs.size(); ++i) {
      const auto& r = recs[i];
      EXITGUARD_FUZZ_CHECK(r.answered_quantity == answered_q_[i]);
      EXITGUARD_FUZZ_CHECK(r.reported_quantity == reported_q_[i]);
      EXITGUARD_FUZZ_CHECK(r.filled_quantity == std::max(answered_q_[i], reported_q_[i]));
      EXITGUARD_FUZZ_CHECK(r.filled_quantity <= r.quantity);
      sum += r.filled_quantity;
    }
    EXITGUARD_FUZZ_CHECK(engine_.tracker().filled_quantity() == sum);
  }

  void check_state() {
    const ExitTransitionState s = engine_.state();
    EXITGUARD_FUZZ_CHECK(static_cast<std::size_t>(s) < exitguard::exit_transition_state_count);
    if (was_terminal_) EXITGUARD_FUZZ_CHECK(exitguard::is_terminal(s));
    was_terminal_ = exitguard::is_terminal(s);
    EXITGUARD_FUZZ_CHECK(engine_.is_complete() == (completes_ == 1));
    EXITGUARD_FUZZ_CHECK(engine_.is_released() == (releases_ == 1));
    const Quantity filled = engine_.filled();
    const Quantity remaining = engine_.remaining();
    EXITGUARD_FUZZ_CHECK(!(filled < Quantity{}));
    EXITGUARD_FUZZ_CHECK(!(remaining < Quantity{}));
    check_counts();
    if (engine_.attempts_started() > 0 || remaining.is_positive()) {
      // The request was valid and the exit began.
      const Quantity q = request_.quantity;
      EXITGUARD_FUZZ_CHECK(remaining <= q);
      // Without a position report, what remains and what filled add up to the
      // request; a report may find less open than that (dust, or sold elsewhere: not
      // counted as filled). Either way, more filled than the request (attempts that
      // all landed) leaves nothing to sell.
      const bool exact = remaining + filled == q;
      const bool overfilled = remaining == Quantity{} && filled > q;
      const bool reported_less = position_reports_ > 0 && remaining + filled < q;
      EXITGUARD_FUZZ_CHECK(exact || overfilled || reported_less);
      Quantity orders;
      for (const auto& r : engine_.tracker().attempts()) orders += r.quantity;
      // Every count is an attempt's (capped at its order) or what a position report
      // said was sold while an attempt was in doubt (at most what that could fill).
      EXITGUARD_FUZZ_CHECK(filled <= orders);
    } else {
      EXITGUARD_FUZZ_CHECK(filled == Quantity{});
    }
    const auto t = engine_.poll_timeout();
    if (engine_.is_released() || s == ExitTransitionState::position_open) {
      EXITGUARD_FUZZ_CHECK(!t.has_value());
    } else {
      EXITGUARD_FUZZ_CHECK(t.has_value());
      if (!exitguard::is_terminal(s)) EXITGUARD_FUZZ_CHECK(*t <= engine_.deadline());
    }
    if (!exitguard::is_terminal(s)) EXITGUARD_FUZZ_CHECK(engine_.step() < settings_.ladder.size());
    // report() copies the audit trail: every call while it is short, then every 8th
    // call and at each change of state (and so at the end, see finish()).
    if (engine_.machine().audit_size() > 64 && events_ % 8 != 0 && s == reported_state_ && !force_report_) return;
    reported_state_ = s;
    try {
      const auto r = engine_.report();
      EXITGUARD_FUZZ_CHECK(r.filled_quantity == filled);
      EXITGUARD_FUZZ_CHECK(r.open_quantity == remaining);
      EXITGUARD_FUZZ_CHECK(r.attempts == engine_.attempts_started());
      EXITGUARD_FUZZ_CHECK(r.final_state == s);
      EXITGUARD_FUZZ_CHECK(r.anomalies == engine_.anomalies());
#ifdef EXITGUARD_FUZZ_STRICT_PRICES
      // Opt-in (fails today): every counted price is finite and positive, but
      // quantity x price can overflow a double, and the report's average is then
      // inf or NaN (the tracker's notional sums). See the note in exit_engine_fuzzer.cpp.
      if (filled.is_positive()) EXITGUARD_FUZZ_CHECK(std::isfinite(r.average_price) && r.average_price > 0);
#endif
      if (s == ExitTransitionState::position_closed) EXITGUARD_FUZZ_CHECK(!r.error);
      if (s == ExitTransitionState::exit_failed || s == ExitTransitionState::exit_cancelled)
        EXITGUARD_FUZZ_CHECK(static_cast<bool>(r.error));
    } catch (...) {
      fail("report() threw", __FILE__, __LINE__);
    }
  }

  const EngineSettings& settings_;
  ExitRequest request_;
  VenueCapabilities caps_;
  Engine engine_;
  time_point now_;
  std::vector<const boost::system::error_category*> categories_;

  std::vector<ExitOutput> outputs_;
  int completes_ = 0;
  int releases_ = 0;
  bool quote_asked_ = false;
  bool query_asked_ = false;
  bool was_terminal_ = false;
  bool force_report_ = false;
  ExitTransitionState reported_state_ = ExitTransitionState::position_open;
  std::uint32_t submits_ = 0;
  std::uint32_t malformed_answers_ = 0;
  std::uint64_t events_ = 0;
  std::size_t audit_seen_ = 0;
  ExitTransitionState chain_ = ExitTransitionState::position_open;

  // Per attempt (index number - 1), modelled here.
  std::vector<bool> answered_;       // its answer (or death) was taken
  std::vector<bool> malformed_;      // a malformed answer not yet followed by a position report
  std::vector<std::uint64_t> doubt_since_;  // event index it was first seen in doubt, 0 if not
  std::vector<Quantity> answered_q_;  // counted from its answer (capped)
  std::vector<Quantity> reported_q_;  // counted from fill reports (capped, deduplicated)
  std::vector<std::pair<std::uint32_t, std::string>> fill_ids_;

  std::uint64_t reconciled_at_ = 0;  // event index of the last valid position report
  bool reconcile_credit_ = false;    // it has not sized an attempt yet
  Quantity reconciled_open_;
  std::uint32_t position_reports_ = 0;  // valid ones
};

// --- decoders for events ------------------------------------------------------------------

// Any error a venue might give: none; exitguard's in_doubt, exit_rejected,
// venue_unavailable or any value; generic timed_out; system connection_refused;
// the venue's own category.
inline boost::system::error_code decode_error(FuzzInput& in) {
  switch (in.byte() % 8) {
    case 0: return {};
    case 1: return exitguard::error::in_doubt;
    case 2: return exitguard::error::exit_rejected;
    case 3: return exitguard::error::venue_unavailable;
    case 4: return boost::system::errc::make_error_code(boost::system::errc::timed_out);
    case 5: return boost::asio::error::connection_refused;
    case 6: return {static_cast<int>(in.byte()), venue_category()};
    default: return {static_cast<int>(in.take<std::int16_t>()), exitguard::error_category()};
  }
}

// An attempt number: mostly the pending one or the last; also an earlier one, 0,
// one past the last, or any u32.
inline std::uint32_t decode_attempt(FuzzInput& in, const Engine& e) {
  const std::uint32_t started = e.attempts_started();
  const std::uint32_t last = started == 0 ? 1 : started;
  switch (in.byte() % 8) {
    case 0:
    case 1:
    case 2: return e.pending_attempt().value_or(last);
    case 3: return last;
    case 4: return 1 + in.byte() % last;
    case 5: return 0;
    case 6: return started + 1;
    default: return in.take<std::uint32_t>();
  }
}

// A quantity relative to `q` (an order's): q, part of it, 0, any, an edge, more.
inline Quantity decode_quantity(FuzzInput& in, Quantity q) {
  using L = std::numeric_limits<std::int64_t>;
  switch (in.byte() % 8) {
    case 0:
    case 1: return q;
    case 2: return q.units() > 1 ? Quantity(1 + in.take<std::uint16_t>() % (q.units() - 1)) : q;
    case 3: return 0;
    case 4: return in.take<std::int64_t>();
    case 5: {
      static constexpr std::array<std::int64_t, 4> edges{L::min(), L::max(), -1, 1};
      return in.pick(edges);
    }
    case 6: return q + Quantity(1 + in.byte());
    default: return q_mul(q, 2);
  }
}

// A price: `near` (a valid one), 1 + u16/100, any double, an edge.
inline double decode_price(FuzzInput& in, double near) {
  using D = std::numeric_limits<double>;
  switch (in.byte() % 4) {
    case 0: return near;
    case 1: return 1.0 + in.take<std::uint16_t>() / 100.0;
    case 2: return in.raw_double();
    default: {
      static const std::array<double, 8> edges{0.0, -0.0, D::quiet_NaN(), D::infinity(), -D::infinity(), -1.0,
                                               D::max(), D::denorm_min()};
      return in.pick(edges);
    }
  }
}

inline std::string decode_id(FuzzInput& in) {
  static const std::array<const char*, 6> ids{"", "tx-a", "tx-b", "tx-c", "", "tx-a"};
  return ids[in.byte() % ids.size()];
}

// u8 status (< 128: % 4, a named one; else the byte itself: 4..255 unnamed),
// quantity, price, id, error, u8 bits (0: not answered, 1: escalates, 2-3: kind % 3).
inline AttemptAnswer decode_answer(FuzzInput& in, const Engine& e, std::uint32_t number) {
  AttemptAnswer a;
  const std::uint8_t s = in.byte();
  a.outcome.status = static_cast<SubmitStatus>(s < 128 ? s % 4 : s);
  const auto* rec = e.tracker().find(number);
  const Quantity q = rec ? rec->quantity : e.request().quantity;
  a.outcome.filled_quantity = decode_quantity(in, q);
  a.outcome.average_price = decode_price(in, rec ? rec->limit_price : 100.0);
  a.outcome.transaction_id = decode_id(in);
  a.outcome.error = decode_error(in);
  const std::uint8_t bits = in.byte();
  a.answered = (bits & 1) == 0;
  a.escalates = (bits & 2) != 0;
  a.kind = static_cast<exitguard::FailureKind>(((bits >> 2) & 3) % 3);
  return a;
}

inline exitguard::FillReport decode_fill(FuzzInput& in, const Engine& e, std::uint32_t number) {
  exitguard::FillReport f;
  f.fill_id = decode_id(in);
  const auto* rec = e.tracker().find(number);
  const Quantity q = rec ? rec->quantity : e.request().quantity;
  f.quantity = decode_quantity(in, q);
  f.price = decode_price(in, rec ? rec->limit_price : 100.0);
  return f;
}

// A position report: what remains, less some lots, 0, the request, more, any, -1.
inline Quantity decode_position(FuzzInput& in, const Engine& e) {
  const Quantity remaining = e.remaining();
  const Quantity lot = e.request().lot_size.is_positive() ? e.request().lot_size : Quantity(1);
  switch (in.byte() % 8) {
    case 0:
    case 1: return remaining;
    case 2: return remaining - q_mul(lot, 1 + in.byte() % 4);
    case 3: return 0;
    case 4: return e.request().quantity;
    case 5: return e.request().quantity + Quantity(1);
    case 6: return in.take<std::int64_t>();
    default: return -1;
  }
}

// A start time: ordinary (10^12 ns + u32 ms), near the end of the clock, or 0.
inline time_point decode_start_time(FuzzInput& in) {
  switch (in.byte() % 4) {
    case 0:
    case 1: return time_point(nanoseconds(1'000'000'000'000LL) + milliseconds(in.take<std::uint32_t>()));
    case 2: return time_point::max() - milliseconds(in.take<std::uint16_t>());
    default: return time_point{};
  }
}

}  // namespace exitguard_fuzz
