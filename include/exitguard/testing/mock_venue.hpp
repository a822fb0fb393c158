// exitguard/testing/mock_venue.hpp — a scriptable venue for testing exit strategies.
//
// BasicMockVenue<Clock, Executor> plays the exchange in tests: it takes ExitOrders
// through `submit` (awaitable) or `async_submit` (any completion token), decides
// each one's fate from a script, and answers or stays silent exactly as scripted,
// on timers of `Clock` (ManualClock + VirtualTimeDriver: a 30 s crash runs in
// microseconds). It keeps the book: positions, what each landing sold and at what
// price, every submission with the script it got, every position query. `MockVenue`
// is the ManualClock instantiation.
//
// Quantities are exact (quantity.hpp): positions, fills and what was sold are whole
// base units. A position has a lot (open_position, default 1 base unit); every fill
// is a whole number of the position's lots.
//
// Fates (MockFate): fill, reject, lost (never lands, never answers), land_late (lands
// and answers only after `lands_after`, or at `answer_at`), in_doubt (answers
// in_doubt; may land silently later), throws (the submit throws std::runtime_error),
// malformed (lands like a fill; its answer is corrupted as `malformed_kind` says).
// Scripts are taken per submission, in this order: a per-(position, attempt)
// override (script_for, kept for every such submission); else the next pushed
// script (push, consumed in submission order across the venue); else, once
// randomize() was called, a random script from the venue's seeded generator
// (identical for identical seeds and submission sequences; it never draws throws or
// malformed); else the default (set_default). A submit made during an outage
// (add_outage) takes its script like any other, but never lands and never answers.
//
// When: an answer comes `latency` after the submit, or at the absolute instant
// `answer_at` if that is set (at once if it has passed); land_late lands and answers
// `lands_after` after the submit, or at `answer_at`. Silent landings (in_doubt,
// throws) come `lands_after` after the submit.
//
// Landing at time t: price = path(t) moved against the trader by the script's
// slippage; then, in order: a quantity that is not a positive whole number of the
// position's lots → not applied, rejected(invalid_quantity); a used exclusivity key
// (exclusive attempts on, the default) → not applied, rejected(exit_rejected); a
// limit order worse than its positive limit price → not applied,
// rejected(slippage_exceeded), key not used; else the fill is the order's quantity ×
// fill_ratio rounded down to whole lots (computed exactly; at least one lot), and for
// reduce-only orders (while reduce-only is enforced, the default) at most the whole lots still open (none → not applied,
// rejected(insufficient_funds)); otherwise applied: the position drops, `sold`
// rises, the key is used, and the status is filled (the whole order) or
// partially_filled. Orders with an empty exclusivity key are never exclusive. Every
// answer carries transaction id "tx-<submission number>" (1-based). The lot of a
// position never opened is the order's lot_size (1 if that is not positive).
//
// Throwing (MockFate::throws): by default the transaction was sent and then the
// venue threw: `submit`'s awaitable throws std::runtime_error when the answer is
// due (it lands silently after `lands_after` if set). A token-style call cannot
// throw later: `async_submit` throws from the call itself (or, for asio::deferred,
// from the launch). With `throw_on_call`, nothing is sent: `submit(order)` itself
// throws before returning an awaitable (as does async_submit; a throw_on_call script
// first drawn by the awaitable, pushed between the call and the co_await, throws from
// the body instead). Do not pass
// use_awaitable to async_submit with a throwing script: Asio lets an exception from
// an initiation escape io_context::run; use submit().
//
// Malformed answers (MockFate::malformed, for answer validation): the order lands as
// a fill would (unless `malformed_lands` is false: the book is unchanged), then the
// answer reports, by `malformed_kind`: fill_without_quantity → status filled with 0
// quantity; overfill → filled with the order's quantity + one lot; unnamed_status →
// a SubmitStatus value with no name (mock_unnamed_status); nan_price / zero_price →
// filled or partially_filled at a NaN / 0 average price. The quantity reported (but
// for the first two) is what landed, or, if nothing did, what a fill would have been.
//
// Position queries take their script (script_query, consumed in order; else the
// query default, set_query_default): answer (the position at answer time), error
// (completes with the script's error code), wrong_value (answers `value`), silent
// (never answers), after the venue's query latency (set_position_query), the script's
// `latency`, or at `answer_at`.
//
// Completions: `void(error_code, SubmitOutcome)` for submits, `void(error_code,
// Quantity)` for position queries. The code is empty, except operation_aborted when
// the caller cancelled, operation_not_supported for a query while queries are
// disabled, and a query script's error. Through `submit`/`query_position` those codes
// are thrown as boost::system::system_error. Handlers are never called from the
// initiating function: completions are posted to the handler's associated executor
// (by default the venue's strand). A pending answer holds a timer and outstanding
// work on the handler's associated executor (any executor: a strand of
// any_io_executor too); a submit or query that will never be answered is parked in
// the venue with no timer and no work, so an io_context can run out of work while it
// waits (unless something else holds work: a coroutine started with co_spawn does,
// for as long as it is suspended); parked handlers are destroyed (never called) with
// the venue.
//
// Cancellation: per-operation, terminal, partial and total alike, on every pending
// submit and query (unless its script `ignores_cancellation`: then it answers per its
// fate, or never). The cancellation is taken on the venue's strand (at once if
// emitted there), and the operation then completes (posted) with operation_aborted —
// for a submit, status in_doubt and its transaction id. A cancelled transaction still
// lands when its script says so: it was already broadcast. That, and the silent
// landing of in_doubt, is what reconciliation through query_position is for.
//
// Thread safety: the venue has its own strand, get_executor(), made from the
// constructor's executor; its timers and cancellations run there. Every member but
// get_executor() and set_strand_checks() must be called on that strand: the exit
// driver posts to it before each submit or query (for `submit`, the call and the
// coroutine both run there: co_spawn(venue.get_executor(), venue.submit(o), ...) from
// a function running on the strand). Handlers bound to other executors (strands of
// many exits) are completed there. Single-threaded tests may instead make every call
// from the one thread that runs the io_context (virtual time does). With
// set_strand_checks(true), a call made off the strand throws std::logic_error.
// Destroy the venue on its strand or while no thread runs its io_context, and before
// the io_context.
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/wait_traits.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace exitguard::testing {

// The market price as a function of the seconds since the venue was created.
using PricePath = std::function<double(double seconds_since_start)>;

inline PricePath constant_price(double p) {
  return [p](double) { return p; };
}

// start + change_per_second × seconds. BUG-003: linear_price(95.0, -1.0 / 6.0).
inline PricePath linear_price(double start, double change_per_second) {
  return [start, change_per_second](double s) { return start + change_per_second * s; };
}

enum class MockFate : std::uint8_t {
  fill,       // lands and answers at its answer time (filled, or partially_filled if fill_ratio < 1)
  reject,     // answers `rejected` with `error` at its answer time; never lands
  lost,       // never lands and never answers (the BUG-003 first transaction)
  land_late,  // lands after `lands_after` (from submit) or at `answer_at`, and only then answers
  in_doubt,   // answers SubmitStatus::in_doubt; lands silently after `lands_after` if set, else never
  throws,     // the submit throws std::runtime_error (see the header comment)
  malformed,  // lands like fill; the answer is corrupted as `malformed_kind` says
};

constexpr std::string_view to_string(MockFate f) noexcept {
  switch (f) {
    case MockFate::fill: return "fill";
    case MockFate::reject: return "reject";
    case MockFate::lost: return "lost";
    case MockFate::land_late: return "land_late";
    case MockFate::in_doubt: return "in_doubt";
    case MockFate::throws: return "throws";
    case MockFate::malformed: return "malformed";
  }
  return "unknown";
}

// How a MockFate::malformed answer is wrong.
enum class MockMalformed : std::uint8_t {
  fill_without_quantity,  // status filled, filled_quantity 0
  overfill,               // status filled, the order's quantity + one lot
  unnamed_status,         // status mock_unnamed_status
  nan_price,              // average_price NaN
  zero_price,             // average_price 0
};

constexpr std::string_view to_string(MockMalformed m) noexcept {
  switch (m) {
    case MockMalformed::fill_without_quantity: return "fill_without_quantity";
    case MockMalformed::overfill: return "overfill";
    case MockMalformed::unnamed_status: return "unnamed_status";
    case MockMalformed::nan_price: return "nan_price";
    case MockMalformed::zero_price: return "zero_price";
  }
  return "unknown";
}

// The status a MockMalformed::unnamed_status answer carries: no SubmitStatus enumerator.
inline constexpr SubmitStatus mock_unnamed_status = static_cast<SubmitStatus>(0x7f);

// What happens to one submission. Refused (std::invalid_argument) by the venue if a
// duration is negative, land_late has neither lands_after nor answer_at, fill_ratio
// is not in (0, 1], slippage_bps is not in [0, 10000), a reject has no error,
// throw_on_call is set on another fate than throws or together with lands_after, or
// an enumerator is out of range.
template <class Clock>
struct BasicMockAttemptScript {
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;

  MockFate fate = MockFate::fill;
  duration latency = std::chrono::seconds(2);
  std::optional<time_point> answer_at;  // absolute: used instead of latency (land_late: of lands_after)
  std::optional<duration> lands_after;  // from submit; land_late, in_doubt and throws only
  boost::system::error_code error = exitguard::error::exit_rejected;  // reject only
  double fill_ratio = 1.0;
  double slippage_bps = 0;
  bool ignores_cancellation = false;  // a cancelled submit answers per its fate (or never)
  bool throw_on_call = false;         // throws only: the call throws; nothing is sent
  MockMalformed malformed_kind = MockMalformed::fill_without_quantity;  // malformed only
  bool malformed_lands = true;                                          // malformed only

  bool operator==(const BasicMockAttemptScript&) const = default;
};

using MockAttemptScript = BasicMockAttemptScript<ManualClock>;

enum class MockQueryFate : std::uint8_t {
  answer,       // the position at answer time
  error,        // completes with the script's error code (and 0)
  wrong_value,  // answers the script's `value`
  silent,       // never answers
};

constexpr std::string_view to_string(MockQueryFate f) noexcept {
  switch (f) {
    case MockQueryFate::answer: return "answer";
    case MockQueryFate::error: return "error";
    case MockQueryFate::wrong_value: return "wrong_value";
    case MockQueryFate::silent: return "silent";
  }
  return "unknown";
}

// What happens to one position query. Refused (std::invalid_argument) if latency is
// negative, an error fate has no error, or the fate is out of range.
template <class Clock>
struct BasicMockQueryScript {
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;

  MockQueryFate fate = MockQueryFate::answer;
  std::optional<duration> latency;      // unset: the venue's query latency (set_position_query)
  std::optional<time_point> answer_at;  // absolute: used instead of any latency
  boost::system::error_code error = exitguard::error::venue_unavailable;  // error only
  Quantity value;                                                          // wrong_value only
  bool ignores_cancellation = false;

  bool operator==(const BasicMockQueryScript&) const = default;
};

using MockQueryScript = BasicMockQueryScript<ManualClock>;

// How randomize() draws a script. Fates, by probability: lost; rejected with
// venue_unavailable (transient), exit_rejected (permanent) or slippage_exceeded;
// land_late (lands_after uniform in [max_latency, max_late_landing]); in_doubt
// (lands silently, with probability 1/2, uniform in [latency, max_late_landing]);
// the rest fill. Latencies are uniform in [min_latency, max_latency] (whole
// milliseconds); a landing fate is partial with probability p_partial (fill_ratio
// uniform in [0.1, 0.9]); slippage is uniform in [0, max_slippage_bps).
struct MockFaultProfile {
  double p_lost = 0.1, p_reject_transient = 0.1, p_reject_permanent = 0.02, p_reject_slippage = 0.05,
         p_land_late = 0.1, p_in_doubt = 0.05, p_partial = 0.15;
  std::chrono::milliseconds min_latency{50}, max_latency{12000}, max_late_landing{40000};
  double max_slippage_bps = 300;
};

namespace detail {

inline bool probability(double p) noexcept { return std::isfinite(p) && p >= 0 && p <= 1; }

inline void validate_profile(const MockFaultProfile& p) {
  const double fates[] = {p.p_lost,      p.p_reject_transient, p.p_reject_permanent, p.p_reject_slippage,
                          p.p_land_late, p.p_in_doubt};
  double sum = 0;
  for (double f : fates) {
    if (!probability(f)) throw std::invalid_argument("MockFaultProfile: every probability must be in [0, 1]");
    sum += f;
  }
  if (sum > 1 + 1e-12) throw std::invalid_argument("MockFaultProfile: the fate probabilities add up to more than 1");
  if (!probability(p.p_partial)) throw std::invalid_argument("MockFaultProfile: p_partial must be in [0, 1]");
  if (p.min_latency.count() < 0 || p.max_latency < p.min_latency || p.max_late_landing.count() < 0)
    throw std::invalid_argument("MockFaultProfile: need 0 <= min_latency <= max_latency and max_late_landing >= 0");
  if (!std::isfinite(p.max_slippage_bps) || p.max_slippage_bps < 0 || p.max_slippage_bps >= 10000)
    throw std::invalid_argument("MockFaultProfile: max_slippage_bps must be in [0, 10000)");
}

template <class Clock>
void validate_script(const BasicMockAttemptScript<Clock>& s) {
  using duration = typename Clock::duration;
  if (static_cast<unsigned>(s.fate) > static_cast<unsigned>(MockFate::malformed))
    throw std::invalid_argument("mock script: unknown fate");
  if (static_cast<unsigned>(s.malformed_kind) > static_cast<unsigned>(MockMalformed::zero_price))
    throw std::invalid_argument("mock script: unknown malformed_kind");
  if (s.latency < duration::zero()) throw std::invalid_argument("mock script: negative latency");
  if (s.lands_after && *s.lands_after < duration::zero())
    throw std::invalid_argument("mock script: negative lands_after");
  if (s.fate == MockFate::land_late && !s.lands_after && !s.answer_at)
    throw std::invalid_argument("mock script: land_late needs lands_after or answer_at");
  if (!std::isfinite(s.fill_ratio) || s.fill_ratio <= 0 || s.fill_ratio > 1)
    throw std::invalid_argument("mock script: fill_ratio must be in (0, 1]");
  if (!std::isfinite(s.slippage_bps) || s.slippage_bps < 0 || s.slippage_bps >= 10000)
    throw std::invalid_argument("mock script: slippage_bps must be in [0, 10000)");
  if (s.fate == MockFate::reject && !s.error) throw std::invalid_argument("mock script: a reject needs an error");
  if (s.throw_on_call && s.fate != MockFate::throws)
    throw std::invalid_argument("mock script: throw_on_call is for MockFate::throws only");
  if (s.throw_on_call && s.lands_after)
    throw std::invalid_argument("mock script: throw_on_call sends nothing: it cannot land (lands_after)");
}

template <class Clock>
void validate_query_script(const BasicMockQueryScript<Clock>& s) {
  if (static_cast<unsigned>(s.fate) > static_cast<unsigned>(MockQueryFate::silent))
    throw std::invalid_argument("mock query script: unknown fate");
  if (s.latency && *s.latency < Clock::duration::zero())
    throw std::invalid_argument("mock query script: negative latency");
  if (s.fate == MockQueryFate::error && !s.error)
    throw std::invalid_argument("mock query script: an error fate needs an error");
}

// floor(q × ratio) rounded down to whole lots, at least one lot if q is; exact for
// every int64 q (ratio is split into its 53-bit mantissa and exponent). Needs q > 0,
// lot > 0, ratio in (0, 1].
inline Quantity scaled_fill(Quantity q, double ratio, Quantity lot) noexcept {
  Quantity f = q;
  if (ratio < 1) {
    __extension__ typedef unsigned __int128 u128;
    int exp = 0;
    const double frac = std::frexp(ratio, &exp);  // ratio = frac × 2^exp, frac in [0.5, 1), exp <= 0
    const auto mantissa = static_cast<std::uint64_t>(std::ldexp(frac, 53));  // exact, < 2^53
    const int shift = 53 - exp;
    const u128 product = static_cast<u128>(static_cast<std::uint64_t>(q.units())) * mantissa;  // < 2^116
    const u128 floor = shift >= 128 ? u128{0} : product >> shift;
    f = Quantity(static_cast<std::int64_t>(floor));
  }
  f = round_down_to_lot(f, lot);
  if (f < lot && q >= lot) f = lot;
  return f;
}

// Outstanding work on `ex`: the executor preferred with outstanding_work.tracked (a
// standard executor: io_context's, any_io_executor, a strand of either), else a
// work guard (a legacy executor).
template <class E>
auto track_work(const E& ex) {
  if constexpr (boost::asio::execution::is_executor<E>::value) {
    return boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked);
  } else {
    return boost::asio::make_work_guard(ex);
  }
}

// A completion handler parked in the venue until it is answered, cancelled or
// destroyed with the venue.
template <class T>
class mock_pending_handler {
 public:
  virtual ~mock_pending_handler() = default;
  virtual boost::asio::cancellation_slot slot() noexcept = 0;
  // Posts the handler with (ec, value) to its associated executor; call once.
  virtual void complete(boost::system::error_code ec, T value) = 0;
};

template <class T, class Handler, class IoExecutor>
class mock_pending_handler_impl final : public mock_pending_handler<T> {
 public:
  using handler_executor = boost::asio::associated_executor_t<Handler, IoExecutor>;
  using work_type = std::decay_t<decltype(track_work(std::declval<const handler_executor&>()))>;

  mock_pending_handler_impl(Handler h, const IoExecutor& io_ex, bool with_work)
      : handler_(std::move(h)), executor_(boost::asio::get_associated_executor(handler_, io_ex)) {
    if (with_work) work_.emplace(track_work(executor_));
  }

  boost::asio::cancellation_slot slot() noexcept override {
    return boost::asio::get_associated_cancellation_slot(handler_);
  }

  void complete(boost::system::error_code ec, T value) override {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    boost::asio::post(executor_, [h = std::move(handler_), slot, ec, v = std::move(value)]() mutable {
      // The operation is over: its cancellation handler goes before the upcall (on
      // the handler's executor, where the caller emits its signal).
      if (slot.is_connected()) slot.clear();
      std::move(h)(ec, std::move(v));
    });
    work_.reset();
  }

 private:
  Handler handler_;
  handler_executor executor_;
  std::optional<work_type> work_;
};

// Uniform in [0, 1), the same on every platform for a given mt19937_64 state.
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

inline std::chrono::milliseconds uniform_ms(std::chrono::milliseconds lo, std::chrono::milliseconds hi, double u) {
  if (hi <= lo) return lo;
  const auto span = (hi - lo).count();
  auto k = static_cast<std::chrono::milliseconds::rep>(u * static_cast<double>(span + 1));
  if (k > span) k = span;
  return lo + std::chrono::milliseconds(k);
}

}  // namespace detail

