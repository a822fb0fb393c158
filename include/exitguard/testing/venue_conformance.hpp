// exitguard/testing/venue_conformance.hpp — a conformance harness for venue adapters.
//
// run_venue_conformance(subject) runs one exit per fault through a fresh
// BasicAdaptiveExitExecutor and checks what must hold whatever the adapter does:
//
//   - the exit is terminal by its deadline (plus ConformanceOptions::deadline_tolerance);
//   - never more is sold than the position, on the venue's truth (subject.sold());
//   - the exit's filled quantity, corrected by the late answers it took until it
//     finished (ExitFinished::filled_quantity: all answered, or the late-answer
//     horizon passed), equals what the venue really sold;
//   - nothing is sent after completion (no order beyond the report's attempt count);
//   - exclusivity keys never repeat across a restart (key_restart: two executors, as
//     two process lifetimes, on one position);
//
// and then the fault's own expectation (the table in docs/conformance.md).
//
// The user supplies a *subject* (the ConformanceSubject concept): it owns the venue
// under test and its transport, makes the transport meet a fault on demand (inject),
// knows the truth (sold), opens positions, and drives time (run_for / run_until:
// virtual time for a scripted transport, real time for a real one; nothing here
// assumes a manual clock). MockVenueSubject is a ready one: MockVenue in virtual time.
//
// The harness wraps the subject's venue in a RecordingVenue, a forwarding adapter that
// keeps every member and the venue's style (awaitable or token) and records the orders
// sent and the ExitFinished notices; it works for any venue.
//
// Thread safety: run_venue_conformance uses the subject from the calling thread only;
// the subject's run_* must run the handlers (exits complete through them). RecordingVenue
// may be called from any thread (its records are locked). Cancellation: none from outside;
// an exit still running past its deadline is cancelled (terminal) by the harness.
#pragma once

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/error.hpp>
#include <exitguard/exit_state_machine.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/testing/mock_venue.hpp>
#include <exitguard/testing/virtual_time_driver.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace exitguard::testing {

// The faults that break adapters, each met by the first attempt of one exit.
enum class ConformanceFault : std::uint8_t {
  none,              // no fault: the baseline
  lost_answer,       // the order lands, its answer never comes
  late_landing,      // the order lands, and answers, only after its attempt timed out
  duplicate_answer,  // the answer (a partial fill) is delivered twice
  partial_fill,      // the order fills only part of its quantity
  throws,            // the submit throws (the order may have been sent)
  stall,             // the venue answers nothing, submits nor queries, for the whole exit
  expiry,            // the order dies without landing: rejected with error::attempt_expired
  key_restart,       // the process restarts mid-exit: a new executor starts its exit ids again
};

inline constexpr std::array<ConformanceFault, 9> all_conformance_faults{
    ConformanceFault::none,         ConformanceFault::lost_answer, ConformanceFault::late_landing,
    ConformanceFault::duplicate_answer, ConformanceFault::partial_fill, ConformanceFault::throws,
    ConformanceFault::stall,        ConformanceFault::expiry,      ConformanceFault::key_restart};

constexpr std::string_view to_string(ConformanceFault f) noexcept {
  switch (f) {
    case ConformanceFault::none: return "none";
    case ConformanceFault::lost_answer: return "lost_answer";
    case ConformanceFault::late_landing: return "late_landing";
    case ConformanceFault::duplicate_answer: return "duplicate_answer";
    case ConformanceFault::partial_fill: return "partial_fill";
    case ConformanceFault::throws: return "throws";
    case ConformanceFault::stall: return "stall";
    case ConformanceFault::expiry: return "expiry";
    case ConformanceFault::key_restart: return "key_restart";
  }
  return "unknown";
}

// Whether an attempt in doubt can be followed by another one without risking an
// oversell (venue.hpp): exclusive attempts, or a position report on a venue that
// enforces reduce-only.
constexpr bool doubt_resolvable(const VenueCapabilities& c) noexcept {
  return c.exclusive_attempts || (c.queries_position && c.enforces_reduce_only);
}

// ---------------------------------------------------------------------------------
// RecordingVenue
// ---------------------------------------------------------------------------------

// Forwards every venue member to the wrapped venue, and records each order sent
// (before forwarding: an order whose submit throws is recorded too) and each
// ExitFinished notice (then forwarded if the venue hears them). Only the members the
// wrapped venue has are declared, with its signatures: the executor sees the same
// venue (awaitable or token style, capabilities, queries, reference price, executor).
// Thread safety: the records are locked (orders() and finished() return copies); the
// forwarded calls are as safe as the venue's. Cancellation: forwarded untouched.
template <ExitVenue Venue>
class RecordingVenue {
 public:
  explicit RecordingVenue(Venue& venue) noexcept : venue_(venue) {}
  RecordingVenue(const RecordingVenue&) = delete;
  RecordingVenue& operator=(const RecordingVenue&) = delete;

  Venue& inner() noexcept { return venue_; }

  std::vector<ExitOrder> orders() const {
    std::lock_guard lock(mutex_);
    return orders_;
  }
  std::vector<ExitOrder> orders_for(std::string_view position_id) const {
    std::lock_guard lock(mutex_);
    std::vector<ExitOrder> out;
    for (const auto& o : orders_)
      if (o.position_id == position_id) out.push_back(o);
    return out;
  }
  std::vector<ExitFinished> finished() const {
    std::lock_guard lock(mutex_);
    return finished_;
  }
  // What capabilities() last answered (the executor asks at each exit's start); for a
  // venue without the member, what declared_capabilities makes of it.
  std::optional<VenueCapabilities> seen_capabilities() const {
    if constexpr (!DeclaresCapabilities<Venue>) {
      return declared_capabilities(venue_);
    } else {
      std::lock_guard lock(mutex_);
      return seen_capabilities_;
    }
  }

