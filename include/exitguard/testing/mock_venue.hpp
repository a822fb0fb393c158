// exitguard/testing/mock_venue.hpp — a scriptable venue for testing exit strategies.
//
// BasicMockVenue<Clock, Executor> plays the exchange in tests: it takes ExitOrders
// through `submit` (awaitable) or `async_submit` (any completion token), decides
// each one's fate from a script, and answers or stays silent exactly as scripted,
// on timers of `Clock` (ManualClock + VirtualTimeDriver: a 30 s crash runs in
// microseconds). It keeps the book: positions, what each landing sold and at what
// price, every submission with the script it got. `MockVenue` is the ManualClock
// instantiation.
//
// Fates (MockFate): fill, reject, lost (never lands, never answers), land_late (lands
// and answers only after `lands_after`), in_doubt (answers in_doubt; may land
// silently later). Scripts are taken per submission, in this order: a per-(position,
// attempt) override (script_for, kept for every such submission); else the next
// pushed script (push, consumed in submission order across the venue); else, once
// randomize() was called, a random script from the venue's seeded generator
// (identical for identical seeds and submission sequences); else the default
// (set_default). A submit made during an outage (add_outage) takes its script like
// any other, but never lands and never answers.
//
// Landing at time t: price = path(t) moved against the trader by the script's
// slippage; then, in order, a used exclusivity key (exclusive attempts on, the
// default) → not applied, rejected(exit_rejected); a limit order worse than its
// positive limit price → not applied, rejected(slippage_exceeded), key not used;
// quantity = order quantity × fill_ratio, clamped to what is left of the position
// for reduce-only orders (nothing left → not applied, rejected(insufficient_funds));
// otherwise applied: the position drops, `sold` rises, the key is used, and the
// status is filled or partially_filled. Orders with an empty exclusivity key are
// never exclusive; a non-positive or non-finite quantity is rejected(invalid_quantity).
// Every answer carries transaction id "tx-<submission number>" (1-based).
//
// Completions: `void(error_code, SubmitOutcome)` for submits, `void(error_code,
// double)` for position queries. The code is empty, except operation_aborted when
// the caller cancelled, and operation_not_supported for a query while queries are
// disabled. Through `submit`/`query_position` (use_awaitable) those codes are thrown
// as boost::system::system_error. Handlers are never called from the initiating
// function: completions are posted to the handler's associated executor. A pending
// answer holds a timer (and outstanding work on the handler's executor); a submit
// or query that will never be answered is parked in the venue with no timer and no
// work, so an io_context can run out of work while it waits (unless something else
// holds work: a coroutine started with co_spawn does, for as long as it is suspended);
// parked handlers are destroyed (never called) with the venue.
//
// Cancellation: per-operation, terminal, partial and total alike, on every pending
// submit and query: it completes at once (posted) with operation_aborted — for a
// submit, status in_doubt and its transaction id. A cancelled transaction still
// lands when its script says so: it was already broadcast. That, and the silent
// landing of in_doubt, is what reconciliation through query_position is for.
//
// Thread safety: none beyond one thread or strand. Create, script, submit to and
// inspect the venue from a single thread (tests and replays run it from one thread in
// virtual time), or confine every use of it to one strand, which must also be the
// venue's executor. Destroy the venue before its io_context.
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/testing/manual_clock.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/wait_traits.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
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
  fill,       // lands after `latency` and answers then (filled, or partially_filled if fill_ratio < 1)
  reject,     // answers `rejected` with `error` after `latency`; never lands
  lost,       // never lands and never answers (the BUG-003 first transaction)
  land_late,  // lands after `lands_after` (from submit) and only then answers (a late confirmation)
  in_doubt,   // answers SubmitStatus::in_doubt after `latency`; lands silently after `lands_after` if set, else never
};

constexpr std::string_view to_string(MockFate f) noexcept {
  switch (f) {
    case MockFate::fill: return "fill";
    case MockFate::reject: return "reject";
    case MockFate::lost: return "lost";
    case MockFate::land_late: return "land_late";
    case MockFate::in_doubt: return "in_doubt";
  }
  return "unknown";
}

