// exitguard-test-set: sanitized
// Tests of exitguard/solana/rpc_venue.hpp: whole exits through AdaptiveExitExecutor
// against the LiteSVM localnet (real signatures, the real System and SPL Token
// programs, real time), with the localnet's faults. Every scenario checks what was
// sold on chain (exitguard_tokenBalance) against the report, and prints one summary
// line for the CI log.

// First include: proves the header compiles on its own.
#include <exitguard/solana/rpc_venue.hpp>

#include "support/solana_localnet.hpp"

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/solana/errors.hpp>
#include <exitguard/solana/transaction.hpp>
#include <exitguard/testing/solana_signer.hpp>
#include <exitguard/transport_classifier.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace eg = exitguard;
namespace sol = exitguard::solana;
using eg::testing::Ed25519Keypair;
using eg::test::SolanaLocalnet;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kPosition = 1000;

Ed25519Keypair keypair_from(std::uint8_t seed_byte) {
  std::array<std::uint8_t, Ed25519Keypair::seed_size> seed{};
  seed.fill(seed_byte);
  return Ed25519Keypair(std::span<const std::uint8_t, Ed25519Keypair::seed_size>(seed));
}

std::uint64_t balance(SolanaLocalnet& net, const std::string& account) {
  return std::stoull(std::string(net.call("exitguard_tokenBalance", {boost::json::value(account)}).as_string()));
}

std::set<std::string> signatures_in(const boost::json::value& list) {
  std::set<std::string> out;
  for (const auto& v : list.as_array()) {
    if (v.is_string()) out.insert(std::string(v.as_string()));
    else if (v.is_object()) out.insert(std::string(v.at("signature").as_string()));
  }
  return out;
}

// A shorter ladder for scenarios that need attempts to time out while their
// transaction is still on its way.
eg::ExitSettings short_ladder(std::chrono::milliseconds attempt_timeout) {
  eg::ExitSettings s;
  for (auto& step : s.ladder) {
    step.policy.attempt_timeout = attempt_timeout;
    step.policy.initial_backoff = std::chrono::milliseconds(200);
    step.policy.max_backoff = std::chrono::milliseconds(400);
    step.policy.min_attempt_window = std::chrono::milliseconds(200);
  }
  s.ladder.front().policy.max_attempts = 3;
  return s;
}

// One localnet, one position of 1,000 base units (plus `other` units that are not
// the position), the test's keys and a venue over it. Members are destroyed io
// first (it drops the coroutines still suspended), then the venue, then the server.
template <class Venue = sol::RpcVenue>
struct Scenario {
  struct Options {
    sol::LifetimeMode mode = sol::LifetimeMode::recent_blockhash;
    std::uint64_t other = 0;
    int nonce_accounts = 2;
    int slot_ms = 50;
    int blockhash_validity = 150;
    std::chrono::milliseconds request_timeout{2000};
    int endpoints = 1;
  };

