// exitguard-test-set: optimized
// Tests of exitguard/transport_classifier.hpp: the transport, HTTP and JSON-RPC
// error categories, TransportClassifier's verdict on every code family (each row
// with its reason), its fallback, the Idempotent adapter, and docs/transports.md's
// HTTP table against the classifier.

// First include: proves the header compiles on its own.
#include <exitguard/transport_classifier.hpp>

#include <catch2/catch.hpp>

#include <exitguard/error.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace errc = boost::system::errc;
namespace aerr = boost::asio::error;
using boost::system::error_code;
using exitguard::FailureKind;
using exitguard::make_http_status_error;
using exitguard::make_json_rpc_error;

// Stands for a category this header recognises by name only (Asio SSL needs
// OpenSSL, which the core must not include), and for a venue's own category.
class named_category final : public boost::system::error_category {
 public:
  explicit named_category(const char* name) noexcept : name_(name) {}
  const char* name() const noexcept override { return name_; }
  std::string message(int value) const override { return std::string(name_) + " " + std::to_string(value); }

 private:
  const char* name_;
};

const named_category ssl_stream_category{"asio.ssl.stream"};
const named_category ssl_category{"asio.ssl"};
const named_category exchange_category{"acme.exchange"};

struct Row {
  const char* what;
  error_code code;
  FailureKind kind;
  const char* why;
};