  // The first notice, from the `from`-th on, of the exit with this id on this position
  // (exit ids start again with each executor: `from` tells two lifetimes apart).
  std::optional<ExitFinished> finished_for(std::string_view position_id, std::uint64_t exit_id,
                                           std::size_t from = 0) const {
    std::lock_guard lock(mutex_);
    for (std::size_t i = from; i < finished_.size(); ++i)
      if (finished_[i].position_id == position_id && finished_[i].exit_id == exit_id) return finished_[i];
    return std::nullopt;
  }
  std::size_t finished_count() const {
    std::lock_guard lock(mutex_);
    return finished_.size();
  }

  // --- forwarded members -----------------------------------------------------------

  VenueCapabilities capabilities() const
    requires DeclaresCapabilities<Venue>
  {
    const VenueCapabilities c = venue_.capabilities();
    std::lock_guard lock(mutex_);
    seen_capabilities_ = c;
    return c;
  }

  boost::asio::awaitable<SubmitOutcome> submit(ExitOrder order)
    requires AwaitableVenue<Venue>
  {
    record(order);
    return venue_.submit(std::move(order));
  }

  template <class Token>
    requires TokenVenue<Venue>
  auto async_submit(ExitOrder order, Token&& token) {
    record(order);
    return venue_.async_submit(std::move(order), std::forward<Token>(token));
  }

  boost::asio::awaitable<Quantity> query_position(std::string position_id)
    requires QueriesPosition<Venue>
  {
    return venue_.query_position(std::move(position_id));
  }

  double reference_price(const std::string& position_id)
    requires ProvidesReferencePrice<Venue>
  {
    return static_cast<double>(venue_.reference_price(position_id));
  }

  auto get_executor()
    requires requires(Venue& v) { v.get_executor(); }
  {
    return venue_.get_executor();
  }

  // Always declared: the harness needs the notice whether or not the venue hears it.
  void exit_finished(const ExitFinished& f) {
    {
      std::lock_guard lock(mutex_);
      finished_.push_back(f);
    }
    if constexpr (HearsExitFinished<Venue>) venue_.exit_finished(f);
  }

 private:
  void record(const ExitOrder& order) {
    std::lock_guard lock(mutex_);
    orders_.push_back(order);
  }

  Venue& venue_;
  mutable std::mutex mutex_;
  std::vector<ExitOrder> orders_;
  std::vector<ExitFinished> finished_;
  mutable std::optional<VenueCapabilities> seen_capabilities_;
};

// ---------------------------------------------------------------------------------
// The subject concept
// ---------------------------------------------------------------------------------

namespace detail {
// A predicate of the kind run_until must accept (never called by the concept).
struct conformance_probe_predicate {
  bool operator()() const noexcept { return false; }
};
}  // namespace detail

// What the user supplies for the venue under test (docs/conformance.md).
//   clock_type                  the exits' clock (ManualClock in virtual time, steady_clock in real time)
//   venue_type& venue()         the venue under test (an ExitVenue)
//   get_executor()              where the exits run (an io_context's executor)
//   supports(fault) const       false: the fault is reported not applicable, never passed
//   inject(fault, position_id)  make the first attempt of the next exit on that position meet it
//   open_position(id, q)        open q base units at the venue; returns the request that closes it
//   sold(id)                    what the venue really sold of the position (its truth)
//   settings()                  the exits' settings (deadline, ladder, key namespace, ...)
//   run_for(d), run_until(p, d) drive the exits' time: run handlers for d, or until p() holds
//                               (returns p()) or d passed
template <class S>
concept ConformanceSubject =
    requires(S& s, const S& cs, ConformanceFault f, const std::string& id, Quantity q,
             typename S::clock_type::duration d) {
      typename S::clock_type;
      typename S::venue_type;
      requires ExitVenue<typename S::venue_type>;
      { s.venue() } -> std::same_as<typename S::venue_type&>;
      { s.get_executor() } -> std::convertible_to<boost::asio::any_io_executor>;
      { cs.supports(f) } -> std::same_as<bool>;
      s.inject(f, id);
      { s.open_position(id, q) } -> std::same_as<ExitRequest>;
      { s.sold(id) } -> std::same_as<Quantity>;
      { s.settings() } -> std::convertible_to<BasicExitSettings<typename S::clock_type>>;
      s.run_for(d);
      { s.run_until(detail::conformance_probe_predicate{}, d) } -> std::same_as<bool>;
    };

// ---------------------------------------------------------------------------------
// Options and results
// ---------------------------------------------------------------------------------

struct ConformanceOptions {
  // Which faults to run, in this order.
  std::vector<ConformanceFault> faults{all_conformance_faults.begin(), all_conformance_faults.end()};
  Quantity quantity = 1000;                 // each position's size, in base units
  std::string position_prefix = "conf";     // positions are "<prefix>-<fault>"
  // Added to every time bound (scheduling slack; 0 in virtual time).
  std::chrono::nanoseconds deadline_tolerance{0};
  // How long to keep running after an exit finished (ExitFinished) before the truth is
  // read: for a venue whose truth lags its answers (an indexer, a fill stream).
  std::chrono::nanoseconds settle_after_finish{0};
};