  // The venue's JSON-RPC clients keep idle keep-alive sockets of `io`: let its work
  // finish, then destroy it while `io` still lives.
  ~Scenario() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (venue && !venue->idle() && std::chrono::steady_clock::now() < until)
      io.run_one_for(std::chrono::milliseconds(50));
    venue.reset();
  }
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  explicit Scenario(Options o)
      : quiet_or_debug(), options(o), net(SolanaLocalnet::Options{o.slot_ms, o.blockhash_validity}), payer(keypair_from(7)),
        owner(keypair_from(9)) {
    const auto setup = net.call(
        "exitguard_setup", {boost::json::object{{"owner", sol::to_base58(owner.pubkey())},
                                                {"payer", sol::to_base58(payer.pubkey())},
                                                {"decimals", 6},
                                                {"positionAmount", std::to_string(kPosition)},
                                                {"otherAmount", std::to_string(o.other)},
                                                {"nonceAccounts", o.mode == sol::LifetimeMode::durable_nonce ? o.nonce_accounts : 0}}});
    mint = *sol::Pubkey::from_base58(std::string(setup.at("mint").as_string()));
    source = std::string(setup.at("source").as_string());
    destination = std::string(setup.at("destination").as_string());
    settings.commitment = "confirmed";
    settings.request_timeout = o.request_timeout;
    settings.status_poll_interval = std::chrono::milliseconds(100);
    settings.rebroadcast_interval = std::chrono::milliseconds(1000);
    settings.token_account = source;
    settings.mint_decimals = 6;
    settings.reserved = o.other;
    settings.lifetime = o.mode;
    for (int i = 0; i < o.endpoints; ++i) settings.endpoints.push_back(net.url() + (i == 0 ? "" : "/second"));
    for (const auto& n : setup.at("nonceAccounts").as_array())
      settings.nonce_accounts.push_back({std::string(n.as_string()), sol::to_base58(payer.pubkey())});
    source_before = balance(net, source);
    // A nonce cannot be used in the block that set it: start a few slots later, as a
    // bot whose nonce accounts were made long before does.
    net.call("exitguard_advanceSlots", {boost::json::value(3)});
  }

  template <class... Extra>
  Venue& make_venue(Extra&&... extra) {
    venue.emplace(io.get_executor(), settings, [this](const sol::TransactionRequest& r) { return build(r); },
                  std::forward<Extra>(extra)...);
    return *venue;
  }

  sol::BuiltTransaction build(const sol::TransactionRequest& r) {
    if (before_build) before_build(r);
    std::vector<sol::Instruction> instructions;
    if (const auto* nonce = r.durable_nonce())
      instructions.push_back(sol::system::advance_nonce_account(nonce->account, nonce->authority));
    if (r.order) {
      // The attempt number as the priority fee: every attempt's bytes differ, as a
      // real bot's do (its limit price), so two attempts are two transactions.
      instructions.push_back(sol::compute_budget::set_compute_unit_price(r.order->attempt));
      instructions.push_back(sol::spl_token::transfer_checked(*sol::Pubkey::from_base58(source), mint,
                                                              *sol::Pubkey::from_base58(destination), owner.pubkey(),
                                                              static_cast<std::uint64_t>(r.order->quantity.units()), 6));
    }
    const auto message = sol::compile_message(payer.pubkey(), instructions, r.recent_blockhash()).value();
    const auto tx = r.order ? eg::testing::sign_transaction(message, {&payer, &owner})
                            : eg::testing::sign_transaction(message, {&payer});
    sol::BuiltTransaction built{tx.to_base64(), tx.id()};
    (r.order ? attempt_wires : advance_wires).push_back(built);
    return built;
  }

  struct Result {
    boost::system::error_code ec;
    eg::ExitReport report;
  };

  // Runs one exit of the position to its completion, then lets the venue finish
  // what it still does (answers of given-up attempts, nonce releases) for up to
  // `drain`.
  Result run(eg::ExitSettings exit_settings, std::chrono::milliseconds drain = std::chrono::seconds(10)) {
    exit_settings.classifier = sol::RpcErrorClassifier{};
    eg::AdaptiveExitExecutor exits(io.get_executor(), exit_settings);
    eg::ExitRequest request{"SOL-POSITION", eg::Side::sell, eg::Quantity(kPosition), 100.0, "test exit"};
    request.decimals = 6;
    std::optional<Result> out;
    exits.async_execute(request, *venue, [&](boost::system::error_code ec, eg::ExitReport r) {
      out = Result{ec, std::move(r)};
    });
    const auto limit = Clock::now() + std::chrono::seconds(60);
    while (!out && Clock::now() < limit) io.run_one_for(std::chrono::milliseconds(100));
    REQUIRE(out.has_value());
    const auto drain_until = Clock::now() + drain;
    while (!venue->idle() && Clock::now() < drain_until) io.run_one_for(std::chrono::milliseconds(50));
    return *out;
  }

  std::uint64_t sold_on_chain() {
    const std::uint64_t now = balance(net, source);
    const std::uint64_t received = balance(net, destination);
    CHECK(source_before - now == received);  // the one destination got exactly what left
    return source_before - now;
  }

  void summary(const char* name, const Result& r) {
    // Printed for the CI log, with the summary line below.
    for (const auto& a : r.report.attempt_records)
      std::printf("[solana-venue]   attempt %u step %u outcome %s error %s tx %s\n", a.number, a.step,
                  std::string(eg::to_string(a.outcome)).c_str(), a.error.message().c_str(), a.transaction_id.c_str());
    std::printf("[solana-venue] %-28s state=%s error=%s attempts=%u filled=%lld sold_on_chain=%llu exit_time_ms=%lld\n",
                name, std::string(eg::to_string(r.report.final_state)).c_str(),
                r.ec ? r.ec.message().c_str() : "none", r.report.attempts,
                static_cast<long long>(r.report.filled_quantity.units()),
                static_cast<unsigned long long>(source_before - balance(net, source)),
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(r.report.exit_time).count()));
    std::fflush(stdout);
  }

  void faults(boost::json::object f) { net.call("exitguard_faults", {boost::json::value(std::move(f))}); }
  boost::json::value stats() { return net.call("exitguard_stats"); }

  // How many of this scenario's attempt transactions landed.
  std::size_t attempts_landed() {
    const auto landed = signatures_in(stats().at("landed"));
    std::size_t n = 0;
    for (const auto& b : attempt_wires) n += landed.count(b.signature);
    return n;
  }

  // EXITGUARD_SOLANA_DEBUG=1 shows the venue's debug log (sends, rebroadcasts, landings).
  struct LogLevel {
    LogLevel() {
      if (std::getenv("EXITGUARD_SOLANA_DEBUG")) sol::detail::solana_logger()->set_level(spdlog::level::debug);
    }
  } quiet_or_debug;
  Options options;
  SolanaLocalnet net;
  Ed25519Keypair payer;
  Ed25519Keypair owner;
  sol::Pubkey mint;
  std::string source;
  std::string destination;
  std::uint64_t source_before = 0;
  sol::RpcVenueSettings settings;
  std::function<void(const sol::TransactionRequest&)> before_build;
  std::vector<sol::BuiltTransaction> attempt_wires;
  std::vector<sol::BuiltTransaction> advance_wires;
  std::optional<Venue> venue;  // reset by ~Scenario, before io goes
  asio::io_context io;
};