// One row per code family member: the verdict and the reason it is right.
const std::vector<Row>& classifier_rows() {
  static const std::vector<Row> rows = {
      // exitguard.transport: the transport knows nothing was sent.
      {"connect_failed", exitguard::transport_error::connect_failed, FailureKind::transient,
       "resolve, connect or TLS handshake failed: the request never left"},
      {"no_endpoint", exitguard::transport_error::no_endpoint, FailureKind::transient,
       "every endpoint failed before sending"},
      {"transport value 99", error_code(99, exitguard::transport_category()), FailureKind::in_doubt,
       "a value of a later version promises nothing"},
      // Beast core
      {"beast timeout", beast::error::timeout, FailureKind::in_doubt,
       "the stream timed out writing or reading: the request may have been processed"},
      // Beast HTTP: every error comes from writing the request or reading the answer.
      {"http end_of_stream", beast::http::error::end_of_stream, FailureKind::in_doubt,
       "the server closed before answering: it may have processed the request"},
      {"http partial_message", beast::http::error::partial_message, FailureKind::in_doubt,
       "the answer was cut: the request was processed"},
      {"http bad_status", beast::http::error::bad_status, FailureKind::in_doubt,
       "an unreadable answer to a request that arrived"},
      {"http body_limit", beast::http::error::body_limit, FailureKind::in_doubt,
       "an answer too large to read: the request arrived"},
      {"http short_read", beast::http::error::short_read, FailureKind::in_doubt, "a body cut while writing"},
      // WebSocket
      {"websocket upgrade_declined", beast::websocket::error::upgrade_declined, FailureKind::transient,
       "a handshake failure: no message is sent before the handshake completes"},
      {"websocket bad_http_version", beast::websocket::error::bad_http_version, FailureKind::transient,
       "a handshake failure"},
      {"websocket closed", beast::websocket::error::closed, FailureKind::in_doubt,
       "closed after the handshake: the message may have been read"},
      {"websocket message_too_big", beast::websocket::error::message_too_big, FailureKind::in_doubt,
       "the answer could not be read: the request arrived"},
      {"websocket bad_opcode", beast::websocket::error::bad_opcode, FailureKind::in_doubt,
       "a protocol violation on a live stream"},
      // TLS, by category name
      {"ssl stream_truncated", error_code(1, ssl_stream_category), FailureKind::in_doubt,
       "the stream was cut after the request may have been written"},
      {"ssl library error", error_code(0x0A000126, ssl_category), FailureKind::in_doubt,
       "an SSL error on a live stream; handshake failures are connect_failed"},
      // Asio and errno
      {"operation_aborted", aerr::operation_aborted, FailureKind::in_doubt,
       "cancelled in flight: the request may have been sent"},
      {"generic operation_canceled", errc::make_error_code(errc::operation_canceled), FailureKind::in_doubt,
       "the same, as a generic code"},
      {"network_reset", errc::make_error_code(errc::network_reset), FailureKind::in_doubt,
       "an established connection dropped"},
      {"host_not_found", aerr::host_not_found, FailureKind::transient, "resolution comes before sending"},
      {"no_data", aerr::no_data, FailureKind::transient, "resolution comes before sending"},
      {"no_recovery", aerr::no_recovery, FailureKind::transient, "resolution comes before sending"},
      // DefaultClassifier's judgment, kept
      {"asio timed_out", aerr::timed_out, FailureKind::in_doubt, "as DefaultClassifier: a socket time-out"},
      {"errc timed_out", errc::make_error_code(errc::timed_out), FailureKind::in_doubt, "as DefaultClassifier"},
      {"connection_reset", aerr::connection_reset, FailureKind::in_doubt, "as DefaultClassifier"},
      {"eof", aerr::eof, FailureKind::in_doubt, "as DefaultClassifier"},
      {"connection_refused", aerr::connection_refused, FailureKind::transient,
       "as DefaultClassifier: nothing arrived"},
      {"venue_unavailable", exitguard::error::venue_unavailable, FailureKind::transient, "exitguard's own"},
      {"attempt_expired", exitguard::error::attempt_expired, FailureKind::transient,
       "exitguard's own: the attempt can never land"},
      {"in_doubt", exitguard::error::in_doubt, FailureKind::in_doubt, "exitguard's own"},
      {"insufficient_funds", exitguard::error::insufficient_funds, FailureKind::permanent, "exitguard's own"},
      {"slippage_exceeded", exitguard::error::slippage_exceeded, FailureKind::permanent,
       "exitguard's own: escalation, not a retry at the same step"},
      {"exit_rejected", exitguard::error::exit_rejected, FailureKind::permanent, "exitguard's own"},
      {"permission_denied", errc::make_error_code(errc::permission_denied), FailureKind::permanent,
       "unknown to both: the fallback's (DefaultClassifier's) permanent"},
      {"exchange code", error_code(7, exchange_category), FailureKind::permanent,
       "a venue's own category: the fallback's permanent"},
      // HTTP statuses (the class rules; every listed status has its own test)
      {"HTTP 429", make_http_status_error(429), FailureKind::transient, "rate limited: not processed"},
      {"HTTP 503", make_http_status_error(503), FailureKind::transient, "not handled (RFC 9110)"},
      {"HTTP 502", make_http_status_error(502), FailureKind::in_doubt, "the gateway may have passed it on"},
      {"HTTP 499", make_http_status_error(499), FailureKind::permanent, "an unlisted 4xx: refused"},
      {"HTTP 599", make_http_status_error(599), FailureKind::in_doubt, "an unlisted 5xx: a server failure"},
      {"HTTP 399", make_http_status_error(399), FailureKind::permanent, "an unlisted 3xx: redirected"},
      {"HTTP 299", make_http_status_error(299), FailureKind::in_doubt, "an unlisted 2xx: processed, answer lost"},
      {"HTTP 0", make_http_status_error(0), FailureKind::in_doubt, "no status: the answer was unreadable"},
      {"HTTP 1000", make_http_status_error(1000), FailureKind::in_doubt, "no status"},
      // JSON-RPC 2.0
      {"JSON-RPC -32700", make_json_rpc_error(-32700), FailureKind::permanent, "parse error: not run"},
      {"JSON-RPC -32600", make_json_rpc_error(-32600), FailureKind::permanent, "invalid request: not run"},
      {"JSON-RPC -32601", make_json_rpc_error(-32601), FailureKind::permanent, "method not found: not run"},
      {"JSON-RPC -32602", make_json_rpc_error(-32602), FailureKind::permanent, "invalid params: not run"},
      {"JSON-RPC -32603", make_json_rpc_error(-32603), FailureKind::in_doubt, "internal error: may have acted"},
      {"JSON-RPC -32000", make_json_rpc_error(-32000), FailureKind::in_doubt, "server error: meaning unknown"},
      {"JSON-RPC -32099", make_json_rpc_error(-32099), FailureKind::in_doubt, "server error: meaning unknown"},
      {"JSON-RPC -32005", make_json_rpc_error(-32005), FailureKind::in_doubt,
       "a server error the core does not know (Solana's classifier does)"},
      {"JSON-RPC -32100", make_json_rpc_error(-32100), FailureKind::in_doubt, "reserved: unknown"},
      {"JSON-RPC 0", make_json_rpc_error(0), FailureKind::in_doubt, "an application code: unknown"},
      {"JSON-RPC 42", make_json_rpc_error(42), FailureKind::in_doubt, "an application code: unknown"},
  };
  return rows;
}

