// exitguard/exit_attempt_tracker.hpp — the record of one exit's attempts.
//
// BasicExitAttemptTracker records every attempt of one exit: its number, ladder
// step, order, start and end, outcome, fill and transaction id. It enforces the
// exit's attempt limit, knows which attempts may still land, and counts each
// attempt's fill exactly once, in exact base units — including fills reported after
// the attempt was given up (late fills) and fills reported twice.
//
// An attempt's fill can be reported two ways: in its answer (the attempt's
// cumulative quantity and average price) and by fill reports (increments, each with
// a fill or transaction id, deduplicated). What counts is the larger of the two
// totals, so the same fill seen both ways is never counted twice.
//
// It validates nothing: the exit engine checks every venue answer before it reaches
// the tracker. It reads no clock: every time is passed in.
//
// Thread safety: none; one exit's tracker is used from that exit's strand.
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/retry_policy.hpp>
#include <exitguard/venue.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exitguard {

enum class AttemptOutcome : std::uint8_t {
  pending,           // sent, no answer yet
  filled,            // filled in full
  partially_filled,  // filled in part; the order is done
  rejected,          // certainly did not fill
  in_doubt,          // given up on or unconfirmed: it may still land
  cancelled,         // the exit was cancelled while it was pending (it may still land)
  expired,           // known dead: it can no longer land (a blockhash past its height)
};

constexpr std::string_view to_string(AttemptOutcome o) noexcept {
  switch (o) {
    case AttemptOutcome::pending: return "pending";
    case AttemptOutcome::filled: return "filled";
    case AttemptOutcome::partially_filled: return "partially_filled";
    case AttemptOutcome::rejected: return "rejected";
    case AttemptOutcome::in_doubt: return "in_doubt";
    case AttemptOutcome::cancelled: return "cancelled";
    case AttemptOutcome::expired: return "expired";
  }
  return "unknown";
}

// May an attempt with this outcome still fill (more)?
constexpr bool may_still_land(AttemptOutcome o) noexcept {
  return o == AttemptOutcome::pending || o == AttemptOutcome::in_doubt || o == AttemptOutcome::cancelled;
}

template <class Clock>
struct BasicAttemptRecord {
  std::uint32_t number = 0;  // 1-based across the exit
  std::uint32_t step = 0;
  OrderKind kind = OrderKind::limit;
  Quantity quantity;
  double limit_price = 0;
  double max_slippage_bps = 0;
  typename Clock::time_point started{};
  typename Clock::time_point live_until{};  // when its time in force ends (ExitOrder::time_in_force)
  std::optional<typename Clock::time_point> ended;
  AttemptOutcome outcome = AttemptOutcome::pending;
  Quantity filled_quantity;  // counted: the larger of the answer's total and the fill reports' sum
  double average_price = 0;  // of what is counted; 0 if nothing filled
  std::string transaction_id;
  boost::system::error_code error;
  bool late_fill = false;             // (part of) its fill arrived after it was given up
  bool needs_reconciliation = false;  // its answer was malformed: only the position tells what happened
  std::uint64_t key_generation = 0;   // which exclusivity key it carried
  // The two ways its fill was reported (see the class comment).
  Quantity answered_quantity;
  double answered_notional = 0;
  Quantity reported_quantity;
  double reported_notional = 0;
};

template <class Clock>
class BasicExitAttemptTracker {
 public:
  using clock_type = Clock;
  using time_point = typename Clock::time_point;
  using record_type = BasicAttemptRecord<Clock>;

  static constexpr std::uint32_t max_attempt_limit = 1000;
  // Distinct fill ids remembered per exit; a further report is refused (and audited).
  static constexpr std::size_t max_fill_ids = 256;

  // Throws configuration_error(invalid_exit_attempt_limit) unless 1 <= max_attempts <= 1000.
  explicit BasicExitAttemptTracker(std::uint32_t max_attempts) : max_attempts_(max_attempts) {
    if (max_attempts < 1 || max_attempts > max_attempt_limit) throw configuration_error(error::invalid_exit_attempt_limit);
  }

