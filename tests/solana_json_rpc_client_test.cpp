// exitguard-test-set: sanitized
// Tests of exitguard/solana/json_rpc_client.hpp against the LiteSVM localnet (real
// HTTP, real faults) and two tiny local servers (a malformed answer, a peer that
// closes before the TLS handshake). Real time; every wait is bounded.

// First include: proves the header compiles on its own.
#include <exitguard/solana/json_rpc_client.hpp>

#include "support/solana_localnet.hpp"

#include <exitguard/solana/errors.hpp>
#include <exitguard/transport_classifier.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace {

namespace asio = boost::asio;
namespace eg = exitguard;
using eg::solana::JsonRpcClient;
using eg::solana::JsonRpcClientSettings;
using eg::solana::RpcReply;
using eg::test::SolanaLocalnet;

struct CallResult {
  boost::system::error_code ec;
  RpcReply reply;
  std::chrono::milliseconds took{};
};

// Runs one call to completion (bounded by the io_context's run_for).
CallResult call(asio::io_context& io, JsonRpcClient& client, std::string_view method, boost::json::value params,
                asio::cancellation_slot slot = {}) {
  std::optional<CallResult> out;
  const auto start = std::chrono::steady_clock::now();
  client.async_call(method, params, asio::bind_cancellation_slot(slot, [&](boost::system::error_code ec, RpcReply r) {
                      out = CallResult{ec, std::move(r), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                             std::chrono::steady_clock::now() - start)};
                    }));
  io.restart();
  while (!out && io.run_for(std::chrono::seconds(20)) > 0) {
  }
  REQUIRE(out.has_value());
  return *out;
}