template <class Clock, class Executor = boost::asio::any_io_executor>
class BasicMockVenue {
 public:
  using clock_type = Clock;
  using inner_executor_type = Executor;
  using executor_type = boost::asio::strand<Executor>;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using script_type = BasicMockAttemptScript<Clock>;
  using query_script_type = BasicMockQueryScript<Clock>;
  using timer_type = boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, executor_type>;

  struct Submission {
    ExitOrder order;
    time_point sent;
    script_type script;          // the script it drew (ignored if during_outage)
    bool during_outage = false;  // sent during an outage: never lands, never answered
  };

  // A transaction taking effect (or trying to: `applied` is false if it was
  // refused, and then `quantity` is 0 and `price` the price it would have had).
  struct Landing {
    ExitOrder order;
    time_point at;
    Quantity quantity;
    double price;
    std::string transaction_id;
    bool applied;
  };

  struct Query {
    std::string position_id;
    time_point sent;
    query_script_type script;  // the script it drew
    bool during_outage = false;
  };

  // The venue's strand is made from `ex`; the price path's time 0 is Clock::now() at
  // construction; `seed` seeds randomize().
  BasicMockVenue(const Executor& ex, PricePath price, std::uint64_t seed = 0)
      : strand_(ex), price_(std::move(price)), start_(Clock::now()), rng_(seed) {
    if (!price_) throw std::invalid_argument("BasicMockVenue: empty price path");
  }

