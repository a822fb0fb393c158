// exitguard/adaptive_exit_executor.hpp — close a position, bounded in attempts, time and loss.
//
// BasicAdaptiveExitExecutor runs exits: for one position and one venue it walks an
// escalation ladder (by default a limit order capped at 100 bps under
// RetryPolicy::exit_policy(), then a market order capped at 500 bps that re-quotes
// until the 30 s deadline, with at least the final 10 s reserved for it) and ends
// every exit in exactly one terminal state — PositionClosed, ExitFailed or
// ExitCancelled — no later than its hard deadline.
//
// Every decision is the exit engine's (exit_engine.hpp: deterministic, no IO). This
// header is its Asio driver: one strand-confined state and one timer per exit; it
// carries out the engine's commands (quote, submit, query, cancel) on the venue,
// feeds the answers back with the time, and settles the breaker permit, the gauges
// and the report in one finalizer on every path.
//
// In doubt (design principle 2): an attempt that timed out, or that the venue could
// not confirm, may still land. Another attempt is sent only if the venue declares
// exclusive attempts, or, on a venue that enforces reduce-only, after a position
// query sized it to what remains, or once the attempt is answered or known dead
// (rejected error::attempt_expired); with none of these, nothing more is sent and the exit fails error::in_doubt_unresolvable at
// its deadline unless the doubt resolves first. Late answers are taken until the
// late-answer horizon (default 90 s after the exit signal), also after the exit
// ended ("reality wins": ExitSettings::on_late_fill_after_exit hears of each fill
// that arrives after the end, once, with the corrected filled quantity).
//
// Completion: `void(boost::system::error_code, ExitReport)`, any completion token,
// through the handler's associated executor (never inside async_execute). The code
// is empty if the position closed, else why not (deadline_exceeded,
// attempts_exhausted, the venue's rejection, in_doubt_unresolvable, trading_halted,
// circuit_open, operation_aborted, or a request error). The handler's associated
// allocator allocates the exit's state, which lives until the late-answer horizon:
// after the completion, unlike most Asio operations' state, so the allocator must stay
// usable that long (a per-operation arena freed in the handler is not).
//
// Cancellation (the handler's cancellation slot): terminal — the exit stops, asks
// the attempt in flight to stop, ends ExitCancelled and completes with
// operation_aborted; partial or total — it sends nothing more, lets the attempt in
// flight settle, then ends ExitCancelled. A cancelled exit counts neither as a
// success nor as a failure for the breaker.
//
// The venue: every member (submit, async_submit, query_position, reference_price,
// capabilities, exit_finished) is called on the venue's executor — its
// `get_executor()` if it has one, so one venue may serve exits on many threads — or,
// for a venue without one, on the exit's strand (such a venue must then be safe to
// call from several strands, or be used from a single-threaded io_context). Answers
// come back to the exit's strand. Every user callable — venue members, classifier,
// escalation rule, metrics sink, logger, late-fill callback — is called through one
// containment point: an exception becomes an audited outcome (error::callback_threw;
// a throwing submit is an attempt in doubt) and the exit still ends with its report.
//
// Lifetimes: the venue, breaker, halt coordinator and metrics sink must outlive the
// exits' completions; after its completion an exit calls none of them but the
// venue's operations it already started, and a venue's exit_finished (at release: a
// venue that has exit_finished must outlive every exit's release, which it hears). The venue's handlers hold no strand, timer
// or exit state, only a small link that expires with the exit: a venue that keeps a
// handler after the io_context is gone keeps nothing of exitguard's alive. The
// executor object itself may be destroyed while exits run (a `deferred` exit started
// after it is gone is safe): the exits share its settings.
//
// Thread safety: exits may be started from any thread, concurrently.
//
// Trading halts: an exit checks `allows_exit()` at start and before every event it
// takes; once trading refuses exits it sends nothing more: the answer to its pending
// attempt is still taken, and if that does not close the position the exit ends
// ExitFailed with error::trading_halted.
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/exclusivity_key.hpp>
#include <exitguard/exit_attempt_tracker.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/exit_deadline_manager.hpp>
#include <exitguard/exit_engine.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/logging.hpp>
#include <exitguard/metrics.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/retry_policy.hpp>
#include <exitguard/trading_halt_coordinator.hpp>
#include <exitguard/venue.hpp>

#include <exitguard/detail/launch_operation.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace exitguard {

// A rejection that a wider order could overcome: escalate at once.
struct DefaultEscalationRule {
  bool operator()(const boost::system::error_code& ec) const noexcept { return ec == error::slippage_exceeded; }
};

// A fill that arrived after its exit had ended (reality wins): told once per fill.
struct LateFillAfterExit {
  std::uint64_t exit_id = 0;
  std::string position_id;
  std::uint32_t attempt = 0;
  std::string transaction_id;
  Quantity quantity;         // this fill
  double price = 0;          // the attempt's average price
  Quantity filled_quantity;  // the exit's corrected total
};

