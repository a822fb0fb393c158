// exitguard/exit_engine.hpp — the exit, as a deterministic state machine that does no IO.
//
// BasicExitEngine is everything an exit decides, and nothing it does: it reads no
// clock, starts no operation, takes no lock and calls no user code. The caller (the
// Asio driver in adaptive_exit_executor.hpp, a test, the simulator) feeds it events
// with the time they happened, and carries out what it asks for:
//
//   events in   start, handle_quote, handle_answer, handle_fill, handle_position,
//               handle_position_failed, handle_attempt_dead, handle_timeout,
//               handle_halt, cancel
//   out         poll()          commands (quote, submit, query the position, cancel
//                               an attempt or the query, complete, release) and
//                               notices for metrics (attempt finished, retry,
//                               escalated, in doubt, late fill)
//               poll_timeout()  when to call handle_timeout next, if ever
//   getters     state(), remaining(), filled(), order(n), attempts(), report(), ...
//
// Every event first goes through the event table (`exit_event_table` in
// exit_state_machine.hpp): an event the current state does not take is refused
// with error::event_not_allowed, audited, and changes nothing. Every change of
// state goes through the transition table. Given the same settings, request and
// events, an engine makes the same decisions: the seeded simulation in
// tests/exit_engine_simulation_test.cpp runs a million fault schedules through it.
//
// Quantities are exact (quantity.hpp): the position is closed when less than one
// lot remains, and every venue answer is validated before it counts (a fill without
// quantity, an over-fill, an unnamed status, a fill at a price that is not positive
// and finite: each is audited under its own error id and never leads to a blind
// re-send of the whole quantity). No order is sent without a finite positive limit
// price: the venue's quote if valid, else the last valid one, else the signal price.
//
// The decisions (docs/architecture.md explains them):
//   - the ladder: each step runs under a BasicRetryBudget; a non-final step ends when
//     its attempts or its time are spent, or at once on a rejection the escalation
//     rule calls "a wider order may succeed"; the final (market) step re-quotes
//     until the deadline, bounded by the deadline, its min_attempt_window and the
//     exit's attempt limit, not by its policy's max_attempts;
//   - in doubt (principle 2): an attempt that timed out, or whose answer the venue
//     could not give, may still land. Another attempt is sent only if the venue's
//     attempts are exclusive, or, on a venue that enforces reduce-only, after a
//     position query sized it to what remains, or once the attempt is answered or
//     known dead.
//     A malformed answer needs the query even on an exclusive venue. With neither,
//     nothing more is sent and the exit fails in_doubt_unresolvable at its deadline
//     unless the doubt resolves first;
//   - an exit whose time ran out ends deadline_exceeded; attempts_exhausted means
//     every step's attempts were used with time left;
//   - reality wins: an answer, fill or death of an attempt given up is still taken,
//     also after the exit ended (until the late-answer horizon); a fill after the end
//     corrects the report and is announced once (late_fill_after_completion);
//   - the venue's explicit status wins over its error code.
//
// Thread safety: none. One engine is driven from one strand (or thread) at a time;
// distinct engines are independent. Cancellation: `cancel(terminal)` ends the exit
// at once (attempts in flight are asked to stop); `cancel(partial)` sends nothing
// more, lets what is in flight settle, then ends it.
#pragma once

#include <exitguard/detail/splitmix64.hpp>
#include <exitguard/error.hpp>
#include <exitguard/exclusivity_key.hpp>
#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/retry_policy.hpp>
#include <exitguard/venue.hpp>

#include <boost/system/error_code.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exitguard {

// One rung of the escalation ladder.
template <class Clock>
struct BasicEscalationStep {
  OrderKind kind = OrderKind::limit;
  double max_slippage_bps = 100;
  BasicRetryPolicy<Clock> policy = BasicRetryPolicy<Clock>::exit_policy();
};

// The market step's default policy: short attempts and quick re-quotes, with
// whatever is left of the exit's deadline as its budget.
template <class Clock>
constexpr BasicRetryPolicy<Clock> market_step_policy() noexcept {
  BasicRetryPolicy<Clock> p;
  p.max_attempts = 3;  // the backoff's shape only: the final step re-quotes until the deadline
  p.total_timeout = std::chrono::seconds(30);
  p.attempt_timeout = std::chrono::seconds(5);
  p.initial_backoff = std::chrono::milliseconds(500);
  p.backoff_multiplier = 2.0;
  p.max_backoff = std::chrono::seconds(2);
  return p;
}

// The design document's ladder: limit at 1 %, then market at 5 %.
template <class Clock>
std::vector<BasicEscalationStep<Clock>> default_ladder() {
  return {{OrderKind::limit, 100, BasicRetryPolicy<Clock>::exit_policy()},
          {OrderKind::market, 500, market_step_policy<Clock>()}};
}

inline constexpr std::size_t max_ladder_steps = 8;

// What the engine needs to decide; the driver's settings (BasicExitSettings) add the
// user callables. Validate with validate(): the engine trusts its settings.
template <class Clock>
struct BasicExitEngineSettings {
  using duration = typename Clock::duration;

  // Bounds that keep every sum of times inside the clock's range, and exits short.
  static constexpr duration max_deadline = std::chrono::minutes(10);
  static constexpr duration max_late_answer_horizon = std::chrono::hours(1);

  // A constructor rather than default member initializers: g++ 12 crashes (ICE in
  // build_call_a) on `settings{}` inside another class's member initializer otherwise.
  BasicExitEngineSettings() : ladder(default_ladder<Clock>()) {}

  std::vector<BasicEscalationStep<Clock>> ladder;
  duration deadline = std::chrono::seconds(30);      // hard, from the exit signal
  duration final_window = std::chrono::seconds(10);  // reserved for the last (market) step
  std::size_t audit_capacity = 128;
  // Attempts one exit may make in all (partial-fill remainders and re-quotes included).
  std::uint32_t max_attempts_per_exit = 64;
  // How long after the exit signal late answers are still taken; then attempts still
  // in flight are cancelled and everything is released. Longer than a Solana
  // blockhash's validity (60-90 s).
  duration late_answer_horizon = std::chrono::seconds(90);
  std::uint64_t jitter_seed = 0x65786974ULL;
  // A failed exit whose every failed attempt was a rejection the escalation rule
  // calls "the market moved" does not count for the circuit breaker unless this is set.
  bool breaker_counts_market_rejections = false;

