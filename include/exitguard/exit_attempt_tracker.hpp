// exitguard/exit_attempt_tracker.hpp — the record of one exit's attempts.
//
// BasicExitAttemptTracker records every attempt of one exit: its number, ladder
// step, order, start and end, outcome, fill and transaction id. It enforces the
// exit's attempt limit, keeps the set of attempts still in doubt, and counts each
// attempt's fill exactly once — including a fill reported after the attempt was
// given up (a late fill), so that nothing is double-counted.
//
// Thread safety: none; one exit's tracker is used from that exit's strand.
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/retry_policy.hpp>
#include <exitguard/venue.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace exitguard {

enum class AttemptOutcome : std::uint8_t {
  pending,           // sent, no answer yet
  filled,            // filled in full
  partially_filled,  // filled in part
  rejected,          // certainly did not fill
  in_doubt,          // given up on or unconfirmed: it may still land
  cancelled,         // the exit was cancelled while it was pending (it may still land)
};

constexpr std::string_view to_string(AttemptOutcome o) noexcept {
  switch (o) {
    case AttemptOutcome::pending: return "pending";
    case AttemptOutcome::filled: return "filled";
    case AttemptOutcome::partially_filled: return "partially_filled";
    case AttemptOutcome::rejected: return "rejected";
    case AttemptOutcome::in_doubt: return "in_doubt";
    case AttemptOutcome::cancelled: return "cancelled";
  }
  return "unknown";
}

template <class Clock>
struct BasicAttemptRecord {
  std::uint32_t number = 0;  // 1-based across the exit
  std::uint32_t step = 0;
  OrderKind kind = OrderKind::limit;
  double quantity = 0;
  double limit_price = 0;
  double max_slippage_bps = 0;
  typename Clock::time_point started{};
  std::optional<typename Clock::time_point> ended;
  AttemptOutcome outcome = AttemptOutcome::pending;
  double filled_quantity = 0;
  double average_price = 0;
  std::string transaction_id;
  boost::system::error_code error;
  bool late_fill = false;  // its fill arrived after it was given up
};

template <class Clock>
class BasicExitAttemptTracker {
 public:
  using clock_type = Clock;
  using record_type = BasicAttemptRecord<Clock>;

  // Throws configuration_error(invalid_max_attempts) unless 1 <= max_attempts <= 8 * max_retry_attempts
  // (the longest ladder times the largest policy).
  explicit BasicExitAttemptTracker(std::uint32_t max_attempts) : max_attempts_(max_attempts) {
    if (max_attempts < 1 || max_attempts > 8 * max_retry_attempts)
      throw configuration_error(error::invalid_max_attempts);
    records_.reserve(std::min<std::uint32_t>(max_attempts, 16));
  }

  std::uint32_t max_attempts() const noexcept { return max_attempts_; }
  std::uint32_t started() const noexcept { return static_cast<std::uint32_t>(records_.size()); }
  std::uint32_t remaining() const noexcept { return max_attempts_ - started(); }

  // Records the start of an attempt for `order` (its number must be started()+1).
  // Returns error::attempt_limit_reached, and records nothing, if no attempt is left.
  boost::system::error_code begin(const ExitOrder& order) {
    if (remaining() == 0) return error::attempt_limit_reached;
    record_type r;
    r.number = started() + 1;
    r.step = order.step;
    r.kind = order.kind;
    r.quantity = order.quantity;
    r.limit_price = order.limit_price;
    r.max_slippage_bps = order.max_slippage_bps;
    r.started = Clock::now();
    records_.push_back(std::move(r));
    return {};
  }

  // Records the answer to a pending attempt. Returns the quantity newly counted as
  // filled (0 for a duplicate or a rejection).
  double complete(std::uint32_t number, const SubmitOutcome& outcome) {
    record_type* r = find_record(number);
    if (!r || r->outcome != AttemptOutcome::pending) return 0;
    return settle(*r, outcome, false);
  }

  // Gives up on a pending attempt (timed out, disconnected, or in doubt by the
  // venue's own word): it may still land.
  void mark_in_doubt(std::uint32_t number, boost::system::error_code why) {
    if (record_type* r = find_record(number); r && r->outcome == AttemptOutcome::pending) {
      r->outcome = AttemptOutcome::in_doubt;
      r->ended = Clock::now();
      r->error = why;
    }
  }