template <class Clock>
struct BasicExitSettings : BasicExitEngineSettings<Clock> {
  // A constructor rather than default member initializers (as for the engine's
  // settings): g++ 12 crashes (ICE in nothrow_spec_p) on `settings{}` inside
  // another class's member initializer otherwise.
  BasicExitSettings() : classifier(DefaultClassifier{}), escalates(DefaultEscalationRule{}) {}

  std::function<FailureKind(const boost::system::error_code&)> classifier;
  std::function<bool(const boost::system::error_code&)> escalates;
  // Where the exit's structured lines go (see logging.hpp); empty = the "exitguard" logger.
  std::shared_ptr<spdlog::logger> logger;
  // Told of fills that arrive after their exit had already ended, up to the
  // late-answer horizon: what it captures must live that long.
  std::function<void(const LateFillAfterExit&)> on_late_fill_after_exit;
  // Starts every exclusivity key (exclusivity_key.hpp): 1 to 8 letters or digits,
  // e.g. the bot's name, so that keys say whose they are.
  std::string key_namespace = "eg";
  // The key scope's 64-bit instance. Empty (the default): drawn fresh by each executor,
  // so keys never repeat across executors, processes or restarts. Set it only to
  // reproduce a run (a replay, a test): two executors with one instance repeat keys.
  std::optional<std::uint64_t> key_instance;

  // The first invalid setting, or an empty code.
  boost::system::error_code validate() const noexcept {
    if (auto ec = BasicExitEngineSettings<Clock>::validate()) return ec;
    if (!classifier || !escalates) return error::invalid_ladder;
    if (!ExclusivityKeyScope::valid_namespace(key_namespace)) return error::invalid_key_namespace;
    return {};
  }
};

namespace detail {

template <class Venue>
concept venue_has_executor = requires(Venue& v) { v.get_executor(); };

template <class Venue>
struct venue_executor_of {
  using type = int;  // none: the venue is called on the exit's strand
};
template <venue_has_executor Venue>
struct venue_executor_of<Venue> {
  using type = std::decay_t<decltype(std::declval<Venue&>().get_executor())>;
};

// The answers a venue operation brings back, type-erased for the link.
class exit_answer_sink {
 public:
  virtual ~exit_answer_sink() = default;
  virtual void submit_done(std::uint32_t attempt, boost::system::error_code ec,
                           std::optional<SubmitOutcome> outcome) = 0;
  virtual void query_done(std::uint64_t query, boost::system::error_code ec, std::optional<Quantity> open) = 0;
  virtual void quote_done(double price, bool threw) = 0;
};

// What the venue's handlers hold: the cancellation signals they are bound to, and a
// weak reference to the exit. No strand, timer or exit state: a handler the venue
// keeps forever keeps only this small block alive.
class exit_link {
 public:
  std::weak_ptr<exit_answer_sink> exit;

  boost::asio::cancellation_signal& attempt_signal(std::uint32_t attempt) {
    const std::size_t i = attempt - 1;
    if (i < inline_signals_.size()) return inline_signals_[i];
    while (more_signals_.size() <= i - inline_signals_.size())
      more_signals_.push_back(std::make_unique<boost::asio::cancellation_signal>());
    return *more_signals_[i - inline_signals_.size()];
  }
  boost::asio::cancellation_signal& query_signal() noexcept { return query_signal_; }

 private:
  std::array<boost::asio::cancellation_signal, 4> inline_signals_;
  std::vector<std::unique_ptr<boost::asio::cancellation_signal>> more_signals_;
  boost::asio::cancellation_signal query_signal_;
};

// The completion handler of a submit: to the exit, through the link, exactly once.
struct submit_done_handler {
  std::shared_ptr<exit_link> link;
  std::uint32_t attempt;

  void operator()(boost::system::error_code ec, SubmitOutcome o) { deliver(ec, std::move(o)); }
  void operator()(std::exception_ptr e, SubmitOutcome o) {
    if (e)
      deliver(error_from_exception(e), std::nullopt);
    else
      deliver({}, std::move(o));
  }
  void deliver(boost::system::error_code ec, std::optional<SubmitOutcome> o) {
    if (auto exit = link->exit.lock()) exit->submit_done(attempt, ec, std::move(o));
  }
};

struct query_done_handler {
  std::shared_ptr<exit_link> link;
  std::uint64_t query;

