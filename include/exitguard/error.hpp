// exitguard/error.hpp — error codes, failure kinds and classifiers.
//
// Every error exitguard reports is an `exitguard::error` value inside a
// `boost::system::error_code` of the category named "exitguard". Each value has a
// stable numeric id (its value, never reused) and a stable symbolic name; both are
// listed with their messages in docs/errors.md. Time-outs compare equal to
// `boost::system::errc::timed_out`, and every configuration error compares equal
// to `exitguard::condition::invalid_configuration`.
//
// A `FailureKind` says what an error means for a retry: transient (safe to try
// again), permanent (trying again cannot help) or in doubt (the operation may still
// take effect: re-sending it could do it twice).
#pragma once

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

namespace exitguard {

// The values are the stable ids: append, never renumber.
enum class error : int {
  // 1xx: outcomes of retries and exits
  deadline_exceeded = 101,
  attempt_timed_out = 102,
  attempts_exhausted = 103,
  total_timeout_exceeded = 104,
  in_doubt = 105,
  operation_threw = 106,
  // 2xx: exit orchestration
  invalid_transition = 201,
  trading_halted = 202,
  circuit_open = 203,
  exit_rejected = 204,
  in_doubt_unresolvable = 205,
  slippage_exceeded = 206,
  attempt_limit_reached = 207,
  venue_unavailable = 208,
  insufficient_funds = 209,
  event_not_allowed = 210,
  callback_threw = 211,
  attempt_expired = 212,
  // 4xx: venue answers refused by validation (audited, never counted as reported)
  fill_without_quantity = 401,
  overfill = 402,
  unknown_submit_status = 403,
  invalid_fill_price = 404,
  invalid_reference_price = 405,
  invalid_position_report = 406,
  position_query_failed = 407,
  duplicate_fill = 408,
  // 3xx: configuration refused at construction
  invalid_max_attempts = 301,
  invalid_total_timeout = 302,
  invalid_attempt_timeout = 303,
  attempt_timeout_exceeds_total = 304,
  invalid_initial_backoff = 305,
  invalid_backoff_multiplier = 306,
  invalid_max_backoff = 307,
  invalid_jitter = 308,
  invalid_min_attempt_window = 309,
  invalid_deadline = 310,
  final_window_does_not_fit = 311,
  invalid_slippage = 312,
  invalid_ladder = 313,
  invalid_breaker_threshold = 314,
  invalid_cooldown = 315,
  invalid_quantity = 316,
  invalid_audit_capacity = 317,
  invalid_price = 318,
  invalid_trading_state = 319,
  cooldown_unused = 320,
  deadline_too_long = 321,
  invalid_late_answer_horizon = 322,
  invalid_lot_size = 323,
  invalid_exit_attempt_limit = 324,
  invalid_key_namespace = 325,
};

// Conditions group errors so that callers can test for a family.
enum class condition : int {
  invalid_configuration = 1,  // every 3xx error
  timeout = 2,                // deadline, attempt and total time-outs
};

}  // namespace exitguard

template <>
struct boost::system::is_error_code_enum<exitguard::error> : std::true_type {};
template <>
struct boost::system::is_error_condition_enum<exitguard::condition> : std::true_type {};