  BasicMockVenue(const BasicMockVenue&) = delete;
  BasicMockVenue& operator=(const BasicMockVenue&) = delete;

  // Pending handlers are destroyed without being called; the venue's timers are
  // cancelled and their handlers, when the io_context runs them, do nothing. The
  // cancellation handlers left in callers' slots are not cleared (a slot's signal may
  // already be gone); if one is emitted later, it does nothing.
  ~BasicMockVenue() {
    life_.reset();
    pending_submits_.clear();
    pending_queries_.clear();
    timers_.clear();
  }

  // The venue's strand: call every member on it (see the header comment).
  executor_type get_executor() const noexcept { return strand_; }

  // On: every member but get_executor() and this one throws std::logic_error when
  // called off the venue's strand (for multi-threaded tests of a driver). Off by default.
  void set_strand_checks(bool on) noexcept { strand_checks_.store(on, std::memory_order_relaxed); }

  // --- the book -------------------------------------------------------------

  // Sets what is left to close of position `id` (replacing any earlier value; what
  // was sold goes back to 0), in base units, and its lot.
  void open_position(std::string id, Quantity quantity, Quantity lot_size = 1) {
    on_strand("open_position");
    if (quantity < Quantity{}) throw std::invalid_argument("BasicMockVenue::open_position: negative quantity");
    if (!lot_size.is_positive()) throw std::invalid_argument("BasicMockVenue::open_position: lot_size must be > 0");
    positions_[std::move(id)] = book_entry{quantity, Quantity{}, lot_size};
  }