using PricedVenue = sol::BasicRpcVenue<std::function<double(const std::string&)>>;

std::chrono::milliseconds ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); }

}  // namespace

TEST_CASE("RpcVenue is a token-style venue with the optional members") {
  STATIC_REQUIRE(eg::TokenVenue<sol::RpcVenue>);
  STATIC_REQUIRE(eg::DeclaresCapabilities<sol::RpcVenue>);
  STATIC_REQUIRE(eg::QueriesPosition<sol::RpcVenue>);
  STATIC_REQUIRE(eg::HearsExitFinished<sol::RpcVenue>);
  STATIC_REQUIRE_FALSE(eg::ProvidesReferencePrice<sol::RpcVenue>);
  STATIC_REQUIRE(eg::ProvidesReferencePrice<PricedVenue>);
  STATIC_REQUIRE(eg::check_venue_contract<sol::RpcVenue>());
  STATIC_REQUIRE(eg::check_venue_contract<PricedVenue>());
}

TEST_CASE("RpcVenueSettings refuses what cannot work") {
  sol::RpcVenueSettings s;
  s.endpoints = {"http://127.0.0.1:1"};
  s.token_account = "11111111111111111111111111111111";
  CHECK(s.invalid_reason().empty());
  auto broken = s;
  const int which = GENERATE(0, 1, 2, 3, 4);
  CAPTURE(which);
  switch (which) {
    case 0: broken.endpoints.clear(); break;
    case 1: broken.endpoints = {"ws://x"}; break;
    case 2: broken.commitment = "recent"; break;
    case 3: broken.token_account = "not-base58!"; break;
    case 4: broken.lifetime = sol::LifetimeMode::durable_nonce; break;
  }
  CHECK_FALSE(broken.invalid_reason().empty());
  asio::io_context io;
  CHECK_THROWS_AS(sol::RpcVenue(io.get_executor(), broken, [](const sol::TransactionRequest&) {
                    return sol::BuiltTransaction{};
                  }),
                  std::invalid_argument);
}