// One fault's outcome.
struct ConformanceResult {
  ConformanceFault fault = ConformanceFault::none;
  bool applicable = true;
  bool passed = false;
  std::string message;  // the first violated check, with its numbers; "ok" when passed
  std::string position_id;
  VenueCapabilities capabilities{};  // as the venue declared them
  ExitTransitionState final_state = ExitTransitionState::exit_failed;
  boost::system::error_code error;
  std::uint32_t attempts = 0;
  Quantity requested;
  Quantity reported_filled;  // the report's, at completion
  Quantity filled;           // the exit's count once it finished (late answers included)
  Quantity sold;             // the venue's truth
  std::chrono::nanoseconds exit_time{};
  std::vector<std::string> exclusivity_keys;  // every key its orders carried (key_restart: both lifetimes)
};

struct ConformanceReport {
  std::vector<ConformanceResult> results;

  // Every applicable fault passed, and at least one was applicable.
  bool passed() const noexcept {
    bool any = false;
    for (const auto& r : results) {
      if (!r.applicable) continue;
      any = true;
      if (!r.passed) return false;
    }
    return any;
  }
  const ConformanceResult* find(ConformanceFault f) const noexcept {
    for (const auto& r : results)
      if (r.fault == f) return &r;
    return nullptr;
  }
  std::size_t failures() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(results.begin(), results.end(), [](const auto& r) { return r.applicable && !r.passed; }));
  }
};

// Moved to error.hpp (exitguard::error_label); still reachable by its old name.
using exitguard::error_label;

// One line per fault:
//   lost_answer       PASS  position_closed error=none attempts=2 filled=1000 sold=1000 of 1000 in 11.000s
//   stall             n/a   the subject does not support this fault
inline std::ostream& operator<<(std::ostream& os, const ConformanceResult& r) {
  std::string name(to_string(r.fault));
  name.resize(std::max<std::size_t>(name.size(), 17), ' ');
  os << name << ' ';
  if (!r.applicable) return os << "n/a   " << r.message;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", std::chrono::duration<double>(r.exit_time).count());
  os << (r.passed ? "PASS  " : "FAIL  ") << to_string(r.final_state) << " error=" << error_label(r.error)
     << " attempts=" << r.attempts << " filled=" << to_string(r.filled) << " sold=" << to_string(r.sold) << " of "
     << to_string(r.requested) << " in " << secs << 's';
  if (!r.passed) os << "\n" << std::string(18, ' ') << "-> " << r.message;
  return os;
}

inline std::ostream& operator<<(std::ostream& os, const ConformanceReport& report) {
  std::size_t applicable = 0, passed = 0;
  for (const auto& r : report.results) {
    os << r << '\n';
    if (r.applicable) {
      ++applicable;
      if (r.passed) ++passed;
    }
  }
  return os << "conformance: " << passed << '/' << applicable << " applicable faults passed ("
            << report.results.size() - applicable << " not applicable): " << (report.passed() ? "PASS" : "FAIL")
            << '\n';
}

inline std::string to_string(const ConformanceReport& report) {
  std::ostringstream os;
  os << report;
  return os.str();
}

// ---------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------

namespace detail {

// What one exit produced, shared with its completion handler (which may outlive a
// harness that gave up on it).
template <class Clock>
struct conformance_exit_state {
  std::atomic<int> calls{0};
  boost::system::error_code ec;
  BasicExitReport<Clock> report;
  typename Clock::time_point started{};
  typename Clock::time_point completed{};
  std::size_t notices_before = 0;  // ExitFinished notices the recorder had when it started
};

// Records the first violated check; later ones are ignored.
class conformance_checks {
 public:
  bool ok() const noexcept { return !failure_; }
  void require(bool holds, const std::string& what) {
    if (!holds && !failure_) failure_ = what;
  }
  std::string message() const { return failure_ ? *failure_ : std::string("ok"); }

 private:
  std::optional<std::string> failure_;
};

template <ConformanceSubject S>
class conformance_run {
 public:
  using clock_type = typename S::clock_type;
  using duration = typename clock_type::duration;
  using settings_type = BasicExitSettings<clock_type>;
  using executor_type = BasicAdaptiveExitExecutor<clock_type>;
  using state_type = conformance_exit_state<clock_type>;
  using recorder_type = RecordingVenue<typename S::venue_type>;

  conformance_run(S& subject, const ConformanceOptions& options)
      : subject_(subject), options_(options), settings_(subject.settings()), recorder_(subject.venue()) {}

  ConformanceResult run(ConformanceFault fault) {
    ConformanceResult r;
    r.fault = fault;
    r.position_id = options_.position_prefix + "-" + std::string(to_string(fault));
    if (!subject_.supports(fault)) {
      r.applicable = false;
      r.message = "the subject does not support this fault";
      return r;
    }
    ExitRequest request = subject_.open_position(r.position_id, options_.quantity);
    r.requested = request.quantity;
    conformance_checks checks;
    checks.require(request.position_id == r.position_id && request.quantity == options_.quantity,
                   "open_position returned a request for " + request.position_id + " of " +
                       to_string(request.quantity) + ", not " + r.position_id + " of " + to_string(options_.quantity));
    if (checks.ok()) {
      subject_.inject(fault, r.position_id);
      if (fault == ConformanceFault::key_restart)
        run_restart(request, r, checks);
      else
        run_single(fault, request, r, checks);
    }
    r.passed = checks.ok();
    r.message = checks.message();
    return r;
  }