namespace exitguard {

namespace detail {

struct error_info {
  error value;
  std::string_view name;
  std::string_view message;
};

// The one table of names and messages; docs/errors.md mirrors it.
inline constexpr error_info error_table[] = {
    {error::deadline_exceeded, "deadline_exceeded", "the exit deadline was exceeded"},
    {error::attempt_timed_out, "attempt_timed_out", "the attempt timed out without an answer"},
    {error::attempts_exhausted, "attempts_exhausted", "every allowed attempt failed"},
    {error::total_timeout_exceeded, "total_timeout_exceeded",
     "the total time budget ran out before the operation succeeded"},
    {error::in_doubt, "in_doubt", "the outcome is in doubt: the operation may still take effect"},
    {error::operation_threw, "operation_threw", "the operation threw an exception"},
    {error::invalid_transition, "invalid_transition", "invalid exit state transition"},
    {error::trading_halted, "trading_halted", "trading is halted"},
    {error::circuit_open, "circuit_open", "the exit circuit breaker is open"},
    {error::exit_rejected, "exit_rejected", "the venue rejected the exit order"},
    {error::in_doubt_unresolvable, "in_doubt_unresolvable",
     "an attempt is in doubt and the venue offers no way to resolve it: nothing more was sent"},
    {error::slippage_exceeded, "slippage_exceeded", "the order's slippage limit was exceeded"},
    {error::attempt_limit_reached, "attempt_limit_reached", "the exit's attempt limit was reached"},
    {error::venue_unavailable, "venue_unavailable", "the venue is unavailable"},
    {error::insufficient_funds, "insufficient_funds", "insufficient funds or position"},
    {error::event_not_allowed, "event_not_allowed",
     "the exit's state does not allow this event: it was refused and audited"},
    {error::callback_threw, "callback_threw", "a user callable (venue member, classifier, rule, sink) threw"},
    {error::attempt_expired, "attempt_expired", "the attempt is known dead: it can never land"},
    {error::fill_without_quantity, "fill_without_quantity",
     "the venue reported a fill without a positive quantity"},
    {error::overfill, "overfill", "the venue reported more filled than the order's quantity"},
    {error::unknown_submit_status, "unknown_submit_status",
     "the venue answered with a status that is not filled, partially_filled, rejected or in_doubt"},
    {error::invalid_fill_price, "invalid_fill_price",
     "the venue reported a fill at a price that is not a positive finite number"},
    {error::invalid_reference_price, "invalid_reference_price",
     "the venue's reference price is not a positive finite number"},
    {error::invalid_position_report, "invalid_position_report",
     "the venue reported a position that is negative or larger than the exit's position"},
    {error::position_query_failed, "position_query_failed", "the position query failed or was not answered in time"},
    {error::duplicate_fill, "duplicate_fill", "a fill already counted was reported again: it was not counted twice"},
    {error::invalid_max_attempts, "invalid_max_attempts", "max_attempts must be between 1 and 100"},
    {error::invalid_total_timeout, "invalid_total_timeout",
     "total_timeout must be positive and at most a quarter of its clock's range"},
    {error::invalid_attempt_timeout, "invalid_attempt_timeout", "attempt_timeout must be positive"},
    {error::attempt_timeout_exceeds_total, "attempt_timeout_exceeds_total",
     "attempt_timeout must not be longer than total_timeout"},
    {error::invalid_initial_backoff, "invalid_initial_backoff",
     "initial_backoff must be zero or positive"},
    {error::invalid_backoff_multiplier, "invalid_backoff_multiplier",
     "backoff_multiplier must be a finite number between 1 and 100"},
    {error::invalid_max_backoff, "invalid_max_backoff",
     "max_backoff must be at least initial_backoff and shorter than total_timeout"},
    {error::invalid_jitter, "invalid_jitter", "jitter must be none, full, equal or decorrelated"},
    {error::invalid_min_attempt_window, "invalid_min_attempt_window",
     "min_attempt_window must be positive and not longer than attempt_timeout"},
    {error::invalid_deadline, "invalid_deadline", "the exit deadline must be positive"},
    {error::final_window_does_not_fit, "final_window_does_not_fit",
     "the window reserved for the final step must be positive and shorter than the exit deadline"},
    {error::invalid_slippage, "invalid_slippage",
     "max slippage must be above 0 and at most 10000 bps (100 %)"},
    {error::invalid_ladder, "invalid_ladder",
     "the escalation ladder must have 1 to 8 steps and end in a market order"},
    {error::invalid_breaker_threshold, "invalid_breaker_threshold",
     "the circuit breaker threshold must be between 1 and 1000"},
    {error::invalid_cooldown, "invalid_cooldown", "the circuit breaker cooldown must be positive"},
    {error::invalid_quantity, "invalid_quantity", "the quantity must be a positive whole number of lots"},
    {error::invalid_audit_capacity, "invalid_audit_capacity",
     "the audit trail capacity must be between 8 and 65536 entries"},
    {error::invalid_price, "invalid_price", "the price must be a positive finite number"},
    {error::invalid_trading_state, "invalid_trading_state",
     "not a trading state: running, reduce_only or halted"},
    {error::cooldown_unused, "cooldown_unused",
     "a breaker cooldown is only used when the trip action is halted: remove it or halt on trip"},
    {error::deadline_too_long, "deadline_too_long",
     "the exit deadline must be at most 10 minutes"},
    {error::invalid_late_answer_horizon, "invalid_late_answer_horizon",
     "the late-answer horizon must be longer than the exit deadline and at most 1 hour"},
    {error::invalid_lot_size, "invalid_lot_size", "the lot size must be a positive number of base units"},
    {error::invalid_exit_attempt_limit, "invalid_exit_attempt_limit",
     "the exit's attempt limit must be between 1 and 1000"},
    {error::invalid_key_namespace, "invalid_key_namespace", "the key namespace must be 1 to 8 letters or digits"},
};

constexpr const error_info* find_error(int value) noexcept {
  for (const auto& info : error_table)
    if (static_cast<int>(info.value) == value) return &info;
  return nullptr;
}

class error_category_impl final : public boost::system::error_category {
 public:
  // A fixed id makes the category compare equal across shared-library copies.
  constexpr error_category_impl() noexcept : error_category(0x6578697467756172ULL) {}