  // What is left to close (below 0 only after non-reduce-only orders); 0 if unknown.
  Quantity position(const std::string& id) const {
    on_strand("position");
    const auto it = positions_.find(id);
    return it == positions_.end() ? Quantity{} : it->second.remaining;
  }

  // Total filled for that position.
  Quantity sold(const std::string& id) const {
    on_strand("sold");
    const auto it = positions_.find(id);
    return it == positions_.end() ? Quantity{} : it->second.sold;
  }

  // The position's lot; 1 if unknown.
  Quantity lot_size(const std::string& id) const {
    on_strand("lot_size");
    const auto it = positions_.find(id);
    return it == positions_.end() ? Quantity(1) : it->second.lot;
  }

  // The price path at Clock::now() (one path for every position).
  double reference_price(const std::string& /*position_id*/) const {
    on_strand("reference_price");
    return price_at(Clock::now());
  }

  // --- scripts --------------------------------------------------------------

  void push(script_type s) {
    on_strand("push");
    detail::validate_script(s);
    queue_.push_back(std::move(s));
  }
  void script_for(std::string position_id, std::uint32_t attempt, script_type s) {
    on_strand("script_for");
    detail::validate_script(s);
    overrides_[{std::move(position_id), attempt}] = std::move(s);
  }
  void set_default(script_type s) {
    on_strand("set_default");
    detail::validate_script(s);
    default_ = std::move(s);
  }
  // From now on, submissions with no pushed or per-attempt script draw a random one.
  void randomize(MockFaultProfile p) {
    on_strand("randomize");
    detail::validate_profile(p);
    profile_ = p;
  }