  // The first invalid setting, or an empty code.
  boost::system::error_code validate() const noexcept {
    if (ladder.empty() || ladder.size() > max_ladder_steps) return error::invalid_ladder;
    for (std::size_t i = 0; i < ladder.size(); ++i) {
      const auto& step = ladder[i];
      const bool last = i + 1 == ladder.size();
      // Limit steps first, exactly one market step, last: it is what guarantees closure.
      if ((step.kind == OrderKind::market) != last) return error::invalid_ladder;
      if (!(step.max_slippage_bps > 0) || step.max_slippage_bps > 10000) return error::invalid_slippage;
      if (auto ec = step.policy.validate()) return ec;
    }
    if (!(deadline > duration::zero())) return error::invalid_deadline;
    if (deadline > max_deadline) return error::deadline_too_long;
    if (!(final_window > duration::zero()) || !(final_window < deadline)) return error::final_window_does_not_fit;
    // The final step must be able to start at least one attempt in its window.
    if (ladder.back().policy.min_attempt_window > final_window) return error::final_window_does_not_fit;
    if (audit_capacity < 8 || audit_capacity > 65536) return error::invalid_audit_capacity;
    if (max_attempts_per_exit < 1 || max_attempts_per_exit > 1000) return error::invalid_exit_attempt_limit;
    if (late_answer_horizon > max_late_answer_horizon) return error::invalid_late_answer_horizon;
    if (!(late_answer_horizon > deadline)) return error::invalid_late_answer_horizon;
    return {};
  }
};

// What to close.
struct ExitRequest {
  std::string position_id;
  Side side = Side::sell;   // sell closes a long position
  Quantity quantity;        // to close, in base units; at least one lot
  double signal_price = 0;  // the price when the exit signal fired; slippage is measured from it
  std::string reason = "exit signal";
  Quantity lot_size = 1;    // the smallest tradable amount, in base units
  unsigned decimals = 0;    // base units per display unit = 10^decimals (logs and metrics only)
};

// An attempt's answer as the driver hands it over: what the venue said, and the
// verdicts of the user's classifier and escalation rule on its error (the engine
// calls no user code). `answered` is false when the operation failed without an
// outcome (a transport error, an exception): then only `outcome.error` is meaningful.
struct AttemptAnswer {
  SubmitOutcome outcome;
  bool answered = true;
  FailureKind kind = FailureKind::permanent;
  bool escalates = false;
};

// A fill report, e.g. from the venue's fill stream: an increment for one attempt.
struct FillReport {
  std::string fill_id;  // the venue's fill or transaction id: a second report with it is not counted
  Quantity quantity;
  double price = 0;
};

enum class CancelKind : std::uint8_t {
  terminal,  // stop now: ask attempts in flight to stop, end ExitCancelled
  partial,   // send nothing more; let what is in flight settle, then end ExitCancelled
};

// Why a failed exit failed, as the circuit breaker sees it.
enum class ExitFailureCause : std::uint8_t {
  none,             // it closed
  infrastructure,   // no answer, deadline, doubt it could not resolve, transport errors
  market,           // every failed attempt was a rejection because the market moved
  venue,            // a permanent rejection (insufficient funds, invalid account)
  refused,          // refused or stopped by the breaker or the trading state
  cancelled,        // by its caller
  invalid_request,  // the request itself was invalid
};

constexpr std::string_view to_string(ExitFailureCause c) noexcept {
  switch (c) {
    case ExitFailureCause::none: return "none";
    case ExitFailureCause::infrastructure: return "infrastructure";
    case ExitFailureCause::market: return "market";
    case ExitFailureCause::venue: return "venue";
    case ExitFailureCause::refused: return "refused";
    case ExitFailureCause::cancelled: return "cancelled";
    case ExitFailureCause::invalid_request: return "invalid_request";
  }
  return "unknown";
}

enum class ExitOutputKind : std::uint8_t {
  // commands: the caller must act
  quote,           // call handle_quote with the venue's current reference price
  submit,          // send order(attempt); its answer goes to handle_answer(attempt, ...)
  query_position,  // ask the position's size; answer with handle_position(_failed)
  cancel_attempt,  // ask attempt `attempt`'s operation to stop (its answer is still taken)
  cancel_query,    // ask the position query to stop
  complete,        // the exit ended: report() is final (late fills may still correct it)
  release,         // nothing more will be taken: drop everything the exit holds
  // notices: for metrics and logs
  attempt_finished,            // `attempt` ended its wait with `outcome`
  attempt_in_doubt,            // `attempt` is in doubt
  retry,                       // a retry of `step` is scheduled after a backoff
  escalated,                   // the exit moved to step `step` (the final one)
  late_fill,                   // `quantity` of `attempt` filled after it was given up
  late_fill_after_completion,  // the same, after the exit had ended; report() is corrected
};

constexpr bool is_command(ExitOutputKind k) noexcept { return k <= ExitOutputKind::release; }

struct ExitOutput {
  ExitOutputKind kind{};
  std::uint32_t attempt = 0;
  std::uint32_t step = 0;
  OrderKind order_kind = OrderKind::limit;
  AttemptOutcome outcome = AttemptOutcome::pending;
  Quantity quantity;
};

template <class Clock>
struct BasicExitReport {
  std::uint64_t exit_id = 0;
  std::string position_id;
  ExitTransitionState final_state = ExitTransitionState::exit_failed;
  boost::system::error_code error;  // empty if the position closed
  std::string reason;               // one line, for people
  ExitFailureCause failure_cause = ExitFailureCause::none;
  bool counts_for_breaker = false;  // a failure the circuit breaker counts
  std::uint32_t attempts = 0;
  Quantity requested_quantity;
  Quantity filled_quantity;
  Quantity open_quantity;            // what the exit believes is still open
  double average_price = 0;          // of what filled; 0 if nothing did
  double realized_slippage_bps = 0;  // against the signal price, positive = worse
  typename Clock::duration exit_time{};  // exit signal to terminal state
  bool escalated = false;
  std::uint32_t late_fills = 0;      // fills that arrived after their attempt was given up
  std::uint32_t anomalies = 0;       // venue answers and events refused or corrected (see the audit trail)
  bool breaker_tripped = false;      // the breaker is open after this exit
  BreakerState breaker_state = BreakerState::closed;
  TradingState trading_state = TradingState::running;
  std::vector<BasicAttemptRecord<Clock>> attempt_records;
  std::vector<BasicAuditEntry<Clock>> audit_trail;

  bool closed() const noexcept { return final_state == ExitTransitionState::position_closed; }
};