  std::uint32_t max_attempts() const noexcept { return max_attempts_; }
  std::uint32_t started() const noexcept { return static_cast<std::uint32_t>(records_.size()); }
  std::uint32_t remaining() const noexcept { return max_attempts_ - started(); }

  // Records the start of attempt started()+1 for `order` at `now`. Returns
  // error::attempt_limit_reached, and records nothing, if no attempt is left.
  // `live_until`: when its time in force ends (default: now, i.e. not given).
  boost::system::error_code begin(const ExitOrder& order, time_point now, std::uint64_t key_generation = 0,
                                  std::optional<time_point> live_until = std::nullopt) {
    if (remaining() == 0) return error::attempt_limit_reached;
    record_type r;
    r.number = started() + 1;
    r.step = order.step;
    r.kind = order.kind;
    r.quantity = order.quantity;
    r.limit_price = order.limit_price;
    r.max_slippage_bps = order.max_slippage_bps;
    r.started = now;
    r.live_until = live_until.value_or(now);
    r.key_generation = key_generation;
    records_.push_back(std::move(r));
    return {};
  }

  // The attempt's answer: its outcome and, if it filled, its cumulative quantity and
  // average price (already validated: 0 < quantity <= the order's, price finite and
  // positive). An answer to an attempt that was given up is a late one. Returns the
  // quantity newly counted (0 for a second answer, a rejection, or what the fill
  // reports had already counted).
  Quantity settle(std::uint32_t number, AttemptOutcome outcome, Quantity filled, double price,
                  std::string_view transaction_id, boost::system::error_code why, time_point now) {
    record_type* r = find_record(number);
    if (!r || !may_still_land(r->outcome)) return Quantity{};
    const bool late = r->outcome != AttemptOutcome::pending;
    if (!r->ended || !late) r->ended = now;
    if (!transaction_id.empty()) r->transaction_id = std::string(transaction_id);
    r->error = why;
    r->outcome = outcome;
    if (!filled.is_positive()) return Quantity{};
    r->answered_quantity = filled;
    r->answered_notional = static_cast<double>(filled.units()) * price;
    return recount(*r, late);
  }

  // A fill report for attempt `number` (an increment), deduplicated by `fill_id`.
  // Returns the quantity newly counted; `duplicate` is set if the id was seen.
  Quantity add_fill(std::uint32_t number, std::string_view fill_id, Quantity quantity, double price,
                    bool& duplicate) {
    duplicate = false;
    record_type* r = find_record(number);
    if (!r || !quantity.is_positive()) return Quantity{};
    if (!fill_id.empty()) {
      for (const auto& seen : fill_ids_)
        if (seen.first == number && seen.second == fill_id) {
          duplicate = true;
          return Quantity{};
        }
      if (fill_ids_.size() >= max_fill_ids) {
        duplicate = true;
        return Quantity{};
      }
      fill_ids_.emplace_back(number, std::string(fill_id));
    }
    r->reported_quantity += quantity;
    r->reported_notional += static_cast<double>(quantity.units()) * price;
    return recount(*r, r->outcome != AttemptOutcome::pending);
  }

  // Was a fill report with `fill_id` (not empty) already counted for attempt `number`?
  bool seen_fill(std::uint32_t number, std::string_view fill_id) const noexcept {
    if (fill_id.empty()) return false;
    return std::any_of(fill_ids_.begin(), fill_ids_.end(),
                       [&](const auto& seen) { return seen.first == number && seen.second == fill_id; });
  }

  // Gives up on a pending attempt (timed out, or in doubt by the venue's own word):
  // it may still land.
  void mark_in_doubt(std::uint32_t number, boost::system::error_code why, time_point now,
                     bool needs_reconciliation = false) {
    if (record_type* r = find_record(number); r && (r->outcome == AttemptOutcome::pending ||
                                                   r->outcome == AttemptOutcome::in_doubt)) {
      r->outcome = AttemptOutcome::in_doubt;
      if (!r->ended) r->ended = now;
      r->error = why;
      r->needs_reconciliation = r->needs_reconciliation || needs_reconciliation;
    }
  }