  // The next position query (made while queries are enabled) takes the first script
  // pushed here and not taken yet; with none left, the query default.
  void script_query(query_script_type s) {
    on_strand("script_query");
    detail::validate_query_script(s);
    query_queue_.push_back(std::move(s));
  }
  void set_query_default(query_script_type s) {
    on_strand("set_query_default");
    detail::validate_query_script(s);
    query_default_ = std::move(s);
  }

  // Submits and position queries made in [from, until) get no answer, ever, and
  // never land. Whether a submit is in an outage is decided when it is made.
  void add_outage(time_point from, time_point until) {
    on_strand("add_outage");
    if (until < from) throw std::invalid_argument("BasicMockVenue::add_outage: until < from");
    outages_.emplace_back(from, until);
  }

  void set_exclusive_attempts(bool on) {
    on_strand("set_exclusive_attempts");
    exclusive_ = on;
  }
  // Whether reduce-only orders are held to the open position (the default). Off, the
  // venue fills reduce-only orders like any other: a late landing can oversell, and the
  // venue no longer declares enforces_reduce_only.
  void set_reduce_only_enforced(bool on) {
    on_strand("set_reduce_only_enforced");
    reduce_only_enforced_ = on;
  }

  // Whether queries are answered at all, and the latency of a query whose script
  // sets none.
  void set_position_query(bool enabled, duration latency = std::chrono::milliseconds(200)) {
    on_strand("set_position_query");
    if (latency < duration::zero()) throw std::invalid_argument("BasicMockVenue: negative query latency");
    query_enabled_ = enabled;
    query_latency_ = latency;
  }
  // What the venue guarantees (venue.hpp): exclusive attempts and reduce-only as set,
  // position queries if enabled.
  VenueCapabilities capabilities() const {
    on_strand("capabilities");
    return VenueCapabilities{exclusive_, query_enabled_, reduce_only_enforced_};
  }

  // --- operations -----------------------------------------------------------

  // Throws system_error(operation_aborted) if the awaiting coroutine is cancelled;
  // std::runtime_error for MockFate::throws (from this call if throw_on_call).
  boost::asio::awaitable<SubmitOutcome> submit(ExitOrder order) {
    on_strand("submit");
    if (const script_type* s = peek_script(order); s && s->throw_on_call) {
      const std::uint64_t n = record_submission(std::move(order), Clock::now());
      throw std::runtime_error(throw_message(transaction_id(n), true));
    }
    return submit_body(std::move(order));
  }