  void operator()(boost::system::error_code ec, Quantity q) { deliver(ec, q); }
  void operator()(std::exception_ptr e, Quantity q) {
    if (e)
      deliver(error_from_exception(e), std::nullopt);
    else
      deliver({}, q);
  }
  void deliver(boost::system::error_code ec, std::optional<Quantity> q) {
    if (auto exit = link->exit.lock()) exit->query_done(query, ec, q);
  }
};

// What every exit of one executor shares; it outlives the executor object while
// exits (or a deferred exit not yet started) need it.
template <class Clock, class Executor>
struct executor_shared {
  executor_shared(const Executor& ex, BasicExitSettings<Clock> s, BasicExitCircuitBreaker<Clock>* b,
                  BasicTradingHaltCoordinator<Clock>* h, MetricsSink* m)
      : executor(ex),
        settings(std::move(s)),
        keys(settings.key_instance ? ExclusivityKeyScope(settings.key_namespace, *settings.key_instance)
                                   : ExclusivityKeyScope::generate(settings.key_namespace)),
        breaker(b),
        halt(h),
        metrics(m) {}

  const Executor executor;
  const BasicExitSettings<Clock> settings;
  const ExclusivityKeyScope keys;  // this executor's: no other executor, process or restart shares it
  BasicExitCircuitBreaker<Clock>* const breaker;
  BasicTradingHaltCoordinator<Clock>* const halt;
  MetricsSink* const metrics;
  std::atomic<std::uint64_t> next_id{0};
};

// One exit, all of it but the user's handler: the engine, its strand and timer, the
// venue calls, breaker, metrics and log. Owned by shared_ptr: the timer's pending wait
// and the handlers posted to the strand hold it. Not a template on the handler, so
// every execute_exit call site with its own handler type shares this code (a bot's,
// and our tests': one instantiation per venue, not one per call site).
template <class Clock, class Executor, class Venue>
class exit_operation_core : public exit_answer_sink,
                            public std::enable_shared_from_this<exit_operation_core<Clock, Executor, Venue>> {
 public:
  using shared_type = executor_shared<Clock, Executor>;
  using strand_type = boost::asio::strand<Executor>;
  using timer_type = boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, strand_type>;
  using engine_type = BasicExitEngine<Clock>;
  using report_type = BasicExitReport<Clock>;
  using time_point = typename Clock::time_point;

  exit_operation_core(std::shared_ptr<const shared_type> shared, Venue& venue, ExitRequest request, std::uint64_t id)
      : shared_(std::move(shared)),
        venue_(venue),
        strand_(boost::asio::make_strand(shared_->executor)),
        timer_(strand_),
        request_(std::move(request)),
        id_(id) {}

  exit_operation_core(const exit_operation_core&) = delete;
  exit_operation_core& operator=(const exit_operation_core&) = delete;

  // The link's signals hold what the venue's operations put in them (an executor, a
  // coroutine's cancellation state): release() lets go of them where those operations
  // run. An exit destroyed without release (its io_context shut down, so no thread
  // runs anything) drops its link here.
  ~exit_operation_core() override = default;

  const Executor& executor() const noexcept { return shared_->executor; }

  // A cancellation from the handler's slot (any thread): taken on the strand.
  void cancel_requested(boost::asio::cancellation_type type) {
    const CancelKind kind = (type & boost::asio::cancellation_type::terminal) != boost::asio::cancellation_type::none
                                ? CancelKind::terminal
                                : CancelKind::partial;
    boost::asio::post(strand_, [self = this->shared_from_this(), kind] {
      if (!self->engine_) {
        self->early_cancel_ = kind;
        return;
      }
      self->feed([&](time_point now) { self->engine_->cancel(kind, now); });
    });
  }

  // Runs on the venue's executor first (capabilities are venue members), then on the
  // strand. Dispatched: from a thread of the exit's executor it may run (and an exit
  // that is refused or invalid end) before launch returns; the completion then posts.
  void launch(std::shared_ptr<exit_operation_core> self) {
    if constexpr (venue_has_executor<Venue>) venue_ex_.emplace(venue_.get_executor());
    link_ = std::make_shared<exit_link>();
    link_->exit = self;
    on_venue([self] {
      // A capabilities() that throws guarantees nothing (a query_position member is
      // still used: asking is not a guarantee).
      const VenueCapabilities caps = self->contain("capabilities threw", VenueCapabilities{false, QueriesPosition<Venue>, false},
                                                   [&] { return declared_capabilities(self->venue_); });
      boost::asio::dispatch(self->strand_, [self, caps] { self->begin(caps); });
    });
  }

  // --- answers, from the venue's handlers (any thread) -------------------------------

  void submit_done(std::uint32_t attempt, boost::system::error_code ec, std::optional<SubmitOutcome> o) override {
    // post, never dispatch: an answer must not re-enter the engine while it is being drained.
    boost::asio::post(strand_, [self = this->shared_from_this(), attempt, ec, o = std::move(o)]() mutable {
      self->take_answer(attempt, ec, std::move(o));
    });
  }
  void query_done(std::uint64_t query, boost::system::error_code ec, std::optional<Quantity> open) override {
    boost::asio::post(strand_, [self = this->shared_from_this(), query, ec, open] {
      if (query != self->query_serial_ || !self->engine_->query_outstanding()) return;  // abandoned
      self->feed([&](time_point now) {
        if (!ec && open)
          self->engine_->handle_position(*open, now);
        else
          self->engine_->handle_position_failed(ec ? ec : make_error_code(error::position_query_failed), now);
      });
    });
  }
  void quote_done(double price, bool threw) override {
    boost::asio::post(strand_, [self = this->shared_from_this(), price, threw] {
      self->feed([&](time_point now) {
        if (threw) self->engine_->note_callback_failure("reference_price threw", now);
        self->engine_->handle_quote(price, now);
      });
    });
  }

 protected:
  // The report to the user's handler, once, after every sink and rule was called.
  virtual void complete(report_type report) = 0;

 private:
  // The one containment point: `f()`'s result, or `fallback` if it threw (audited).
  template <class T, class F>
  T contain(std::string_view what, T fallback, F&& f) noexcept {
    try {
      return f();
    } catch (...) {
      callback_failures_.push_back(what);
      return fallback;
    }
  }
  template <class F>
  void contain_void(std::string_view what, F&& f) noexcept {
    try {
      f();
    } catch (...) {
      callback_failures_.push_back(what);
    }
  }

  template <class F>
  void on_venue(F&& f) {
    // The copy taken at launch: after its completion the exit calls no venue member
    // (the venue may be gone), but it still emits cancellations at the late-answer horizon.
    if constexpr (venue_has_executor<Venue>)
      boost::asio::dispatch(*venue_ex_, std::forward<F>(f));
    else
      boost::asio::dispatch(strand_, std::forward<F>(f));
  }

  void begin(VenueCapabilities caps) {
    engine_.emplace(shared_->settings, std::move(request_), id_, caps, shared_->keys.prefix());
    const time_point now = Clock::now();
    boost::system::error_code refusal;
    if (shared_->breaker) {
      permit_ = contain("breaker try_acquire threw", BreakerPermit::refused, [&] { return shared_->breaker->try_acquire(); });
      if (permit_ == BreakerPermit::refused) refusal = error::circuit_open;
    }
    if (!refusal && shared_->halt && !shared_->halt->allows_exit()) refusal = error::trading_halted;
    metric([&](MetricsSink& m) { m.exit_started(); });
    if (refusal) {
      metric([&](MetricsSink& m) { m.exit_refused(refusal == error::circuit_open ? "circuit_open" : "trading_halted"); });
    }
    feed([&](time_point t) { engine_->start(t, refusal); }, now);
    if (early_cancel_) feed([&](time_point t) { engine_->cancel(*early_cancel_, t); });
  }

  // Every event goes through here: trading state first, then the event, then the
  // engine's outputs, the log and the timer.
  template <class Event>
  void feed(Event&& event, std::optional<time_point> at = std::nullopt) {
    if (!engine_ || engine_->is_released()) return;
    const time_point now = at ? *at : Clock::now();
    if (!engine_->is_complete() && engine_->state() != ExitTransitionState::position_open && shared_->halt &&
        !halt_told_ && !shared_->halt->allows_exit()) {
      halt_told_ = true;
      engine_->handle_halt(now);
      drain(now);
    }
    event(now);
    drain(now);
  }

  void drain(time_point now) {
    for (std::string_view what : callback_failures_) engine_->note_callback_failure(what, now);
    callback_failures_.clear();
    while (auto out = engine_->poll()) act(*out, now);
    log_new_entries();
    arm_timer();
  }

  void act(const ExitOutput& out, time_point now) {
    switch (out.kind) {
      case ExitOutputKind::quote: return quote();
      case ExitOutputKind::submit:
        metric([&](MetricsSink& m) { m.attempt_started(out.step, out.order_kind); });
        return submit(out.attempt);
      case ExitOutputKind::query_position: return query();
      // A signal is emitted where its operation runs: on the venue's executor.
      case ExitOutputKind::cancel_attempt:
        return on_venue([link = link_, n = out.attempt] { link->attempt_signal(n).emit(boost::asio::cancellation_type::terminal); });
      case ExitOutputKind::cancel_query:
        return on_venue([link = link_] { link->query_signal().emit(boost::asio::cancellation_type::terminal); });
      case ExitOutputKind::complete: return finish(now);
      case ExitOutputKind::release: return release();
      case ExitOutputKind::attempt_finished:
        return metric([&](MetricsSink& m) { m.attempt_finished(out.step, out.order_kind, out.outcome); });
      case ExitOutputKind::attempt_in_doubt: return metric([&](MetricsSink& m) { m.attempt_in_doubt(); });
      case ExitOutputKind::retry: return metric([&](MetricsSink& m) { m.retry(out.step); });
      case ExitOutputKind::escalated: return metric([&](MetricsSink& m) { m.escalated(out.step); });
      case ExitOutputKind::late_fill:
        return metric([&](MetricsSink& m) { m.late_fill(out.quantity.to_decimal(engine_->request().decimals)); });
      case ExitOutputKind::late_fill_after_completion: return announce_late_fill(out);
    }
  }

  void quote() {
    if constexpr (ProvidesReferencePrice<Venue>) {
      on_venue([link = link_, this] {
        // `this` is alive while the link's exit is: checked before use.
        auto exit = link->exit.lock();
        if (!exit) return;
        bool threw = false;
        double price = 0;
        try {
          price = static_cast<double>(venue_.reference_price(engine_->request().position_id));
        } catch (...) {
          threw = true;
          price = std::numeric_limits<double>::quiet_NaN();
        }
        exit->quote_done(price, threw);
      });
    } else {
      // No reference price: the signal price stands. Taken at once: the outputs it
      // makes join the queue being drained.
      engine_->handle_quote(engine_->request().signal_price, Clock::now());
    }
  }

  void submit(std::uint32_t attempt) {
    ExitOrder order = engine_->order(attempt);
    order.not_after = std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(order.time_in_force);
    on_venue([link = link_, attempt, order = std::move(order), this]() mutable {
      // `this` is used below: held for the call, not only checked.
      auto exit = link->exit.lock();
      if (!exit) return;
      auto slot = link->attempt_signal(attempt).slot();
      submit_done_handler done{link, attempt};
      try {
        if constexpr (AwaitableVenue<Venue>) {
          auto op = venue_.submit(std::move(order));
          boost::asio::co_spawn(venue_executor(), std::move(op), boost::asio::bind_cancellation_slot(slot, std::move(done)));
        } else {
          venue_.async_submit(std::move(order), boost::asio::bind_cancellation_slot(slot, std::move(done)));
        }
      } catch (...) {
        // Thrown before the operation took its handler: nothing may have been sent,
        // but nothing says so either: the attempt is in doubt.
        submit_done_handler{link, attempt}.deliver(error_from_exception(std::current_exception()), std::nullopt);
      }
    });
  }

  void query() {
    const std::uint64_t serial = ++query_serial_;
    if constexpr (QueriesPosition<Venue>) {
      on_venue([link = link_, serial, this] {
        auto exit = link->exit.lock();  // held while `this` is used
        if (!exit) return;
        try {
          auto op = venue_.query_position(engine_->request().position_id);
          boost::asio::co_spawn(venue_executor(), std::move(op),
                                boost::asio::bind_cancellation_slot(link->query_signal().slot(),
                                                                    query_done_handler{link, serial}));
        } catch (...) {
          query_done_handler{link, serial}.deliver(error_from_exception(std::current_exception()), std::nullopt);
        }
      });
    } else {
      engine_->handle_position_failed(error::position_query_failed, Clock::now());
    }
  }

  auto venue_executor() {
    if constexpr (venue_has_executor<Venue>)
      return venue_.get_executor();
    else
      return strand_;
  }

  void take_answer(std::uint32_t attempt, boost::system::error_code ec, std::optional<SubmitOutcome> o) {
    feed([&](time_point now) {
      AttemptAnswer a;
      const auto& s = shared_->settings;
      if (o && !ec) {
        a.outcome = std::move(*o);
      } else {
        a.answered = false;
        a.outcome.error = ec ? ec : make_error_code(error::operation_threw);
      }
      const auto& err = a.outcome.error;
      // The user's verdicts, needed only for what the venue did not fill.
      const bool needs_verdict = !a.answered || a.outcome.status == SubmitStatus::rejected;
      if (needs_verdict && err) {
        // A venue that threw, or an operation we cancelled, may have sent the order.
        if (err == error::operation_threw || err == boost::asio::error::operation_aborted)
          a.kind = FailureKind::in_doubt;
        else
          a.kind = contain("classifier threw", FailureKind::in_doubt, [&] { return s.classifier(err); });
        a.escalates = contain("escalation rule threw", false, [&] { return s.escalates(err); });
      } else if (needs_verdict) {
        a.kind = contain("classifier threw", FailureKind::in_doubt,
                         [&] { return s.classifier(make_error_code(error::exit_rejected)); });
      }
      for (std::string_view what : callback_failures_) engine_->note_callback_failure(what, now, attempt);
      callback_failures_.clear();
      engine_->handle_answer(attempt, a, now);
    });
  }

  void arm_timer() {
    const auto t = engine_->poll_timeout();
    if (!t) {
      if (armed_) {
        armed_.reset();
        timer_.cancel();
      }
      return;
    }
    if (armed_ && *armed_ == *t) return;
    armed_ = *t;
    timer_.expires_at(*t);
    timer_.async_wait([self = this->shared_from_this(), t = *t](boost::system::error_code ec) {
      if (ec || !self->armed_ || *self->armed_ != t) return;  // re-armed or cancelled meanwhile
      self->armed_.reset();
      self->feed([&](time_point now) { self->engine_->handle_timeout(now); });
    });
  }

  // The finalizer: breaker, gauges, report and the handler, on every path, once.
  void finish(time_point now) {
    report_type report = engine_->report();
    if (shared_->breaker) {
      const BreakerOutcome outcome = report.closed()                ? BreakerOutcome::success
                                     : engine_->counts_for_breaker() ? BreakerOutcome::failure
                                                                    : BreakerOutcome::neutral;
      BreakerDecision d{};
      contain_void("breaker record threw", [&] { d = shared_->breaker->record(permit_, outcome, report.error); });
      if (d.tripped) {
        log(spdlog::level::err, [&](spdlog::logger& logger) {
          logger.error("breaker_tripped exit_id={} position={} trips={} state={} error={}", report.exit_id,
                       detail::logfmt_value(report.position_id), d.trips, to_string(d.state),
                       detail::logfmt_value(report.error.message()));
        });
        metric([](MetricsSink& m) { m.breaker_tripped(); });
      }
      // Reported after every exit the breaker counted (docs/metrics.md): not for one it
      // refused, nor for a neutral one (cancelled, or stopped by the trading state).
      if (permit_ != BreakerPermit::refused && outcome != BreakerOutcome::neutral)
        metric([&](MetricsSink& m) { m.breaker_state(d.state); });
      report.breaker_state = contain("breaker state threw", d.state, [&] { return shared_->breaker->state(); });
      report.breaker_tripped = report.breaker_state != BreakerState::closed;
    }
    if (shared_->halt) report.trading_state = shared_->halt->state();
    // An invalid request is refused by the engine's start(), which completes it at once:
    // reported here, before exit_finished (no sink is called after the completion).
    if (report.failure_cause == ExitFailureCause::invalid_request && report.attempts == 0)
      metric([](MetricsSink& m) { m.exit_refused(refusal_reason::invalid_request); });
    metric([&](MetricsSink& m) {
      ExitSummary summary;
      summary.final_state = report.final_state;
      summary.error = report.error;
      summary.duration_seconds = std::chrono::duration<double>(report.exit_time).count();
      summary.slippage_bps = report.realized_slippage_bps;
      summary.filled_quantity = report.filled_quantity.to_decimal(engine_->request().decimals);
      summary.attempts = report.attempts;
      summary.escalated = report.escalated;
      summary.first_attempt_success = report.closed() && report.attempts == 1;
      summary.required_retry = report.closed() && report.attempts > 1;
      summary.deadline_exceeded = report.error == error::deadline_exceeded;
      m.exit_finished(summary);
      if (shared_->halt) m.trading_state(shared_->halt->state());
    });
    const auto finished_level = report.closed() ? spdlog::level::info : spdlog::level::warn;
    log(finished_level, [&](spdlog::logger& logger) {
      logger.log(finished_level,
                 "exit_finished exit_id={} position={} state={} error={} attempts={} filled={} of={} exit_time_ms={}",
                 report.exit_id, detail::logfmt_value(report.position_id), to_string(report.final_state),
                 detail::logfmt_value(error_label(report.error)), report.attempts,
                 to_string(report.filled_quantity, engine_->request().decimals),
                 to_string(report.requested_quantity, engine_->request().decimals),
                 std::chrono::duration_cast<std::chrono::milliseconds>(report.exit_time).count());
    });
    (void)now;
    completed_ = true;
    // After this, no sink or rule is called again (they may be gone).
    complete(std::move(report));
  }

  void announce_late_fill(const ExitOutput& out) {
    const auto& s = shared_->settings;
    const auto* rec = engine_->tracker().find(out.attempt);
    log(spdlog::level::warn, [&](spdlog::logger& logger) {
      logger.warn("late_fill_after_exit exit_id={} position={} attempt={} tx={} quantity={} filled={}",
                  engine_->exit_id(), detail::logfmt_value(engine_->request().position_id), out.attempt,
                  detail::logfmt_value(rec ? std::string_view(rec->transaction_id) : std::string_view{}),
                  to_string(out.quantity, engine_->request().decimals),
                  to_string(engine_->filled(), engine_->request().decimals));
    });
    if (!s.on_late_fill_after_exit) return;
    LateFillAfterExit fill;
    fill.exit_id = engine_->exit_id();
    fill.position_id = engine_->request().position_id;
    fill.attempt = out.attempt;
    if (rec) {
      fill.transaction_id = rec->transaction_id;
      fill.price = rec->average_price;
    }
    fill.quantity = out.quantity;
    fill.filled_quantity = engine_->filled();
    contain_void("on_late_fill_after_exit threw", [&] { s.on_late_fill_after_exit(fill); });
  }

  void release() {
    released_ = true;
    if (armed_) {
      armed_.reset();
      timer_.cancel();
    }
    if constexpr (HearsExitFinished<Venue>) {
      // The venue outlives its exits' operations (docs/venues.md): it is told, on its
      // executor, that this exit takes no more answers.
      ExitFinished f;
      f.exit_id = id_;
      f.position_id = engine_->request().position_id;
      f.exclusivity_keys = engine_->exclusivity_keys();
      f.attempts = engine_->attempts_started();
      for (const auto& r : engine_->tracker().attempts())
        if (may_still_land(r.outcome)) ++f.unanswered_attempts;
      f.filled_quantity = engine_->filled();
      // Holds the venue and the logger, not the exit: the report was delivered long ago.
      // A throw is logged, not audited.
      on_venue([venue = &venue_, logger = shared_->settings.logger, f = std::move(f)] {
        try {
          venue->exit_finished(f);
        } catch (...) {
          try {
            logger->warn("exit_finished threw exit_id={} position={}", f.exit_id, f.position_id);
          } catch (...) {
          }
        }
      });
    }
    if constexpr (venue_has_executor<Venue>) {
      if (link_) on_venue([link = std::move(link_)]() mutable { link.reset(); });
    }
  }

  template <class F>
  void metric(F&& f) noexcept {
    if (!shared_->metrics || completed_) return;
    contain_void("metrics sink threw", [&] { f(*shared_->metrics); });
  }

  // Logs what `write(logger)` writes if the logger takes `level`: the line's arguments
  // (strings) are built only then, and nothing they or the logger throw escapes.
  template <class Write>
  void log(spdlog::level::level_enum level, Write&& write) noexcept {
    auto& logger = *shared_->settings.logger;
    if (!logger.should_log(level)) return;
    try {
      write(logger);
    } catch (...) {
    }
  }

  // Transitions at debug, refused events and anomalies at warn (logging.hpp).
  void log_new_entries() noexcept {
    const auto& m = engine_->machine();
    const std::size_t recorded = m.audit_recorded();
    if (recorded == logged_) return;
    auto& logger = *shared_->settings.logger;
    const std::size_t fresh = std::min(recorded - logged_, m.audit_size());
    logged_ = recorded;
    if (!logger.should_log(spdlog::level::debug) && !logger.should_log(spdlog::level::warn)) return;
    for (std::size_t i = m.audit_size() - fresh; i < m.audit_size(); ++i) {
      const auto& e = m.audit_entry_at(i);
      try {
        detail::log_audit_entry(logger, engine_->exit_id(), engine_->request().position_id, e.from, e.to, e.attempt,
                                e.step, e.reason, e.transaction_id, e.accepted, e.error, e.event.has_value());
      } catch (...) {
      }
    }
  }

  using venue_executor_type = typename venue_executor_of<Venue>::type;

  std::shared_ptr<const shared_type> shared_;
  Venue& venue_;
  std::optional<venue_executor_type> venue_ex_;
  strand_type strand_;
  timer_type timer_;
  ExitRequest request_;  // until begin() moves it into the engine
  std::uint64_t id_;
  std::optional<engine_type> engine_;
  std::optional<CancelKind> early_cancel_;  // asked before the engine started
  std::shared_ptr<exit_link> link_;
  BreakerPermit permit_ = BreakerPermit::allowed;
  std::optional<time_point> armed_;
  std::vector<std::string_view> callback_failures_;
  std::size_t logged_ = 0;
  std::uint64_t query_serial_ = 0;
  bool halt_told_ = false;
  bool completed_ = false;
  bool released_ = false;
};

// One exit with its user's handler: the handler's cancellation slot, the work it
// keeps on its executor, and the completion on that executor.
template <class Clock, class Executor, class Venue, class Handler>
class exit_operation final : public exit_operation_core<Clock, Executor, Venue> {
  using core = exit_operation_core<Clock, Executor, Venue>;
  using handler_executor = boost::asio::associated_executor_t<Handler, Executor>;
  // decay_t: for an executor without outstanding_work (use_future's), prefer() is the
  // identity and its type is an rvalue reference.
  using work_type = std::decay_t<decltype(boost::asio::prefer(std::declval<handler_executor>(),
                                                              boost::asio::execution::outstanding_work.tracked))>;

