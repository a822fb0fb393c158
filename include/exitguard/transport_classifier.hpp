// exitguard/transport_classifier.hpp — error codes and classifiers for the
// transports bots use: HTTP, JSON-RPC 2.0, Boost.Beast (HTTP and WebSocket), Asio
// and TLS.
//
// `DefaultClassifier` knows errno-style codes and exitguard's own. A transport
// built on Beast reports codes it does not know: `beast::error::timeout` on a
// submit whose answer never came is in doubt (the order may have landed), yet
// DefaultClassifier calls it permanent. `TransportClassifier` knows them.
//
// The phase rule, which every transport must follow for these verdicts to hold:
// - a failure before the request started to leave (resolve, connect, TLS
//   handshake, each with its time-out) is reported as
//   `transport_error::connect_failed` (or `no_endpoint` once every endpoint
//   failed): nothing was sent, so the next attempt is safe (transient);
// - a failure once the request started to be written (a time-out, a reset, an
//   end of stream while writing or waiting for the answer) is reported as the raw
//   code (`beast::error::timeout`, `asio::error::eof`, `connection_reset`...):
//   the request may have been processed, so it is in doubt;
// - an answer that came back is reported through its status: an HTTP error
//   status as `make_http_status_error(status)`, a JSON-RPC error object as
//   `make_json_rpc_error(code)`.
// docs/transports.md has every verdict with its reason.
#pragma once

#include <exitguard/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/system/error_code.hpp>

#include <climits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace exitguard {

// What a transport says when it knows that nothing was sent. The values are
// stable: append, never renumber.
enum class transport_error : int {
  connect_failed = 1,  // resolve, connect or TLS handshake failed or timed out: the request never left
  no_endpoint = 2,     // every endpoint failed before the request was sent
};

// The standard JSON-RPC 2.0 error codes (the value is the code).
enum class json_rpc_error : int {
  parse_error = -32700,
  invalid_request = -32600,
  method_not_found = -32601,
  invalid_params = -32602,
  internal_error = -32603,
};

}  // namespace exitguard

template <>
struct boost::system::is_error_code_enum<exitguard::transport_error> : std::true_type {};
template <>
struct boost::system::is_error_code_enum<exitguard::json_rpc_error> : std::true_type {};