  // The exit was cancelled while this attempt was pending: it may still land.
  void mark_cancelled(std::uint32_t number, time_point now) {
    if (record_type* r = find_record(number); r && r->outcome == AttemptOutcome::pending) {
      r->outcome = AttemptOutcome::cancelled;
      r->ended = now;
      r->error = boost::asio::error::operation_aborted;
    }
  }

  // The attempt can no longer land; what it filled so far stays counted.
  void mark_expired(std::uint32_t number, time_point now) {
    if (record_type* r = find_record(number); r && may_still_land(r->outcome)) {
      r->outcome = r->filled_quantity.is_positive() ? AttemptOutcome::partially_filled : AttemptOutcome::expired;
      if (!r->ended) r->ended = now;
    }
  }

  // Reconciliation (a position report) accounted for whatever a malformed answer hid.
  void reconciled() noexcept {
    for (auto& r : records_) r.needs_reconciliation = false;
  }

  // Attempts given up on that may still land (pending ones are not "in doubt" yet).
  bool any_in_doubt() const noexcept {
    return std::any_of(records_.begin(), records_.end(), [](const record_type& r) {
      return r.outcome == AttemptOutcome::in_doubt || r.outcome == AttemptOutcome::cancelled;
    });
  }
  bool any_needs_reconciliation() const noexcept {
    return std::any_of(records_.begin(), records_.end(),
                       [](const record_type& r) { return r.needs_reconciliation && may_still_land(r.outcome); });
  }
  // Attempts that may still land, pending ones included.
  bool any_unsettled() const noexcept {
    return std::any_of(records_.begin(), records_.end(), [](const record_type& r) { return may_still_land(r.outcome); });
  }

  Quantity filled_quantity() const noexcept { return filled_; }
  double filled_notional() const noexcept { return notional_; }
  // Volume-weighted average price of everything filled, 0 if nothing filled.
  double average_price() const noexcept {
    return filled_.is_positive() ? notional_ / static_cast<double>(filled_.units()) : 0;
  }
  std::uint32_t late_fills() const noexcept { return late_fills_; }

  const std::vector<record_type>& attempts() const noexcept { return records_; }
  const record_type* find(std::uint32_t number) const noexcept {
    return number >= 1 && number <= records_.size() ? &records_[number - 1] : nullptr;
  }

 private:
  record_type* find_record(std::uint32_t number) noexcept {
    return number >= 1 && number <= records_.size() ? &records_[number - 1] : nullptr;
  }

  // The attempt's count is the larger of its two reported totals; returns the increase.
  Quantity recount(record_type& r, bool late) {
    const bool by_answer = r.answered_quantity >= r.reported_quantity;
    const Quantity now_counted = by_answer ? r.answered_quantity : r.reported_quantity;
    const double notional = by_answer ? r.answered_notional : r.reported_notional;
    const Quantity delta = now_counted - r.filled_quantity;
    if (!delta.is_positive()) return Quantity{};
    notional_ += notional - r.average_price * static_cast<double>(r.filled_quantity.units());
    r.filled_quantity = now_counted;
    r.average_price = notional / static_cast<double>(now_counted.units());
    filled_ += delta;
    if (late) {
      r.late_fill = true;
      ++late_fills_;
    }
    return delta;
  }

  std::uint32_t max_attempts_;
  std::vector<record_type> records_;
  std::vector<std::pair<std::uint32_t, std::string>> fill_ids_;
  Quantity filled_;
  double notional_ = 0;
  std::uint32_t late_fills_ = 0;
};

using ExitAttemptTracker = BasicExitAttemptTracker<std::chrono::steady_clock>;

}  // namespace exitguard