 public:
  exit_operation(std::shared_ptr<const typename core::shared_type> shared, Venue& venue, ExitRequest request,
                 std::uint64_t id, Handler handler)
      : core(shared, venue, std::move(request), id),
        work_(boost::asio::prefer(boost::asio::get_associated_executor(handler, shared->executor),
                                  boost::asio::execution::outstanding_work.tracked)),
        handler_(std::move(handler)) {}

  void start(const std::shared_ptr<exit_operation>& self) {
    auto slot = boost::asio::get_associated_cancellation_slot(*handler_);
    if (slot.is_connected()) {
      slot.assign([weak = std::weak_ptr<core>(self)](boost::asio::cancellation_type type) {
        if (auto op = weak.lock()) op->cancel_requested(type);
      });
    }
    starting_.store(true, std::memory_order_relaxed);
    this->launch(self);
    starting_.store(false, std::memory_order_release);
  }

 private:
  void complete(typename core::report_type report) override {
    const boost::system::error_code ec = report.error;
    auto handler = std::move(*handler_);
    handler_.reset();
    auto work = std::move(work_);
    auto ex = boost::asio::get_associated_executor(handler, this->executor());
    auto call = [h = std::move(handler), ec, r = std::move(report), w = std::move(work)]() mutable {
      std::move(h)(ec, std::move(r));
    };
    // Never inside async_execute (Asio's rule for an initiating function): an exit that
    // ended while start() was still running is completed through a post.
    if (starting_.load(std::memory_order_acquire))
      boost::asio::post(ex, std::move(call));
    else
      boost::asio::dispatch(ex, std::move(call));
  }