  // The exit was cancelled while this attempt was pending.
  void mark_cancelled(std::uint32_t number) {
    if (record_type* r = find_record(number); r && r->outcome == AttemptOutcome::pending) {
      r->outcome = AttemptOutcome::cancelled;
      r->ended = Clock::now();
      r->error = boost::asio::error::operation_aborted;
    }
  }

  // A fill reported for an attempt that was given up (in doubt or cancelled).
  // Counted once: returns the quantity newly counted, 0 if the attempt already has
  // a final answer.
  double take_late_fill(std::uint32_t number, const SubmitOutcome& outcome) {
    record_type* r = find_record(number);
    if (!r || (r->outcome != AttemptOutcome::in_doubt && r->outcome != AttemptOutcome::cancelled)) return 0;
    return settle(*r, outcome, true);
  }

  // Resolves an in-doubt attempt as certainly not filled (the venue said so, or
  // reconciliation showed the position intact and the attempts exclusive).
  void resolve_unfilled(std::uint32_t number) {
    if (record_type* r = find_record(number); r && r->outcome == AttemptOutcome::in_doubt)
      r->outcome = AttemptOutcome::rejected;
  }

  // Attempts that may still land.
  std::vector<std::uint32_t> in_doubt() const {
    std::vector<std::uint32_t> out;
    for (const auto& r : records_)
      if (r.outcome == AttemptOutcome::in_doubt || r.outcome == AttemptOutcome::pending ||
          r.outcome == AttemptOutcome::cancelled)
        out.push_back(r.number);
    return out;
  }
  bool any_in_doubt() const noexcept {
    for (const auto& r : records_)
      if (r.outcome == AttemptOutcome::in_doubt || r.outcome == AttemptOutcome::cancelled) return true;
    return false;
  }

  double filled_quantity() const noexcept { return filled_; }
  // Volume-weighted average price of everything filled, 0 if nothing filled.
  double average_price() const noexcept { return filled_ > 0 ? notional_ / filled_ : 0; }
  std::uint32_t late_fills() const noexcept { return late_fills_; }

  const std::vector<record_type>& attempts() const noexcept { return records_; }
  const record_type* find(std::uint32_t number) const noexcept {
    return number >= 1 && number <= records_.size() ? &records_[number - 1] : nullptr;
  }

 private:
  // Not an overload of the public find(): a non-const tracker must reach that one.
  record_type* find_record(std::uint32_t number) noexcept {
    return number >= 1 && number <= records_.size() ? &records_[number - 1] : nullptr;
  }

  double settle(record_type& r, const SubmitOutcome& o, bool late) {
    if (!r.ended || !late) r.ended = Clock::now();
    r.transaction_id = o.transaction_id;
    r.error = o.error;
    switch (o.status) {
      case SubmitStatus::filled: r.outcome = AttemptOutcome::filled; break;
      case SubmitStatus::partially_filled: r.outcome = AttemptOutcome::partially_filled; break;
      case SubmitStatus::rejected: r.outcome = AttemptOutcome::rejected; return 0;
      case SubmitStatus::in_doubt: r.outcome = AttemptOutcome::in_doubt; return 0;
    }
    // Never count more than the attempt was allowed to fill; a negative or NaN
    // report counts nothing (std::max(NaN, 0.0) is NaN, which would poison the totals).
    const double reported = o.filled_quantity > 0 ? o.filled_quantity : 0.0;
    const double qty = std::min(reported, r.quantity);
    r.filled_quantity = qty;
    r.average_price = o.average_price;
    r.late_fill = late;
    filled_ += qty;
    notional_ += qty * o.average_price;
    if (late && qty > 0) ++late_fills_;
    return qty;
  }

  std::uint32_t max_attempts_;
  std::vector<record_type> records_;
  double filled_ = 0;
  double notional_ = 0;
  std::uint32_t late_fills_ = 0;
};

using ExitAttemptTracker = BasicExitAttemptTracker<std::chrono::steady_clock>;

}  // namespace exitguard