  // Completes with void(error_code, SubmitOutcome); see the header comment.
  template <class Token>
  auto async_submit(ExitOrder order, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, SubmitOutcome)>(
        [this](auto handler, ExitOrder o) { this->start_submit(std::move(handler), std::move(o), false); }, token,
        std::move(order));
  }

  // What is then left of the position, at the query's answer time (see the header
  // comment). Never completes if made during an outage or scripted silent; throws
  // system_error(operation_not_supported) while queries are disabled,
  // system_error(operation_aborted) if cancelled, system_error(script's error).
  boost::asio::awaitable<Quantity> query_position(std::string position_id) {
    on_strand("query_position");
    auto [ec, value] = co_await async_query_position(std::move(position_id),
                                                     boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) throw boost::system::system_error(ec);
    co_return value;
  }

  template <class Token>
  auto async_query_position(std::string position_id, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, Quantity)>(
        [this](auto handler, std::string id) { this->start_query(std::move(handler), std::move(id)); }, token,
        std::move(position_id));
  }

  // --- inspection -----------------------------------------------------------

  const std::vector<Submission>& submissions() const {
    on_strand("submissions");
    return submissions_;
  }
  const std::vector<Landing>& landings() const {
    on_strand("landings");
    return landings_;
  }
  // Position queries made while queries were enabled (one made while they are
  // disabled fails at once and is not recorded).
  const std::vector<Query>& queries() const {
    on_strand("queries");
    return queries_;
  }

  // Submits whose handler has not been completed yet (a completion is handed to the
  // handler's executor at its answer time, and runs when that executor runs it).
  std::size_t pending_answers() const {
    on_strand("pending_answers");
    return pending_submits_.size();
  }
  // The same for position queries.
  std::size_t pending_queries() const {
    on_strand("pending_queries");
    return pending_queries_.size();
  }

 private:
  struct book_entry {
    Quantity remaining;
    Quantity sold;
    Quantity lot = 1;
  };

  template <class T>
  struct pending {
    std::unique_ptr<detail::mock_pending_handler<T>> handler;
    std::string position_id;  // queries only
  };

  enum class event : std::uint8_t { land_and_answer, answer, land_silently, answer_malformed, answer_query };

  void on_strand(const char* what) const {
    if (strand_checks_.load(std::memory_order_relaxed) && !strand_.running_in_this_thread())
      throw std::logic_error(std::string("BasicMockVenue::") + what + ": called off the venue's strand");
  }

  template <class T, class Handler>
  std::unique_ptr<detail::mock_pending_handler<T>> park(Handler handler, bool track_work) {
    return std::make_unique<detail::mock_pending_handler_impl<T, Handler, executor_type>>(std::move(handler), strand_,
                                                                                          track_work);
  }

  static bool cancels(boost::asio::cancellation_type t) noexcept {
    using ct = boost::asio::cancellation_type;
    return (t & (ct::terminal | ct::partial | ct::total)) != ct::none;
  }

  // Installs a cancellation handler that takes the cancellation on the venue's strand.
  template <class T>
  void watch_cancellation(detail::mock_pending_handler<T>& h, std::uint64_t id,
                          void (BasicMockVenue::*cancel)(std::uint64_t)) {
    auto slot = h.slot();
    if (!slot.is_connected()) return;
    slot.assign([life = std::weak_ptr<int>(life_), strand = strand_, this, id, cancel](boost::asio::cancellation_type t) {
      if (!cancels(t) || life.expired()) return;
      boost::asio::dispatch(strand, [life, this, id, cancel] {
        if (!life.expired()) (this->*cancel)(id);
      });
    });
  }

  bool in_outage(time_point t) const noexcept {
    return std::any_of(outages_.begin(), outages_.end(),
                       [t](const auto& o) { return o.first <= t && t < o.second; });
  }

  double price_at(time_point t) const { return price_(std::chrono::duration<double>(t - start_).count()); }

  static std::string transaction_id(std::uint64_t n) { return "tx-" + std::to_string(n); }

  static std::string throw_message(const std::string& tx, bool on_call) {
    return std::string("MockVenue: scripted throw ") + (on_call ? "from the call" : "from submit") + " (" + tx + ")";
  }

  // The script the next submission of `order` would take, if it is known without a
  // random draw (nullptr: a draw).
  const script_type* peek_script(const ExitOrder& order) const {
    if (const auto it = overrides_.find({order.position_id, order.attempt}); it != overrides_.end())
      return &it->second;
    if (!queue_.empty()) return &queue_.front();
    if (profile_) return nullptr;
    return &default_;
  }

  script_type next_script(const ExitOrder& order) {
    if (const auto it = overrides_.find({order.position_id, order.attempt}); it != overrides_.end()) return it->second;
    if (!queue_.empty()) {
      script_type s = std::move(queue_.front());
      queue_.pop_front();
      return s;
    }
    if (profile_) return draw(*profile_);
    return default_;
  }

  query_script_type next_query_script() {
    if (!query_queue_.empty()) {
      query_script_type s = std::move(query_queue_.front());
      query_queue_.pop_front();
      return s;
    }
    return query_default_;
  }

  // Always seven draws, whatever the fate: the stream stays aligned across scripts.
  script_type draw(const MockFaultProfile& p) {
    using std::chrono::milliseconds;
    double u[7];
    for (double& x : u) x = detail::uniform01(rng_);
    const auto to_duration = [](milliseconds ms) { return std::chrono::duration_cast<duration>(ms); };

    script_type s;
    const milliseconds latency = detail::uniform_ms(p.min_latency, p.max_latency, u[1]);
    s.latency = to_duration(latency);
    double edge = p.p_lost;
    if (u[0] < edge) {
      s.fate = MockFate::lost;
    } else if (u[0] < (edge += p.p_reject_transient)) {
      s.fate = MockFate::reject;
      s.error = make_error_code(error::venue_unavailable);
    } else if (u[0] < (edge += p.p_reject_permanent)) {
      s.fate = MockFate::reject;
      s.error = make_error_code(error::exit_rejected);
    } else if (u[0] < (edge += p.p_reject_slippage)) {
      s.fate = MockFate::reject;
      s.error = make_error_code(error::slippage_exceeded);
    } else if (u[0] < (edge += p.p_land_late)) {
      s.fate = MockFate::land_late;
      s.lands_after = to_duration(detail::uniform_ms(p.max_latency, p.max_late_landing, u[2]));
    } else if (u[0] < (edge += p.p_in_doubt)) {
      s.fate = MockFate::in_doubt;
      if (u[3] < 0.5) s.lands_after = to_duration(detail::uniform_ms(latency, p.max_late_landing, u[2]));
    } else {
      s.fate = MockFate::fill;
    }
    if (s.fate == MockFate::fill || s.fate == MockFate::land_late || s.fate == MockFate::in_doubt) {
      if (u[4] < p.p_partial) s.fill_ratio = 0.1 + 0.8 * u[5];
      s.slippage_bps = p.max_slippage_bps * u[6];
    }
    return s;
  }

  void schedule(time_point at, event ev, std::uint64_t id) {
    const std::uint64_t key = next_timer_++;
    auto& timer = *timers_.emplace(key, std::make_unique<timer_type>(strand_, at)).first->second;
    timer.async_wait([life = std::weak_ptr<int>(life_), this, key, at, ev, id](boost::system::error_code ec) {
      if (life.expired() || ec) return;  // the venue is gone (its destructor cancelled the timer)
      timers_.erase(key);
      fire(ev, id, at);
    });
  }

  void fire(event ev, std::uint64_t id, time_point at) {
    switch (ev) {
      case event::land_and_answer: {
        SubmitOutcome out = land(id, at);
        answer(id, {}, std::move(out));
        break;
      }
      case event::answer: {
        const script_type& s = submissions_[id - 1].script;
        SubmitOutcome out;
        out.transaction_id = transaction_id(id);
        boost::system::error_code ec;
        if (s.fate == MockFate::reject) {
          out.status = SubmitStatus::rejected;
          out.error = s.error;
        } else {
          out.status = SubmitStatus::in_doubt;
          out.error = make_error_code(error::in_doubt);
          // submit_body turns this into the scripted std::runtime_error.
          if (s.fate == MockFate::throws) ec = make_error_code(error::operation_threw);
        }
        answer(id, ec, std::move(out));
        break;
      }
      case event::land_silently:
        land(id, at);
        break;
      case event::answer_malformed:
        answer(id, {}, malformed_answer(id, at));
        break;
      case event::answer_query: {
        const auto it = pending_queries_.find(id);
        if (it == pending_queries_.end()) return;  // cancelled
        auto handler = std::move(it->second.handler);
        const query_script_type& s = queries_[id - 1].script;
        boost::system::error_code ec;
        Quantity value;
        switch (s.fate) {
          case MockQueryFate::answer: value = position_of(it->second.position_id); break;
          case MockQueryFate::error: ec = s.error; break;
          case MockQueryFate::wrong_value: value = s.value; break;
          case MockQueryFate::silent: break;  // never scheduled
        }
        pending_queries_.erase(it);
        handler->complete(ec, value);
        break;
      }
    }
  }

  void answer(std::uint64_t n, boost::system::error_code ec, SubmitOutcome out) {
    const auto it = pending_submits_.find(n);
    if (it == pending_submits_.end()) return;  // cancelled: the caller has its answer
    auto handler = std::move(it->second.handler);
    pending_submits_.erase(it);
    handler->complete(ec, std::move(out));
  }

  Quantity position_of(const std::string& id) const {
    const auto it = positions_.find(id);
    return it == positions_.end() ? Quantity{} : it->second.remaining;
  }

  Quantity lot_for(const ExitOrder& o) const {
    if (const auto it = positions_.find(o.position_id); it != positions_.end()) return it->second.lot;
    return o.lot_size.is_positive() ? o.lot_size : Quantity(1);
  }

  static bool whole_lots(Quantity q, Quantity lot) noexcept { return q.is_positive() && round_down_to_lot(q, lot) == q; }

  double execution_price(const Submission& sub, time_point at) const {
    const double bps = sub.script.slippage_bps / 1e4;
    return price_at(at) * (sub.order.side == Side::sell ? 1 - bps : 1 + bps);
  }

  SubmitOutcome land(std::uint64_t n, time_point at) {
    const Submission& sub = submissions_[n - 1];
    const ExitOrder& o = sub.order;
    const double px = execution_price(sub, at);
    const Quantity lot = lot_for(o);

    SubmitOutcome out;
    out.transaction_id = transaction_id(n);
    Landing landing{o, at, Quantity{}, px, out.transaction_id, false};
    const bool keyed = !o.exclusivity_key.empty();

    if (!whole_lots(o.quantity, lot)) {
      out.error = make_error_code(error::invalid_quantity);
    } else if (exclusive_ && keyed && used_keys_.count(o.exclusivity_key) != 0) {
      out.error = make_error_code(error::exit_rejected);
    } else if (o.kind == OrderKind::limit && o.limit_price > 0 &&
               (o.side == Side::sell ? px < o.limit_price : px > o.limit_price)) {
      out.error = make_error_code(error::slippage_exceeded);
    } else {
      auto [it, inserted] = positions_.try_emplace(o.position_id, book_entry{Quantity{}, Quantity{}, lot});
      book_entry& book = it->second;
      Quantity q = detail::scaled_fill(o.quantity, sub.script.fill_ratio, lot);
      if (o.reduce_only && reduce_only_enforced_) q = std::min(q, round_down_to_lot(std::max(book.remaining, Quantity{}), lot));
      if (!q.is_positive()) {
        out.error = make_error_code(error::insufficient_funds);
      } else {
        book.remaining -= q;
        book.sold += q;
        if (keyed) used_keys_.insert(o.exclusivity_key);
        out.status = q == o.quantity ? SubmitStatus::filled : SubmitStatus::partially_filled;
        out.filled_quantity = q;
        out.average_price = px;
        landing.quantity = q;
        landing.applied = true;
      }
    }
    landings_.push_back(std::move(landing));
    return out;
  }

  SubmitOutcome malformed_answer(std::uint64_t n, time_point at) {
    const Submission& sub = submissions_[n - 1];
    const ExitOrder& o = sub.order;
    const Quantity lot = lot_for(o);
    Quantity filled;
    if (sub.script.malformed_lands) {
      land(n, at);
      if (landings_.back().applied) filled = landings_.back().quantity;
    }
    if (!filled.is_positive() && whole_lots(o.quantity, lot))
      filled = detail::scaled_fill(o.quantity, sub.script.fill_ratio, lot);

    SubmitOutcome out;
    out.transaction_id = transaction_id(n);
    out.status = filled == o.quantity ? SubmitStatus::filled : SubmitStatus::partially_filled;
    out.filled_quantity = filled;
    out.average_price = execution_price(sub, at);
    switch (sub.script.malformed_kind) {
      case MockMalformed::fill_without_quantity:
        out.status = SubmitStatus::filled;
        out.filled_quantity = Quantity{};
        break;
      case MockMalformed::overfill:
        out.status = SubmitStatus::filled;
        out.filled_quantity = o.quantity + lot;
        break;
      case MockMalformed::unnamed_status: out.status = mock_unnamed_status; break;
      case MockMalformed::nan_price: out.average_price = std::numeric_limits<double>::quiet_NaN(); break;
      case MockMalformed::zero_price: out.average_price = 0; break;
    }
    return out;
  }

  std::uint64_t record_submission(ExitOrder order, time_point now) {
    script_type s = next_script(order);
    const bool outage = in_outage(now);
    submissions_.push_back(Submission{std::move(order), now, std::move(s), outage});
    return submissions_.size();
  }

  // `awaitable`: started by submit_body, which turns MockFate::throws into an exception.
  template <class Handler>
  void start_submit(Handler handler, ExitOrder order, bool awaitable) {
    if (!awaitable) on_strand("async_submit");
    const time_point now = Clock::now();
    const std::uint64_t n = record_submission(std::move(order), now);
    const script_type s = submissions_[n - 1].script;
    const bool outage = submissions_[n - 1].during_outage;

    if (s.fate == MockFate::throws && !awaitable) {
      // Sent, then the venue threw (it may land), or not sent at all (throw_on_call).
      if (!outage && !s.throw_on_call && s.lands_after) schedule(now + *s.lands_after, event::land_silently, n);
      throw std::runtime_error(throw_message(transaction_id(n), true));
    }

    const bool answers = !outage && s.fate != MockFate::lost;
    auto& entry = pending_submits_[n];
    entry.handler = park<SubmitOutcome>(std::move(handler), answers);
    if (!s.ignores_cancellation) watch_cancellation(*entry.handler, n, &BasicMockVenue::cancel_submit);
    if (outage) return;
    const time_point answer_time = s.answer_at ? std::max(*s.answer_at, now) : now + s.latency;
    switch (s.fate) {
      case MockFate::fill: schedule(answer_time, event::land_and_answer, n); break;
      case MockFate::reject: schedule(answer_time, event::answer, n); break;
      case MockFate::lost: break;
      case MockFate::land_late:
        schedule(s.answer_at ? answer_time : now + *s.lands_after, event::land_and_answer, n);
        break;
      case MockFate::in_doubt:
      case MockFate::throws:
        schedule(answer_time, event::answer, n);
        if (s.lands_after) schedule(now + *s.lands_after, event::land_silently, n);
        break;
      case MockFate::malformed: schedule(answer_time, event::answer_malformed, n); break;
    }
  }

  boost::asio::awaitable<SubmitOutcome> submit_body(ExitOrder order) {
    on_strand("submit");
    using signature = void(boost::system::error_code, SubmitOutcome);
    auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    auto [ec, out] = co_await boost::asio::async_initiate<decltype(token), signature>(
        [this](auto handler, ExitOrder o) { this->start_submit(std::move(handler), std::move(o), true); }, token,
        std::move(order));
    if (ec == make_error_code(error::operation_threw)) throw std::runtime_error(throw_message(out.transaction_id, false));
    if (ec) throw boost::system::system_error(ec);
    co_return out;
  }

  void cancel_submit(std::uint64_t n) {
    const auto it = pending_submits_.find(n);
    if (it == pending_submits_.end()) return;
    auto handler = std::move(it->second.handler);
    pending_submits_.erase(it);
    const auto aborted = make_error_code(boost::asio::error::operation_aborted);
    SubmitOutcome out;
    out.status = SubmitStatus::in_doubt;  // it was broadcast: it may still land
    out.transaction_id = transaction_id(n);
    out.error = aborted;
    handler->complete(aborted, std::move(out));
  }

  template <class Handler>
  void start_query(Handler handler, std::string position_id) {
    on_strand("async_query_position");
    const time_point now = Clock::now();
    if (!query_enabled_) {
      park<Quantity>(std::move(handler), false)
          ->complete(make_error_code(boost::asio::error::operation_not_supported), Quantity{});
      return;
    }
    query_script_type s = next_query_script();
    const bool outage = in_outage(now);
    queries_.push_back(Query{position_id, now, s, outage});
    const std::uint64_t id = queries_.size();
    const bool answers = !outage && s.fate != MockQueryFate::silent;
    auto& entry = pending_queries_[id];
    entry.handler = park<Quantity>(std::move(handler), answers);
    entry.position_id = std::move(position_id);
    if (!s.ignores_cancellation) watch_cancellation(*entry.handler, id, &BasicMockVenue::cancel_query);
    if (!answers) return;
    const time_point at = s.answer_at ? std::max(*s.answer_at, now) : now + s.latency.value_or(query_latency_);
    schedule(at, event::answer_query, id);
  }

  void cancel_query(std::uint64_t id) {
    const auto it = pending_queries_.find(id);
    if (it == pending_queries_.end()) return;
    auto handler = std::move(it->second.handler);
    pending_queries_.erase(it);
    handler->complete(make_error_code(boost::asio::error::operation_aborted), Quantity{});
  }

  executor_type strand_;
  PricePath price_;
  time_point start_;
  std::mt19937_64 rng_;
  std::atomic<bool> strand_checks_{false};

  std::map<std::string, book_entry> positions_;
  std::deque<script_type> queue_;
  std::map<std::pair<std::string, std::uint32_t>, script_type> overrides_;
  script_type default_{};
  std::optional<MockFaultProfile> profile_;
  std::deque<query_script_type> query_queue_;
  query_script_type query_default_{};
  std::vector<std::pair<time_point, time_point>> outages_;
  bool exclusive_ = true;
  bool reduce_only_enforced_ = true;
  std::set<std::string> used_keys_;
  bool query_enabled_ = true;
  duration query_latency_ = std::chrono::milliseconds(200);

  std::vector<Submission> submissions_;
  std::vector<Landing> landings_;
  std::vector<Query> queries_;
  std::map<std::uint64_t, pending<SubmitOutcome>> pending_submits_;
  std::map<std::uint64_t, pending<Quantity>> pending_queries_;
  std::map<std::uint64_t, std::unique_ptr<timer_type>> timers_;
  std::uint64_t next_timer_ = 1;
  // Timer and cancellation handlers hold a weak reference: they do nothing once the
  // venue is gone (the destructor resets it before anything else).
  std::shared_ptr<int> life_ = std::make_shared<int>(0);
};

using MockVenue = BasicMockVenue<ManualClock>;

}  // namespace exitguard::testing
