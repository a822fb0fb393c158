// exitguard/adaptive_exit_executor.hpp — close a position, bounded in attempts, time and loss.
//
// BasicAdaptiveExitExecutor runs exits: for one position and one venue it walks an
// escalation ladder (by default a limit order capped at 100 bps under
// RetryPolicy::exit_policy(), then a market order capped at 500 bps in the window
// left before the 30 s deadline) and ends every exit in exactly one terminal state
// — PositionClosed, ExitFailed or ExitCancelled — no later than its hard deadline.
// Each exit is tracked (ExitAttemptTracker), driven through the state machine
// (ExitStateMachine, with its audit trail) and reported in an ExitReport.
//
// In doubt (design principle 2): an attempt that timed out, or that the venue
// could not confirm, may still land. Before anything more is sent for that exit,
// either the venue declares exclusive attempts (every attempt carries the same
// exclusivity key, so at most one lands), or the position is queried and the next
// attempt is sized to what remains (reduce-only). If neither is possible nothing
// more is sent, and the exit ends failed at its deadline with
// error::in_doubt_unresolvable — unless the doubt resolves first. A timed-out submit
// is not cancelled: its late answer is still taken, once, and a late fill that
// closes the position ends the exit at that instant.
//
// Completion: `void(boost::system::error_code, ExitReport)`, any completion token.
// The code is empty if the position closed, else why it did not (deadline_exceeded,
// attempts_exhausted, the venue's rejection, in_doubt_unresolvable, trading_halted,
// circuit_open, operation_aborted, or a request error).
//
// Cancellation: per-operation, terminal. The exit stops waiting, asks the attempt
// in flight to stop, ends ExitCancelled and completes with operation_aborted; a
// cancelled exit counts neither as a success nor as a failure for the breaker.
//
// Thread safety: the executor may start exits from any thread, concurrently; each
// exit runs on its own strand. The venue, breaker, halt coordinator and sink must
// outlive the exits that use them; the venue's members are called on the exit's
// strand (several exits sharing one venue call it from their own strands).
//
// Trading halts: an exit checks `allows_exit()` before every attempt. Under
// ReduceOnly exits go on; once trading is Halted, an exit in flight sends nothing
// more: the answer to its pending attempt is still taken, and if that does not
// close the position the exit ends ExitFailed with error::trading_halted.
#pragma once

#include <exitguard/detail/attempt_slots.hpp>
#include <exitguard/detail/launch_operation.hpp>
#include <exitguard/detail/spawn_for_handler.hpp>
#include <exitguard/detail/splitmix64.hpp>
#include <exitguard/error.hpp>
#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_deadline_manager.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/logging.hpp>
#include <exitguard/metrics.hpp>
#include <exitguard/retry_policy.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
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

// The market step's default policy: short attempts, quick retries, and whatever is
// left of the exit's deadline as its budget.
template <class Clock>
constexpr BasicRetryPolicy<Clock> market_step_policy() noexcept {
  BasicRetryPolicy<Clock> p;
  p.max_attempts = 3;
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

// A rejection that a wider order could overcome: escalate at once.
struct DefaultEscalationRule {
  bool operator()(const boost::system::error_code& ec) const noexcept { return ec == error::slippage_exceeded; }
};

template <class Clock>
struct BasicExitSettings {
  using duration = typename Clock::duration;

  // A constructor rather than a default member initializer: g++ 12 crashes (ICE in
  // build_call_a) on `settings{}` inside another class's member initializer otherwise.
  BasicExitSettings() : ladder(default_ladder<Clock>()) {}

  std::vector<BasicEscalationStep<Clock>> ladder;
  duration deadline = std::chrono::seconds(30);      // hard, from the exit signal
  duration final_window = std::chrono::seconds(10);  // reserved for the last (market) step
  std::size_t audit_capacity = 128;
  std::function<FailureKind(const boost::system::error_code&)> classifier = DefaultClassifier{};
  std::function<bool(const boost::system::error_code&)> escalates = DefaultEscalationRule{};
  std::uint64_t jitter_seed = 0x65786974ULL;
  // Where the exit's structured lines go (see logging.hpp); empty = the "exitguard" logger.
  std::shared_ptr<spdlog::logger> logger;
  // Told of fills that arrive after their exit had already ended.
  std::function<void(std::uint64_t exit_id, const std::string& position_id, double quantity, double price)>
      on_late_fill_after_exit;

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
    if (auto ec = BasicExitDeadlineManager<Clock>::validate(deadline, final_window)) return ec;
    // The final step must be able to start at least one attempt in its window.
    if (ladder.back().policy.min_attempt_window > final_window) return error::final_window_does_not_fit;
    if (audit_capacity < 8 || audit_capacity > 65536) return error::invalid_audit_capacity;
    if (!classifier || !escalates) return error::invalid_ladder;
    return {};
  }
};