// The HTTP verdicts this test holds the header to, every status of its table.
struct StatusRow {
  unsigned status;
  const char* reason;
  FailureKind kind;
};

const std::vector<StatusRow>& status_rows() {
  using K = FailureKind;
  static const std::vector<StatusRow> rows = {
      {100, "Continue", K::in_doubt}, {101, "Switching Protocols", K::in_doubt}, {102, "Processing", K::in_doubt},
      {103, "Early Hints", K::in_doubt}, {200, "OK", K::in_doubt}, {201, "Created", K::in_doubt},
      {202, "Accepted", K::in_doubt}, {203, "Non-Authoritative Information", K::in_doubt},
      {204, "No Content", K::in_doubt}, {205, "Reset Content", K::in_doubt}, {206, "Partial Content", K::in_doubt},
      {207, "Multi-Status", K::in_doubt}, {208, "Already Reported", K::in_doubt}, {226, "IM Used", K::in_doubt},
      {300, "Multiple Choices", K::permanent}, {301, "Moved Permanently", K::permanent},
      {302, "Found", K::permanent}, {303, "See Other", K::in_doubt}, {304, "Not Modified", K::permanent},
      {305, "Use Proxy", K::permanent}, {307, "Temporary Redirect", K::permanent},
      {308, "Permanent Redirect", K::permanent}, {400, "Bad Request", K::permanent},
      {401, "Unauthorized", K::permanent}, {402, "Payment Required", K::permanent},
      {403, "Forbidden", K::permanent}, {404, "Not Found", K::permanent},
      {405, "Method Not Allowed", K::permanent}, {406, "Not Acceptable", K::permanent},
      {407, "Proxy Authentication Required", K::permanent}, {408, "Request Timeout", K::transient},
      {409, "Conflict", K::in_doubt}, {410, "Gone", K::permanent}, {411, "Length Required", K::permanent},
      {412, "Precondition Failed", K::permanent}, {413, "Content Too Large", K::permanent},
      {414, "URI Too Long", K::permanent}, {415, "Unsupported Media Type", K::permanent},
      {416, "Range Not Satisfiable", K::permanent}, {417, "Expectation Failed", K::permanent},
      {418, "I'm a teapot", K::permanent}, {421, "Misdirected Request", K::transient},
      {422, "Unprocessable Content", K::permanent}, {423, "Locked", K::permanent},
      {424, "Failed Dependency", K::permanent}, {425, "Too Early", K::transient},
      {426, "Upgrade Required", K::permanent}, {428, "Precondition Required", K::permanent},
      {429, "Too Many Requests", K::transient}, {431, "Request Header Fields Too Large", K::permanent},
      {451, "Unavailable For Legal Reasons", K::permanent}, {500, "Internal Server Error", K::in_doubt},
      {501, "Not Implemented", K::permanent}, {502, "Bad Gateway", K::in_doubt},
      {503, "Service Unavailable", K::transient}, {504, "Gateway Timeout", K::in_doubt},
      {505, "HTTP Version Not Supported", K::permanent}, {506, "Variant Also Negotiates", K::in_doubt},
      {507, "Insufficient Storage", K::in_doubt}, {508, "Loop Detected", K::in_doubt},
      {510, "Not Extended", K::permanent}, {511, "Network Authentication Required", K::permanent},
      {520, "Web Server Returned an Unknown Error", K::in_doubt}, {521, "Web Server Is Down", K::transient},
      {522, "Connection Timed Out", K::in_doubt}, {523, "Origin Is Unreachable", K::transient},
      {524, "A Timeout Occurred", K::in_doubt}, {525, "SSL Handshake Failed", K::permanent},
      {526, "Invalid SSL Certificate", K::permanent},
  };
  return rows;
}

// What a status not in the table gets: its class.
FailureKind class_kind(unsigned status) {
  if (status >= 300 && status < 500) return FailureKind::permanent;
  return FailureKind::in_doubt;
}

// A counting fallback: proves which codes reach it.
struct CountingFallback {
  int* calls = nullptr;
  FailureKind operator()(const error_code& ec) const noexcept {
    ++*calls;
    return ec.category() == exchange_category ? FailureKind::transient : FailureKind::permanent;
  }
};

