// exitguard/solana/json_rpc_client.hpp — an asynchronous JSON-RPC 2.0 client over
// HTTP/1.1 and HTTPS (Boost.Beast, Asio SSL with OpenSSL, Boost.JSON). Part of the
// optional `solana` component (exitguard::solana).
//
// One JsonRpcClient talks to one endpoint URL (`http://host[:port][/path]` or
// `https://...`). `async_call(method, params, token)` sends one request and completes
// with `void(boost::system::error_code, RpcReply)`:
//   - an empty code: `reply.result` is the answer's `result`;
//   - a JSON-RPC error answer: `make_json_rpc_error(code)`, and `reply.error` is the
//     whole error object ({code, message, data}: a -32002 preflight failure's
//     `data.err` is there for solana::rpc_error_code);
//   - HTTP status other than 200: `make_http_status_error(status)`;
//   - an answer that came back but cannot be read (not JSON, not a JSON-RPC answer to
//     this request): `make_http_status_error(200)`, in doubt (the server had the
//     request);
//   - the phase rule of transport_classifier.hpp: a failure or time-out before any
//     byte of the request was written (resolve, connect, TLS handshake) is
//     `transport_error::connect_failed` (nothing was sent); after writing started,
//     the raw code (beast::error::timeout, asio::error::eof, connection_reset...:
//     the request may have been processed);
//   - cancelled: `asio::error::operation_aborted`.
//
// Connections: kept alive and reused for the same endpoint, one request at a time
// per connection. A request takes an idle connection or, if none is idle, opens a
// new one (concurrent requests run on concurrent connections; nothing is queued).
// At most `max_idle_connections` are kept idle; an idle connection older than
// `idle_timeout`, or one the server closed or wrote to while idle, is dropped
// before use rather than risked (a request written into a connection the server
// had already closed would be in doubt for nothing).
//
// Timeouts: `request_timeout` bounds the whole exchange (resolve, connect, handshake,
// write, read). TLS: the peer is verified against the system's trust store and the
// host name by default (SNI is set); pass your own asio::ssl::context to trust
// another CA.
//
// Cancellation: the completion handler's cancellation slot (terminal, partial or
// total) stops the request at once and closes its connection; it completes with
// operation_aborted (the request may have been sent).
//
// Thread safety: not thread safe. Use one client from one strand (its executor's, or
// one executor of a single-threaded io_context). The client must outlive its
// operations.
#pragma once

#include <exitguard/transport_classifier.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <climits>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>

namespace exitguard::solana {

// One JSON-RPC answer: `result` on success (null otherwise), `error` the error object
// of an error answer (null otherwise).
struct RpcReply {
  boost::json::value result;
  boost::json::value error;
};

// Where a client sends its requests, parsed from its URL.
struct RpcEndpoint {
  bool tls = false;
  std::string host;    // without brackets for an IPv6 literal
  std::string port;    // "80" / "443" when the URL has none
  std::string target;  // the path, "/" when the URL has none

  // `http://host[:port][/path]` or `https://...`; nullopt for anything else.
  static std::optional<RpcEndpoint> parse(std::string_view url) {
    RpcEndpoint e;
    if (url.rfind("http://", 0) == 0) {
      url.remove_prefix(7);
    } else if (url.rfind("https://", 0) == 0) {
      e.tls = true;
      url.remove_prefix(8);
    } else {
      return std::nullopt;
    }
    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    e.target = slash == std::string_view::npos ? std::string("/") : std::string(url.substr(slash));
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
      const auto close = authority.find(']');
      if (close == std::string_view::npos) return std::nullopt;
      e.host = std::string(authority.substr(1, close - 1));
      const auto rest = authority.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return std::nullopt;
        port = rest.substr(1);
      }
    } else {
      const auto colon = authority.rfind(':');
      e.host = std::string(authority.substr(0, colon));
      if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (e.host.empty() || e.host.find('@') != std::string::npos) return std::nullopt;
    for (char c : port)
      if (c < '0' || c > '9') return std::nullopt;
    if (port.size() > 5) return std::nullopt;
    e.port = port.empty() ? std::string(e.tls ? "443" : "80") : std::string(port);
    return e;
  }
};