template <class Clock>
class BasicExitEngine {
 public:
  using clock_type = Clock;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using settings_type = BasicExitEngineSettings<Clock>;
  using report_type = BasicExitReport<Clock>;
  using record_type = BasicAttemptRecord<Clock>;
  using audit_entry = BasicAuditEntry<Clock>;

  // `settings` must be valid (validate()) and outlive the engine. `key_prefix` starts
  // every exclusivity key of this exit (ExclusivityKeyScope::prefix(): unique per
  // executor and process, so keys never repeat after a restart); the default suits
  // only an engine whose keys never reach a venue.
  BasicExitEngine(const settings_type& settings, ExitRequest request, std::uint64_t exit_id,
                  VenueCapabilities capabilities, std::string key_prefix = "exit")
      : settings_(&settings),
        request_(std::move(request)),
        exit_id_(exit_id),
        key_prefix_(std::move(key_prefix)),
        caps_(capabilities),
        tracker_(settings.max_attempts_per_exit),
        machine_(settings.audit_capacity),
        rng_{detail::splitmix64(settings.jitter_seed + exit_id)} {}

  // --- events ---------------------------------------------------------------------

  // The exit signal at `now`. With `refusal` (error::circuit_open, trading_halted)
  // the exit ends ExitFailed at once, having sent nothing.
  void start(time_point now, boost::system::error_code refusal = {}) {
    if (!accept(ExitEvent::start, now)) return;
    start_ = now;
    deadline_ = settings_->deadline >= time_point::max() - now ? time_point::max() : now + settings_->deadline;
    transition(ExitTransitionState::exit_signal_received, now, "exit signal");
    // A refused exit sold nothing: its report shows the whole position still open.
    remaining_ = std::max(request_.quantity, Quantity{});
    if (refusal) return fail(refusal, ExitFailureCause::refused, now, "refused before anything was sent");
    if (!request_.lot_size.is_positive())
      return fail(error::invalid_lot_size, ExitFailureCause::invalid_request, now, "invalid exit request: lot size");
    if (request_.quantity < request_.lot_size)
      return fail(error::invalid_quantity, ExitFailureCause::invalid_request, now, "invalid exit request: quantity");
    if (!valid_price(request_.signal_price))
      return fail(error::invalid_price, ExitFailureCause::invalid_request, now, "invalid exit request: signal price");
    remaining_ = request_.quantity;
    last_price_ = request_.signal_price;
    begin_step(0, now);
    advance(now);
  }

  // The venue's reference price, asked for by a `quote` command. A price that is
  // not positive and finite is audited (invalid_reference_price) and the last valid
  // one (or the signal price) is used.
  void handle_quote(double price, time_point now) {
    if (!accept(ExitEvent::quote, now)) return;
    if (!quote_requested_) return refuse(ExitEvent::quote, now, "no quote was asked for");
    quote_requested_ = false;
    if (valid_price(price)) {
      last_price_ = price;
    } else {
      anomaly(now, "reference price refused: using the last valid price", error::invalid_reference_price);
    }
    quote_ = last_price_;
    advance(now);
  }

  // The answer to attempt `number`, in time or late (also after the exit ended).
  void handle_answer(std::uint32_t number, const AttemptAnswer& answer, time_point now) {
    if (!accept(ExitEvent::answer, now)) return;
    const record_type* rec = tracker_.find(number);
    if (!rec || !reporting(number)) return refuse(ExitEvent::answer, now, "answer to an attempt that already answered", number);
    set_reporting(number, false);
    if (!may_still_land(rec->outcome)) return release_if_done(now);
    const bool in_time = pending_ == number;
    const auto verdict = judge(*rec, answer, now);
    if (verdict.fill.is_positive()) {
      const Quantity counted = tracker_.settle(number, verdict.outcome, verdict.fill, verdict.price,
                                               answer.outcome.transaction_id, verdict.error, now);
      take_fill(number, counted, now, answer.outcome.transaction_id);
    } else if (verdict.outcome == AttemptOutcome::rejected) {
      tracker_.settle(number, AttemptOutcome::rejected, Quantity{}, 0, answer.outcome.transaction_id, verdict.error,
                      now);
    } else if (!answer.answered && !in_time) {
      // A given-up attempt's operation ended without news: it stays as it was.
    } else {
      tracker_.mark_in_doubt(number, verdict.error, now, verdict.needs_reconciliation);
    }
    if (in_time) {
      pending_.reset();
      on_answer_in_time(*tracker_.find(number), verdict, answer.outcome.transaction_id, now);
    } else if (!is_terminal(state()) && verdict.fill.is_positive() && !pending_ && !closed()) {
      transition(ExitTransitionState::partially_filled, now, "late partial fill", number, rec->step,
                 answer.outcome.transaction_id);
    }
    advance(now);
    release_if_done(now);
  }

  // A fill report for attempt `number` (deduplicated by its fill id).
  void handle_fill(std::uint32_t number, const FillReport& fill, time_point now) {
    if (!accept(ExitEvent::fill, now)) return;
    const record_type* rec = tracker_.find(number);
    if (!rec) return refuse(ExitEvent::fill, now, "fill report for an attempt never sent", number);
    if (!fill.quantity.is_positive())
      return anomaly(now, "fill report refused: no positive quantity", error::fill_without_quantity, number);
    // A report seen before is a duplicate, whatever else is wrong with it.
    if (tracker_.seen_fill(number, fill.fill_id))
      return machine_.note(now, "fill already counted", error::duplicate_fill, number, rec->step, fill.fill_id);
    // The reports of one attempt never add up to more than its order (as for an answer).
    Quantity quantity = fill.quantity;
    if (quantity > rec->quantity - rec->reported_quantity) {
      anomaly(now, "fill report over-fill refused: capped at the order's quantity", error::overfill, number);
      quantity = rec->quantity - rec->reported_quantity;
      if (!quantity.is_positive()) return;
    }
    double price = fill.price;
    if (!valid_price(price)) {
      anomaly(now, "fill report price refused: counted at the order's limit", error::invalid_fill_price, number);
      price = rec->limit_price;
    }
    bool duplicate = false;
    const Quantity counted = tracker_.add_fill(number, fill.fill_id, quantity, price, duplicate);
    if (duplicate) return machine_.note(now, "fill already counted", error::duplicate_fill, number, rec->step, fill.fill_id);
    take_fill(number, counted, now, fill.fill_id);
    advance(now);
  }