  const char* name() const noexcept override { return "exitguard"; }

  std::string message(int value) const override {
    if (const auto* info = find_error(value)) return std::string(info->message);
    return "unknown exitguard error " + std::to_string(value);
  }

  boost::system::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<error>(value)) {
      case error::deadline_exceeded:
      case error::attempt_timed_out:
      case error::total_timeout_exceeded:
        return boost::system::errc::make_error_condition(boost::system::errc::timed_out);
      default:
        return {value, *this};
    }
  }

  bool equivalent(int value, const boost::system::error_condition& cond) const noexcept override;
};

class condition_category_impl final : public boost::system::error_category {
 public:
  constexpr condition_category_impl() noexcept : error_category(0x6578697463636f6eULL) {}
  const char* name() const noexcept override { return "exitguard.condition"; }
  std::string message(int value) const override {
    switch (static_cast<condition>(value)) {
      case condition::invalid_configuration: return "invalid configuration";
      case condition::timeout: return "timed out";
    }
    return "unknown exitguard condition " + std::to_string(value);
  }
};

inline constexpr condition_category_impl condition_category_instance{};
inline constexpr error_category_impl error_category_instance{};

inline bool error_category_impl::equivalent(int value,
                                            const boost::system::error_condition& cond) const noexcept {
  if (cond.category() == condition_category_instance) {
    switch (static_cast<condition>(cond.value())) {
      case condition::invalid_configuration: return value >= 300 && value < 400;
      case condition::timeout:
        return value == static_cast<int>(error::deadline_exceeded) ||
               value == static_cast<int>(error::attempt_timed_out) ||
               value == static_cast<int>(error::total_timeout_exceeded);
    }
    return false;
  }
  return default_error_condition(value) == cond;
}

}  // namespace detail

inline const boost::system::error_category& error_category() noexcept {
  return detail::error_category_instance;
}
inline const boost::system::error_category& condition_category() noexcept {
  return detail::condition_category_instance;
}