struct JsonRpcClientSettings {
  std::chrono::milliseconds request_timeout{5000};  // the whole exchange, connect included
  std::chrono::milliseconds idle_timeout{30000};    // idle connections older than this are not reused
  std::size_t max_idle_connections = 4;
  std::uint64_t body_limit = 32 * 1024 * 1024;      // an answer's body, in bytes
  bool verify_peer = true;                          // HTTPS: verify the certificate and host name
};

// See the header comment. Not thread safe: one strand. Cancellation per operation.
class JsonRpcClient {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Throws std::invalid_argument for a URL that is not http:// or https://. `tls` is
  // used for https:// (default: the system's trust store, verify_peer as set).
  JsonRpcClient(executor_type executor, std::string_view url, JsonRpcClientSettings settings = {},
                std::shared_ptr<boost::asio::ssl::context> tls = nullptr)
      : executor_(std::move(executor)), url_(url), settings_(settings), tls_(std::move(tls)) {
    auto endpoint = RpcEndpoint::parse(url);
    if (!endpoint) throw std::invalid_argument("JsonRpcClient: not an http:// or https:// URL: " + std::string(url));
    endpoint_ = std::move(*endpoint);
    if (endpoint_.tls && !tls_) {
      tls_ = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
      tls_->set_default_verify_paths();
      tls_->set_verify_mode(settings_.verify_peer ? boost::asio::ssl::verify_peer : boost::asio::ssl::verify_none);
    }
  }

  JsonRpcClient(const JsonRpcClient&) = delete;
  JsonRpcClient& operator=(const JsonRpcClient&) = delete;

  executor_type get_executor() const noexcept { return executor_; }
  const std::string& url() const noexcept { return url_; }
  const RpcEndpoint& endpoint() const noexcept { return endpoint_; }
  const JsonRpcClientSettings& settings() const noexcept { return settings_; }

  // Connections opened so far, and idle now (keep-alive reuse is visible in these).
  std::uint64_t connections_opened() const noexcept { return opened_; }
  std::size_t idle_connections() const noexcept { return idle_.size(); }

  // Closes the idle connections (those in use close when their request ends).
  void close_idle() noexcept { idle_.clear(); }