  // The answer to a `query_position` command: the position's open size.
  void handle_position(Quantity open, time_point now) {
    if (!accept(ExitEvent::position, now)) return;
    if (!query_pending_) return refuse(ExitEvent::position, now, "no position query is outstanding");
    query_pending_ = false;
    if (open < Quantity{} || open > request_.quantity) {
      anomaly(now, "position report refused", error::invalid_position_report);
      return query_failed(now);
    }
    if (open < remaining_) {
      // Something in doubt landed: count it as sold, to be matched with its answer if it comes.
      // At most what the attempts not settled by their answer could have filled beyond
      // what is counted (one that can no longer land, expired, may have landed before):
      // the rest of the difference (dust no order carried, or sold elsewhere) is not
      // this exit's fill.
      Quantity could_fill;
      for (const auto& r : tracker_.attempts())
        if (r.outcome != AttemptOutcome::filled && r.outcome != AttemptOutcome::rejected)
          could_fill += r.quantity - r.filled_quantity;
      const Quantity sold = std::min(remaining_ - open, std::max(could_fill - unattributed_, Quantity{}));
      unattributed_ += sold;
      unattributed_notional_ += static_cast<double>(sold.units()) * last_price_;
      unattributed_through_ = tracker_.started();  // only these attempts can be behind it
      remaining_ = open;
      closing_attempt_ = 0;  // the report, not an attempt's fill, shrank it
      ++key_generation_;
    }
    tracker_.reconciled();
    reconciled_ = true;
    machine_.note(now, "position reconciled", {});
    advance(now);
  }

  void handle_position_failed(boost::system::error_code why, time_point now) {
    if (!accept(ExitEvent::position, now)) return;
    if (!query_pending_) return refuse(ExitEvent::position, now, "no position query is outstanding");
    query_pending_ = false;
    machine_.note(now, "position query failed", why ? why : make_error_code(error::position_query_failed));
    query_failed(now);
  }

  // Attempt `number` can no longer land (its blockhash expired, the venue cancelled it).
  void handle_attempt_dead(std::uint32_t number, time_point now) {
    if (!accept(ExitEvent::attempt_dead, now)) return;
    const record_type* rec = tracker_.find(number);
    if (!rec || !may_still_land(rec->outcome)) return refuse(ExitEvent::attempt_dead, now, "attempt is not open", number);
    tracker_.mark_expired(number, now);
    set_reporting(number, false);
    machine_.note(now, "attempt can no longer land", {}, number, rec->step, rec->transaction_id);
    if (pending_ == number) {
      pending_.reset();
      emit(ExitOutputKind::attempt_finished, number, rec->step, rec->kind, tracker_.find(number)->outcome);
      transition(ExitTransitionState::exit_rejected, now, "attempt expired without landing", number, rec->step);
      failed_attempts_++;
      budget_->spend();
      after_failure(now);
    }
    advance(now);
    release_if_done(now);
  }

  // The instant poll_timeout() gave (or later) has come.
  void handle_timeout(time_point now) {
    if (!accept(ExitEvent::timer, now)) return;
    if (is_terminal(state())) {
      if (now >= horizon_) release(now);
      return;
    }
    advance(now);
  }

  // Trading no longer allows exits: nothing more is sent; what is in flight settles.
  void handle_halt(time_point now) {
    if (!accept(ExitEvent::halt, now)) return;
    if (!halted_) machine_.note(now, "trading halted", error::trading_halted);
    halted_ = true;
    advance(now);
  }

  void cancel(CancelKind kind, time_point now) {
    if (!accept(ExitEvent::cancel, now)) return;
    (kind == CancelKind::terminal ? terminal_cancel_ : partial_cancel_) = true;
    advance(now);
  }

  // The driver's containment point caught an exception from a user callable (`what`
  // names it: a literal). Not an event: it is audited (error::callback_threw) and
  // counted as an anomaly; the driver turns the call's result into a safe default.
  void note_callback_failure(std::string_view what, time_point now, std::uint32_t attempt = 0) {
    if (released_) return;
    anomaly(now, what, error::callback_threw, attempt);
  }

  // --- outputs --------------------------------------------------------------------

  // The next command or notice, oldest first; empty when there is none.
  std::optional<ExitOutput> poll() noexcept {
    if (out_count_ == 0) return std::nullopt;
    const ExitOutput o = out_[out_head_];
    out_head_ = (out_head_ + 1) % out_.size();
    --out_count_;
    return o;
  }

  // When handle_timeout must be called next; empty once released (or not started).
  std::optional<time_point> poll_timeout() const noexcept {
    if (released_ || state() == ExitTransitionState::position_open) return std::nullopt;
    if (is_terminal(state())) return horizon_;
    time_point t = deadline_;
    if (pending_) t = std::min(t, pending_end_);
    if (query_pending_) t = std::min(t, query_end_);
    if (backoff_until_) t = std::min(t, *backoff_until_);
    if (requery_at_) t = std::min(t, *requery_at_);
    return t;
  }

  // --- getters --------------------------------------------------------------------

  ExitTransitionState state() const noexcept { return machine_.state(); }
  bool is_complete() const noexcept { return is_terminal(state()); }
  bool is_released() const noexcept { return released_; }
  std::uint64_t exit_id() const noexcept { return exit_id_; }
  const ExitRequest& request() const noexcept { return request_; }
  const settings_type& settings() const noexcept { return *settings_; }
  VenueCapabilities capabilities() const noexcept { return caps_; }
  Quantity remaining() const noexcept { return remaining_; }
  Quantity filled() const noexcept { return tracker_.filled_quantity() + unattributed_; }
  boost::system::error_code exit_error() const noexcept { return error_; }
  std::uint32_t step() const noexcept { return step_; }
  std::optional<std::uint32_t> pending_attempt() const noexcept { return pending_; }
  bool query_outstanding() const noexcept { return query_pending_; }
  time_point deadline() const noexcept { return deadline_; }
  std::uint32_t attempts_started() const noexcept { return tracker_.started(); }
  const BasicExitAttemptTracker<Clock>& tracker() const noexcept { return tracker_; }
  const BasicExitStateMachine<Clock>& machine() const noexcept { return machine_; }
  std::uint32_t anomalies() const noexcept { return anomalies_; }
  ExitFailureCause failure_cause() const noexcept { return cause_; }
  bool counts_for_breaker() const noexcept {
    switch (cause_) {
      case ExitFailureCause::infrastructure:
      case ExitFailureCause::venue: return true;
      case ExitFailureCause::market: return settings_->breaker_counts_market_rejections;
      default: return false;
    }
  }