// What to close.
struct ExitRequest {
  std::string position_id;
  Side side = Side::sell;   // sell closes a long position
  double quantity = 0;      // to close; positive
  double signal_price = 0;  // the price when the exit signal fired; slippage is measured from it
  std::string reason = "exit signal";
};

template <class Clock>
struct BasicExitReport {
  std::uint64_t exit_id = 0;
  std::string position_id;
  ExitTransitionState final_state = ExitTransitionState::exit_failed;
  boost::system::error_code error;  // empty if the position closed
  std::string reason;               // one line, for people
  std::uint32_t attempts = 0;
  double requested_quantity = 0;
  double filled_quantity = 0;
  double average_price = 0;          // of what filled; 0 if nothing did
  double realized_slippage_bps = 0;  // against the signal price, positive = worse
  typename Clock::duration exit_time{};  // exit signal to terminal state
  bool escalated = false;
  bool breaker_tripped = false;      // the breaker is open after this exit
  BreakerState breaker_state = BreakerState::closed;
  TradingState trading_state = TradingState::running;
  std::vector<BasicAttemptRecord<Clock>> attempt_records;
  std::deque<BasicAuditEntry<Clock>> audit_trail;

  bool closed() const noexcept { return final_state == ExitTransitionState::position_closed; }
};

namespace detail {

inline constexpr double quantity_epsilon = 1e-9;

// Attempts an exit may make in all: every step's attempts, plus room for the
// remainders of partial fills, which do not spend a step's attempts.
template <class Clock>
std::uint32_t exit_attempt_capacity(const BasicExitSettings<Clock>& s) {
  std::uint32_t n = 0;
  for (const auto& step : s.ladder) n += step.policy.max_attempts;
  return std::min<std::uint32_t>(n * 4, 8 * max_retry_attempts);
}

template <class Venue>
bool venue_exclusive(const Venue& v) {
  if constexpr (DeclaresExclusiveAttempts<Venue>)
    return v.exclusive_attempts();
  else
    return false;
}

template <class Venue>
bool venue_queryable(const Venue& v) {
  if constexpr (QueriesPosition<Venue>) {
    if constexpr (requires { { v.can_query_position() } -> std::convertible_to<bool>; })
      return v.can_query_position();
    else
      return true;
  } else {
    return false;
  }
}

template <class Clock, class Executor, class Venue>
struct exit_run : std::enable_shared_from_this<exit_run<Clock, Executor, Venue>> {
  using strand_type = boost::asio::strand<Executor>;
  using timer_type = boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, strand_type>;
  using report_type = BasicExitReport<Clock>;
  using clock_type = Clock;
  using venue_type = Venue;

  exit_run(const Executor& ex, std::shared_ptr<const BasicExitSettings<Clock>> s, Venue& v, ExitRequest req,
           std::uint64_t id, BasicExitCircuitBreaker<Clock>* b, BasicTradingHaltCoordinator<Clock>* h,
           MetricsSink* m)
      : strand(boost::asio::make_strand(ex)),
        timer(strand),
        settings(std::move(s)),
        venue(v),
        request(std::move(req)),
        exit_id(id),
        breaker(b),
        halt(h),
        metrics(m),
        tracker(exit_attempt_capacity(*settings)),
        machine(settings->audit_capacity),
        deadline(settings->deadline, settings->final_window),
        submits(tracker.max_attempts()),
        queries(tracker.max_attempts()),
        rng(splitmix64(settings->jitter_seed + id)),
        remaining(request.quantity) {}