  // Calls `method` with `params` (an array or an object). Completes with
  // void(error_code, RpcReply) through the handler's associated executor.
  template <class CompletionToken>
  auto async_call(std::string_view method, const boost::json::value& params, CompletionToken&& token) {
    boost::json::object request;
    request["jsonrpc"] = "2.0";
    const std::uint64_t id = ++next_id_;
    request["id"] = id;
    request["method"] = method;
    request["params"] = params;
    std::string body = boost::json::serialize(request);
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, RpcReply)>(
        [this](auto handler, std::string request_body, std::uint64_t request_id) {
          auto slot = boost::asio::get_associated_cancellation_slot(handler);
          auto handler_executor = boost::asio::get_associated_executor(handler, executor_);
          boost::asio::co_spawn(
              executor_, exchange(std::move(request_body), request_id),
              boost::asio::bind_cancellation_slot(
                  slot, boost::asio::bind_executor(
                            handler_executor, [h = std::move(handler)](std::exception_ptr e, Result r) mutable {
                              // exchange() catches what its operations throw; this
                              // is an allocation failure of the coroutine itself.
                              if (e) return std::move(h)(make_error_code(error::operation_threw), RpcReply{});
                              std::move(h)(r.error, std::move(r.reply));
                            })));
        },
        token, std::move(body), id);
  }

 private:
  struct Result {
    boost::system::error_code error;
    RpcReply reply;
  };

  struct Connection {
    std::unique_ptr<boost::beast::tcp_stream> plain;
    std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> secure;
    boost::beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since{};

    boost::beast::tcp_stream& tcp() { return secure ? boost::beast::get_lowest_layer(*secure) : *plain; }
  };

  static constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

  // Still open, silent, and young enough to reuse: a connection the server closed (or
  // wrote to) while idle would turn the next request into one in doubt.
  bool reusable(Connection& c, std::chrono::steady_clock::time_point now) const {
    if (now - c.idle_since > settings_.idle_timeout || c.buffer.size() != 0) return false;
    char byte;
    const auto n = ::recv(c.tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  std::unique_ptr<Connection> take_idle() {
    const auto now = std::chrono::steady_clock::now();
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (reusable(*c, now)) return c;
    }
    return nullptr;
  }

  void give_back(std::unique_ptr<Connection> c) {
    if (idle_.size() >= settings_.max_idle_connections) return;
    c->idle_since = std::chrono::steady_clock::now();
    idle_.push_back(std::move(c));
  }

  static bool cancelled(const boost::asio::cancellation_state& s) {
    return s.cancelled() != boost::asio::cancellation_type::none;
  }

  // Resolve, connect and (HTTPS) handshake, before `deadline`. Nothing is written.
  boost::asio::awaitable<boost::system::error_code> open(Connection& c,
                                                         std::chrono::steady_clock::time_point deadline) {
    namespace asio = boost::asio;
    using asio::ip::tcp;
    std::vector<tcp::endpoint> endpoints;
    boost::system::error_code literal_ec;
    const auto address = asio::ip::make_address(endpoint_.host, literal_ec);
    const auto port = static_cast<unsigned short>(std::stoul(endpoint_.port));
    if (!literal_ec) {
      endpoints.emplace_back(address, port);
    } else {
      // A resolver has no time-out of its own: a timer cancels it.
      auto resolver = std::make_shared<tcp::resolver>(executor_);
      asio::steady_timer guard(executor_);
      guard.expires_at(deadline);
      guard.async_wait([weak = std::weak_ptr<tcp::resolver>(resolver)](boost::system::error_code ec) {
        if (ec) return;
        if (auto r = weak.lock()) r->cancel();
      });
      auto [ec, results] = co_await resolver->async_resolve(endpoint_.host, endpoint_.port, use_tuple);
      guard.cancel();
      if (ec) co_return ec;
      for (const auto& r : results) endpoints.push_back(r.endpoint());
      if (endpoints.empty()) co_return asio::error::host_not_found;
    }
    if (endpoint_.tls) {
      c.secure = std::make_unique<boost::beast::ssl_stream<boost::beast::tcp_stream>>(executor_, *tls_);
      if (!SSL_set_tlsext_host_name(c.secure->native_handle(), endpoint_.host.c_str()))
        co_return boost::system::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
      if (settings_.verify_peer) c.secure->set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
    } else {
      c.plain = std::make_unique<boost::beast::tcp_stream>(executor_);
    }
    c.tcp().expires_at(deadline);
    auto [connect_ec, connected] = co_await c.tcp().async_connect(endpoints, use_tuple);
    (void)connected;
    if (connect_ec) co_return connect_ec;
    ++opened_;
    if (c.secure) {
      c.tcp().expires_at(deadline);
      auto [handshake_ec] = co_await c.secure->async_handshake(asio::ssl::stream_base::client, use_tuple);
      if (handshake_ec) co_return handshake_ec;
    }
    co_return boost::system::error_code{};
  }

  template <class Stream>
  static boost::asio::awaitable<boost::system::error_code> write_request(
      Stream& stream, boost::beast::http::request<boost::beast::http::string_body>& request) {
    auto [ec, n] = co_await boost::beast::http::async_write(stream, request, use_tuple);
    (void)n;
    co_return ec;
  }

  template <class Stream>
  static boost::asio::awaitable<boost::system::error_code> read_response(
      Stream& stream, boost::beast::flat_buffer& buffer,
      boost::beast::http::response_parser<boost::beast::http::string_body>& parser) {
    auto [ec, n] = co_await boost::beast::http::async_read(stream, buffer, parser, use_tuple);
    (void)n;
    co_return ec;
  }

  // The whole exchange; never throws (an operation awaited after cancellation
  // throws operation_aborted: caught here).
  boost::asio::awaitable<Result> exchange(std::string body, std::uint64_t id) {
    namespace asio = boost::asio;
    namespace http = boost::beast::http;
    const auto deadline = std::chrono::steady_clock::now() + settings_.request_timeout;
    std::unique_ptr<Connection> connection;
    bool writing = false;
    try {
      auto state = co_await asio::this_coro::cancellation_state;
      connection = take_idle();
      if (!connection) {
        connection = std::make_unique<Connection>();
        const boost::system::error_code ec = co_await open(*connection, deadline);
        if (cancelled(state)) co_return Result{asio::error::operation_aborted, {}};
        if (ec) co_return Result{make_error_code(transport_error::connect_failed), {}};
      }
      http::request<http::string_body> request{http::verb::post, endpoint_.target, 11};
      request.set(http::field::host, endpoint_.host);
      request.set(http::field::content_type, "application/json");
      request.keep_alive(true);
      request.body() = std::move(body);
      request.prepare_payload();
      connection->tcp().expires_at(deadline);
      writing = true;
      boost::system::error_code ec;
      if (connection->secure)
        ec = co_await write_request(*connection->secure, request);
      else
        ec = co_await write_request(*connection->plain, request);
      if (cancelled(state)) co_return Result{asio::error::operation_aborted, {}};
      if (ec) co_return Result{ec, {}};
      http::response_parser<http::string_body> parser;
      parser.body_limit(settings_.body_limit);
      connection->tcp().expires_at(deadline);
      if (connection->secure)
        ec = co_await read_response(*connection->secure, connection->buffer, parser);
      else
        ec = co_await read_response(*connection->plain, connection->buffer, parser);
      if (cancelled(state)) co_return Result{asio::error::operation_aborted, {}};
      if (ec) co_return Result{ec, {}};
      auto response = parser.release();
      connection->tcp().expires_never();
      if (response.keep_alive()) give_back(std::move(connection));
      if (response.result() != http::status::ok) co_return Result{make_http_status_error(response.result_int()), {}};
      co_return read_answer(response.body(), id);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) co_return Result{asio::error::operation_aborted, {}};
      co_return Result{writing ? e.code() : make_error_code(transport_error::connect_failed), {}};
    } catch (...) {
      co_return Result{make_error_code(error::operation_threw), {}};
    }
  }

  // The JSON-RPC answer in `body` to request `id`.
  static Result read_answer(const std::string& body, std::uint64_t id) {
    const auto unreadable = make_http_status_error(200);  // the server had it: in doubt
    boost::system::error_code parse_ec;
    boost::json::value answer = boost::json::parse(body, parse_ec);
    if (parse_ec || !answer.is_object()) return Result{unreadable, {}};
    auto& object = answer.as_object();
    const auto* answer_id = object.if_contains("id");
    const bool same_id = answer_id && ((answer_id->is_int64() && answer_id->as_int64() >= 0 &&
                                        static_cast<std::uint64_t>(answer_id->as_int64()) == id) ||
                                       (answer_id->is_uint64() && answer_id->as_uint64() == id));
    if (!same_id) return Result{unreadable, {}};
    if (auto* error_object = object.if_contains("error"); error_object && !error_object->is_null()) {
      const auto* code = error_object->is_object() ? error_object->as_object().if_contains("code") : nullptr;
      if (!code || !code->is_int64()) return Result{unreadable, {}};
      const auto value = code->as_int64();
      if (value < INT_MIN || value > INT_MAX) return Result{unreadable, {}};
      return Result{make_json_rpc_error(static_cast<int>(value)), RpcReply{nullptr, std::move(*error_object)}};
    }
    auto* result = object.if_contains("result");
    if (!result) return Result{unreadable, {}};
    return Result{{}, RpcReply{std::move(*result), nullptr}};
  }

  executor_type executor_;
  std::string url_;
  RpcEndpoint endpoint_;
  JsonRpcClientSettings settings_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::uint64_t next_id_ = 0;
  std::uint64_t opened_ = 0;
};

}  // namespace exitguard::solana