inline boost::system::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}
inline boost::system::error_condition make_error_condition(condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

// The stable symbolic name of an error ("invalid_max_attempts"), empty if unknown.
constexpr std::string_view error_name(error e) noexcept {
  const auto* info = detail::find_error(static_cast<int>(e));
  return info ? info->name : std::string_view{};
}

// A short, stable label for any code, as the logs and the conformance report print
// it: "none" for no error, the exitguard name ("deadline_exceeded"), or
// "<category>:<value>" for another category ("exitguard.http:429", "system:111").
inline std::string error_label(const boost::system::error_code& ec) {
  if (!ec) return "none";
  if (ec.category() == error_category()) {
    const std::string_view name = error_name(static_cast<error>(ec.value()));
    if (!name.empty()) return std::string(name);
  }
  return ec.category().name() + std::string(":") + std::to_string(ec.value());
}

// Thrown by constructors that refuse a configuration (principle 6: refused at
// construction). `code()` holds the 3xx error; `what()` names it and the setting.
class configuration_error : public boost::system::system_error {
 public:
  explicit configuration_error(error e)
      : system_error(make_error_code(e), "exitguard." + std::string(error_name(e))) {}
};

// Throws configuration_error if `ec` is set; returns otherwise.
inline void throw_if_invalid(const boost::system::error_code& ec) {
  if (ec) throw configuration_error(static_cast<error>(ec.value()));
}

// What a failure means for the next attempt.
enum class FailureKind {
  transient,  // nothing happened and trying again may succeed (a refused connection)
  permanent,  // trying again cannot succeed (insufficient funds, invalid order)
  in_doubt,   // the operation may still take effect (a timed-out submit)
};

constexpr std::string_view to_string(FailureKind kind) noexcept {
  switch (kind) {
    case FailureKind::transient: return "transient";
    case FailureKind::permanent: return "permanent";
    case FailureKind::in_doubt: return "in_doubt";
  }
  return "unknown";
}

// A classifier maps the error of a failed attempt to a FailureKind.
template <class C>
concept Classifier = std::copy_constructible<C> &&
                     requires(const C& c, const boost::system::error_code& ec) {
                       { c(ec) } -> std::convertible_to<FailureKind>;
                     };

// The default classifier, for operations with effects (submitting an order):
// - in doubt: time-outs and connections lost after the request may have been sent;
// - transient: the request certainly did not reach its peer (refused, unreachable,
//   try again, venue unavailable);
// - permanent: everything else, including exitguard's own rejections.
struct DefaultClassifier {
  FailureKind operator()(const boost::system::error_code& ec) const noexcept {
    namespace errc = boost::system::errc;
    namespace aerr = boost::asio::error;
    // errno values are compared with errc conditions, which match them in the
    // system category (Asio's codes) and in the generic one (std::errc-style codes).
    if (ec == errc::timed_out || ec == aerr::timed_out || ec == error::in_doubt ||
        ec == errc::connection_reset || ec == errc::connection_aborted ||
        ec == errc::broken_pipe || ec == aerr::eof)
      return FailureKind::in_doubt;
    if (ec == errc::connection_refused || ec == errc::network_unreachable ||
        ec == errc::host_unreachable || ec == errc::network_down || ec == error::attempt_expired ||
        ec == errc::resource_unavailable_try_again || ec == errc::operation_would_block ||
        ec == errc::no_buffer_space || ec == aerr::try_again || ec == aerr::would_block ||
        ec == aerr::host_not_found_try_again || ec == error::venue_unavailable)
      return FailureKind::transient;
    return FailureKind::permanent;
  }
};

// For idempotent operations (a price or balance query): an attempt that timed out
// or lost its connection had no effect worth fearing, so it is retried like any
// other transient failure.
struct IdempotentClassifier {
  FailureKind operator()(const boost::system::error_code& ec) const noexcept {
    const auto kind = DefaultClassifier{}(ec);
    return kind == FailureKind::in_doubt ? FailureKind::transient : kind;
  }
};

}  // namespace exitguard