TEST_CASE("position_change reads the sold amount from pre and post token balances") {
  const auto tx = boost::json::parse(R"({
    "transaction": {"message": {"accountKeys": ["Payer", "Src", "Dst"]}},
    "meta": {"err": null,
      "preTokenBalances": [{"accountIndex": 1, "uiTokenAmount": {"amount": "1500"}},
                           {"accountIndex": 2, "uiTokenAmount": {"amount": "0"}}],
      "postTokenBalances": [{"accountIndex": 1, "uiTokenAmount": {"amount": "500"}},
                            {"accountIndex": 2, "uiTokenAmount": {"amount": "1000"}}]}})");
  CHECK(sol::position_change(tx, "Src", eg::Side::sell) == 1000u);
  CHECK(sol::position_change(tx, "Dst", eg::Side::buy) == 1000u);
  CHECK(sol::position_change(tx, "Dst", eg::Side::sell) == 0u);
  CHECK(sol::position_change(tx, "Elsewhere", eg::Side::sell) == 0u);
  CHECK_FALSE(sol::position_change(boost::json::parse("{}"), "Src", eg::Side::sell).has_value());
}

TEST_CASE("RpcVenue happy path closes in one attempt and sells 1000 on chain") {
  const auto mode = GENERATE(sol::LifetimeMode::recent_blockhash, sol::LifetimeMode::durable_nonce);
  CAPTURE(static_cast<int>(mode));
  Scenario<PricedVenue> s({mode, 500});
  int quotes = 0;
  auto& venue = s.make_venue(std::function<double(const std::string&)>([&](const std::string&) {
    ++quotes;
    return 99.0;
  }));
  CHECK(venue.capabilities().exclusive_attempts == (mode == sol::LifetimeMode::durable_nonce));
  const auto r = s.run(eg::ExitSettings{});
  s.summary(mode == sol::LifetimeMode::durable_nonce ? "happy_path_nonce" : "happy_path_blockhash", r);
  CHECK_FALSE(r.ec);
  CHECK(r.report.closed());
  CHECK(r.report.attempts == 1);
  CHECK(quotes == 1);
  CHECK(r.report.filled_quantity == eg::Quantity(kPosition));
  CHECK(s.sold_on_chain() == kPosition);
  REQUIRE(r.report.attempt_records.size() == 1);
  CHECK(r.report.attempt_records[0].transaction_id == s.attempt_wires.at(0).signature);
  CHECK(r.report.average_price == Approx(99.0 * 0.99));  // the order's limit price: no fill_price set
  CHECK(s.venue->idle());
  if (mode == sol::LifetimeMode::durable_nonce) CHECK(s.venue->free_nonce_accounts() == 2);
}

TEST_CASE("RpcVenue first transaction dropped is re-sent and closes in one attempt") {
  Scenario<> s({});
  s.make_venue();
  s.faults({{"dropSends", 1}});
  const auto r = s.run(eg::ExitSettings{});
  s.summary("first_send_dropped", r);
  CHECK(r.report.closed());
  CHECK(r.report.attempts == 1);
  CHECK(ms(r.report.exit_time) < std::chrono::seconds(10));
  CHECK(r.report.filled_quantity == eg::Quantity(kPosition));
  CHECK(s.sold_on_chain() == kPosition);
  CHECK(signatures_in(s.stats().at("dropped")).count(s.attempt_wires.at(0).signature) == 1);
}

TEST_CASE("RpcVenue durable nonce late landing sells exactly once") {
  // 2000 in the account: a second landing could sell 1000 more.
  Scenario<> s({sol::LifetimeMode::durable_nonce, kPosition});
  s.make_venue();
  s.faults({{"delayLandingMs", 2500}});
  const auto r = s.run(short_ladder(std::chrono::milliseconds(1000)));
  s.summary("nonce_late_landing", r);
  CHECK(r.report.closed());
  CHECK(r.report.attempts >= 2);  // retried while the first was still on its way
  CHECK(r.report.filled_quantity == eg::Quantity(kPosition));
  CHECK(s.sold_on_chain() == kPosition);
  CHECK(s.attempts_landed() == 1);
  CHECK(s.venue->idle());
  CHECK(s.venue->free_nonce_accounts() == 2);
}

