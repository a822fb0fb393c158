// exitguard-test-set: sanitized
// Tests of tests/support/solana_localnet.hpp: the fixture starts the real localnet
// server (node + LiteSVM), talks JSON-RPC to it, reports its errors, and stops it.
// These tests run a real server in real time; the waits are bounded polls.

// First include: proves the header compiles on its own.
#include "support/solana_localnet.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using exitguard::test::SolanaLocalnet;
using exitguard::test::SolanaRpcError;

// Bitcoin-alphabet base58, as Solana writes public keys: each leading zero byte is '1'.
std::string base58(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  std::size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  std::vector<std::uint8_t> digits;  // base-58 digits, least significant first
  for (std::size_t i = zeros; i < bytes.size(); ++i) {
    unsigned carry = bytes[i];
    for (auto& d : digits) {
      carry += static_cast<unsigned>(d) << 8;
      d = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      digits.push_back(static_cast<std::uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string out(zeros, '1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kAlphabet[*it]);
  return out;
}

std::string random_pubkey() {
  static std::mt19937_64 rng{std::random_device{}()};
  std::vector<std::uint8_t> key(32);
  for (auto& b : key) b = static_cast<std::uint8_t>(rng());
  return base58(key);
}

bool can_connect(unsigned short port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect({boost::asio::ip::make_address_v4("127.0.0.1"), port}, ec);
  return !ec;
}

std::int64_t processed_slot(SolanaLocalnet& net) {
  return net.call("getSlot", {boost::json::object{{"commitment", "processed"}}}).as_int64();
}

}  // namespace

TEST_CASE("SolanaLocalnet is a class with an Options struct") {
  STATIC_REQUIRE(std::is_class_v<SolanaLocalnet>);
  STATIC_REQUIRE(std::is_same_v<decltype(SolanaLocalnet::Options{}.slot_ms), int>);
  STATIC_REQUIRE(!std::is_copy_constructible_v<SolanaLocalnet>);
}

TEST_CASE("base58 encodes like Solana") {
  struct Case {
    std::vector<std::uint8_t> bytes;
    std::string text;
  };
  const auto c = GENERATE(
      Case{{}, ""},
      Case{{0}, "1"},
      Case{{0, 0, 1}, "112"},
      Case{{'H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd'}, "JxF12TrwUP45BMd"},
      Case{std::vector<std::uint8_t>(32, 0), "11111111111111111111111111111111"},
      Case{std::vector<std::uint8_t>(32, 255), "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"});
  CHECK(base58(c.bytes) == c.text);
}

TEST_CASE("SolanaLocalnet starts the server and serves health, setup and balances") {
  SolanaLocalnet net({.slot_ms = 0, .blockhash_validity = 150});
  CHECK(net.host() == "127.0.0.1");
  CHECK(net.url() == "http://127.0.0.1:" + std::to_string(net.port()));
  CHECK(net.call("getHealth").as_string() == "ok");

  const std::string owner = random_pubkey();
  const std::string payer = random_pubkey();
  boost::json::object settings{{"owner", owner},          {"payer", payer},   {"nonceAuthority", payer},
                               {"decimals", 6},           {"positionAmount", "1000000000"},
                               {"otherAmount", "250"},    {"nonceAccounts", 2}, {"lamports", 10000000000LL}};
  const boost::json::object setup = net.call("exitguard_setup", {settings}).as_object();

  const boost::json::value source = setup.at("source");
  CHECK(net.call("exitguard_tokenBalance", {source}).as_string() == "1000000250");
  CHECK(net.call("exitguard_tokenBalance", {setup.at("destination")}).as_string() == "0");
  CHECK(setup.at("nonceAccounts").as_array().size() == 2);
  CHECK(setup.at("tokenProgram").as_string() == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");

  const auto balance = net.call("getTokenAccountBalance", {source}).as_object();
  CHECK(balance.at("value").at("amount").as_string() == "1000000250");
  CHECK(balance.at("value").at("uiAmountString").as_string() == "1000.00025");
  const auto lamports = net.call("getBalance", {boost::json::value(payer), boost::json::object{{"commitment", "processed"}}});
  CHECK(lamports.at("value").to_number<std::int64_t>() == 10000000000LL);
}

TEST_CASE("SolanaLocalnet call throws SolanaRpcError with the JSON-RPC error") {
  SolanaLocalnet net({.slot_ms = 0, .blockhash_validity = 150});
  try {
    net.call("exitguard_tokenBalance", {boost::json::value(random_pubkey())});
    FAIL("expected an error for an account that does not exist");
  } catch (const SolanaRpcError& e) {
    CHECK(e.code() == -32602);
    CHECK(e.rpc_message() == "Invalid param: not a Token account");
  }
  const auto raw = net.call_raw("noSuchMethod");
  CHECK(raw.at("error").at("code").as_int64() == -32601);
}

TEST_CASE("SolanaLocalnet slots advance by themselves with slot_ms and on exitguard_advanceSlots") {
  SolanaLocalnet manual({.slot_ms = 0, .blockhash_validity = 150});
  const std::int64_t start = processed_slot(manual);
  CHECK(manual.call("exitguard_advanceSlots", {5}).as_int64() == start + 5);
  CHECK(processed_slot(manual) == start + 5);

  SolanaLocalnet timed({.slot_ms = 20, .blockhash_validity = 150});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (processed_slot(timed) < 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(processed_slot(timed) >= 5);
}

TEST_CASE("SolanaLocalnet destructor stops the server") {
  unsigned short port = 0;
  {
    SolanaLocalnet net({.slot_ms = 0, .blockhash_validity = 150});
    port = net.port();
    REQUIRE(can_connect(port));
  }
  CHECK_FALSE(can_connect(port));
}

TEST_CASE("SolanaLocalnet throws with the server's stderr when the server refuses to start") {
  try {
    SolanaLocalnet net({.slot_ms = 0, .blockhash_validity = 0});
    FAIL("expected the server to refuse --blockhash-validity 0");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("--blockhash-validity needs an integer >= 1"));
  }
}