namespace exitguard {

// A status outside 1..999 (no HTTP status at all) is kept as this value: the
// answer could not be read, and 0 would be an empty error code.
inline constexpr unsigned invalid_http_status = 1000;

namespace detail {

// Cloudflare's 52x statuses are in the table because many RPC endpoints sit behind
// it, and they say precisely whether the request reached the origin.
struct http_status_info {
  unsigned status;
  std::string_view reason;
  FailureKind kind;
};

// The one table of HTTP verdicts; docs/transports.md explains each row. A status
// not listed falls back on its class (see http_status_kind).
inline constexpr http_status_info http_status_table[] = {
    // 1xx and 2xx as errors: the server had the request and answered; the transport
    // could not use the answer, so the request may have been processed.
    {100, "Continue", FailureKind::in_doubt},
    {101, "Switching Protocols", FailureKind::in_doubt},
    {102, "Processing", FailureKind::in_doubt},
    {103, "Early Hints", FailureKind::in_doubt},
    {200, "OK", FailureKind::in_doubt},
    {201, "Created", FailureKind::in_doubt},
    {202, "Accepted", FailureKind::in_doubt},
    {203, "Non-Authoritative Information", FailureKind::in_doubt},
    {204, "No Content", FailureKind::in_doubt},
    {205, "Reset Content", FailureKind::in_doubt},
    {206, "Partial Content", FailureKind::in_doubt},
    {207, "Multi-Status", FailureKind::in_doubt},
    {208, "Already Reported", FailureKind::in_doubt},
    {226, "IM Used", FailureKind::in_doubt},
    // 3xx: a redirect not followed was not processed where it was sent, except 303,
    // which answers a request that was processed.
    {300, "Multiple Choices", FailureKind::permanent},
    {301, "Moved Permanently", FailureKind::permanent},
    {302, "Found", FailureKind::permanent},
    {303, "See Other", FailureKind::in_doubt},
    {304, "Not Modified", FailureKind::permanent},
    {305, "Use Proxy", FailureKind::permanent},
    {307, "Temporary Redirect", FailureKind::permanent},
    {308, "Permanent Redirect", FailureKind::permanent},
    // 4xx: the server refused the request without processing it.
    {400, "Bad Request", FailureKind::permanent},
    {401, "Unauthorized", FailureKind::permanent},
    {402, "Payment Required", FailureKind::permanent},
    {403, "Forbidden", FailureKind::permanent},
    {404, "Not Found", FailureKind::permanent},
    {405, "Method Not Allowed", FailureKind::permanent},
    {406, "Not Acceptable", FailureKind::permanent},
    {407, "Proxy Authentication Required", FailureKind::permanent},
    {408, "Request Timeout", FailureKind::transient},
    {409, "Conflict", FailureKind::in_doubt},
    {410, "Gone", FailureKind::permanent},
    {411, "Length Required", FailureKind::permanent},
    {412, "Precondition Failed", FailureKind::permanent},
    {413, "Content Too Large", FailureKind::permanent},
    {414, "URI Too Long", FailureKind::permanent},
    {415, "Unsupported Media Type", FailureKind::permanent},
    {416, "Range Not Satisfiable", FailureKind::permanent},
    {417, "Expectation Failed", FailureKind::permanent},
    {418, "I'm a teapot", FailureKind::permanent},
    {421, "Misdirected Request", FailureKind::transient},
    {422, "Unprocessable Content", FailureKind::permanent},
    {423, "Locked", FailureKind::permanent},
    {424, "Failed Dependency", FailureKind::permanent},
    {425, "Too Early", FailureKind::transient},
    {426, "Upgrade Required", FailureKind::permanent},
    {428, "Precondition Required", FailureKind::permanent},
    {429, "Too Many Requests", FailureKind::transient},
    {431, "Request Header Fields Too Large", FailureKind::permanent},
    {451, "Unavailable For Legal Reasons", FailureKind::permanent},
    // 5xx: the server failed while it had the request, unless the status says it
    // never handled it.
    {500, "Internal Server Error", FailureKind::in_doubt},
    {501, "Not Implemented", FailureKind::permanent},
    {502, "Bad Gateway", FailureKind::in_doubt},
    {503, "Service Unavailable", FailureKind::transient},
    {504, "Gateway Timeout", FailureKind::in_doubt},
    {505, "HTTP Version Not Supported", FailureKind::permanent},
    {506, "Variant Also Negotiates", FailureKind::in_doubt},
    {507, "Insufficient Storage", FailureKind::in_doubt},
    {508, "Loop Detected", FailureKind::in_doubt},
    {510, "Not Extended", FailureKind::permanent},
    {511, "Network Authentication Required", FailureKind::permanent},
    {520, "Web Server Returned an Unknown Error", FailureKind::in_doubt},
    {521, "Web Server Is Down", FailureKind::transient},
    {522, "Connection Timed Out", FailureKind::in_doubt},
    {523, "Origin Is Unreachable", FailureKind::transient},
    {524, "A Timeout Occurred", FailureKind::in_doubt},
    {525, "SSL Handshake Failed", FailureKind::permanent},
    {526, "Invalid SSL Certificate", FailureKind::permanent},
};

// By value, not by pointer: g++'s UBSan rejects a null test on a pointer into a
// table in a constant expression.
constexpr std::optional<http_status_info> find_http_status(unsigned status) noexcept {
  for (const auto& info : http_status_table)
    if (info.status == status) return info;
  return std::nullopt;
}

// JSON-RPC code 0, which some servers send, is kept as this value: 0 would be an
// empty error code.
inline constexpr int json_rpc_zero_value = INT_MIN;

constexpr std::string_view json_rpc_code_name(int code) noexcept {
  switch (static_cast<json_rpc_error>(code)) {
    case json_rpc_error::parse_error: return "parse error";
    case json_rpc_error::invalid_request: return "invalid request";
    case json_rpc_error::method_not_found: return "method not found";
    case json_rpc_error::invalid_params: return "invalid params";
    case json_rpc_error::internal_error: return "internal error";
  }
  if (code >= -32099 && code <= -32000) return "server error";
  if (code >= -32768 && code <= -32000) return "reserved";
  return {};
}

// The three categories: stateless and constant, so safe to use from any thread;
// nothing to cancel. Fixed ids make each compare equal across shared-library copies.
class transport_category_impl final : public boost::system::error_category {
 public:
  constexpr transport_category_impl() noexcept : error_category(0x65672e7472616e73ULL) {}
  const char* name() const noexcept override { return "exitguard.transport"; }
  std::string message(int value) const override {
    switch (static_cast<transport_error>(value)) {
      case transport_error::connect_failed:
        return "the connection could not be made (resolve, connect or TLS handshake): nothing was sent";
      case transport_error::no_endpoint: return "every endpoint failed before the request was sent";
    }
    return "unknown exitguard transport error " + std::to_string(value);
  }
};

class http_category_impl final : public boost::system::error_category {
 public:
  constexpr http_category_impl() noexcept : error_category(0x65672e6874747020ULL) {}
  const char* name() const noexcept override { return "exitguard.http"; }
  std::string message(int value) const override {
    if (value <= 0 || static_cast<unsigned>(value) >= invalid_http_status) return "invalid HTTP status";
    std::string text = "HTTP " + std::to_string(value);
    if (const auto info = find_http_status(static_cast<unsigned>(value))) {
      text += ' ';
      text += info->reason;
    }
    return text;
  }
};

class json_rpc_category_impl final : public boost::system::error_category {
 public:
  constexpr json_rpc_category_impl() noexcept : error_category(0x65672e6a72706320ULL) {}
  const char* name() const noexcept override { return "exitguard.json_rpc"; }
  std::string message(int value) const override {
    const int code = value == json_rpc_zero_value ? 0 : value;
    std::string text = "JSON-RPC error " + std::to_string(code);
    if (const auto name = json_rpc_code_name(code); !name.empty()) {
      text += " (";
      text += name;
      text += ')';
    }
    return text;
  }
};

inline constexpr transport_category_impl transport_category_instance{};
inline constexpr http_category_impl http_category_instance{};
inline constexpr json_rpc_category_impl json_rpc_category_instance{};

}  // namespace detail

inline const boost::system::error_category& transport_category() noexcept {
  return detail::transport_category_instance;
}
inline const boost::system::error_category& http_category() noexcept { return detail::http_category_instance; }
inline const boost::system::error_category& json_rpc_category() noexcept {
  return detail::json_rpc_category_instance;
}

inline boost::system::error_code make_error_code(transport_error e) noexcept {
  return {static_cast<int>(e), transport_category()};
}
inline boost::system::error_code make_error_code(json_rpc_error e) noexcept {
  return {static_cast<int>(e), json_rpc_category()};
}

// An HTTP status as an error code: value = the status, message "HTTP 429 Too Many
// Requests". A status outside 1..999 becomes `invalid_http_status`.
inline boost::system::error_code make_http_status_error(unsigned status) noexcept {
  const unsigned kept = status == 0 || status >= invalid_http_status ? invalid_http_status : status;
  return {static_cast<int>(kept), http_category()};
}
inline boost::system::error_code make_http_status_error(boost::beast::http::status status) noexcept {
  return make_http_status_error(static_cast<unsigned>(status));
}

// The status an error code of the "exitguard.http" category carries; nullopt for any other code.
inline std::optional<unsigned> http_status_of(const boost::system::error_code& ec) noexcept {
  if (ec.category() != http_category()) return std::nullopt;
  return static_cast<unsigned>(ec.value());
}

// A JSON-RPC error object's code as an error code: value = the code (0 is kept as
// INT_MIN, read back as 0 by json_rpc_code_of).
inline boost::system::error_code make_json_rpc_error(int code) noexcept {
  return {code == 0 ? detail::json_rpc_zero_value : code, json_rpc_category()};
}

// The JSON-RPC code an error code of the "exitguard.json_rpc" category carries; nullopt for any other code.
inline std::optional<int> json_rpc_code_of(const boost::system::error_code& ec) noexcept {
  if (ec.category() != json_rpc_category()) return std::nullopt;
  return ec.value() == detail::json_rpc_zero_value ? 0 : ec.value();
}

// What an HTTP error status means for the next attempt (the table above, then the
// status class: other 4xx and 3xx permanent, everything else in doubt).
constexpr FailureKind http_status_kind(unsigned status) noexcept {
  if (const auto info = detail::find_http_status(status)) return info->kind;
  if (status >= 400 && status < 500) return FailureKind::permanent;  // refused, not processed
  if (status >= 300 && status < 400) return FailureKind::permanent;  // redirected, not processed here
  return FailureKind::in_doubt;  // a server failure, a success the transport lost, or no status at all
}

// What a JSON-RPC error code means for the next attempt: the four request errors
// are raised before the method runs (permanent); an internal error, a server error
// and any code this version does not know may come after it acted (in doubt).
constexpr FailureKind json_rpc_kind(int code) noexcept {
  switch (static_cast<json_rpc_error>(code)) {
    case json_rpc_error::parse_error:
    case json_rpc_error::invalid_request:
    case json_rpc_error::method_not_found:
    case json_rpc_error::invalid_params: return FailureKind::permanent;
    case json_rpc_error::internal_error: return FailureKind::in_doubt;
  }
  return FailureKind::in_doubt;
}

// The verdict on a code of a transport family this header knows (exitguard.transport,
// exitguard.http, exitguard.json_rpc, Beast, WebSocket, TLS, cancellation, name
// resolution); nullopt for any other code.
inline std::optional<FailureKind> transport_failure_kind(const boost::system::error_code& ec) noexcept {
  namespace errc = boost::system::errc;
  namespace aerr = boost::asio::error;
  namespace beast = boost::beast;
  const auto& category = ec.category();
  if (category == transport_category()) {
    if (ec == transport_error::connect_failed || ec == transport_error::no_endpoint) return FailureKind::transient;
    return FailureKind::in_doubt;  // a value of a later version: it promises nothing
  }
  if (const auto status = http_status_of(ec)) return http_status_kind(*status);
  if (const auto code = json_rpc_code_of(ec)) return json_rpc_kind(*code);
  // Beast's stream time-out fires while writing or reading, after connect (a
  // transport reports a connect time-out as connect_failed).
  if (ec == beast::error::timeout) return FailureKind::in_doubt;
  // Every Beast HTTP error comes from writing the request or reading the answer.
  if (category == beast::http::make_error_code(beast::http::error::end_of_stream).category())
    return FailureKind::in_doubt;
  // No message is sent on a WebSocket before its handshake completes; after it, a
  // closed or broken stream may have carried the request.
  if (ec == beast::websocket::condition::handshake_failed) return FailureKind::transient;
  if (category == beast::websocket::make_error_code(beast::websocket::error::closed).category())
    return FailureKind::in_doubt;
  // TLS errors on a live stream (a truncated stream, a record the peer garbled)
  // come after the request may have been written; handshake failures are the
  // transport's connect_failed. Known by name: this header does not include OpenSSL.
  const std::string_view name = category.name();
  if (name == "asio.ssl.stream" || name == "asio.ssl") return FailureKind::in_doubt;
  // An operation cancelled in flight may have sent its request.
  if (ec == aerr::operation_aborted || ec == errc::operation_canceled) return FailureKind::in_doubt;
  if (ec == errc::network_reset) return FailureKind::in_doubt;  // an established connection, dropped
  // Name resolution comes before anything is sent.
  if (ec == aerr::host_not_found || ec == aerr::no_data || ec == aerr::no_recovery) return FailureKind::transient;
  return std::nullopt;
}

// DefaultClassifier's verdicts, plus every transport family above, for operations
// with effects (submitting an order). Codes it does not know go to the fallback
// (by default DefaultClassifier, which calls them permanent): a code is known if a
// transport family claims it, if it is exitguard's own, or if DefaultClassifier
// calls it transient or in doubt. To change a verdict it gives, wrap it instead:
// judge your codes first, then call it.
// Thread safety: const and stateless but for the fallback; as safe to call
// concurrently as the fallback is. Cancellation: none (a pure function).
template <Classifier Fallback = DefaultClassifier>
class BasicTransportClassifier {
 public:
  BasicTransportClassifier() = default;
  explicit BasicTransportClassifier(Fallback fallback) noexcept(std::is_nothrow_move_constructible_v<Fallback>)
      : fallback_(std::move(fallback)) {}