  // The order of attempt `number` (1-based), as the venue must receive it, but for
  // `not_after`: a wall-clock instant the driver sets when it sends the order
  // (send time + time_in_force).
  ExitOrder order(std::uint32_t number) const {
    const record_type& r = *tracker_.find(number);
    ExitOrder o;
    o.exit_id = exit_id_;
    o.position_id = request_.position_id;
    o.side = request_.side;
    o.quantity = r.quantity;
    o.lot_size = request_.lot_size;
    o.kind = r.kind;
    o.limit_price = r.limit_price;
    o.max_slippage_bps = r.max_slippage_bps;
    o.attempt = r.number;
    o.step = r.step;
    o.exclusivity_key = ExclusivityKeyScope::make_key(key_prefix_, exit_id_, r.key_generation);
    o.time_in_force = std::chrono::duration_cast<std::chrono::nanoseconds>(r.live_until - r.started);
    return o;
  }

  // Every exclusivity key this exit's attempts carried, oldest first.
  std::vector<std::string> exclusivity_keys() const {
    std::vector<std::string> keys;
    std::uint64_t last = 0;
    bool any = false;
    for (const auto& r : tracker_.attempts()) {
      if (any && r.key_generation == last) continue;
      keys.push_back(ExclusivityKeyScope::make_key(key_prefix_, exit_id_, r.key_generation));
      last = r.key_generation;
      any = true;
    }
    return keys;
  }

  // The report as of now (final once complete, but for late fills).
  report_type report() const {
    report_type r;
    r.exit_id = exit_id_;
    r.position_id = request_.position_id;
    r.final_state = state();
    r.error = error_;
    r.reason = std::string(reason_);
    r.failure_cause = cause_;
    r.counts_for_breaker = counts_for_breaker();
    r.attempts = tracker_.started();
    r.requested_quantity = request_.quantity;
    r.filled_quantity = filled();
    r.open_quantity = remaining_;
    const double notional = tracker_.filled_notional() + unattributed_notional_;
    r.average_price = r.filled_quantity.is_positive() ? notional / static_cast<double>(r.filled_quantity.units()) : 0;
    if (r.filled_quantity.is_positive() && valid_price(request_.signal_price)) {
      const double d = (request_.signal_price - r.average_price) / request_.signal_price * 10000.0;
      r.realized_slippage_bps = request_.side == Side::sell ? d : -d;
    }
    r.exit_time = end_ - start_;
    r.escalated = escalated_;
    r.late_fills = tracker_.late_fills();
    r.anomalies = anomalies_;
    r.attempt_records = tracker_.attempts();
    r.audit_trail = machine_.audit_trail();
    return r;
  }

 private:
  struct verdict_type {
    AttemptOutcome outcome = AttemptOutcome::in_doubt;
    Quantity fill;
    double price = 0;
    boost::system::error_code error;
    FailureKind kind = FailureKind::in_doubt;
    bool escalates = false;
    bool needs_reconciliation = false;
  };

  static bool valid_price(double p) noexcept { return p > 0 && std::isfinite(p); }

  bool accept(ExitEvent event, time_point now) {
    if (!released_ && is_allowed_event(state(), event)) return true;
    refuse(event, now, released_ ? "the exit was released" : "event not allowed in this state");
    return false;
  }
  void refuse(ExitEvent event, time_point now, std::string_view why, std::uint32_t attempt = 0) {
    ++anomalies_;
    machine_.note(now, why, error::event_not_allowed, attempt, 0, {}, event);
  }
  void anomaly(time_point now, std::string_view why, error e, std::uint32_t attempt = 0) {
    ++anomalies_;
    // An attempt the exit never started (a driver's note_callback_failure) has no step.
    const record_type* rec = tracker_.find(attempt);
    machine_.note(now, why, e, attempt, rec ? rec->step : 0);
  }

  void transition(ExitTransitionState to, time_point now, std::string_view why, std::uint32_t attempt = 0,
                  std::uint32_t step = 0, std::string_view tx = {}, boost::system::error_code ec = {}) {
    machine_.transition(to, now, why, attempt, step, tx, ec);
  }

  void emit(ExitOutputKind kind, std::uint32_t attempt = 0, std::uint32_t step = 0,
            OrderKind order_kind = OrderKind::limit, AttemptOutcome outcome = AttemptOutcome::pending,
            Quantity quantity = {}) {
    if (out_count_ == out_.size()) grow_outputs();
    ExitOutput& o = out_[(out_head_ + out_count_) % out_.size()];
    o.kind = kind;
    o.attempt = attempt;
    o.step = step;
    o.order_kind = order_kind;
    o.outcome = outcome;
    o.quantity = quantity;
    ++out_count_;
  }

  // Doubles the queue, oldest first. One call emits at most ~10 outputs, release() a
  // cancel_attempt per attempt still reporting: the queue stays within
  // max_attempts_per_exit + a few dozen entries, and a happy path needs 8.
  void grow_outputs() {
    std::vector<ExitOutput> bigger(std::max<std::size_t>(8, out_.size() * 2));
    for (std::size_t i = 0; i < out_count_; ++i) bigger[i] = out_[(out_head_ + i) % out_.size()];
    out_ = std::move(bigger);
    out_head_ = 0;
  }

  bool final_step() const noexcept { return step_ + 1 == settings_->ladder.size(); }
  bool closed() const noexcept { return remaining_ < request_.lot_size; }

  bool reporting(std::uint32_t n) const noexcept { return n >= 1 && n <= reporting_.size() && reporting_[n - 1]; }
  void set_reporting(std::uint32_t n, bool on) {
    if (n >= 1 && n <= reporting_.size()) reporting_[n - 1] = on;
  }
  bool any_reporting() const noexcept {
    for (bool r : reporting_)
      if (r) return true;
    return false;
  }