  bool finished() const noexcept { return machine.is_terminal(); }

  // Every transition goes through here: the state machine audits it, the log says it.
  void transition(ExitTransitionState to, std::string_view why, std::uint32_t attempt = 0, std::uint32_t step = 0,
                  std::string_view tx = {}) {
    const ExitTransitionState from = machine.state();
    const bool accepted = !machine.transition(to, why, attempt, step, tx);
    detail::log_transition(*settings->logger, exit_id, request.position_id, from, to, attempt, step, why, tx,
                           accepted);
  }

  double filled() const noexcept { return tracker.filled_quantity() + unattributed; }

  std::string exclusivity_key() const {
    return "exit-" + std::to_string(exit_id) + "-" + std::to_string(generation);
  }

  // An answer to attempt `number` (1-based), on the strand: in time, or late.
  void on_submit_done(std::uint32_t number, boost::system::error_code ec, std::optional<SubmitOutcome> outcome) {
    const std::size_t i = number - 1;
    const bool late = submits[i].abandoned;
    if (!submits.record(i, ec, std::move(outcome))) return;
    if (!late) {
      timer.cancel();
      return;
    }
    take_late_answer(number);
    // A late answer may have resolved a doubt the exit is waiting on (a late rejection,
    // a late partial fill): wake it to look again. A wait it does not end re-arms itself.
    if (!finished()) timer.cancel();
  }

  // A late answer: count its fill once; if it closes the position, the exit ends.
  void take_late_answer(std::uint32_t number) {
    const auto& result = *submits[number - 1].result;
    if (result.ec || !result.value) return;
    const SubmitOutcome& o = *result.value;
    const double qty = tracker.take_late_fill(number, o);
    if (qty <= 0) return;
    if (metrics) metrics->late_fill(qty);
    // What reconciliation already counted as sold is not counted again.
    const double known = std::min(unattributed, qty);
    unattributed -= known;
    remaining = std::max(remaining - (qty - known), 0.0);
    if (finished()) {
      if (settings->on_late_fill_after_exit)
        settings->on_late_fill_after_exit(exit_id, request.position_id, qty, o.average_price);
      return;
    }
    ++generation;  // the key landed: a new one for whatever is sent next
    if (remaining <= quantity_epsilon) {
      closed_by_late_fill = true;
      late_fill_attempt = number;
      late_fill_tx = o.transaction_id;
      timer.cancel();  // wake the exit: it closes now
    } else if (!in_flight) {
      transition(ExitTransitionState::partially_filled, "late partial fill", number, tracker.find(number)->step,
                 o.transaction_id);
    }
  }

  void on_query_done(std::uint32_t index, boost::system::error_code ec, std::optional<double> value) {
    if (queries.record(index, ec, std::move(value)) && !queries[index].abandoned) timer.cancel();
  }

  strand_type strand;
  timer_type timer;
  std::shared_ptr<const BasicExitSettings<Clock>> settings;
  Venue& venue;
  ExitRequest request;
  std::uint64_t exit_id;
  BasicExitCircuitBreaker<Clock>* breaker;
  BasicTradingHaltCoordinator<Clock>* halt;
  MetricsSink* metrics;
  BreakerPermit permit = BreakerPermit::allowed;

  BasicExitAttemptTracker<Clock> tracker;
  BasicExitStateMachine<Clock> machine;
  BasicExitDeadlineManager<Clock> deadline;
  attempt_slots<SubmitOutcome> submits;
  attempt_slots<double> queries;
  std::uint32_t queries_made = 0;
  std::mt19937_64 rng;