// What happens to one submission. Refused (std::invalid_argument) by the venue if a
// duration is negative, land_late has no lands_after, fill_ratio is not in (0, 1],
// slippage_bps is not in [0, 10000), or a reject has no error.
template <class Duration>
struct BasicMockAttemptScript {
  MockFate fate = MockFate::fill;
  Duration latency = std::chrono::seconds(2);
  std::optional<Duration> lands_after;  // from submit; land_late and in_doubt only
  boost::system::error_code error = exitguard::error::exit_rejected;  // reject only
  double fill_ratio = 1.0;
  double slippage_bps = 0;

  bool operator==(const BasicMockAttemptScript&) const = default;
};

using MockAttemptScript = BasicMockAttemptScript<ManualClock::duration>;

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

template <class Duration>
void validate_script(const BasicMockAttemptScript<Duration>& s) {
  if (s.latency < Duration::zero()) throw std::invalid_argument("mock script: negative latency");
  if (s.lands_after && *s.lands_after < Duration::zero())
    throw std::invalid_argument("mock script: negative lands_after");
  if (s.fate == MockFate::land_late && !s.lands_after)
    throw std::invalid_argument("mock script: land_late needs lands_after");
  if (!std::isfinite(s.fill_ratio) || s.fill_ratio <= 0 || s.fill_ratio > 1)
    throw std::invalid_argument("mock script: fill_ratio must be in (0, 1]");
  if (!std::isfinite(s.slippage_bps) || s.slippage_bps < 0 || s.slippage_bps >= 10000)
    throw std::invalid_argument("mock script: slippage_bps must be in [0, 10000)");
  if (s.fate == MockFate::reject && !s.error) throw std::invalid_argument("mock script: a reject needs an error");
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

  mock_pending_handler_impl(Handler h, const IoExecutor& io_ex, bool track_work)
      : handler_(std::move(h)), executor_(boost::asio::get_associated_executor(handler_, io_ex)) {
    if (track_work) work_.emplace(executor_);
  }

  boost::asio::cancellation_slot slot() noexcept override {
    return boost::asio::get_associated_cancellation_slot(handler_);
  }

  void complete(boost::system::error_code ec, T value) override {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    boost::asio::post(executor_, [h = std::move(handler_), slot, ec, v = std::move(value)]() mutable {
      // The operation is over: its cancellation handler goes before the upcall.
      if (slot.is_connected()) slot.clear();
      std::move(h)(ec, std::move(v));
    });
    work_.reset();
  }

 private:
  Handler handler_;
  handler_executor executor_;
  std::optional<boost::asio::executor_work_guard<handler_executor>> work_;
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
  using executor_type = Executor;
  using duration = typename Clock::duration;
  using time_point = typename Clock::time_point;
  using script_type = BasicMockAttemptScript<duration>;
  using timer_type = boost::asio::basic_waitable_timer<Clock, boost::asio::wait_traits<Clock>, Executor>;

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
    double quantity;
    double price;
    std::string transaction_id;
    bool applied;
  };

  struct Query {
    std::string position_id;
    time_point sent;
    bool during_outage = false;
  };

  // The price path's time 0 is Clock::now() at construction; `seed` seeds randomize().
  BasicMockVenue(const Executor& ex, PricePath price, std::uint64_t seed = 0)
      : executor_(ex), price_(std::move(price)), start_(Clock::now()), rng_(seed) {
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

  executor_type get_executor() const noexcept { return executor_; }

  // --- the book -------------------------------------------------------------

  // Sets what is left to close of position `id` (replacing any earlier value).
  void open_position(std::string id, double quantity) {
    if (!std::isfinite(quantity) || quantity < 0)
      throw std::invalid_argument("BasicMockVenue::open_position: quantity must be finite and >= 0");
    positions_[std::move(id)] = book_entry{quantity, 0};
  }

  // What is left to close (below 0 only after non-reduce-only orders); 0 if unknown.
  double position(const std::string& id) const {
    const auto it = positions_.find(id);
    return it == positions_.end() ? 0 : it->second.remaining;
  }

  // Total filled for that position.
  double sold(const std::string& id) const {
    const auto it = positions_.find(id);
    return it == positions_.end() ? 0 : it->second.sold;
  }

  // The price path at Clock::now() (one path for every position).
  double reference_price(const std::string& /*position_id*/) const { return price_at(Clock::now()); }

  // --- scripts --------------------------------------------------------------

  void push(script_type s) {
    detail::validate_script(s);
    queue_.push_back(std::move(s));
  }
  void script_for(std::string position_id, std::uint32_t attempt, script_type s) {
    detail::validate_script(s);
    overrides_[{std::move(position_id), attempt}] = std::move(s);
  }
  void set_default(script_type s) {
    detail::validate_script(s);
    default_ = std::move(s);
  }
  // From now on, submissions with no pushed or per-attempt script draw a random one.
  void randomize(MockFaultProfile p) {
    detail::validate_profile(p);
    profile_ = p;
  }

  // Submits and position queries made in [from, until) get no answer, ever, and
  // never land. Whether a submit is in an outage is decided when it is made.
  void add_outage(time_point from, time_point until) {
    if (until < from) throw std::invalid_argument("BasicMockVenue::add_outage: until < from");
    outages_.emplace_back(from, until);
  }

  void set_exclusive_attempts(bool on) noexcept { exclusive_ = on; }
  bool exclusive_attempts() const noexcept { return exclusive_; }

  void set_position_query(bool enabled, duration latency = std::chrono::milliseconds(200)) {
    if (latency < duration::zero()) throw std::invalid_argument("BasicMockVenue: negative query latency");
    query_enabled_ = enabled;
    query_latency_ = latency;
  }
  bool can_query_position() const noexcept { return query_enabled_; }

  // --- operations -----------------------------------------------------------

  // Throws system_error(operation_aborted) if the awaiting coroutine is cancelled.
  boost::asio::awaitable<SubmitOutcome> submit(ExitOrder order) {
    co_return co_await async_submit(std::move(order), boost::asio::use_awaitable);
  }

  // Completes with void(error_code, SubmitOutcome); see the header comment.
  template <class Token>
  auto async_submit(ExitOrder order, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, SubmitOutcome)>(
        [this](auto handler, ExitOrder o) { this->start_submit(std::move(handler), std::move(o)); }, token,
        std::move(order));
  }

  // After the query latency, what is then left of the position. Never completes if
  // made during an outage; throws system_error(operation_not_supported) while
  // queries are disabled, and system_error(operation_aborted) if cancelled.
  boost::asio::awaitable<double> query_position(std::string position_id) {
    co_return co_await async_query_position(std::move(position_id), boost::asio::use_awaitable);
  }

  template <class Token>
  auto async_query_position(std::string position_id, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, double)>(
        [this](auto handler, std::string id) { this->start_query(std::move(handler), std::move(id)); }, token,
        std::move(position_id));
  }

  // --- inspection -----------------------------------------------------------

  const std::vector<Submission>& submissions() const noexcept { return submissions_; }
  const std::vector<Landing>& landings() const noexcept { return landings_; }
  // Position queries made while queries were enabled (one made while they are
  // disabled fails at once and is not recorded).
  const std::vector<Query>& queries() const noexcept { return queries_; }

  // Submits whose handler has not been completed yet (a completion is handed to the
  // handler's executor at its answer time, and runs when that executor runs it).
  std::size_t pending_answers() const noexcept { return pending_submits_.size(); }
  // The same for position queries.
  std::size_t pending_queries() const noexcept { return pending_queries_.size(); }

 private:
  struct book_entry {
    double remaining = 0;
    double sold = 0;
  };

  template <class T>
  struct pending {
    std::unique_ptr<detail::mock_pending_handler<T>> handler;
    std::string position_id;  // queries only
  };

  enum class event : std::uint8_t { land_and_answer, answer, land_silently, answer_query };

  static constexpr double epsilon = 1e-9;

  template <class T, class Handler>
  std::unique_ptr<detail::mock_pending_handler<T>> park(Handler handler, bool track_work) {
    return std::make_unique<detail::mock_pending_handler_impl<T, Handler, Executor>>(std::move(handler), executor_,
                                                                                     track_work);
  }

  static bool cancels(boost::asio::cancellation_type t) noexcept {
    using ct = boost::asio::cancellation_type;
    return (t & (ct::terminal | ct::partial | ct::total)) != ct::none;
  }

  bool in_outage(time_point t) const noexcept {
    return std::any_of(outages_.begin(), outages_.end(),
                       [t](const auto& o) { return o.first <= t && t < o.second; });
  }

  double price_at(time_point t) const { return price_(std::chrono::duration<double>(t - start_).count()); }

  static std::string transaction_id(std::uint64_t n) { return "tx-" + std::to_string(n); }

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
    auto& timer = *timers_.emplace(key, std::make_unique<timer_type>(executor_, at)).first->second;
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
        answer(id, std::move(out));
        break;
      }
      case event::answer: {
        const script_type& s = submissions_[id - 1].script;
        SubmitOutcome out;
        out.transaction_id = transaction_id(id);
        if (s.fate == MockFate::reject) {
          out.status = SubmitStatus::rejected;
          out.error = s.error;
        } else {
          out.status = SubmitStatus::in_doubt;
          out.error = make_error_code(error::in_doubt);
        }
        answer(id, std::move(out));
        break;
      }
      case event::land_silently:
        land(id, at);
        break;
      case event::answer_query: {
        const auto it = pending_queries_.find(id);
        if (it == pending_queries_.end()) return;  // cancelled
        auto handler = std::move(it->second.handler);
        const double value = position(it->second.position_id);
        pending_queries_.erase(it);
        handler->complete({}, value);
        break;
      }
    }
  }

  void answer(std::uint64_t n, SubmitOutcome out) {
    const auto it = pending_submits_.find(n);
    if (it == pending_submits_.end()) return;  // cancelled: the caller has its answer
    auto handler = std::move(it->second.handler);
    pending_submits_.erase(it);
    handler->complete({}, std::move(out));
  }

  SubmitOutcome land(std::uint64_t n, time_point at) {
    const Submission& sub = submissions_[n - 1];
    const ExitOrder& o = sub.order;
    const double bps = sub.script.slippage_bps / 1e4;
    const double px = price_at(at) * (o.side == Side::sell ? 1 - bps : 1 + bps);

    SubmitOutcome out;
    out.transaction_id = transaction_id(n);
    Landing landing{o, at, 0.0, px, out.transaction_id, false};
    const bool keyed = !o.exclusivity_key.empty();

    if (!std::isfinite(o.quantity) || o.quantity <= 0) {
      out.error = make_error_code(error::invalid_quantity);
    } else if (exclusive_ && keyed && used_keys_.count(o.exclusivity_key) != 0) {
      out.error = make_error_code(error::exit_rejected);
    } else if (o.kind == OrderKind::limit && o.limit_price > 0 &&
               (o.side == Side::sell ? px < o.limit_price : px > o.limit_price)) {
      out.error = make_error_code(error::slippage_exceeded);
    } else {
      book_entry& book = positions_[o.position_id];
      double q = o.quantity * sub.script.fill_ratio;
      if (o.reduce_only) q = std::min(q, std::max(book.remaining, 0.0));
      if (q <= epsilon) {
        out.error = make_error_code(error::insufficient_funds);
      } else {
        book.remaining -= q;
        book.sold += q;
        if (keyed) used_keys_.insert(o.exclusivity_key);
        out.status = q >= o.quantity - epsilon ? SubmitStatus::filled : SubmitStatus::partially_filled;
        out.filled_quantity = q;
        out.average_price = px;
        landing.quantity = q;
        landing.applied = true;
      }
    }
    landings_.push_back(std::move(landing));
    return out;
  }

  template <class Handler>
  void start_submit(Handler handler, ExitOrder order) {
    const time_point now = Clock::now();
    script_type s = next_script(order);
    const bool outage = in_outage(now);
    const MockFate fate = s.fate;
    const std::optional<duration> lands_after = s.lands_after;
    const duration latency = s.latency;
    submissions_.push_back(Submission{std::move(order), now, std::move(s), outage});
    const std::uint64_t n = submissions_.size();

    const bool answers = !outage && fate != MockFate::lost;
    auto& entry = pending_submits_[n];
    entry.handler = park<SubmitOutcome>(std::move(handler), answers);
    if (auto slot = entry.handler->slot(); slot.is_connected()) {
      slot.assign([life = std::weak_ptr<int>(life_), this, n](boost::asio::cancellation_type t) {
        if (!life.expired() && cancels(t)) cancel_submit(n);
      });
    }
    if (outage) return;
    switch (fate) {
      case MockFate::fill: schedule(now + latency, event::land_and_answer, n); break;
      case MockFate::reject: schedule(now + latency, event::answer, n); break;
      case MockFate::lost: break;
      case MockFate::land_late: schedule(now + *lands_after, event::land_and_answer, n); break;
      case MockFate::in_doubt:
        schedule(now + latency, event::answer, n);
        if (lands_after) schedule(now + *lands_after, event::land_silently, n);
        break;
    }
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
    const time_point now = Clock::now();
    if (!query_enabled_) {
      park<double>(std::move(handler), false)->complete(make_error_code(boost::asio::error::operation_not_supported), 0.0);
      return;
    }
    const bool outage = in_outage(now);
    queries_.push_back(Query{position_id, now, outage});
    const std::uint64_t id = next_query_++;
    auto& entry = pending_queries_[id];
    entry.handler = park<double>(std::move(handler), !outage);
    entry.position_id = std::move(position_id);
    if (auto slot = entry.handler->slot(); slot.is_connected()) {
      slot.assign([life = std::weak_ptr<int>(life_), this, id](boost::asio::cancellation_type t) {
        if (!life.expired() && cancels(t)) cancel_query(id);
      });
    }
    if (!outage) schedule(now + query_latency_, event::answer_query, id);
  }

  void cancel_query(std::uint64_t id) {
    const auto it = pending_queries_.find(id);
    if (it == pending_queries_.end()) return;
    auto handler = std::move(it->second.handler);
    pending_queries_.erase(it);
    handler->complete(make_error_code(boost::asio::error::operation_aborted), 0.0);
  }

  Executor executor_;
  PricePath price_;
  time_point start_;
  std::mt19937_64 rng_;

  std::map<std::string, book_entry> positions_;
  std::deque<script_type> queue_;
  std::map<std::pair<std::string, std::uint32_t>, script_type> overrides_;
  script_type default_{};
  std::optional<MockFaultProfile> profile_;
  std::vector<std::pair<time_point, time_point>> outages_;
  bool exclusive_ = true;
  std::set<std::string> used_keys_;
  bool query_enabled_ = true;
  duration query_latency_ = std::chrono::milliseconds(200);

  std::vector<Submission> submissions_;
  std::vector<Landing> landings_;
  std::vector<Query> queries_;
  std::map<std::uint64_t, pending<SubmitOutcome>> pending_submits_;
  std::map<std::uint64_t, pending<double>> pending_queries_;
  std::uint64_t next_query_ = 1;
  std::map<std::uint64_t, std::unique_ptr<timer_type>> timers_;
  std::uint64_t next_timer_ = 1;
  // Timer and cancellation handlers hold a weak reference: they do nothing once the
  // venue is gone (the destructor resets it before anything else).
  std::shared_ptr<int> life_ = std::make_shared<int>(0);
};

using MockVenue = BasicMockVenue<ManualClock>;

}  // namespace exitguard::testing