 private:
  duration tolerance() const { return std::chrono::duration_cast<duration>(options_.deadline_tolerance); }
  duration to_local(std::chrono::nanoseconds d) const { return std::chrono::duration_cast<duration>(d); }

  // Starts an exit on `exits` and returns its shared state.
  std::shared_ptr<state_type> start(executor_type& exits, ExitRequest request,
                                    boost::asio::cancellation_signal& cancel) {
    auto state = std::make_shared<state_type>();
    state->started = clock_type::now();
    state->notices_before = recorder_.finished_count();
    auto handler = [state](boost::system::error_code ec, BasicExitReport<clock_type> report) {
      state->completed = clock_type::now();
      state->ec = ec;
      state->report = std::move(report);
      state->calls.fetch_add(1, std::memory_order_release);
    };
    execute_exit(exits, recorder_, std::move(request), boost::asio::bind_cancellation_slot(cancel.slot(), handler));
    return state;
  }

  // Runs until the exit completed, by its deadline (plus tolerance); else cancels it.
  void await_completion(const std::shared_ptr<state_type>& state, boost::asio::cancellation_signal& cancel,
                        conformance_checks& checks) {
    const duration bound = settings_.deadline + tolerance() + std::chrono::seconds(1);
    const bool done = subject_.run_until([&state] { return state->calls.load(std::memory_order_acquire) > 0; }, bound);
    if (!done) {
      checks.require(false, "not terminal by its deadline: no completion " +
                                format_seconds(bound) + " after the exit signal");
      cancel.emit(boost::asio::cancellation_type::terminal);
      subject_.run_until([&state] { return state->calls.load(std::memory_order_acquire) > 0; },
                         std::chrono::duration_cast<duration>(std::chrono::seconds(5)));
    }
  }

  // Runs until the venue heard that the exit takes no more answers (within the
  // late-answer horizon), then on to the horizon — an operation the exit gave up on
  // (cancelled, so answered) may still land until then — then for settle_after_finish.
  std::optional<ExitFinished> await_finished(const std::string& position_id, std::uint64_t exit_id,
                                             const std::shared_ptr<state_type>& state, conformance_checks& checks) {
    const duration elapsed = clock_type::now() - state->started;
    const duration left = settings_.late_answer_horizon > elapsed ? settings_.late_answer_horizon - elapsed : duration{};
    const duration bound = left + tolerance() + std::chrono::seconds(1);
    const std::size_t from = state->notices_before;
    subject_.run_until([&] { return recorder_.finished_for(position_id, exit_id, from).has_value(); }, bound);
    auto f = recorder_.finished_for(position_id, exit_id, from);
    checks.require(f.has_value(), "the exit never finished (no ExitFinished within the late-answer horizon of " +
                                      format_seconds(settings_.late_answer_horizon) + ")");
    const duration since = clock_type::now() - state->started;
    if (since < settings_.late_answer_horizon) subject_.run_for(settings_.late_answer_horizon - since);
    if (options_.settle_after_finish > std::chrono::nanoseconds::zero())
      subject_.run_for(to_local(options_.settle_after_finish));
    return f;
  }

  void check_exit(const state_type& st, conformance_checks& checks) {
    const auto& rep = st.report;
    checks.require(st.calls.load(std::memory_order_acquire) == 1,
                   "the completion handler ran " + std::to_string(st.calls.load()) + " times, not once");
    checks.require(is_terminal(rep.final_state),
                   "the exit ended in a state that is not terminal: " + std::string(to_string(rep.final_state)));
    const duration limit = settings_.deadline + tolerance();
    checks.require(rep.exit_time <= limit, "not terminal by its deadline: the report's exit time is " +
                                               format_seconds(rep.exit_time) + ", the deadline " +
                                               format_seconds(settings_.deadline));
    checks.require(st.completed - st.started <= limit, "not terminal by its deadline: completed " +
                                                           format_seconds(st.completed - st.started) +
                                                           " after the exit signal, the deadline is " +
                                                           format_seconds(settings_.deadline));
  }

  void check_truth(ConformanceResult& r, conformance_checks& checks) {
    checks.require(r.sold <= r.requested, "oversold: the venue sold " + to_string(r.sold) + " of a position of " +
                                              to_string(r.requested));
    checks.require(r.filled == r.sold, "the exit counted " + to_string(r.filled) + " filled (the report said " +
                                           to_string(r.reported_filled) + ") but the venue sold " + to_string(r.sold));
  }

  void check_nothing_after_completion(const std::vector<ExitOrder>& orders, std::uint64_t exit_id,
                                      std::uint32_t attempts, conformance_checks& checks) {
    std::uint32_t sent = 0;
    std::uint32_t highest = 0;
    for (const auto& o : orders)
      if (o.exit_id == exit_id) {
        ++sent;
        highest = std::max(highest, o.attempt);
      }
    checks.require(sent <= attempts && highest <= attempts,
                   "sent after completion: " + std::to_string(sent) + " orders reached the venue (highest attempt " +
                       std::to_string(highest) + "), the report counts " + std::to_string(attempts) + " attempts");
  }