  double remaining;          // what we believe is still open
  double unattributed = 0;   // sold according to reconciliation, not yet matched to an attempt's fill
  double unattributed_notional = 0;
  std::uint64_t generation = 0;
  bool escalated = false;
  bool in_flight = false;
  bool closed_by_late_fill = false;
  std::uint32_t late_fill_attempt = 0;
  std::string late_fill_tx;
};

enum class doubt_resolution { send, closed, unresolvable, cancelled };

// Before sending while an attempt is in doubt (principle 2).
// `run` is kept alive by the caller's frame. (Raw pointers on purpose: g++ 12 can
// destroy twice a temporary with a non-trivial destructor in a co_await
// expression, such as a lambda capturing a shared_ptr.)
template <class Run>
boost::asio::awaitable<doubt_resolution> resolve_doubt(Run* run, typename Run::timer_type::time_point step_end) {
  if (venue_exclusive(run->venue)) co_return doubt_resolution::send;  // the same key: at most one lands
  // Only a venue with query_position can be asked (a token-style venue may offer none).
  if constexpr (QueriesPosition<typename Run::venue_type>) {
  if (venue_queryable(run->venue) && run->queries_made < run->queries.size()) {
    const std::uint32_t index = run->queries_made++;
    launch_operation<double>(
        [](auto* venue, std::string id) { return venue->query_position(std::move(id)); }, run->strand,
        run->queries[index].cancel.slot(),
        [keep = run->shared_from_this(), index](boost::system::error_code ec, std::optional<double> v) {
          keep->on_query_done(index, ec, std::move(v));
        },
        &run->venue, run->request.position_id);
    auto& slot = run->queries[index];
    const auto end = co_await wait_until(run->timer, std::min(step_end, run->deadline.deadline()),
                                         [&slot, run] { return slot.result.has_value() || run->closed_by_late_fill; });
    if (end == wait_end::cancelled) {
      run->queries.abandon(index);
      co_return doubt_resolution::cancelled;
    }
    if (run->closed_by_late_fill) co_return doubt_resolution::closed;
    if (end == wait_end::completed && slot.result && !slot.result->ec && slot.result->value) {
      const double open = std::max(*slot.result->value, 0.0);
      if (open < run->remaining) {
        // Something in doubt landed: count it as sold, to be matched with its late answer if it comes.
        const double sold = run->remaining - open;
        run->unattributed += sold;
        double price = run->request.signal_price;
        if constexpr (ProvidesReferencePrice<typename Run::venue_type>)
          price = run->venue.reference_price(run->request.position_id);
        run->unattributed_notional += sold * price;
        run->remaining = open;
        ++run->generation;
      }
      // Whatever is in doubt now can only fill what the next attempt no longer asks for.
      co_return run->remaining <= quantity_epsilon ? doubt_resolution::closed : doubt_resolution::send;
    }
    run->queries.abandon(index);
  }
  }
  // No safe way to send again: wait for the doubt to resolve by itself, or for the deadline.
  const auto end = co_await wait_until(run->timer, run->deadline.deadline(), [run] {
    return run->closed_by_late_fill || !run->tracker.any_in_doubt();
  });
  if (end == wait_end::cancelled) co_return doubt_resolution::cancelled;
  if (run->closed_by_late_fill) co_return doubt_resolution::closed;
  if (!run->tracker.any_in_doubt()) co_return doubt_resolution::send;
  co_return doubt_resolution::unresolvable;
}

template <class Run>
void start_attempt(const std::shared_ptr<Run>& run, std::uint32_t number, const ExitOrder& order) {
  using venue_type = typename Run::venue_type;
  auto on_done = [run, number](boost::system::error_code ec, std::optional<SubmitOutcome> o) {
    run->on_submit_done(number, ec, std::move(o));
  };
  auto slot = run->submits[number - 1].cancel.slot();
  if constexpr (AwaitableVenue<venue_type>) {
    launch_operation<SubmitOutcome>([](venue_type* v, ExitOrder o) { return v->submit(std::move(o)); },
                                    run->strand, slot, std::move(on_done), &run->venue, order);
  } else {
    launch_operation<SubmitOutcome>(
        [](venue_type* v, ExitOrder o, auto token) { return v->async_submit(std::move(o), std::move(token)); },
        run->strand, slot, std::move(on_done), &run->venue, order);
  }
}

template <class Run>
boost::asio::awaitable<std::tuple<boost::system::error_code, BasicExitReport<typename Run::clock_type>>> run_exit(
    std::shared_ptr<Run> run) {
  using clock = typename Run::clock_type;
  using S = ExitTransitionState;
  namespace asio = boost::asio;
  co_await asio::this_coro::throw_if_cancelled(false);

  boost::system::error_code failure;
  std::string failure_reason;
  auto fail = [&](boost::system::error_code ec, std::string why) {
    failure = ec;
    failure_reason = std::move(why);
  };

  run->transition(S::exit_signal_received, run->request.reason);
  if (run->metrics) run->metrics->exit_started();

  if (!(run->request.quantity > 0) || !std::isfinite(run->request.quantity)) {
    fail(error::invalid_quantity, "invalid exit request: quantity");
  } else if (!(run->request.signal_price > 0) || !std::isfinite(run->request.signal_price)) {
    fail(error::invalid_price, "invalid exit request: signal price");
  } else if (run->breaker && (run->permit = run->breaker->try_acquire()) == BreakerPermit::refused) {
    fail(error::circuit_open, "refused: the exit circuit breaker is open");
  } else if (run->halt && !run->halt->allows_exit()) {
    fail(error::trading_halted, "refused: trading is halted");
  }

  const auto& ladder = run->settings->ladder;
  bool cancelled = false;
  bool closed = false;  // by a late fill or by reconciliation: no further step, no escalation
  for (std::uint32_t s = 0;
       s < ladder.size() && !failure && !cancelled && !closed && !run->closed_by_late_fill && !run->finished(); ++s) {
    const auto& step = ladder[s];
    const auto& policy = step.policy;
    const bool final_step = s + 1 == ladder.size();
    if (final_step) {
      if (s > 0) {
        run->escalated = true;
        if (run->metrics) run->metrics->escalated(s);
      }
      run->transition(S::emergency_escalation, s > 0 ? "escalating to a market order" : "ladder starts at market", 0,
                      s);
    }
    const auto step_end = run->deadline.step_deadline(policy.total_timeout, final_step);
    std::uint32_t spent = 0;  // attempts of this step's policy used (partial fills spend none)
    typename clock::duration previous_backoff{};

    while (!failure && !cancelled && !run->finished()) {
      if (run->closed_by_late_fill) { closed = true; break; }
      if (spent >= policy.max_attempts) break;
      if (run->tracker.any_in_doubt()) {
        const auto r = co_await resolve_doubt(run.get(), step_end);
        if (r == doubt_resolution::cancelled) { cancelled = true; break; }
        if (r == doubt_resolution::closed) { closed = true; break; }
        if (r == doubt_resolution::unresolvable) {
          fail(error::in_doubt_unresolvable,
               "an attempt is in doubt; the venue neither declares exclusive attempts nor answered a position "
               "query: nothing more was sent");
          break;
        }
      }
      if (run->halt && !run->halt->allows_exit()) {
        fail(error::trading_halted, "trading halted while the exit was in flight");
        break;
      }
      // A cancellation that came with the last answer (before this coroutine resumed):
      // send nothing more.
      if (co_await stop_requested()) {
        cancelled = true;
        break;
      }
      if (!run->deadline.fits(policy.min_attempt_window, step_end)) break;  // this step's time is up

      const auto now = clock::now();
      const auto attempt_end = now + std::min(policy.attempt_timeout, step_end - now);
      ExitOrder order;
      order.exit_id = run->exit_id;
      order.position_id = run->request.position_id;
      order.side = run->request.side;
      order.quantity = run->remaining;
      order.kind = step.kind;
      order.max_slippage_bps = step.max_slippage_bps;
      if constexpr (ProvidesReferencePrice<typename Run::venue_type>) {
        // Prices are current: derived at each submit, never from the stale signal price.
        const double ref = run->venue.reference_price(run->request.position_id);
        const double f = step.max_slippage_bps / 10000.0;
        order.limit_price = run->request.side == Side::sell ? ref * (1 - f) : ref * (1 + f);
      }
      order.attempt = run->tracker.started() + 1;
      order.step = s;
      order.exclusivity_key = run->exclusivity_key();
      if (run->tracker.begin(order)) {
        fail(error::attempt_limit_reached, "the exit's attempt limit was reached");
        break;
      }
      const std::uint32_t n = order.attempt;
      run->transition(step.kind == OrderKind::market ? S::market_exit_submitted : S::exit_submitted,
                      step.kind == OrderKind::market ? "market order sent" : "limit order sent", n, s);
      if (run->metrics) run->metrics->attempt_started(s, step.kind);
      run->in_flight = true;
      start_attempt(run, n, order);
      auto& slot = run->submits[n - 1];
      const auto end = co_await wait_until(run->timer, attempt_end, [&slot, r = run.get()] {
        return slot.result.has_value() || r->closed_by_late_fill;
      });
      run->in_flight = false;

      if (end == wait_end::cancelled) {
        run->tracker.mark_cancelled(n);
        // Every attempt started is reported finished, a cancelled one too (outcome "cancelled").
        if (run->metrics) run->metrics->attempt_finished(s, step.kind, AttemptOutcome::cancelled);
        cancelled = true;
        break;
      }
      if (!slot.result) {
        // Timed out, or an earlier attempt's late fill closed the position meanwhile.
        run->submits.abandon(n - 1, run->closed_by_late_fill);
        run->tracker.mark_in_doubt(n, make_error_code(error::attempt_timed_out));
        if (run->metrics) {
          run->metrics->attempt_finished(s, step.kind, AttemptOutcome::in_doubt);
          run->metrics->attempt_in_doubt();
        }
        if (run->closed_by_late_fill) break;
        run->transition(S::exit_timed_out, "attempt timed out: in doubt", n, s);
        ++spent;
      } else {
        // The answer came in time.
        const auto& res = *slot.result;
        SubmitOutcome o = res.value ? *res.value : SubmitOutcome{};
        if (res.ec || !res.value) {
          o.status = SubmitStatus::rejected;
          o.error = res.ec ? res.ec : make_error_code(error::operation_threw);
        }
        FailureKind kind = FailureKind::permanent;
        if (o.status == SubmitStatus::rejected) {
          if (!o.error) o.error = error::exit_rejected;
          kind = run->settings->classifier(o.error);
          if (kind == FailureKind::in_doubt) o.status = SubmitStatus::in_doubt;
        }
        const double qty = run->tracker.complete(n, o);
        if (run->metrics) run->metrics->attempt_finished(s, step.kind, run->tracker.find(n)->outcome);
        if (o.status == SubmitStatus::filled || o.status == SubmitStatus::partially_filled) {
          ++run->generation;  // the key landed
          run->remaining = std::max(run->remaining - qty, 0.0);
          if (run->remaining <= quantity_epsilon || run->closed_by_late_fill) {
            run->transition(S::position_closed, "filled", n, s, o.transaction_id);
            break;
          }
          // Partial fills are not failures: the remainder goes at once, no backoff, no attempt spent.
          run->transition(S::partially_filled, "partially filled", n, s, o.transaction_id);
          if (qty <= quantity_epsilon) ++spent;  // a "partial" fill of nothing would loop
          continue;
        }
        if (o.status == SubmitStatus::in_doubt) {
          run->tracker.mark_in_doubt(n, o.error ? o.error : make_error_code(error::in_doubt));
          if (run->metrics) run->metrics->attempt_in_doubt();
          run->transition(S::exit_timed_out, "venue could not confirm: in doubt", n, s, o.transaction_id);
          ++spent;
        } else {
          run->transition(S::exit_rejected, o.error.message(), n, s, o.transaction_id);
          // Superseded: while it was pending, an earlier attempt on the same exclusive key
          // landed in part (a late fill), so this one could not. Its rejection says nothing
          // about the venue: the remainder goes at once with the new key, as after a partial fill.
          if (venue_exclusive(run->venue) && order.exclusivity_key != run->exclusivity_key()) continue;
          ++spent;
          if (run->settings->escalates(o.error) && !final_step) break;  // a wider order may succeed
          if (kind != FailureKind::transient) {
            fail(o.error, "rejected: " + o.error.message());
            break;
          }
        }
      }

      // Retry in this step after a backoff, unless it would run past the step's budget.
      if (spent >= policy.max_attempts || run->closed_by_late_fill) continue;
      const auto delay = policy.backoff(spent, previous_backoff, run->rng);
      previous_backoff = delay;
      if (step_end - clock::now() < delay + policy.min_attempt_window) break;  // escalate now
      if (run->metrics) run->metrics->retry(s);
      const auto waited =
          co_await wait_until(run->timer, clock::now() + delay, [r = run.get()] { return r->closed_by_late_fill; });
      if (waited == wait_end::cancelled) {
        cancelled = true;
        break;
      }
    }
  }

  // Exactly one terminal state.
  if (!run->finished()) {
    if (cancelled) {
      run->submits.stop_all();
      run->queries.stop_all();
      run->transition(S::exit_cancelled, "cancelled by the caller");
      fail(asio::error::operation_aborted, "cancelled by the caller");
    } else if (run->closed_by_late_fill || (run->tracker.started() > 0 && run->remaining <= quantity_epsilon)) {
      // (Only an exit that sent something can have closed the position: a request for a
      // quantity <= 0 was refused above and must end ExitFailed, not "closed".)
      run->submits.stop_all();  // the position is closed: nothing else should land
      run->transition(S::position_closed, run->closed_by_late_fill ? "closed by a late fill" : "closed (reconciled)",
                      run->late_fill_attempt, 0, run->late_fill_tx);
      failure = {};
    } else {
      if (!failure) {
        if (run->deadline.remaining() < ladder.back().policy.min_attempt_window)
          fail(error::deadline_exceeded, "the exit deadline was reached with the position still open");
        else
          fail(error::attempts_exhausted, "every attempt of every step failed");
      }
      run->transition(S::exit_failed, failure_reason);
    }
  }

  // The report.
  BasicExitReport<clock> report;
  report.exit_id = run->exit_id;
  report.position_id = run->request.position_id;
  report.final_state = run->machine.state();
  report.error = failure;
  report.reason = run->finished() && !failure ? "position closed" : failure_reason;
  report.attempts = run->tracker.started();
  report.requested_quantity = run->request.quantity;
  report.filled_quantity = run->filled();
  const double notional = run->tracker.average_price() * run->tracker.filled_quantity() + run->unattributed_notional;
  report.average_price = report.filled_quantity > 0 ? notional / report.filled_quantity : 0;
  if (report.filled_quantity > 0) {
    const double d = (run->request.signal_price - report.average_price) / run->request.signal_price * 10000.0;
    report.realized_slippage_bps = run->request.side == Side::sell ? d : -d;
  }
  report.exit_time = run->deadline.elapsed();
  report.escalated = run->escalated;

  // The breaker hears of successes and failures; cancellations and refusals count neither way.
  const bool refused = failure == error::circuit_open || failure == error::trading_halted ||
                       failure == error::invalid_quantity || failure == error::invalid_price;
  // A half-open probe that ended without an outcome is given back, or the breaker would
  // stay half_open, refusing every exit, until reset() (no-op for other permits).
  if (run->breaker && (cancelled || refused)) run->breaker->record_cancelled(run->permit);
  if (run->breaker && !cancelled && !refused) {
    const auto trips_before = run->breaker->trips();
    if (report.closed())
      run->breaker->record_success(run->permit);
    else
      run->breaker->record_failure(run->permit);
    if (run->breaker->trips() != trips_before) {
      run->settings->logger->error("breaker_tripped exit_id={} position={} trips={} state={} error={}", run->exit_id,
                                   detail::logfmt_value(run->request.position_id), run->breaker->trips(),
                                   to_string(run->breaker->state()), detail::logfmt_value(failure.message()));
      if (run->metrics) run->metrics->breaker_tripped();
    }
    if (run->metrics) run->metrics->breaker_state(run->breaker->state());
  }
  if (run->breaker) {
    report.breaker_state = run->breaker->state();
    report.breaker_tripped = report.breaker_state != BreakerState::closed;
  }
  if (run->halt) report.trading_state = run->halt->state();
  if (run->metrics) {
    ExitSummary summary;
    summary.final_state = report.final_state;
    summary.error = report.error;
    summary.duration_seconds = std::chrono::duration<double>(report.exit_time).count();
    summary.slippage_bps = report.realized_slippage_bps;
    summary.filled_quantity = report.filled_quantity;
    summary.attempts = report.attempts;
    summary.escalated = report.escalated;
    summary.first_attempt_success = report.closed() && report.attempts == 1;
    summary.required_retry = report.closed() && report.attempts > 1;
    summary.deadline_exceeded = report.error == error::deadline_exceeded;
    run->metrics->exit_finished(summary);
    if (run->halt) run->metrics->trading_state(run->halt->state());
  }
  report.attempt_records = run->tracker.attempts();
  report.audit_trail = run->machine.audit_trail();
  const boost::system::error_code ec = report.error;
  co_return std::tuple{ec, std::move(report)};
}

}  // namespace detail