  // Checks an answer before anything of it counts.
  verdict_type judge(const record_type& rec, const AttemptAnswer& a, time_point now) {
    verdict_type v;
    const SubmitOutcome& o = a.outcome;
    auto malformed = [&](error e, std::string_view why) {
      anomaly(now, why, e, rec.number);
      v.outcome = AttemptOutcome::in_doubt;
      v.error = e;
      v.needs_reconciliation = true;
    };
    auto counted_fill = [&](AttemptOutcome outcome) {
      v.outcome = outcome;
      v.fill = o.filled_quantity;
      v.error = o.error;
      if (v.fill > rec.quantity) {
        anomaly(now, "over-fill refused: counted as the order's quantity", error::overfill, rec.number);
        v.fill = rec.quantity;
      }
      if (v.fill == rec.quantity) v.outcome = AttemptOutcome::filled;
      else v.outcome = AttemptOutcome::partially_filled;
      v.price = o.average_price;
      if (!valid_price(v.price)) {
        anomaly(now, "fill price refused: counted at the order's limit", error::invalid_fill_price, rec.number);
        v.price = rec.limit_price;
      }
    };
    if (!a.answered) {
      v.error = o.error ? o.error : make_error_code(error::operation_threw);
      v.kind = a.kind;
      v.escalates = a.escalates;
      v.outcome = a.kind == FailureKind::in_doubt ? AttemptOutcome::in_doubt : AttemptOutcome::rejected;
      return v;
    }
    switch (o.status) {
      case SubmitStatus::filled:
      case SubmitStatus::partially_filled:
        if (!o.filled_quantity.is_positive()) {
          malformed(error::fill_without_quantity, "fill without a positive quantity: in doubt");
        } else {
          counted_fill(o.status == SubmitStatus::filled ? AttemptOutcome::filled : AttemptOutcome::partially_filled);
        }
        return v;
      case SubmitStatus::rejected:
        v.outcome = AttemptOutcome::rejected;
        v.error = o.error ? o.error : make_error_code(error::exit_rejected);
        v.kind = a.kind;
        v.escalates = a.escalates;
        if (a.kind == FailureKind::in_doubt) v.outcome = AttemptOutcome::in_doubt;
        return v;
      case SubmitStatus::in_doubt:
        // The venue's explicit status wins over its error code.
        v.outcome = AttemptOutcome::in_doubt;
        v.error = o.error ? o.error : make_error_code(error::in_doubt);
        if (o.filled_quantity.is_positive()) {
          counted_fill(AttemptOutcome::partially_filled);
          v.outcome = AttemptOutcome::in_doubt;  // it may fill more
          v.error = o.error ? o.error : make_error_code(error::in_doubt);
        }
        return v;
    }
    malformed(error::unknown_submit_status, "unnamed answer status: in doubt");
    return v;
  }

  void on_answer_in_time(const record_type& rec, const verdict_type& v, std::string_view tx, time_point now) {
    const auto outcome = rec.outcome;
    emit(ExitOutputKind::attempt_finished, rec.number, rec.step, rec.kind, outcome);
    if (outcome == AttemptOutcome::filled || outcome == AttemptOutcome::partially_filled) {
      ++key_generation_;  // the key landed: whatever is sent next needs a new one
      if (closed()) return;  // advance() ends the exit
      // Partial fills are not failures: the remainder goes at once, no backoff, no attempt spent.
      return transition(ExitTransitionState::partially_filled, now, "partially filled", rec.number, rec.step, tx);
    }
    if (outcome == AttemptOutcome::in_doubt) {
      if (v.fill.is_positive()) ++key_generation_;
      emit(ExitOutputKind::attempt_in_doubt, rec.number, rec.step, rec.kind, outcome);
      transition(ExitTransitionState::exit_timed_out, now, "venue could not confirm: in doubt", rec.number, rec.step,
                 tx, v.error);
      ++failed_attempts_;
      budget_->spend();
      return after_failure(now);
    }
    // Rejected.
    transition(ExitTransitionState::exit_rejected, now, "rejected by the venue", rec.number, rec.step, tx, v.error);
    // Superseded: while it was pending, an earlier attempt on the same exclusive key
    // landed (a late fill), so this one could not. Its rejection says nothing about
    // the venue: the remainder goes at once with the new key.
    if (caps_.exclusive_attempts && rec.key_generation != key_generation_) return;
    ++failed_attempts_;
    budget_->spend();
    if (partial_cancel_) return;  // nothing more is tried: advance() ends it cancelled
    if (v.escalates) {
      ++market_rejections_;
      // A wider order may succeed: escalate at once; on the final step, re-quote.
      if (!final_step()) return begin_step(step_ + 1, now);
      return after_failure(now);
    }
    if (v.kind == FailureKind::transient) return after_failure(now);
    fail(v.error, ExitFailureCause::venue, now, "rejected by the venue: not retried");
  }

  // A failed attempt: back off and retry in this step, or escalate, or (final step)
  // end because no further attempt fits before the deadline.
  void after_failure(time_point now) {
    if (is_terminal(state()) || partial_cancel_) return;  // cancelled: advance() ends it
    // (Copied out by value: g++ 12 warns of a dangling pointer for `backoff_until_ = *next`.)
    const std::optional<time_point> next = budget_->next_start(now, rng_);
    if (next.has_value()) {
      backoff_until_.emplace(next.value());
      emit(ExitOutputKind::retry, 0, step_, settings_->ladder[step_].kind);
      return;
    }
    if (!final_step()) return begin_step(step_ + 1, now);
    out_of_time(now);
  }

  void begin_step(std::uint32_t s, time_point now) {
    step_ = s;
    const bool last = final_step();
    const time_point final_window_start = deadline_ - settings_->final_window;
    // The final step has whatever is left before the deadline, whatever its policy's
    // total_timeout says (the budget keeps a pointer to its policy: the copy is a member).
    if (last) {
      final_policy_ = settings_->ladder[s].policy;
      final_policy_.total_timeout = std::max(final_policy_.total_timeout, settings_->deadline);
    }
    budget_.emplace(last ? final_policy_ : settings_->ladder[s].policy, now,
                    last ? deadline_ : std::max(now, final_window_start), last);
    backoff_until_.reset();
    if (last) {
      if (s > 0) {
        escalated_ = true;
        emit(ExitOutputKind::escalated, 0, s, OrderKind::market);
      }
      transition(ExitTransitionState::emergency_escalation, now,
                 s > 0 ? "escalating to a market order" : "ladder starts at market", 0, s);
    }
  }