TEST_CASE("RpcVenue recent blockhash late landing never has two live transactions") {
  Scenario<> s({sol::LifetimeMode::recent_blockhash, kPosition, 0, 50, 100});
  s.make_venue();
  s.faults({{"delayLandingMs", 2500}});
  const auto r = s.run(short_ladder(std::chrono::milliseconds(1000)));
  s.summary("blockhash_late_landing", r);
  CHECK(r.report.closed());
  CHECK(r.report.attempts == 1);  // nothing was sent in the first one's shadow
  CHECK(r.report.late_fills == 1);
  CHECK(r.report.filled_quantity == eg::Quantity(kPosition));
  CHECK(s.sold_on_chain() == kPosition);
  CHECK(s.attempt_wires.size() == 1);
}

TEST_CASE("RpcVenue lost sendTransaction answer is resolved from the signature status") {
  Scenario<> s({sol::LifetimeMode::recent_blockhash, 0, 2, 50, 150, std::chrono::milliseconds(700)});
  s.make_venue();
  s.faults({{"loseSendAnswers", 1}});
  const auto r = s.run(eg::ExitSettings{});
  s.summary("send_answer_lost", r);
  CHECK_FALSE(r.ec);
  CHECK(r.report.closed());
  CHECK(r.report.attempts == 1);
  CHECK(r.report.filled_quantity == eg::Quantity(kPosition));
  CHECK(s.sold_on_chain() == kPosition);
  CHECK(signatures_in(s.stats().at("lostAnswers")).count(s.attempt_wires.at(0).signature) == 1);
}

TEST_CASE("RpcVenue outage ends the exit at its deadline with nothing sold beyond the report") {
  Scenario<> s({sol::LifetimeMode::recent_blockhash, 0, 2, 50, 150, std::chrono::milliseconds(1000)});
  s.make_venue();
  s.faults({{"stallMs", 120000}});
  const auto r = s.run(eg::ExitSettings{}, std::chrono::milliseconds(0));
  s.summary("outage", r);
  CHECK_FALSE(r.report.closed());
  CHECK((r.ec == eg::error::deadline_exceeded || r.ec == eg::error::in_doubt_unresolvable));
  CHECK(ms(r.report.exit_time) >= std::chrono::seconds(25));  // when no further attempt fits before it
  CHECK(ms(r.report.exit_time) <= std::chrono::milliseconds(31500));
  CHECK(r.report.attempts >= 1);
  CHECK(static_cast<std::uint64_t>(r.report.filled_quantity.units()) == s.sold_on_chain());
  CHECK(s.sold_on_chain() == 0);
}

TEST_CASE("RpcVenue preflight slippage escalates to market") {
  Scenario<> s({});
  s.make_venue();
  s.before_build = [&](const sol::TransactionRequest& r) {
    if (r.order && r.order->attempt == 1) s.faults({{"preflightCustomError", 1}});
  };
  const auto r = s.run(short_ladder(std::chrono::milliseconds(3000)));
  s.summary("preflight_slippage", r);
  CHECK(r.report.closed());
  CHECK(r.report.escalated);
  REQUIRE(r.report.attempt_records.size() == 2);
  CHECK(r.report.attempt_records[0].error == eg::error::slippage_exceeded);
  CHECK(r.report.attempt_records[0].outcome == eg::AttemptOutcome::rejected);
  CHECK(r.report.attempt_records[1].step == 1);
  CHECK(r.report.attempt_records[1].kind == eg::OrderKind::market);
  CHECK(s.sold_on_chain() == kPosition);
  CHECK(s.attempts_landed() == 1);
}