template <class Clock, class Executor = boost::asio::any_io_executor>
class BasicAdaptiveExitExecutor {
 public:
  using clock_type = Clock;
  using executor_type = Executor;
  using settings_type = BasicExitSettings<Clock>;
  using report_type = BasicExitReport<Clock>;
  using breaker_type = BasicExitCircuitBreaker<Clock>;
  using halt_type = BasicTradingHaltCoordinator<Clock>;

  // Throws configuration_error for invalid settings. The breaker, halt coordinator
  // and metrics sink are optional; when given they must outlive every exit.
  explicit BasicAdaptiveExitExecutor(const executor_type& ex, settings_type settings = {},
                                     breaker_type* breaker = nullptr, halt_type* halt = nullptr,
                                     MetricsSink* metrics = nullptr)
      : executor_(ex),
        settings_(with_logger(std::move(settings))),
        breaker_(breaker),
        halt_(halt),
        metrics_(metrics) {
    throw_if_invalid(settings_->validate());
  }

  executor_type get_executor() const noexcept { return executor_; }
  const settings_type& settings() const noexcept { return *settings_; }
  breaker_type* breaker() const noexcept { return breaker_; }
  halt_type* halt() const noexcept { return halt_; }

  // Closes `request.quantity` of a position through `venue`. See the header comment.
  template <class Venue, class CompletionToken>
  auto async_execute(ExitRequest request, Venue& venue, CompletionToken&& token) {
    using signature = void(boost::system::error_code, report_type);
    return boost::asio::async_initiate<CompletionToken, signature>(
        [this, &venue](auto handler, ExitRequest req) { this->start(std::move(handler), std::move(req), venue); },
        token, std::move(request));
  }