  void run_single(ConformanceFault fault, const ExitRequest& request, ConformanceResult& r,
                  conformance_checks& checks) {
    std::shared_ptr<state_type> st;
    {
      // One executor per fault: its exit ids start at 1 (as after a process start).
      executor_type exits(subject_.get_executor(), settings_);
      boost::asio::cancellation_signal cancel;
      st = start(exits, request, cancel);
      await_completion(st, cancel, checks);
      if (st->calls.load(std::memory_order_acquire) == 0) return;
      check_exit(*st, checks);
      fill_from_report(st->report, r);
      const auto finished = await_finished(r.position_id, st->report.exit_id, st, checks);
      r.filled = finished ? finished->filled_quantity : st->report.filled_quantity;
    }
    r.capabilities = recorder_.seen_capabilities().value_or(VenueCapabilities{});
    r.sold = subject_.sold(r.position_id);
    const auto orders = recorder_.orders_for(r.position_id);
    for (const auto& o : orders) add_key(r, o.exclusivity_key);
    check_nothing_after_completion(orders, st->report.exit_id, st->report.attempts, checks);
    check_truth(r, checks);
    check_fault(fault, *st, orders, r, checks);
  }

  // Two lifetimes: the first exit is cut off (terminal cancellation, its executor
  // destroyed) once its first order is out; a new executor then closes what the venue
  // says remains. The keys of the two lifetimes must differ.
  void run_restart(const ExitRequest& request, ConformanceResult& r, conformance_checks& checks) {
    std::vector<std::string> first_keys;
    Quantity first_filled;
    std::uint64_t first_exit_id = 0;
    {
      executor_type exits(subject_.get_executor(), settings_);
      boost::asio::cancellation_signal cancel;
      auto st = start(exits, request, cancel);
      subject_.run_until(
          [&] {
            return !recorder_.orders_for(r.position_id).empty() || st->calls.load(std::memory_order_acquire) > 0;
          },
          settings_.deadline + tolerance());
      checks.require(!recorder_.orders_for(r.position_id).empty(),
                     "key_restart: the first lifetime sent no order before its deadline");
      if (st->calls.load(std::memory_order_acquire) == 0) cancel.emit(boost::asio::cancellation_type::terminal);
      await_completion(st, cancel, checks);
      if (st->calls.load(std::memory_order_acquire) == 0) return;
      check_exit(*st, checks);
      first_exit_id = st->report.exit_id;
      check_nothing_after_completion(recorder_.orders_for(r.position_id), first_exit_id, st->report.attempts, checks);
      const auto finished = await_finished(r.position_id, first_exit_id, st, checks);
      first_filled = finished ? finished->filled_quantity : st->report.filled_quantity;
      r.attempts = st->report.attempts;
      if (finished) first_keys = finished->exclusivity_keys;
    }
    r.capabilities = recorder_.seen_capabilities().value_or(VenueCapabilities{});
    for (const auto& o : recorder_.orders_for(r.position_id)) add_unique(first_keys, o.exclusivity_key);
    const std::size_t first_orders = recorder_.orders_for(r.position_id).size();

    const Quantity sold_before = subject_.sold(r.position_id);
    ExitRequest rest = request;
    rest.quantity = round_down_to_lot(r.requested - sold_before, request.lot_size);
    std::vector<std::string> second_keys;
    Quantity second_filled;
    if (rest.quantity.is_positive()) {
      executor_type exits(subject_.get_executor(), settings_);
      boost::asio::cancellation_signal cancel;
      auto st = start(exits, rest, cancel);
      await_completion(st, cancel, checks);
      if (st->calls.load(std::memory_order_acquire) == 0) return;
      check_exit(*st, checks);
      const std::uint32_t first_attempts = r.attempts;
      fill_from_report(st->report, r);
      r.attempts += first_attempts;
      const auto finished = await_finished(r.position_id, st->report.exit_id, st, checks);
      second_filled = finished ? finished->filled_quantity : st->report.filled_quantity;
      if (finished) second_keys = finished->exclusivity_keys;
      checks.require(st->report.closed(), "key_restart: the second lifetime did not close the rest (" +
                                              to_string(rest.quantity) + "): " +
                                              std::string(to_string(st->report.final_state)) + " " +
                                              error_label(st->report.error));
      const auto all = recorder_.orders_for(r.position_id);
      std::vector<ExitOrder> second(all.begin() + static_cast<std::ptrdiff_t>(std::min(first_orders, all.size())),
                                    all.end());
      for (const auto& o : second) add_unique(second_keys, o.exclusivity_key);
      check_nothing_after_completion(second, st->report.exit_id, st->report.attempts, checks);
      checks.require(st->report.exit_id == first_exit_id,
                     "key_restart: the new executor's exit id is " + std::to_string(st->report.exit_id) +
                         ", the first one's " + std::to_string(first_exit_id) + ": not a restart of the counter");
    }
    for (const auto& k : second_keys)
      checks.require(std::find(first_keys.begin(), first_keys.end(), k) == first_keys.end(),
                     "key_restart: exclusivity key " + k + " was used before the restart and again after it");
    r.exclusivity_keys = first_keys;
    for (const auto& k : second_keys) add_unique(r.exclusivity_keys, k);
    r.filled = first_filled + second_filled;
    r.sold = subject_.sold(r.position_id);
    check_truth(r, checks);
    checks.require(r.sold == r.requested, "key_restart: the venue sold " + to_string(r.sold) + " of " +
                                              to_string(r.requested) + " across the two lifetimes");
  }