TEST_CASE("RpcVenue unhealthy node or HTTP 429 on the first send is transient and retried") {
  struct Case {
    const char* fault;
    boost::system::error_code expected;
    int endpoints;
  };
  const auto c = GENERATE(values<Case>({
      {"unhealthy", eg::make_json_rpc_error(-32005), 1},
      {"http429", eg::make_http_status_error(429), 1},
      {"http503", eg::make_http_status_error(503), 2},
  }));
  CAPTURE(c.fault);
  Scenario<> s({sol::LifetimeMode::recent_blockhash, 0, 2, 50, 150, std::chrono::milliseconds(2000), c.endpoints});
  s.make_venue();
  // On the send itself: every endpoint refuses the first attempt's transaction.
  s.before_build = [&](const sol::TransactionRequest& r) {
    if (r.order && r.order->attempt == 1) s.faults({{c.fault, c.endpoints}});
  };
  const auto r = s.run(short_ladder(std::chrono::milliseconds(3000)));
  s.summary(c.fault, r);
  CHECK(r.report.closed());
  REQUIRE(r.report.attempts == 2);
  CHECK(r.report.attempt_records[0].outcome == eg::AttemptOutcome::rejected);
  CHECK(r.report.attempt_records[0].error == c.expected);
  CHECK(sol::RpcErrorClassifier{}(c.expected) == eg::FailureKind::transient);
  CHECK(r.report.filled_quantity == eg::Quantity(kPosition));
  CHECK(s.sold_on_chain() == kPosition);
}

TEST_CASE("RpcVenue exit_finished advances the nonce of an unanswered attempt before reusing its account") {
  Scenario<> s({sol::LifetimeMode::durable_nonce, 0, 1});
  s.make_venue();
  // Every copy of the attempt is dropped: the exit is cancelled with it unanswered.
  s.faults({{"dropSends", 100}});
  eg::ExitSettings settings;
  settings.classifier = sol::RpcErrorClassifier{};
  eg::AdaptiveExitExecutor exits(s.io.get_executor(), settings);
  asio::cancellation_signal cancel;
  std::optional<boost::system::error_code> done;
  eg::ExitRequest request{"SOL-POSITION", eg::Side::sell, eg::Quantity(kPosition), 100.0, "cancelled exit"};
  exits.async_execute(request, *s.venue, asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code ec, eg::ExitReport) {
                        done = ec;
                      }));
  const auto limit = Clock::now() + std::chrono::seconds(20);
  while (s.attempt_wires.empty() && Clock::now() < limit) s.io.run_one_for(std::chrono::milliseconds(50));
  REQUIRE(s.attempt_wires.size() == 1);
  const auto until = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < until) s.io.run_one_for(std::chrono::milliseconds(50));
  CHECK(s.venue->free_nonce_accounts() == 0);
  s.faults({{"dropSends", 0}});
  cancel.emit(asio::cancellation_type::terminal);
  // exit_finished comes after the completion: wait for the release it starts to end.
  while ((!done || !s.venue->idle() || s.venue->free_nonce_accounts() == 0) && Clock::now() < limit)
    s.io.run_one_for(std::chrono::milliseconds(50));
  REQUIRE(done.has_value());
  CHECK(*done == asio::error::operation_aborted);
  CHECK(s.venue->idle());
  REQUIRE(s.advance_wires.size() == 1);
  CHECK(signatures_in(s.stats().at("landed")).count(s.advance_wires[0].signature) == 1);
  CHECK(s.venue->free_nonce_accounts() == 1);
  // The attempt, sent again now by anyone, can never land: its nonce moved on.
  s.net.call("sendTransaction", {boost::json::value(s.attempt_wires[0].wire_base64),
                                 boost::json::object{{"encoding", "base64"}, {"skipPreflight", true}}});
  s.net.call("exitguard_advanceSlots", {boost::json::value(3)});
  CHECK(signatures_in(s.stats().at("landed")).count(s.attempt_wires[0].signature) == 0);
  CHECK(s.sold_on_chain() == 0);
  std::printf("[solana-venue] %-28s advance=%s released=1 sold_on_chain=0\n", "nonce_release_after_cancel",
              s.advance_wires[0].signature.c_str());
}