// A port nothing listens on (bound, then closed at once).
unsigned short closed_port(asio::io_context& io) {
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address_v4("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

// Accepts one connection and answers whatever arrives with `response` (raw bytes),
// or closes it at once when `response` is empty.
class OneShotServer {
 public:
  OneShotServer(asio::io_context& io, std::string response)
      : acceptor_(io, {asio::ip::make_address_v4("127.0.0.1"), 0}), socket_(io), response_(std::move(response)) {
    acceptor_.async_accept(socket_, [this](boost::system::error_code ec) {
      if (ec) return;
      if (response_.empty()) {
        socket_.close();
        return;
      }
      socket_.async_read_some(asio::buffer(request_), [this](boost::system::error_code read_ec, std::size_t) {
        if (read_ec) return;
        asio::async_write(socket_, asio::buffer(response_), [](boost::system::error_code, std::size_t) {});
      });
    });
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket socket_;
  std::string response_;
  std::array<char, 8192> request_{};
};

}  // namespace

TEST_CASE("JsonRpcClient exists and completes with an error code and an RpcReply") {
  STATIC_REQUIRE(std::is_class_v<JsonRpcClient>);
  STATIC_REQUIRE(std::is_same_v<decltype(RpcReply{}.error), boost::json::value>);
  STATIC_REQUIRE(!std::is_copy_constructible_v<JsonRpcClient>);
}

TEST_CASE("RpcEndpoint parses http and https URLs") {
  struct Case {
    const char* url;
    bool ok;
    bool tls;
    const char* host;
    const char* port;
    const char* target;
  };
  const auto c = GENERATE(values<Case>({
      {"http://127.0.0.1:8899", true, false, "127.0.0.1", "8899", "/"},
      {"https://api.mainnet-beta.solana.com", true, true, "api.mainnet-beta.solana.com", "443", "/"},
      {"http://rpc.example/v1/key", true, false, "rpc.example", "80", "/v1/key"},
      {"https://[::1]:9000/x", true, true, "::1", "9000", "/x"},
      {"ftp://host", false, false, "", "", ""},
      {"http://:80", false, false, "", "", ""},
      {"http://host:8a", false, false, "", "", ""},
      {"http://user@host", false, false, "", "", ""},
  }));
  CAPTURE(c.url);
  const auto e = eg::solana::RpcEndpoint::parse(c.url);
  REQUIRE(e.has_value() == c.ok);
  if (!c.ok) return;
  CHECK(e->tls == c.tls);
  CHECK(e->host == c.host);
  CHECK(e->port == c.port);
  CHECK(e->target == c.target);
}

TEST_CASE("JsonRpcClient calls getHealth and reuses its keep-alive connection") {
  SolanaLocalnet net({100, 150});
  asio::io_context io;
  JsonRpcClient client(io.get_executor(), net.url());
  for (int i = 0; i < 3; ++i) {
    const auto r = call(io, client, "getHealth", boost::json::array{});
    REQUIRE_FALSE(r.ec);
    CHECK(r.reply.result == "ok");
    CHECK(r.reply.error.is_null());
  }
  CHECK(client.connections_opened() == 1);
  CHECK(client.idle_connections() == 1);
}

TEST_CASE("JsonRpcClient reports a JSON-RPC error answer as its code and keeps the error object") {
  SolanaLocalnet net({100, 150});
  asio::io_context io;
  JsonRpcClient client(io.get_executor(), net.url());

  const auto missing = call(io, client, "noSuchMethod", boost::json::array{});
  CHECK(missing.ec == eg::make_json_rpc_error(-32601));
  CHECK(eg::json_rpc_code_of(missing.ec) == -32601);
  REQUIRE(missing.reply.error.is_object());
  CHECK(missing.reply.error.as_object().at("message").is_string());

  net.call("exitguard_faults", {boost::json::object{{"unhealthy", 1}, {"numSlotsBehind", 42}}});
  const auto unhealthy = call(io, client, "getSlot", boost::json::array{});
  CHECK(unhealthy.ec == eg::solana::rpc_error::node_unhealthy);
  CHECK(unhealthy.reply.error.at("data").at("numSlotsBehind") == 42);
  CHECK(eg::solana::RpcErrorClassifier{}(unhealthy.ec) == eg::FailureKind::transient);
}

TEST_CASE("JsonRpcClient reports an HTTP 429 as its status") {
  SolanaLocalnet net({100, 150});
  asio::io_context io;
  JsonRpcClient client(io.get_executor(), net.url());
  net.call("exitguard_faults", {boost::json::object{{"http429", 1}}});
  const auto limited = call(io, client, "getSlot", boost::json::array{});
  CHECK(limited.ec == eg::make_http_status_error(429));
  CHECK(eg::TransportClassifier{}(limited.ec) == eg::FailureKind::transient);
  const auto next = call(io, client, "getSlot", boost::json::array{});
  CHECK_FALSE(next.ec);
  CHECK(next.reply.result.is_int64());
}

TEST_CASE("JsonRpcClient times out after the write as beast timeout, in doubt") {
  SolanaLocalnet net({100, 150});
  asio::io_context io;
  JsonRpcClientSettings settings;
  settings.request_timeout = std::chrono::milliseconds(300);
  JsonRpcClient client(io.get_executor(), net.url(), settings);
  REQUIRE_FALSE(call(io, client, "getHealth", boost::json::array{}).ec);  // connected: the stall hits the answer
  net.call("exitguard_faults", {boost::json::object{{"stallMs", 3000}}});
  const auto stalled = call(io, client, "getSlot", boost::json::array{});
  CHECK(stalled.ec == boost::beast::error::timeout);
  CHECK(eg::TransportClassifier{}(stalled.ec) == eg::FailureKind::in_doubt);
  CHECK(stalled.took >= std::chrono::milliseconds(250));
  CHECK(stalled.took < std::chrono::milliseconds(2000));
  CHECK(client.idle_connections() == 0);  // a timed-out connection is never reused
}

TEST_CASE("JsonRpcClient reports a refused connection as connect_failed, nothing sent") {
  asio::io_context io;
  const auto port = closed_port(io);
  JsonRpcClient client(io.get_executor(), "http://127.0.0.1:" + std::to_string(port));
  const auto refused = call(io, client, "getHealth", boost::json::array{});
  CHECK(refused.ec == eg::transport_error::connect_failed);
  CHECK(eg::TransportClassifier{}(refused.ec) == eg::FailureKind::transient);
}

TEST_CASE("JsonRpcClient reports a failed TLS handshake as connect_failed") {
  asio::io_context io;
  OneShotServer closer(io, "");
  JsonRpcClient client(io.get_executor(), "https://127.0.0.1:" + std::to_string(closer.port()));
  const auto failed = call(io, client, "getHealth", boost::json::array{});
  CHECK(failed.ec == eg::transport_error::connect_failed);
}

TEST_CASE("JsonRpcClient reports a malformed answer as HTTP 200 in doubt") {
  asio::io_context io;
  OneShotServer server(io, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"result\"");
  JsonRpcClient client(io.get_executor(), "http://127.0.0.1:" + std::to_string(server.port()));
  const auto malformed = call(io, client, "getHealth", boost::json::array{});
  CHECK(malformed.ec == eg::make_http_status_error(200));
  CHECK(eg::TransportClassifier{}(malformed.ec) == eg::FailureKind::in_doubt);
}

TEST_CASE("JsonRpcClient refuses an answer to another request id") {
  asio::io_context io;
  const std::string body = R"({"jsonrpc":"2.0","id":999,"result":"ok"})";
  OneShotServer server(io, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  JsonRpcClient client(io.get_executor(), "http://127.0.0.1:" + std::to_string(server.port()));
  CHECK(call(io, client, "getHealth", boost::json::array{}).ec == eg::make_http_status_error(200));
}

TEST_CASE("JsonRpcClient stops at once on terminal cancellation and drops the connection") {
  SolanaLocalnet net({100, 150});
  asio::io_context io;
  JsonRpcClientSettings settings;
  settings.request_timeout = std::chrono::seconds(10);
  JsonRpcClient client(io.get_executor(), net.url(), settings);
  REQUIRE_FALSE(call(io, client, "getHealth", boost::json::array{}).ec);
  net.call("exitguard_faults", {boost::json::object{{"stallMs", 5000}}});
  asio::cancellation_signal signal;
  asio::steady_timer timer(io);
  timer.expires_after(std::chrono::milliseconds(200));
  timer.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
  const auto cancelled = call(io, client, "getSlot", boost::json::array{}, signal.slot());
  CHECK(cancelled.ec == asio::error::operation_aborted);
  CHECK(cancelled.took < std::chrono::milliseconds(1500));
  CHECK(client.idle_connections() == 0);
}