  void check_fault(ConformanceFault fault, const state_type& st, const std::vector<ExitOrder>& orders,
                   const ConformanceResult& r, conformance_checks& checks) {
    const auto& rep = st.report;
    const bool resolvable = doubt_resolvable(r.capabilities);
    const std::string name(to_string(fault));
    const std::string ended =
        std::string(to_string(rep.final_state)) + " (" + error_label(rep.error) + ": " + rep.reason + ")";
    const auto first = rep.attempt_records.empty() ? nullptr : &rep.attempt_records.front();
    switch (fault) {
      case ConformanceFault::none:
        checks.require(rep.closed(), "none: the exit did not close without any fault: " + ended);
        break;
      case ConformanceFault::lost_answer:
      case ConformanceFault::throws:
        if (fault == ConformanceFault::throws)
          // In doubt, or rejected by a venue that caught the throw before sending
          // anything (the truth check proves nothing of it sold).
          checks.require(first && (first->outcome == AttemptOutcome::in_doubt ||
                                   first->outcome == AttemptOutcome::rejected),
                         "throws: the throwing attempt is neither in doubt nor rejected (" +
                             (first ? std::string(to_string(first->outcome)) + " " + error_label(first->error)
                                    : std::string("no attempt")) +
                             ")");
        if (resolvable)
          checks.require(rep.closed(), name + ": the venue's guarantees make the doubt resolvable, yet the exit " +
                                           "did not close: " + ended);
        else
          checks.require(rep.closed() || rep.error == error::in_doubt_unresolvable,
                         name + ": an unresolvable doubt must end in_doubt_unresolvable, the exit ended " + ended);
        break;
      case ConformanceFault::late_landing:
        checks.require(rep.closed(), "late_landing: the late landing did not close the exit: " + ended);
        break;
      case ConformanceFault::duplicate_answer:
        checks.require(rep.closed(), "duplicate_answer: the exit did not close: " + ended);
        checks.require(rep.filled_quantity <= rep.requested_quantity,
                       "duplicate_answer: the report counts " + to_string(rep.filled_quantity) + " filled of " +
                           to_string(rep.requested_quantity));
        break;
      case ConformanceFault::partial_fill: {
        const bool partial = first && first->filled_quantity.is_positive() && first->filled_quantity < r.requested;
        checks.require(partial, "partial_fill: the first attempt did not fill part of the position (it filled " +
                                    (first ? to_string(first->filled_quantity) : std::string("nothing")) + " of " +
                                    to_string(r.requested) + "): the fault was not injected");
        if (!partial) break;
        const Quantity remainder = r.requested - first->filled_quantity;
        const bool sent = orders.size() >= 2 && std::any_of(orders.begin() + 1, orders.end(),
                                                            [&](const ExitOrder& o) { return o.quantity == remainder; });
        checks.require(sent,
                       "partial_fill: the remainder " + to_string(remainder) + " was never sent");
        checks.require(rep.closed(), "partial_fill: the exit did not close: " + ended);
        break;
      }
      case ConformanceFault::stall: {
        checks.require(!rep.closed(), "stall: the exit closed though the venue answered nothing: " + ended);
        const duration earliest = settings_.deadline - tolerance();
        checks.require(rep.exit_time >= earliest, "stall: the exit gave up at " + format_seconds(rep.exit_time) +
                                                      ", before its deadline " + format_seconds(settings_.deadline));
        break;
      }
      case ConformanceFault::expiry:
        checks.require(first && first->outcome == AttemptOutcome::rejected && first->error == error::attempt_expired,
                       "expiry: the first attempt was not reported dead (rejected attempt_expired) but " +
                           (first ? std::string(to_string(first->outcome)) + " " + error_label(first->error)
                                  : std::string("no attempt")));
        checks.require(orders.size() >= 2, "expiry: no new attempt followed the expired one");
        checks.require(rep.closed(), "expiry: the exit did not close: " + ended);
        break;
      case ConformanceFault::key_restart: break;  // run_restart checks it
    }
  }

  static void fill_from_report(const BasicExitReport<clock_type>& rep, ConformanceResult& r) {
    r.final_state = rep.final_state;
    r.error = rep.error;
    r.attempts = rep.attempts;
    r.reported_filled = rep.filled_quantity;
    r.exit_time = std::chrono::duration_cast<std::chrono::nanoseconds>(rep.exit_time);
  }

  static void add_unique(std::vector<std::string>& keys, const std::string& k) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  }
  static void add_key(ConformanceResult& r, const std::string& k) { add_unique(r.exclusivity_keys, k); }

  template <class D>
  static std::string format_seconds(D d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3fs", std::chrono::duration<double>(d).count());
    return buf;
  }

  S& subject_;
  const ConformanceOptions& options_;
  settings_type settings_;
  recorder_type recorder_;
};

}  // namespace detail

// Runs every fault of `options` against `subject`, each on a fresh position through a
// fresh executor, and returns one result per fault (see the header comment).
template <ConformanceSubject S>
ConformanceReport run_venue_conformance(S& subject, const ConformanceOptions& options = {}) {
  ConformanceReport report;
  detail::conformance_run<S> run(subject, options);
  for (ConformanceFault f : options.faults) report.results.push_back(run.run(f));
  return report;
}

// ---------------------------------------------------------------------------------
// MockVenueSubject
// ---------------------------------------------------------------------------------

