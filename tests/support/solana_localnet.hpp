// tests/support/solana_localnet.hpp — the Solana localnet (tests/solana/localnet/server.mjs,
// a JSON-RPC server on LiteSVM) as an RAII test fixture.
//
// SolanaLocalnet starts `node <EXITGUARD_SOLANA_LOCALNET_DIR>/server.mjs --port 0 ...`
// with posix_spawnp (node from PATH), waits up to 20 s for its `listening <url>` line
// and gives the URL; the destructor closes the server's stdin (the server exits when
// it closes, so even a test that dies never leaves it running), sends SIGTERM and
// reaps it. If the line does not come, the constructor throws std::runtime_error
// with the server's stderr (e.g. node_modules missing: run
// scripts/setup-solana-localnet.sh).
//
// call() is a small synchronous JSON-RPC client for control methods and assertions:
// one blocking HTTP/1.1 POST per call over its own connection, bounded by a timeout.
// Not thread-safe: use one fixture from one thread. Nothing to cancel; a call that
// does not complete within its timeout throws.
//
// Needs the compile definition EXITGUARD_SOLANA_LOCALNET_DIR (the directory of
// server.mjs) and linking with Boost::json (compiled Boost.JSON, libboost-json1.81-dev).
#pragma once

#ifndef EXITGUARD_SOLANA_LOCALNET_DIR
#error "define EXITGUARD_SOLANA_LOCALNET_DIR as the path of tests/solana/localnet"
#endif

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace exitguard::test {

// A JSON-RPC error answer: its code, message and data (null when absent). An
// immutable value once thrown; safe to read from any thread.
class SolanaRpcError : public std::runtime_error {
 public:
  SolanaRpcError(std::string_view method, const boost::json::object& error)
      : std::runtime_error(std::string(method) + " failed: " + boost::json::serialize(error)),
        code_(error.contains("code") && error.at("code").is_int64() ? error.at("code").as_int64() : 0),
        message_(error.contains("message") && error.at("message").is_string()
                     ? std::string(error.at("message").as_string())
                     : std::string()),
        data_(error.contains("data") ? error.at("data") : boost::json::value()) {}

  std::int64_t code() const { return code_; }
  const std::string& rpc_message() const { return message_; }
  const boost::json::value& data() const { return data_; }

 private:
  std::int64_t code_;
  std::string message_;
  boost::json::value data_;
};

// One localnet server process for the fixture's lifetime (see the top of this file):
// started by the constructor, stopped by the destructor. One thread at a time;
// call() blocks until its answer or its timeout, it cannot be cancelled.
class SolanaLocalnet {
 public:
  struct Options {
    int slot_ms = 400;              // auto-advance period; 0: slots move only on exitguard_advanceSlots
    int blockhash_validity = 150;   // blocks a blockhash stays valid
  };

  SolanaLocalnet() : SolanaLocalnet(Options{}) {}

  explicit SolanaLocalnet(Options options) {
    start(options);
  }

  SolanaLocalnet(const SolanaLocalnet&) = delete;
  SolanaLocalnet& operator=(const SolanaLocalnet&) = delete;

  ~SolanaLocalnet() { stop(); }

  const std::string& url() const { return url_; }
  std::string host() const { return "127.0.0.1"; }
  unsigned short port() const { return port_; }

  // What the server wrote to stderr so far (its --verbose log is off; errors only).
  std::string server_stderr() const { return read_file(stderr_path_); }

  // How long call() waits for a whole answer.
  void set_call_timeout(std::chrono::milliseconds timeout) { call_timeout_ = timeout; }

  // The `result` of a call; throws SolanaRpcError on a JSON-RPC error answer and
  // std::runtime_error on a transport or HTTP failure.
  boost::json::value call(std::string_view method, boost::json::array params = {}) {
    boost::json::object answer = call_raw(method, std::move(params));
    if (const auto* error = answer.if_contains("error")) {
      if (error->is_object()) throw SolanaRpcError(method, error->as_object());
      throw std::runtime_error(std::string(method) + " failed: " + boost::json::serialize(*error));
    }
    if (!answer.contains("result")) {
      throw std::runtime_error(std::string(method) + ": answer without result: " + boost::json::serialize(answer));
    }
    return answer.at("result");
  }

  // The whole JSON-RPC answer object ({jsonrpc, id, result | error}).
  boost::json::object call_raw(std::string_view method, boost::json::array params = {}) {
    namespace asio = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;

    boost::json::object request;
    request["jsonrpc"] = "2.0";
    request["id"] = next_id_++;
    request["method"] = method;
    request["params"] = std::move(params);

    http::request<http::string_body> req{http::verb::post, "/", 11};
    req.set(http::field::host, host() + ":" + std::to_string(port_));
    req.set(http::field::content_type, "application/json");
    req.body() = boost::json::serialize(request);
    req.prepare_payload();

    asio::io_context io;
    beast::tcp_stream stream(io);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    beast::error_code failure;
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port_);

    // One connection per call, all three steps under one deadline: the tcp_stream
    // timer cancels whichever step is pending when it expires.
    stream.expires_after(call_timeout_);
    stream.async_connect(endpoint, [&](beast::error_code ec) {
      if (ec) {
        failure = ec;
        return;
      }
      http::async_write(stream, req, [&](beast::error_code write_ec, std::size_t) {
        if (write_ec) {
          failure = write_ec;
          return;
        }
        http::async_read(stream, buffer, res, [&](beast::error_code read_ec, std::size_t) { failure = read_ec; });
      });
    });
    io.run();
    if (failure) {
      throw std::runtime_error(std::string(method) + ": HTTP exchange with " + url_ + " failed: " + failure.message());
    }
    if (res.result() != http::status::ok) {
      throw std::runtime_error(std::string(method) + ": HTTP " + std::to_string(res.result_int()) + ": " + res.body());
    }
    boost::json::value answer = boost::json::parse(res.body());
    if (!answer.is_object()) throw std::runtime_error(std::string(method) + ": answer is not an object: " + res.body());
    return std::move(answer.as_object());
  }

 private:
  static constexpr std::chrono::seconds kStartTimeout{20};
  static constexpr std::chrono::seconds kStopTimeout{5};

  static std::string read_file(const std::string& path) {
    if (path.empty()) return {};
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  [[noreturn]] void fail_start(const std::string& why) {
    const std::string err = server_stderr();
    stop();
    throw std::runtime_error("solana localnet did not start (" + why + "); its stderr:\n" + err +
                             "(is node >= 20.18 on PATH and scripts/setup-solana-localnet.sh run?)");
  }

  void start(const Options& options) {
    int stdin_pipe[2];
    int stdout_pipe[2];
    if (::pipe2(stdin_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    if (::pipe2(stdout_pipe, O_CLOEXEC) != 0) {
      ::close(stdin_pipe[0]);
      ::close(stdin_pipe[1]);
      throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }
    std::string stderr_template = "/tmp/exitguard-solana-localnet-XXXXXX";
    const int stderr_fd = ::mkostemp(stderr_template.data(), O_CLOEXEC);
    if (stderr_fd < 0) {
      for (int fd : {stdin_pipe[0], stdin_pipe[1], stdout_pipe[0], stdout_pipe[1]}) ::close(fd);
      throw std::runtime_error(std::string("mkostemp: ") + std::strerror(errno));
    }
    stderr_path_ = stderr_template;
    stdin_fd_ = stdin_pipe[1];
    stdout_fd_ = stdout_pipe[0];

    const std::string script = std::string(EXITGUARD_SOLANA_LOCALNET_DIR) + "/server.mjs";
    const std::string slot_ms = std::to_string(options.slot_ms);
    const std::string validity = std::to_string(options.blockhash_validity);
    std::vector<std::string> args = {"node", script, "--port", "0", "--slot-ms", slot_ms, "--blockhash-validity", validity};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The child's ends become its fds 0/1/2 (dup2 clears O_CLOEXEC on the copies).
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, stdin_pipe[0], STDIN_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, stdout_pipe[1], STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
    const int spawned = ::posix_spawnp(&pid_, "node", &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(stdin_pipe[0]);
    ::close(stdout_pipe[1]);
    ::close(stderr_fd);
    if (spawned != 0) {
      pid_ = -1;
      fail_start(std::string("posix_spawnp node: ") + std::strerror(spawned));
    }
    read_listening_line();
  }

  void read_listening_line() {
    static constexpr std::string_view kPrefix = "listening ";
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    std::string line;
    for (;;) {
      const auto newline = line.find('\n');
      if (newline != std::string::npos) {
        line.resize(newline);
        break;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) fail_start("no listening line within 20 s");
      pollfd p{stdout_fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) fail_start(std::string("poll: ") + std::strerror(errno));
      if (ready == 0) continue;
      char chunk[256];
      const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_start("the server exited before listening");
      line.append(chunk, static_cast<std::size_t>(n));
    }
    if (line.rfind(kPrefix, 0) != 0) fail_start("unexpected first line: " + line);
    url_ = line.substr(kPrefix.size());
    const auto colon = url_.rfind(':');
    const unsigned long port = colon == std::string::npos ? 0 : std::stoul(url_.substr(colon + 1));
    if (url_.rfind("http://127.0.0.1:", 0) != 0 || port == 0 || port > 65535) fail_start("unexpected url: " + url_);
    port_ = static_cast<unsigned short>(port);
  }

  // Closing stdin is the server's own signal to exit; SIGTERM as well in case it
  // ignores it; SIGKILL if it still lives after kStopTimeout.
  void stop() {
    if (stdin_fd_ >= 0) {
      ::close(stdin_fd_);
      stdin_fd_ = -1;
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
      int status = 0;
      pid_t reaped = 0;
      while ((reaped = ::waitpid(pid_, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (reaped == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
    if (stdout_fd_ >= 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
    }
    if (!stderr_path_.empty()) {
      ::unlink(stderr_path_.c_str());
      stderr_path_.clear();
    }
  }

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string url_;
  unsigned short port_ = 0;
  std::uint64_t next_id_ = 1;
  std::chrono::milliseconds call_timeout_{30000};
};

}  // namespace exitguard::test