 private:
  template <class Handler, class Venue>
  void start(Handler handler, ExitRequest request, Venue& venue) {
    using run_type = detail::exit_run<Clock, Executor, Venue>;
    const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
    auto run = std::make_shared<run_type>(executor_, settings_, venue, std::move(request), id, breaker_, halt_,
                                          metrics_);
    auto strand = run->strand;
    detail::spawn_for_handler<report_type>(strand, executor_, detail::run_exit(std::move(run)), std::move(handler));
  }

  static std::shared_ptr<const settings_type> with_logger(settings_type s) {
    if (!s.logger) s.logger = default_logger();
    return std::make_shared<const settings_type>(std::move(s));
  }

  executor_type executor_;
  std::shared_ptr<const settings_type> settings_;
  breaker_type* breaker_;
  halt_type* halt_;
  MetricsSink* metrics_;
  std::atomic<std::uint64_t> next_id_{0};
};

using AdaptiveExitExecutor = BasicAdaptiveExitExecutor<std::chrono::steady_clock>;
using ExitReport = BasicExitReport<std::chrono::steady_clock>;
using ExitSettings = BasicExitSettings<std::chrono::steady_clock>;
using EscalationStep = BasicEscalationStep<std::chrono::steady_clock>;

// The front door: close a position through `venue` with `exits`' ladder, deadline,
// breaker and halt coordinator. Completes with void(error_code, ExitReport).
template <class Clock, class Executor, class Venue, class CompletionToken>
auto execute_exit(BasicAdaptiveExitExecutor<Clock, Executor>& exits, Venue& venue, ExitRequest request,
                  CompletionToken&& token) {
  return exits.async_execute(std::move(request), venue, std::forward<CompletionToken>(token));
}

}  // namespace exitguard