// The venue MockVenueSubject tests: a MockVenue behind a token-style adapter that
//   - reports every landing of an exclusive key exactly once: an order the MockVenue
//     refuses because its key already landed is answered with that landing (the key's
//     fill, price and transaction: an idempotency key's or a durable nonce's "already
//     processed" lookup) unless an answer already carried the key's fill, in which
//     case the bare rejection stands (the exit knows the key landed). A bare rejection
//     alone leaves an exit whose lost answer landed believing nothing sold; the
//     landing reported on both answers counts it twice: the lost_answer and
//     late_landing faults catch each (see `set_idempotent`);
//   - can deliver the next answer twice (a MockVenue answers once; a duplicated
//     delivery is what a venue resending its confirmation looks like).
// Every other member forwards. Thread safety: the MockVenue's (call it on its strand;
// answers are rewritten there). Cancellation: the caller's slot reaches the MockVenue
// untouched.
template <class Clock>
class BasicMockConformanceVenue {
 public:
  using mock_type = BasicMockVenue<Clock>;

  explicit BasicMockConformanceVenue(mock_type& mock) noexcept : mock_(mock) {}

  mock_type& mock() noexcept { return mock_; }

  // The next submit's answer is delivered twice.
  void duplicate_next_answer() noexcept { duplicate_next_ = true; }
  // On (the default): refusals of a used key are answered with the key's landing.
  void set_idempotent(bool on) noexcept { idempotent_ = on; }

  VenueCapabilities capabilities() const { return mock_.capabilities(); }
  auto get_executor() const noexcept { return mock_.get_executor(); }
  double reference_price(const std::string& id) const { return mock_.reference_price(id); }
  boost::asio::awaitable<Quantity> query_position(std::string id) { return mock_.query_position(std::move(id)); }

  template <class Token>
  auto async_submit(ExitOrder order, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, SubmitOutcome)>(
        [this](auto handler, ExitOrder o) {
          using handler_type = decltype(handler);
          const bool twice = std::exchange(duplicate_next_, false) && std::is_copy_constructible_v<handler_type>;
          auto slot = boost::asio::get_associated_cancellation_slot(handler);
          answer_handler<handler_type> answer{this, std::move(handler), o.exclusivity_key, twice};
          // Runs on the MockVenue's strand (it reads the book), then hands the answer on.
          mock_.async_submit(std::move(o), boost::asio::bind_cancellation_slot(
                                               slot, boost::asio::bind_executor(mock_.get_executor(), std::move(answer))));
        },
        token, std::move(order));
  }

 private:
  template <class Handler>
  struct answer_handler {
    BasicMockConformanceVenue* venue;
    Handler handler;
    std::string key;
    bool twice;

    void operator()(boost::system::error_code ec, SubmitOutcome out) {
      venue->rewrite(key, ec, out);
      if (!ec && out.filled_quantity.is_positive() && !key.empty()) venue->reported_keys_.insert(key);
      auto ex = boost::asio::get_associated_executor(handler, venue->mock_.get_executor());
      if constexpr (std::is_copy_constructible_v<Handler>) {
        if (twice) {
          boost::asio::post(ex, [h = handler, ec, out]() mutable { std::move(h)(ec, out); });
        }
      }
      boost::asio::post(ex, [h = std::move(handler), ec, out = std::move(out)]() mutable { std::move(h)(ec, std::move(out)); });
    }
  };

  void rewrite(const std::string& key, const boost::system::error_code& ec, SubmitOutcome& out) const {
    // A key's landing is one fill: told once, by whichever answer comes first.
    if (!idempotent_ || ec || key.empty() || out.status != SubmitStatus::rejected ||
        out.error != error::exit_rejected || !mock_.capabilities().exclusive_attempts || reported_keys_.count(key) != 0)
      return;
    for (const auto& l : mock_.landings()) {
      if (!l.applied || l.order.exclusivity_key != key) continue;
      out.status = l.quantity == l.order.quantity ? SubmitStatus::filled : SubmitStatus::partially_filled;
      out.filled_quantity = l.quantity;
      out.average_price = l.price;
      out.transaction_id = l.transaction_id;
      out.error = {};
      return;
    }
  }

  mock_type& mock_;
  bool duplicate_next_ = false;
  bool idempotent_ = true;
  std::set<std::string> reported_keys_;  // keys whose fill an answer already carried
};

using MockConformanceVenue = BasicMockConformanceVenue<ManualClock>;

// The MockVenue's guarantees for one MockVenueSubject.
struct MockVenueSubjectOptions {
  bool exclusive_attempts = true;
  bool queries_position = true;
  bool reduce_only_enforced = true;
  double price = 95.0;
  // The adapter answers a retry on a used key with the key's landing (see
  // BasicMockConformanceVenue); off, with the MockVenue's bare rejection.
  bool idempotent_retries = true;
};

// A ready ConformanceSubject: a MockVenue on its own io_context, every fault scripted
// on the position's first attempt (docs/conformance.md lists how), later attempts
// filling after a quarter of the first step's attempt timeout (2 s by default). Its
// durations are fractions of the settings' first attempt timeout, so short settings
// make a short run. On ManualClock (MockVenueSubject) it runs in virtual time through
// a VirtualTimeDriver; on a real clock (steady_clock) it runs the io_context in real
// time, as a subject for a networked adapter would. The default settings are the
// library's (30 s deadline, 90 s late-answer horizon) with a quiet logger.
// Thread safety: one thread, the one calling run_*; ManualClock is process-wide, so
// run one virtual-time subject at a time. Cancellation: none of its own.
template <class Clock>
class BasicMockVenueSubject {
 public:
  using clock_type = Clock;
  using venue_type = BasicMockConformanceVenue<Clock>;
  using mock_type = BasicMockVenue<Clock>;
  using settings_type = BasicExitSettings<Clock>;
  using script_type = BasicMockAttemptScript<Clock>;
  using duration = typename Clock::duration;