  work_type work_;
  std::optional<Handler> handler_;
  // While start() runs: a completion then must not be dispatched (it could run inline).
  std::atomic<bool> starting_{false};
};

// Frees an exit's storage (the handler's allocator) when its last owner goes.
template <class T, class Alloc>
struct exit_storage_deleter {
  Alloc alloc;
  void operator()(T* p) noexcept {
    std::allocator_traits<Alloc>::destroy(alloc, p);
    std::allocator_traits<Alloc>::deallocate(alloc, p, 1);
  }
};

template <class Clock, class Executor>
struct exit_initiation {
  std::shared_ptr<executor_shared<Clock, Executor>> shared;

  template <class Handler, class Venue>
  void operator()(Handler handler, Venue* venue, ExitRequest request) const {
    using op_type = exit_operation<Clock, Executor, Venue, std::decay_t<Handler>>;
    const std::uint64_t id = shared->next_id.fetch_add(1, std::memory_order_relaxed) + 1;
    auto alloc = boost::asio::get_associated_allocator(handler, std::allocator<void>{});
    using alloc_type = typename std::allocator_traits<decltype(alloc)>::template rebind_alloc<op_type>;
    using traits = std::allocator_traits<alloc_type>;
    // Not allocate_shared: its control block shares the exit's storage, and the link's
    // weak reference (held by a venue's handler, maybe forever) would keep all of it
    // allocated, from the handler's allocator. Apart, a kept handler keeps only the
    // link and the small control block (global allocator).
    alloc_type a(alloc);
    op_type* p = traits::allocate(a, 1);
    try {
      traits::construct(a, p, shared, *venue, std::move(request), id, std::move(handler));
    } catch (...) {
      traits::deallocate(a, p, 1);
      throw;
    }
    std::shared_ptr<op_type> op(p, exit_storage_deleter<op_type, alloc_type>{a});
    op->start(op);
  }
};

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
      : shared_(make_shared_state(ex, std::move(settings), breaker, halt, metrics)) {}