// The markdown table rows of one section of docs/transports.md (from its heading
// to the next heading of the same or a higher level), as trimmed cells.
std::vector<std::vector<std::string>> doc_rows(std::string_view heading) {
  const auto doc = std::filesystem::path(__FILE__).parent_path().parent_path() / "docs" / "transports.md";
  std::ifstream in(doc);
  INFO("reading " << doc.string());
  REQUIRE(in.is_open());
  auto trim = [](std::string_view v) {
    const auto b = v.find_first_not_of(" \t\r`");
    if (b == std::string_view::npos) return std::string{};
    return std::string(v.substr(b, v.find_last_not_of(" \t\r`") - b + 1));
  };
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::size_t level = 0;
  while (std::getline(in, line)) {
    if (line.starts_with('#')) {
      const auto hashes = line.find_first_not_of('#');
      if (level != 0 && hashes <= level) break;
      if (level == 0 && line.substr(hashes + 1) == heading) level = hashes;
      continue;
    }
    if (level == 0 || !line.starts_with('|')) continue;
    std::vector<std::string> cells;
    std::string_view rest(line);
    rest.remove_prefix(1);
    for (auto bar = rest.find('|'); bar != std::string_view::npos; bar = rest.find('|')) {
      cells.push_back(trim(rest.substr(0, bar)));
      rest.remove_prefix(bar + 1);
    }
    rows.push_back(std::move(cells));
  }
  REQUIRE(level != 0);  // the section exists
  return rows;
}

std::optional<FailureKind> kind_named(std::string_view name) {
  for (auto kind : {FailureKind::transient, FailureKind::permanent, FailureKind::in_doubt})
    if (exitguard::to_string(kind) == name) return kind;
  return std::nullopt;
}

}  // namespace

TEST_CASE("TransportClassifier and its adapters are classifiers", "[transport]") {
  STATIC_REQUIRE(exitguard::Classifier<exitguard::TransportClassifier>);
  STATIC_REQUIRE(exitguard::Classifier<exitguard::IdempotentTransportClassifier>);
  STATIC_REQUIRE(exitguard::Classifier<exitguard::BasicTransportClassifier<CountingFallback>>);
  STATIC_REQUIRE(std::is_same_v<exitguard::TransportClassifier,
                                exitguard::BasicTransportClassifier<exitguard::DefaultClassifier>>);
  STATIC_REQUIRE(std::is_nothrow_invocable_v<const exitguard::TransportClassifier&, const error_code&>);
  STATIC_REQUIRE(boost::system::is_error_code_enum<exitguard::transport_error>::value);
  STATIC_REQUIRE(boost::system::is_error_code_enum<exitguard::json_rpc_error>::value);
  STATIC_REQUIRE(exitguard::http_status_kind(429) == FailureKind::transient);
  STATIC_REQUIRE(exitguard::json_rpc_kind(-32603) == FailureKind::in_doubt);
}

TEST_CASE("TransportClassifier judges every code family, and Idempotent makes in doubt transient",
          "[transport]") {
  const auto row = GENERATE(from_range(classifier_rows()));
  INFO(row.what << ": " << row.code.category().name() << " " << row.code.value() << " (" << row.code.message()
                << "), expected " << exitguard::to_string(row.kind) << " because " << row.why);
  CHECK(exitguard::TransportClassifier{}(row.code) == row.kind);
  const auto idempotent = row.kind == FailureKind::in_doubt ? FailureKind::transient : row.kind;
  CHECK(exitguard::IdempotentTransportClassifier{}(row.code) == idempotent);
  CHECK(exitguard::Idempotent{exitguard::TransportClassifier{}}(row.code) == idempotent);
}

TEST_CASE("The user's case: a Beast time-out is in doubt, where DefaultClassifier said permanent", "[transport]") {
  const error_code timeout = beast::error::timeout;
  CHECK(exitguard::DefaultClassifier{}(timeout) == FailureKind::permanent);  // the bug this header fixes
  CHECK(exitguard::TransportClassifier{}(timeout) == FailureKind::in_doubt);
  CHECK(exitguard::IdempotentTransportClassifier{}(timeout) == FailureKind::transient);
}