  bool doubt_blocks_sending() const noexcept {
    if (!tracker_.any_in_doubt()) return false;
    // Only the position tells; a report clears these flags, so one set now came after
    // the last report (a malformed answer since): that report is stale.
    if (tracker_.any_needs_reconciliation()) return true;
    // A position report sized the next attempt; it makes sending safe only where the
    // venue never fills beyond the open position: else an earlier attempt still valid
    // could land beside the next one (wait for its answer, or its death).
    if (reconciled_ && caps_.enforces_reduce_only) return false;
    if (!caps_.exclusive_attempts) return true;
    // Exclusivity covers only attempts on the key the next one will carry: one whose
    // key already landed (a partial fill in doubt) may still fill more beside it.
    for (const auto& r : tracker_.attempts())
      if ((r.outcome == AttemptOutcome::in_doubt || r.outcome == AttemptOutcome::cancelled) &&
          r.key_generation != key_generation_ && may_own_key(r))
        return true;
    return false;
  }
  // Could the used key of `r` have landed with `r`? Not if another attempt on that key
  // filled: at most one attempt per key lands (a landing no attempt accounts for, found
  // by a position report, may be any of them).
  bool may_own_key(const record_type& r) const noexcept {
    if (r.filled_quantity.is_positive()) return true;
    for (const auto& o : tracker_.attempts())
      if (o.number != r.number && o.key_generation == r.key_generation && o.filled_quantity.is_positive())
        return false;
    return true;
  }
  bool can_query() const noexcept { return caps_.queries_position && !query_gave_up_; }
  // One step's attempt_timeout after a report that left the doubt standing.
  time_point next_requery(time_point now) const noexcept {
    const duration d = settings_->ladder[step_].policy.attempt_timeout;
    return d >= deadline_ - now ? deadline_ : now + d;
  }

  void query_failed(time_point now) {
    // No second chance: wait for the doubt to resolve by itself, or for the deadline.
    query_gave_up_ = true;
    advance(now);
  }

  // The central loop: decide what to do next, given everything known at `now`.
  void advance(time_point now) {
    while (!is_terminal(state())) {
      if (closed()) return finish_closed(now);
      if (pending_) {
        if (terminal_cancel_) return finish_cancelled(now);
        if (now < pending_end_) return;  // wait for its answer
        time_out_pending(now);
        continue;
      }
      if (terminal_cancel_ || partial_cancel_) return finish_cancelled(now);
      if (halted_) return fail(error::trading_halted, ExitFailureCause::refused, now, "trading halted while the exit was in flight");
      if (query_pending_) {
        if (now < query_end_) return;
        query_pending_ = false;
        emit(ExitOutputKind::cancel_query);
        machine_.note(now, "position query timed out", error::position_query_failed);
        query_gave_up_ = true;
        continue;
      }
      if (now >= deadline_) return out_of_time(now);
      if (backoff_until_) {
        if (now < *backoff_until_) return;
        backoff_until_.reset();
      }
      if (doubt_blocks_sending()) {
        if (!can_query()) return;  // wait: a late answer or death may resolve it; else the deadline
        // A report did not make sending safe (no reduce-only): ask again now and then,
        // in case the attempt landed without an answer, but never in a loop.
        // (A malformed answer since the report made it stale: ask at once.)
        if (reconciled_ && !tracker_.any_needs_reconciliation()) {
          if (!requery_at_) requery_at_ = next_requery(now);
          if (now < *requery_at_) return;
        }
        requery_at_.reset();
        query_pending_ = true;
        query_end_ = settings_->ladder[step_].policy.attempt_timeout >= deadline_ - now
                         ? deadline_
                         : now + settings_->ladder[step_].policy.attempt_timeout;
        emit(ExitOutputKind::query_position);
        return;
      }
      requery_at_.reset();
      if (!budget_->can_start(now)) {
        if (!final_step()) {
          begin_step(step_ + 1, now);
          continue;
        }
        return out_of_time(now);
      }
      if (tracker_.remaining() == 0)
        return fail(error::attempts_exhausted, cause_of_failure(), now, "the exit's attempt limit was reached");
      if (!quote_) {
        if (!quote_requested_) {
          quote_requested_ = true;
          emit(ExitOutputKind::quote);
        }
        return;
      }
      return send(now);
    }
  }

  void send(time_point now) {
    const auto& step = settings_->ladder[step_];
    const double f = step.max_slippage_bps / 10000.0;
    const double limit = request_.side == Side::sell ? *quote_ * (1 - f) : *quote_ * (1 + f);
    quote_.reset();
    if (!valid_price(limit))
      return fail(error::invalid_slippage, ExitFailureCause::invalid_request, now,
                  "the step's slippage leaves no positive limit price");
    ExitOrder o;
    o.quantity = round_down_to_lot(remaining_, request_.lot_size);
    o.kind = step.kind;
    o.limit_price = limit;
    o.max_slippage_bps = step.max_slippage_bps;
    o.step = step_;
    pending_end_ = budget_->attempt_end(now);
    tracker_.begin(o, now, key_generation_, pending_end_);
    const std::uint32_t n = tracker_.started();
    reporting_.push_back(true);
    pending_ = n;
    reconciled_ = false;  // a reconciliation sizes one attempt
    transition(step.kind == OrderKind::market ? ExitTransitionState::market_exit_submitted
                                              : ExitTransitionState::exit_submitted,
               now, step.kind == OrderKind::market ? "market order sent" : "limit order sent", n, step_);
    emit(ExitOutputKind::submit, n, step_, step.kind);
  }

  void time_out_pending(time_point now) {
    const std::uint32_t n = *pending_;
    pending_.reset();
    tracker_.mark_in_doubt(n, error::attempt_timed_out, now);
    const record_type& rec = *tracker_.find(n);
    emit(ExitOutputKind::attempt_finished, n, rec.step, rec.kind, AttemptOutcome::in_doubt);
    emit(ExitOutputKind::attempt_in_doubt, n, rec.step, rec.kind, AttemptOutcome::in_doubt);
    transition(ExitTransitionState::exit_timed_out, now, "attempt timed out: in doubt", n, rec.step, {},
               error::attempt_timed_out);
    ++failed_attempts_;
    budget_->spend();
    after_failure(now);
  }

  // A fill counted for attempt `number`: what remains shrinks (reconciled sales first).
  void take_fill(std::uint32_t number, Quantity counted, time_point now, std::string_view tx) {
    if (!counted.is_positive()) return;
    // An attempt sent after the reconciliation was sized by it: its fills are new.
    const Quantity matched = number <= unattributed_through_ ? std::min(unattributed_, counted) : Quantity{};
    if (matched.is_positive()) {
      unattributed_notional_ -= unattributed_notional_ * static_cast<double>(matched.units()) /
                                static_cast<double>(unattributed_.units());
      unattributed_ -= matched;
    }
    remaining_ = std::max(remaining_ - (counted - matched), Quantity{});
    closing_attempt_ = number;
    const record_type& rec = *tracker_.find(number);
    const bool given_up = pending_ != number;
    if (!given_up) return;
    ++key_generation_;  // the key landed
    if (is_terminal(state())) {
      machine_.note(now, "fill after the exit ended: report corrected", {}, number, rec.step, tx);
      emit(ExitOutputKind::late_fill_after_completion, number, rec.step, rec.kind, rec.outcome, counted);
    } else {
      emit(ExitOutputKind::late_fill, number, rec.step, rec.kind, rec.outcome, counted);
    }
  }