  executor_type get_executor() const noexcept { return shared_->executor; }
  const settings_type& settings() const noexcept { return shared_->settings; }
  // Where this executor's exclusivity keys come from (exclusivity_key.hpp): every
  // order it sends carries a key starting with keys().prefix().
  const ExclusivityKeyScope& keys() const noexcept { return shared_->keys; }
  breaker_type* breaker() const noexcept { return shared_->breaker; }
  halt_type* halt() const noexcept { return shared_->halt; }

  // Closes `request.quantity` of a position through `venue`. See the header comment.
  template <ExitVenue Venue, class CompletionToken>
  auto async_execute(ExitRequest request, Venue& venue, CompletionToken&& token) {
    static_assert(check_venue_contract<Venue>());
    using signature = void(boost::system::error_code, report_type);
    return boost::asio::async_initiate<CompletionToken, signature>(detail::exit_initiation<Clock, Executor>{shared_},
                                                                   token, &venue, std::move(request));
  }

 private:
  using shared_type = detail::executor_shared<Clock, Executor>;

  static std::shared_ptr<shared_type> make_shared_state(const executor_type& ex, settings_type s,
                                                        breaker_type* breaker, halt_type* halt, MetricsSink* metrics) {
    throw_if_invalid(s.validate());
    if (!s.logger) s.logger = default_logger();
    return std::make_shared<shared_type>(ex, std::move(s), breaker, halt, metrics);
  }

  std::shared_ptr<shared_type> shared_;
};

using AdaptiveExitExecutor = BasicAdaptiveExitExecutor<std::chrono::steady_clock>;
using ExitReport = BasicExitReport<std::chrono::steady_clock>;
using ExitSettings = BasicExitSettings<std::chrono::steady_clock>;
using EscalationStep = BasicEscalationStep<std::chrono::steady_clock>;

// The front door: close a position through `venue` with `exits`' ladder, deadline,
// breaker and halt coordinator. Completes with void(error_code, ExitReport).
template <class Clock, class Executor, ExitVenue Venue, class CompletionToken>
auto execute_exit(BasicAdaptiveExitExecutor<Clock, Executor>& exits, Venue& venue, ExitRequest request,
                  CompletionToken&& token) {
  return exits.async_execute(std::move(request), venue, std::forward<CompletionToken>(token));
}

}  // namespace exitguard