TEST_CASE("Every HTTP status of the table gets its verdict and reason phrase, the rest their class",
          "[transport][http]") {
  const auto row = GENERATE(from_range(status_rows()));
  INFO("HTTP " << row.status);
  const auto ec = make_http_status_error(row.status);
  CHECK(exitguard::http_status_kind(row.status) == row.kind);
  CHECK(exitguard::TransportClassifier{}(ec) == row.kind);
  CHECK(ec.message() == "HTTP " + std::to_string(row.status) + " " + row.reason);
  CHECK(ec.value() == static_cast<int>(row.status));
  CHECK(exitguard::http_status_of(ec) == row.status);
}

TEST_CASE("HTTP statuses outside the table are judged by their class", "[transport][http]") {
  std::map<unsigned, FailureKind> listed;
  for (const auto& row : status_rows()) listed.emplace(row.status, row.kind);
  for (unsigned status = 1; status < exitguard::invalid_http_status; ++status) {
    if (listed.contains(status)) continue;
    INFO("HTTP " << status);
    REQUIRE(exitguard::http_status_kind(status) == class_kind(status));
    REQUIRE(make_http_status_error(status).message() == "HTTP " + std::to_string(status));
  }
}

TEST_CASE("Error categories: stable names, fixed ids, messages", "[transport]") {
  CHECK(std::string_view(exitguard::transport_category().name()) == "exitguard.transport");
  CHECK(std::string_view(exitguard::http_category().name()) == "exitguard.http");
  CHECK(std::string_view(exitguard::json_rpc_category().name()) == "exitguard.json_rpc");
  // A second instance (a copy in another shared library) is the same category.
  CHECK(exitguard::detail::transport_category_impl{} == exitguard::transport_category());
  CHECK(exitguard::detail::http_category_impl{} == exitguard::http_category());
  CHECK(exitguard::detail::json_rpc_category_impl{} == exitguard::json_rpc_category());
  CHECK(exitguard::transport_category() != exitguard::http_category());
  CHECK(exitguard::http_category() != exitguard::json_rpc_category());

  const error_code connect = exitguard::transport_error::connect_failed;
  const error_code endpoint = exitguard::transport_error::no_endpoint;
  CHECK(connect.message() ==
        "the connection could not be made (resolve, connect or TLS handshake): nothing was sent");
  CHECK(endpoint.message() == "every endpoint failed before the request was sent");
  CHECK(error_code(3, exitguard::transport_category()).message() == "unknown exitguard transport error 3");

  CHECK(make_http_status_error(429).message() == "HTTP 429 Too Many Requests");
  CHECK(make_http_status_error(0).message() == "invalid HTTP status");
  CHECK(make_http_status_error(0).value() == 1000);
  CHECK(make_http_status_error(4000).value() == 1000);
  CHECK(make_http_status_error(0));  // never an empty code

  CHECK(make_json_rpc_error(-32700).message() == "JSON-RPC error -32700 (parse error)");
  CHECK(make_json_rpc_error(-32600).message() == "JSON-RPC error -32600 (invalid request)");
  CHECK(make_json_rpc_error(-32601).message() == "JSON-RPC error -32601 (method not found)");
  CHECK(make_json_rpc_error(-32602).message() == "JSON-RPC error -32602 (invalid params)");
  CHECK(make_json_rpc_error(-32603).message() == "JSON-RPC error -32603 (internal error)");
  CHECK(make_json_rpc_error(-32042).message() == "JSON-RPC error -32042 (server error)");
  CHECK(make_json_rpc_error(-32700 + 1).message() == "JSON-RPC error -32699 (reserved)");
  CHECK(make_json_rpc_error(-1).message() == "JSON-RPC error -1");
  CHECK(make_json_rpc_error(0).message() == "JSON-RPC error 0");
  CHECK(make_json_rpc_error(0));  // never an empty code
}