  FailureKind operator()(const boost::system::error_code& ec) const
      noexcept(std::is_nothrow_invocable_v<const Fallback&, const boost::system::error_code&>) {
    if (const auto kind = transport_failure_kind(ec)) return *kind;
    const FailureKind by_default = DefaultClassifier{}(ec);
    if (ec.category() == error_category() || by_default != FailureKind::permanent) return by_default;
    return static_cast<FailureKind>(fallback_(ec));
  }

  const Fallback& fallback() const noexcept { return fallback_; }

 private:
  Fallback fallback_{};
};

template <class Fallback>
BasicTransportClassifier(Fallback) -> BasicTransportClassifier<Fallback>;

using TransportClassifier = BasicTransportClassifier<>;

// Any classifier, for idempotent operations (a price, balance or status query):
// what it calls in doubt is transient, since repeating the query cannot do
// anything twice. Thread safety and cancellation: those of the classifier it wraps.
template <Classifier Inner>
struct Idempotent {
  Inner inner{};

  FailureKind operator()(const boost::system::error_code& ec) const
      noexcept(std::is_nothrow_invocable_v<const Inner&, const boost::system::error_code&>) {
    const auto kind = static_cast<FailureKind>(inner(ec));
    return kind == FailureKind::in_doubt ? FailureKind::transient : kind;
  }
};

template <class Inner>
Idempotent(Inner) -> Idempotent<Inner>;

using IdempotentTransportClassifier = Idempotent<TransportClassifier>;

}  // namespace exitguard