  ExitFailureCause cause_of_failure() const noexcept {
    return failed_attempts_ > 0 && market_rejections_ == failed_attempts_ ? ExitFailureCause::market
                                                                         : ExitFailureCause::infrastructure;
  }

  void out_of_time(time_point now) {
    if (doubt_blocks_sending())
      return fail(error::in_doubt_unresolvable, ExitFailureCause::infrastructure, now,
                  "an attempt is in doubt and could not be resolved: nothing more was sent");
    fail(error::deadline_exceeded, cause_of_failure(), now, "the exit deadline was reached with the position open");
  }

  // The attempt in flight when the exit ends is asked to stop: `cancelled` if the
  // caller cancelled the exit, else in doubt (abandoned: e.g. an earlier attempt's late
  // fill closed the position); either way it may still land.
  void stop_in_flight(time_point now, bool cancelled_by_caller = false) {
    if (pending_) {
      const std::uint32_t n = *pending_;
      pending_.reset();
      const AttemptOutcome outcome = cancelled_by_caller ? AttemptOutcome::cancelled : AttemptOutcome::in_doubt;
      if (cancelled_by_caller)
        tracker_.mark_cancelled(n, now);
      else
        tracker_.mark_in_doubt(n, error::in_doubt, now);
      const record_type& rec = *tracker_.find(n);
      emit(ExitOutputKind::attempt_finished, n, rec.step, rec.kind, outcome);
      if (!cancelled_by_caller) emit(ExitOutputKind::attempt_in_doubt, n, rec.step, rec.kind, outcome);
      emit(ExitOutputKind::cancel_attempt, n, rec.step, rec.kind);
    }
    if (query_pending_) {
      query_pending_ = false;
      emit(ExitOutputKind::cancel_query);
    }
  }

  void finish_closed(time_point now) {
    stop_in_flight(now);  // the position is closed: nothing else should land
    const auto& last = tracker_.attempts();
    // Named after the attempt whose fill closed it (none if a position report did).
    if (const record_type* by = tracker_.find(closing_attempt_))
      transition(ExitTransitionState::position_closed, now, "closed", by->number, by->step, by->transaction_id);
    else
      transition(ExitTransitionState::position_closed, now, "closed", 0, step_,
                 last.empty() ? std::string_view{} : std::string_view(last.back().transaction_id));
    complete({}, ExitFailureCause::none, now, "position closed");
  }

  void finish_cancelled(time_point now) {
    stop_in_flight(now, true);
    transition(ExitTransitionState::exit_cancelled, now, "cancelled by the caller");
    complete(boost::asio::error::operation_aborted, ExitFailureCause::cancelled, now, "cancelled by the caller");
  }

  void fail(boost::system::error_code ec, ExitFailureCause cause, time_point now, std::string_view why) {
    stop_in_flight(now);
    transition(ExitTransitionState::exit_failed, now, why, 0, step_, {}, ec);
    complete(ec, cause, now, why);
  }

  void complete(boost::system::error_code ec, ExitFailureCause cause, time_point now, std::string_view why) {
    error_ = ec;
    cause_ = cause;
    reason_ = why;
    end_ = now;
    horizon_ = settings_->late_answer_horizon >= time_point::max() - start_ ? time_point::max()
                                                                            : start_ + settings_->late_answer_horizon;
    backoff_until_.reset();
    emit(ExitOutputKind::complete);
    release_if_done(now);
  }

  void release_if_done(time_point now) {
    if (is_terminal(state()) && !released_ && !any_reporting()) release(now);
  }

  void release(time_point now) {
    for (std::uint32_t n = 1; n <= reporting_.size(); ++n)
      if (reporting_[n - 1]) {
        reporting_[n - 1] = false;
        emit(ExitOutputKind::cancel_attempt, n, tracker_.find(n)->step, tracker_.find(n)->kind);
      }
    if (now >= horizon_ && state() != ExitTransitionState::position_open)
      machine_.note(now, "late-answer horizon reached: released", {});
    released_ = true;
    emit(ExitOutputKind::release);
  }

  const settings_type* settings_;
  ExitRequest request_;
  std::uint64_t exit_id_;
  std::string key_prefix_;
  VenueCapabilities caps_;
  BasicExitAttemptTracker<Clock> tracker_;
  BasicExitStateMachine<Clock> machine_;
  BasicRetryPolicy<Clock> final_policy_;  // the final step's policy, its budget up to the deadline
  std::optional<BasicRetryBudget<Clock>> budget_;
  detail::splitmix64_engine rng_;
  std::vector<bool> reporting_;  // per attempt: its operation may still answer

  time_point start_{};
  time_point deadline_{};
  time_point end_{};
  time_point horizon_{};
  time_point pending_end_{};
  time_point query_end_{};
  std::optional<time_point> backoff_until_;
  std::optional<std::uint32_t> pending_;
  std::optional<double> quote_;
  double last_price_ = 0;

  Quantity remaining_;
  Quantity unattributed_;  // sold by reconciliation's count, not yet matched to an attempt's fill
  double unattributed_notional_ = 0;
  std::uint32_t unattributed_through_ = 0;  // the last attempt sent before the reconciliation that found it
  std::uint32_t closing_attempt_ = 0;       // whose counted fill last shrank what remains (0: a position report)
  std::uint64_t key_generation_ = 0;
  std::uint32_t step_ = 0;
  std::uint32_t failed_attempts_ = 0;
  std::uint32_t market_rejections_ = 0;
  std::uint32_t anomalies_ = 0;
  boost::system::error_code error_;
  ExitFailureCause cause_ = ExitFailureCause::none;
  std::string_view reason_;

  bool quote_requested_ = false;
  bool query_pending_ = false;
  bool query_gave_up_ = false;
  bool reconciled_ = false;
  std::optional<time_point> requery_at_;  // a report left the doubt standing: ask again then
  bool halted_ = false;
  bool terminal_cancel_ = false;
  bool partial_cancel_ = false;
  bool escalated_ = false;
  bool released_ = false;

  std::vector<ExitOutput> out_;  // a FIFO ring, grown on demand (grow_outputs)
  std::size_t out_head_ = 0;
  std::size_t out_count_ = 0;
};

using ExitEngine = BasicExitEngine<std::chrono::steady_clock>;
using ExitEngineSettings = BasicExitEngineSettings<std::chrono::steady_clock>;

}  // namespace exitguard