TEST_CASE("Codes compare equal by category and value, never across families", "[transport]") {
  CHECK(make_http_status_error(429) == make_http_status_error(429));
  CHECK(make_http_status_error(429) != make_http_status_error(503));
  CHECK(make_http_status_error(beast::http::status::too_many_requests) == make_http_status_error(429));
  CHECK(make_json_rpc_error(-32601) == exitguard::json_rpc_error::method_not_found);
  CHECK(make_json_rpc_error(-32601) != make_json_rpc_error(-32602));
  CHECK(make_json_rpc_error(429) != make_http_status_error(429));
  CHECK(error_code(exitguard::transport_error::connect_failed) ==
        exitguard::make_error_code(exitguard::transport_error::connect_failed));
  CHECK(error_code(exitguard::transport_error::connect_failed) != error_code(exitguard::transport_error::no_endpoint));
  CHECK(error_code(exitguard::transport_error::connect_failed) != errc::make_error_code(errc::connection_refused));

  // Beast's time-out and Asio's are different codes: each needs its own rule.
  const error_code beast_timeout = beast::error::timeout;
  const error_code asio_timeout = aerr::timed_out;
  CHECK(beast_timeout != asio_timeout);
  CHECK(beast_timeout == beast::condition::timeout);
  CHECK(beast_timeout != errc::timed_out);
  CHECK(asio_timeout == errc::timed_out);

  CHECK(exitguard::http_status_of(make_json_rpc_error(-32601)) == std::nullopt);
  CHECK(exitguard::json_rpc_code_of(make_http_status_error(404)) == std::nullopt);
  CHECK(exitguard::json_rpc_code_of(make_json_rpc_error(0)) == 0);
  CHECK(exitguard::json_rpc_code_of(make_json_rpc_error(-32005)) == -32005);
}

TEST_CASE("The fallback judges the codes neither TransportClassifier nor DefaultClassifier knows",
          "[transport]") {
  int calls = 0;
  const exitguard::BasicTransportClassifier classify(CountingFallback{&calls});
  STATIC_REQUIRE(std::is_same_v<std::remove_const_t<decltype(classify)>,
                                exitguard::BasicTransportClassifier<CountingFallback>>);
  CHECK(classify.fallback().calls == &calls);

  CHECK(classify(error_code(7, exchange_category)) == FailureKind::transient);
  CHECK(calls == 1);
  CHECK(classify(errc::make_error_code(errc::permission_denied)) == FailureKind::permanent);
  CHECK(calls == 2);
}

TEST_CASE("Known codes never reach the fallback", "[transport]") {
  // Transport families, DefaultClassifier's lists, exitguard's own (even the ones it calls permanent).
  const error_code known = GENERATE(error_code(beast::error::timeout), make_http_status_error(429),
                                    make_json_rpc_error(-32601), error_code(aerr::connection_refused),
                                    error_code(aerr::timed_out), error_code(exitguard::error::exit_rejected),
                                    error_code(exitguard::error::insufficient_funds));
  INFO(known.category().name() << " " << known.value());
  int calls = 0;
  const exitguard::BasicTransportClassifier classify(CountingFallback{&calls});
  CHECK(classify(known) == exitguard::TransportClassifier{}(known));
  CHECK(calls == 0);
}

TEST_CASE("A classifier that overrides a verdict wraps TransportClassifier", "[transport]") {
  // The documented way to change a verdict: judge first, then delegate.
  struct ProxyResets503 {
    FailureKind operator()(const error_code& ec) const noexcept {
      if (exitguard::http_status_of(ec) == 503u) return FailureKind::in_doubt;
      return exitguard::TransportClassifier{}(ec);
    }
  };
  STATIC_REQUIRE(exitguard::Classifier<ProxyResets503>);
  CHECK(ProxyResets503{}(make_http_status_error(503)) == FailureKind::in_doubt);
  CHECK(ProxyResets503{}(make_http_status_error(429)) == FailureKind::transient);
  CHECK(exitguard::Idempotent{ProxyResets503{}}(make_http_status_error(503)) == FailureKind::transient);
}

TEST_CASE("docs/transports.md's HTTP table says what the classifier does, for every status", "[transport][docs]") {
  const auto rows = doc_rows("HTTP status codes");
  std::map<unsigned, std::string> documented;
  for (const auto& cells : rows) {
    if (cells.size() < 4 || cells[0].empty() || cells[0].find_first_not_of("0123456789") != std::string::npos)
      continue;
    const auto status = static_cast<unsigned>(std::stoul(cells[0]));
    INFO("row for HTTP " << status);
    const auto kind = kind_named(cells[2]);
    REQUIRE(kind);
    CHECK(*kind == exitguard::http_status_kind(status));
    CHECK_FALSE(cells[3].empty());  // the reason
    CHECK(documented.emplace(status, cells[1]).second);
  }
  for (const auto& row : status_rows()) {
    INFO("HTTP " << row.status << " must have a row");
    REQUIRE(documented.contains(row.status));
    CHECK(documented[row.status] == row.reason);
  }
}