  explicit BasicMockVenueSubject(MockVenueSubjectOptions options = {}, settings_type settings = quiet_settings())
      : options_(options), settings_(std::move(settings)), mock_(ioc_.get_executor(), constant_price(options.price)),
        venue_(mock_) {
    mock_.set_exclusive_attempts(options.exclusive_attempts);
    mock_.set_position_query(options.queries_position, first_timeout() / 40);
    mock_.set_reduce_only_enforced(options.reduce_only_enforced);
    venue_.set_idempotent(options.idempotent_retries);
    script_type fill;
    fill.fate = MockFate::fill;
    fill.latency = first_timeout() / 4;
    mock_.set_default(fill);
  }

  BasicMockVenueSubject(const BasicMockVenueSubject&) = delete;
  BasicMockVenueSubject& operator=(const BasicMockVenueSubject&) = delete;

  static settings_type quiet_settings() {
    settings_type s;
    static const auto logger =
        std::make_shared<spdlog::logger>("exitguard_conformance", std::make_shared<spdlog::sinks::null_sink_mt>());
    s.logger = logger;
    return s;
  }

  venue_type& venue() noexcept { return venue_; }
  mock_type& mock() noexcept { return mock_; }
  boost::asio::io_context& io_context() noexcept { return ioc_; }
  boost::asio::any_io_executor get_executor() { return ioc_.get_executor(); }
  settings_type settings() const { return settings_; }

  bool supports(ConformanceFault) const noexcept { return true; }

  ExitRequest open_position(const std::string& id, Quantity q) {
    mock_.open_position(id, q);
    ExitRequest r;
    r.position_id = id;
    r.side = Side::sell;
    r.quantity = q;
    r.signal_price = options_.price;
    r.reason = "conformance";
    return r;
  }

  Quantity sold(const std::string& id) { return mock_.sold(id); }

  void inject(ConformanceFault fault, const std::string& position_id) {
    const duration timeout = first_timeout();
    script_type s;
    switch (fault) {
      case ConformanceFault::none: return;
      case ConformanceFault::lost_answer:
        // Lands at 1/8 of the timeout (1 s); its "in doubt" answer would come after
        // the late-answer horizon: never.
        s.fate = MockFate::in_doubt;
        s.latency = settings_.late_answer_horizon * 2;
        s.lands_after = timeout / 8;
        break;
      case ConformanceFault::late_landing:
        s.fate = MockFate::land_late;
        s.lands_after = timeout + timeout * 3 / 8;  // 11 s: after the 8 s timeout
        break;
      case ConformanceFault::duplicate_answer:
        // A partial fill: counted twice, it would leave the remainder unsold.
        s.fate = MockFate::fill;
        s.latency = timeout / 4;
        s.fill_ratio = 0.4;
        venue_.duplicate_next_answer();
        break;
      case ConformanceFault::partial_fill:
        s.fate = MockFate::fill;
        s.latency = timeout / 4;
        s.fill_ratio = 0.4;
        break;
      case ConformanceFault::throws:
        s.fate = MockFate::throws;  // sent, then async_submit threw (scripted not to land)
        break;
      case ConformanceFault::stall: {
        const auto now = Clock::now();
        // Until just after the deadline: the exit sends nothing later, and the next
        // fault's exit must not start inside the outage.
        mock_.add_outage(now, now + settings_.deadline + timeout / 8);
        return;
      }
      case ConformanceFault::expiry:
        s.fate = MockFate::reject;
        s.error = make_error_code(error::attempt_expired);
        s.latency = timeout * 3 / 8;  // 3 s
        break;
      case ConformanceFault::key_restart:
        // The process dies with its first order unanswered. Pushed, not pinned to
        // attempt 1: the second lifetime's attempt 1 must not meet it again.
        s.fate = MockFate::lost;
        mock_.push(s);
        return;
    }
    mock_.script_for(position_id, 1, s);
  }

  void run_for(duration d) {
    if constexpr (std::is_same_v<Clock, ManualClock>) {
      driver_.run_for(d);
    } else {
      run_until([] { return false; }, d);
    }
  }

  template <class Predicate>
  bool run_until(Predicate done, duration limit) {
    if constexpr (std::is_same_v<Clock, ManualClock>) {
      return driver_.run_until(std::move(done), limit);
    } else {
      // Real time: run handlers as they become ready, a slice at a time.
      const auto end = Clock::now() + limit;
      while (!done()) {
        const auto now = Clock::now();
        if (now >= end) break;
        if (ioc_.stopped()) ioc_.restart();
        ioc_.run_one_for(std::min<duration>(end - now, std::chrono::milliseconds(5)));
      }
      return done();
    }
  }

 private:
  duration first_timeout() const { return settings_.ladder.front().policy.attempt_timeout; }

  MockVenueSubjectOptions options_;
  settings_type settings_;
  boost::asio::io_context ioc_;
  VirtualTimeDriver driver_{ioc_};  // used on ManualClock only
  mock_type mock_;
  venue_type venue_;
};

using MockVenueSubject = BasicMockVenueSubject<ManualClock>;

static_assert(ConformanceSubject<MockVenueSubject>);
static_assert(ConformanceSubject<BasicMockVenueSubject<std::chrono::steady_clock>>);

}  // namespace exitguard::testing
