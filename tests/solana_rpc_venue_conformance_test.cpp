// exitguard-test-set: sanitized
// The venue conformance harness (exitguard/testing/venue_conformance.hpp) against
// exitguard::solana::RpcVenue on the LiteSVM localnet: real signatures, the real
// System and SPL Token programs, real time. Each harness fault is mapped to what a
// JSON-RPC venue really meets (the localnet's faults), the truth is the position
// token account's balance on chain, and the report is printed for the CI log.

// First include: the venue under test.
#include <exitguard/solana/rpc_venue.hpp>

#include "support/solana_localnet.hpp"

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/solana/errors.hpp>
#include <exitguard/solana/transaction.hpp>
#include <exitguard/testing/solana_signer.hpp>
#include <exitguard/testing/venue_conformance.hpp>
#include <exitguard/transport_classifier.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/system/system_error.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace eg = exitguard;
namespace sol = exitguard::solana;
using eg::testing::ConformanceFault;
using eg::testing::ConformanceOptions;
using eg::testing::ConformanceReport;
using eg::testing::ConformanceResult;
using eg::testing::Ed25519Keypair;
using eg::test::SolanaLocalnet;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kSlotMs = 50;
constexpr unsigned kDecimals = 6;
// Units in every position's token account that are not the position: a second
// landing of a 1000-unit transfer would succeed and show as an oversale.
constexpr std::uint64_t kOtherUnits = 1000;
constexpr auto kAttemptTimeout = 1000ms;
constexpr auto kDeadline = 3000ms;
constexpr auto kLateAnswerHorizon = 3500ms;  // just above the deadline: the harness waits it out per fault
constexpr int kLateLandingMs = 1500;         // past the first attempt's timeout, inside the horizon
constexpr int kDuplicateLandingMs = 500;     // long enough for a rebroadcast to both endpoints
constexpr int kExpiryBlockhashValidity = 10; // blocks: a blockhash dies within ~0.5 s

Ed25519Keypair keypair_from(std::uint8_t seed_byte) {
  std::array<std::uint8_t, Ed25519Keypair::seed_size> seed{};
  seed.fill(seed_byte);
  return Ed25519Keypair(std::span<const std::uint8_t, Ed25519Keypair::seed_size>(seed));
}

std::set<std::string> signatures_in(const boost::json::value& list) {
  std::set<std::string> out;
  for (const auto& v : list.as_array()) {
    if (v.is_string()) out.insert(std::string(v.as_string()));
    else if (v.is_object()) out.insert(std::string(v.at("signature").as_string()));
  }
  return out;
}

const char* mode_name(sol::LifetimeMode mode) {
  return mode == sol::LifetimeMode::durable_nonce ? "durable_nonce" : "recent_blockhash";
}

// The exits' settings: a 1 s attempt timeout, a 3 s deadline, the late-answer horizon
// just above it; the market step re-quotes until the deadline with a small window so
// that an exit with no answers ends at its deadline, not earlier.
eg::ExitSettings conformance_settings() {
  eg::ExitSettings s;
  static const auto quiet =
      std::make_shared<spdlog::logger>("exitguard_solana_conformance", std::make_shared<spdlog::sinks::null_sink_mt>());
  s.logger = quiet;
  s.classifier = sol::RpcErrorClassifier{};
  auto& limit = s.ladder.front().policy;
  limit.max_attempts = 2;
  limit.total_timeout = 1800ms;
  limit.attempt_timeout = kAttemptTimeout;
  limit.initial_backoff = 100ms;
  limit.max_backoff = 200ms;
  limit.min_attempt_window = 200ms;
  auto& market = s.ladder.back().policy;
  market.max_attempts = 8;
  market.total_timeout = 1200ms;
  market.attempt_timeout = kAttemptTimeout;
  market.initial_backoff = 50ms;
  market.max_backoff = 100ms;
  market.min_attempt_window = 50ms;
  s.deadline = kDeadline;
  s.final_window = 1200ms;
  s.late_answer_horizon = kLateAnswerHorizon;
  return s;
}

// One position on the localnet: its own mint, token accounts and nonce accounts
// (exitguard_setup), the transactions built for it, and what the fault left as evidence.
struct Position {
  sol::Pubkey mint;
  std::string source;       // the position's token account: the venue's and the truth's
  std::string destination;  // the "market" account the transfers go to
  std::vector<sol::NonceAccountSettings> nonce_accounts;
  std::uint64_t source_before = 0;
  ConformanceFault fault = ConformanceFault::none;
  int endpoints = 1;
  bool throw_next_build = false;
  bool restart_pending = false;  // key_restart: the first lifetime's notice ends its process
  std::vector<sol::BuiltTransaction> attempt_wires;
  std::uint64_t slot_at_inject = 0;
  std::uint64_t sends_received_at_inject = 0;
  std::optional<std::uint64_t> sends_received_at_truth;  // the first sold() read
  std::vector<std::unique_ptr<sol::RpcVenue>> venues;     // the current one last; older ones as after a restart
};

class RpcVenueSubject;

// The venue the harness sees: one RpcVenue per position (RpcVenue serves one token
// account), routed by position id, each created on first use with the settings the
// position's fault needs. Capabilities come from an RpcVenue of the same mode that
// sends nothing. A key_restart position's first lifetime ends with its process: its
// ExitFinished is not handed to its venue (a crashed process hears nothing), and the
// next lifetime gets a fresh RpcVenue (no pinned nonces, as after a restart).
// Thread safety: one thread (the subject's io_context runs on the harness's thread);
// every RpcVenue runs on a strand of the same io_context. Cancellation: the driver's
// slot reaches the RpcVenue untouched.
class PositionRoutedVenue {
 public:
  using executor_type = asio::strand<asio::any_io_executor>;

  PositionRoutedVenue(RpcVenueSubject& subject, executor_type strand, const sol::RpcVenue& reference)
      : subject_(subject), strand_(std::move(strand)), reference_(reference) {}

  executor_type get_executor() const noexcept { return strand_; }
  eg::VenueCapabilities capabilities() const { return reference_.capabilities(); }

  template <class Token>
  auto async_submit(eg::ExitOrder order, Token&& token);

  asio::awaitable<eg::Quantity> query_position(std::string position_id);

  void exit_finished(const eg::ExitFinished& f);

 private:
  RpcVenueSubject& subject_;
  executor_type strand_;
  const sol::RpcVenue& reference_;
};

// A ConformanceSubject for RpcVenue in one lifetime mode, in real time: owns the
// localnet (50 ms slots), the io_context the exits and venues run on, the test's keys
// and every position's RpcVenue. Faults, on the position's first attempt:
//   lost_answer      loseSendAnswers 1 (the send lands, its HTTP answer never comes;
//                    requests time out after 700 ms)
//   late_landing     delayLandingMs past the 1 s attempt timeout
//   duplicate_answer the venue gets two endpoint URLs of the one server and the landing
//                    waits for a rebroadcast: the same signature is sent, and answered,
//                    four times and lands once
//   partial_fill     not supported: an SPL transfer moves all of its amount or nothing;
//                    a partial fill could only be the test's builder selling less, which
//                    tests the builder, not the venue
//   throws           the builder throws once. RpcVenue's async_submit itself cannot
//                    throw (the attempt runs in a coroutine) and it catches the builder's
//                    exception before anything is sent, so the attempt is rejected
//                    (venue_unavailable, transient) and the next one closes the exit;
//                    run as its own case (supported only when asked for)
//   stall            stallMs until after the deadline: every answer held back
//   expiry           recent_blockhash only: a 10-block blockhash validity and every send
//                    dropped until the second attempt is built, so the first is proven
//                    dead (height past lastValidBlockHeight, no status). A durable-nonce
//                    transaction never expires by itself: it dies only when its nonce
//                    advances, which here only the venue does (exit_finished); an outside
//                    advance would race the venue's rebroadcasts through the localnet's
//                    counters, so it is not applicable in that mode
//   key_restart      every send dropped until the first lifetime is over (what it sent,
//                    if anything, never lands); the second lifetime runs on a new venue
// The truth: the source token account's balance drop since the position opened.
// Thread safety: one thread (the harness's). Cancellation: none of its own.
class RpcVenueSubject {
 public:
  using clock_type = Clock;
  using venue_type = PositionRoutedVenue;

  explicit RpcVenueSubject(sol::LifetimeMode mode, bool supports_throws = false)
      : mode_(mode),
        supports_throws_(supports_throws),
        net_(SolanaLocalnet::Options{kSlotMs, 150}),
        payer_(keypair_from(7)),
        owner_(keypair_from(9)),
        strand_(asio::make_strand(io_.get_executor())),
        reference_(strand_, venue_settings_for(nullptr),
                   [](const sol::TransactionRequest&) -> sol::BuiltTransaction {
                     throw std::logic_error("the reference venue sends nothing");
                   }),
        venue_(*this, strand_, reference_) {
    if (std::getenv("EXITGUARD_SOLANA_DEBUG")) sol::detail::solana_logger()->set_level(spdlog::level::debug);
  }

  // The venues close their connections while the io_context still lives: their
  // sockets must not outlive it.
  ~RpcVenueSubject() {
    drain(10s);
    for (auto& [id, p] : positions_) p.venues.clear();
  }

  RpcVenueSubject(const RpcVenueSubject&) = delete;
  RpcVenueSubject& operator=(const RpcVenueSubject&) = delete;

  venue_type& venue() noexcept { return venue_; }
  asio::any_io_executor get_executor() { return io_.get_executor(); }
  eg::ExitSettings settings() const { return conformance_settings(); }
  SolanaLocalnet& net() noexcept { return net_; }
  sol::LifetimeMode mode() const noexcept { return mode_; }

  bool supports(ConformanceFault f) const noexcept {
    if (f == ConformanceFault::partial_fill) return false;
    if (f == ConformanceFault::throws) return supports_throws_;
    if (f == ConformanceFault::expiry) return mode_ == sol::LifetimeMode::recent_blockhash;
    return true;
  }

  eg::ExitRequest open_position(const std::string& id, eg::Quantity q) {
    const auto setup = net_.call(
        "exitguard_setup",
        {boost::json::object{{"owner", sol::to_base58(owner_.pubkey())},
                             {"payer", sol::to_base58(payer_.pubkey())},
                             {"decimals", kDecimals},
                             {"positionAmount", std::to_string(q.units())},
                             {"otherAmount", std::to_string(kOtherUnits)},
                             {"nonceAccounts", mode_ == sol::LifetimeMode::durable_nonce ? 2 : 0}}});
    Position& p = positions_[id];
    p.mint = *sol::Pubkey::from_base58(std::string(setup.at("mint").as_string()));
    p.source = std::string(setup.at("source").as_string());
    p.destination = std::string(setup.at("destination").as_string());
    for (const auto& n : setup.at("nonceAccounts").as_array())
      p.nonce_accounts.push_back({std::string(n.as_string()), sol::to_base58(payer_.pubkey())});
    p.source_before = balance(p.source);
    // A nonce cannot be used in the block that set it: start a few slots later, as a
    // bot whose nonce accounts were made long before does.
    net_.call("exitguard_advanceSlots", {boost::json::value(3)});
    eg::ExitRequest r{id, eg::Side::sell, q, 100.0, "conformance"};
    r.decimals = kDecimals;
    return r;
  }

  void inject(ConformanceFault fault, const std::string& id) {
    Position& p = positions_.at(id);
    p.fault = fault;
    boost::json::object f{{"reset", true}};
    switch (fault) {
      case ConformanceFault::none:
      case ConformanceFault::partial_fill: break;
      case ConformanceFault::lost_answer: f["loseSendAnswers"] = 1; break;
      case ConformanceFault::late_landing: f["delayLandingMs"] = kLateLandingMs; break;
      case ConformanceFault::duplicate_answer:
        p.endpoints = 2;
        f["delayLandingMs"] = kDuplicateLandingMs;
        break;
      case ConformanceFault::throws: p.throw_next_build = true; break;
      case ConformanceFault::stall:
        f["stallMs"] = static_cast<int>((kDeadline + 1000ms).count());
        break;
      case ConformanceFault::expiry:
        f["blockhashValidity"] = kExpiryBlockhashValidity;
        f["dropSends"] = 1000;  // until the second attempt is built (build())
        break;
      case ConformanceFault::key_restart:
        p.restart_pending = true;
        f["dropSends"] = 1000;  // until the first lifetime is over (restart())
        break;
    }
    faults(std::move(f));
    const auto st = stats();
    p.slot_at_inject = st.at("slot").to_number<std::uint64_t>();
    p.sends_received_at_inject = st.at("sendsReceived").to_number<std::uint64_t>();
  }

  eg::Quantity sold(const std::string& id) {
    Position& p = positions_.at(id);
    const std::uint64_t now = balance(p.source);
    const std::uint64_t received = balance(p.destination);
    const std::uint64_t sold = p.source_before - now;
    if (sold != received) destination_mismatch_ = true;  // something left the account but not to the market
    if (!p.sends_received_at_truth) p.sends_received_at_truth = stats().at("sendsReceived").to_number<std::uint64_t>();
    return eg::Quantity(static_cast<std::int64_t>(sold));
  }

  void run_for(Clock::duration d) {
    run_until([] { return false; }, d);
  }

  template <class Predicate>
  bool run_until(Predicate done, Clock::duration limit) {
    const auto end = Clock::now() + limit;
    while (!done()) {
      const auto now = Clock::now();
      if (now >= end) break;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::min<Clock::duration>(end - now, 5ms));
    }
    return done();
  }

  // Runs until every venue is idle (answers of given-up attempts, nonce releases):
  // whether they all were within `limit`.
  bool drain(Clock::duration limit) {
    return run_until(
        [this] {
          for (const auto& [id, p] : positions_)
            for (const auto& v : p.venues)
              if (!v->idle()) return false;
          return true;
        },
        limit);
  }

  // --- for the routed venue ----------------------------------------------------------

  sol::RpcVenue& venue_for(const std::string& id) {
    Position& p = positions_.at(id);
    if (p.venues.empty()) {
      p.venues.push_back(std::make_unique<sol::RpcVenue>(
          strand_, venue_settings_for(&p), [this, id](const sol::TransactionRequest& r) { return build(id, r); }));
    }
    return *p.venues.back();
  }

  // The exit's notice, for the position's current venue; the end of a key_restart
  // position's first lifetime instead starts a new process: nothing of the old one
  // hears it, and the sends it may have left stay dropped, so they never land.
  void exit_finished(const eg::ExitFinished& f) {
    Position& p = positions_.at(f.position_id);
    if (p.restart_pending) {
      p.restart_pending = false;
      faults({{"dropSends", 0}});
      p.venues.push_back(std::make_unique<sol::RpcVenue>(
          strand_, venue_settings_for(&p),
          [this, id = f.position_id](const sol::TransactionRequest& r) { return build(id, r); }));
      return;
    }
    venue_for(f.position_id).exit_finished(f);
  }

  // --- evidence that a fault really happened -------------------------------------------

  const Position& position(const std::string& id) const { return positions_.at(id); }
  bool destination_mismatch() const noexcept { return destination_mismatch_; }

  // How many of the position's attempt transactions the localnet lists under `which`
  // (exitguard_stats: landed, dropped, lostAnswers, ...).
  std::size_t count_in_stats(const std::string& id, const char* which) {
    const auto listed = signatures_in(stats().at(which));
    std::size_t n = 0;
    for (const auto& b : position(id).attempt_wires) n += listed.count(b.signature);
    return n;
  }

  // The slot the position's landed attempt landed in, if one did.
  std::optional<std::uint64_t> landing_slot(const std::string& id) {
    const auto landed = signatures_in(stats().at("landed"));
    for (const auto& b : position(id).attempt_wires) {
      if (!landed.count(b.signature)) continue;
      const auto st = net_.call("getSignatureStatuses", {boost::json::array{boost::json::value(b.signature)}});
      const auto& v = st.at("value").as_array().at(0);
      if (v.is_object()) return v.at("slot").to_number<std::uint64_t>();
    }
    return std::nullopt;
  }

 private:
  sol::RpcVenueSettings venue_settings_for(const Position* p) const {
    sol::RpcVenueSettings s;
    s.commitment = "confirmed";
    s.request_timeout = 700ms;
    s.status_poll_interval = 100ms;
    s.rebroadcast_interval = 300ms;
    s.nonce_release_timeout = 5000ms;
    s.mint_decimals = kDecimals;
    s.reserved = kOtherUnits;
    s.lifetime = mode_;
    const int endpoints = p ? p->endpoints : 1;
    for (int i = 0; i < endpoints; ++i) s.endpoints.push_back(net_.url() + (i == 0 ? "" : "/second"));
    if (p) {
      s.token_account = p->source;
      s.nonce_accounts = p->nonce_accounts;
    } else {
      // The reference venue: valid settings, never used to send.
      s.token_account = sol::to_base58(payer_.pubkey());
      if (mode_ == sol::LifetimeMode::durable_nonce)
        s.nonce_accounts = {{sol::to_base58(payer_.pubkey()), sol::to_base58(payer_.pubkey())}};
    }
    return s;
  }

  // The bot's builder: AdvanceNonceAccount first on a durable nonce, the attempt
  // number as the priority fee (every attempt's bytes differ, as a real bot's do),
  // then a checked transfer of the order's quantity to the market account.
  sol::BuiltTransaction build(const std::string& id, const sol::TransactionRequest& r) {
    Position& p = positions_.at(id);
    if (r.order && std::exchange(p.throw_next_build, false)) throw std::runtime_error("signer unavailable");
    if (r.order && p.fault == ConformanceFault::expiry && r.order->attempt == 2) faults({{"dropSends", 0}});
    std::vector<sol::Instruction> instructions;
    if (const auto* nonce = r.durable_nonce())
      instructions.push_back(sol::system::advance_nonce_account(nonce->account, nonce->authority));
    if (r.order) {
      instructions.push_back(sol::compute_budget::set_compute_unit_price(r.order->attempt));
      instructions.push_back(sol::spl_token::transfer_checked(
          *sol::Pubkey::from_base58(p.source), p.mint, *sol::Pubkey::from_base58(p.destination), owner_.pubkey(),
          static_cast<std::uint64_t>(r.order->quantity.units()), kDecimals));
    }
    const auto message = sol::compile_message(payer_.pubkey(), instructions, r.recent_blockhash()).value();
    const auto tx = r.order ? eg::testing::sign_transaction(message, {&payer_, &owner_})
                            : eg::testing::sign_transaction(message, {&payer_});
    sol::BuiltTransaction built{tx.to_base64(), tx.id()};
    if (r.order) p.attempt_wires.push_back(built);
    return built;
  }

  std::uint64_t balance(const std::string& account) {
    return std::stoull(std::string(net_.call("exitguard_tokenBalance", {boost::json::value(account)}).as_string()));
  }
  void faults(boost::json::object f) { net_.call("exitguard_faults", {boost::json::value(std::move(f))}); }
  boost::json::value stats() { return net_.call("exitguard_stats"); }

  sol::LifetimeMode mode_;
  bool supports_throws_;
  SolanaLocalnet net_;
  Ed25519Keypair payer_;
  Ed25519Keypair owner_;
  std::map<std::string, Position> positions_;  // their venues: destroyed after io_
  bool destination_mismatch_ = false;
  // Outlives every venue (the destructor drains and destroys them first).
  asio::io_context io_;
  asio::strand<asio::any_io_executor> strand_;
  sol::RpcVenue reference_;
  PositionRoutedVenue venue_;
};

template <class Token>
auto PositionRoutedVenue::async_submit(eg::ExitOrder order, Token&& token) {
  sol::RpcVenue& v = subject_.venue_for(order.position_id);
  return v.async_submit(std::move(order), std::forward<Token>(token));
}

asio::awaitable<eg::Quantity> PositionRoutedVenue::query_position(std::string position_id) {
  sol::RpcVenue& v = subject_.venue_for(position_id);
  return v.query_position(std::move(position_id));
}

void PositionRoutedVenue::exit_finished(const eg::ExitFinished& f) { subject_.exit_finished(f); }

static_assert(eg::testing::ConformanceSubject<RpcVenueSubject>);

}  // namespace

TEST_CASE("RpcVenue subject is a conformance subject over a token-style venue", "[solana][conformance]") {
  STATIC_REQUIRE(eg::testing::ConformanceSubject<RpcVenueSubject>);
  STATIC_REQUIRE(eg::TokenVenue<PositionRoutedVenue>);
  STATIC_REQUIRE(eg::QueriesPosition<PositionRoutedVenue>);
  STATIC_REQUIRE(eg::HearsExitFinished<PositionRoutedVenue>);
  STATIC_REQUIRE(eg::check_venue_contract<PositionRoutedVenue>());
  REQUIRE_FALSE(conformance_settings().validate());
}

TEST_CASE("RpcVenue passes the venue conformance harness on the localnet", "[solana][conformance]") {
  struct Mode {
    sol::LifetimeMode mode;
    std::vector<ConformanceFault> faults;
  };
  const Mode m = GENERATE(values<Mode>({
      {sol::LifetimeMode::durable_nonce,
       {ConformanceFault::none, ConformanceFault::lost_answer, ConformanceFault::late_landing,
        ConformanceFault::duplicate_answer, ConformanceFault::partial_fill, ConformanceFault::throws,
        ConformanceFault::stall, ConformanceFault::expiry, ConformanceFault::key_restart}},
      // Only where a recent blockhash behaves differently: no exclusive attempts.
      {sol::LifetimeMode::recent_blockhash,
       {ConformanceFault::none, ConformanceFault::lost_answer, ConformanceFault::late_landing,
        ConformanceFault::expiry}},
  }));
  const bool durable = m.mode == sol::LifetimeMode::durable_nonce;
  CAPTURE(mode_name(m.mode));
  RpcVenueSubject subject(m.mode);
  ConformanceOptions options;
  options.faults = m.faults;
  options.deadline_tolerance = 300ms;  // real time: scheduling slack
  const auto started = Clock::now();
  const ConformanceReport report = eg::testing::run_venue_conformance(subject, options);
  const auto wall = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "[solana-conformance] " << mode_name(m.mode) << " (" << wall << " s)\n" << report << std::flush;
  INFO(eg::testing::to_string(report));

  CHECK(report.passed());
  CHECK_FALSE(subject.destination_mismatch());
  REQUIRE(report.results.size() == m.faults.size());
  for (const ConformanceResult& r : report.results) {
    INFO(eg::testing::to_string(r.fault));
    if (!r.applicable) continue;
    CHECK(r.attempts >= 1);
    CHECK(r.capabilities.exclusive_attempts == durable);
    CHECK(r.capabilities.queries_position);
  }
  const auto id = [](ConformanceFault f) { return "conf-" + std::string(eg::testing::to_string(f)); };
  const auto result = [&](ConformanceFault f) -> const ConformanceResult& {
    const ConformanceResult* r = report.find(f);
    REQUIRE(r != nullptr);
    return *r;
  };

  // Every fault that should sell the position sold it, once, on chain.
  for (ConformanceFault f : m.faults) {
    if (!subject.supports(f) || f == ConformanceFault::stall) continue;
    INFO(eg::testing::to_string(f));
    CHECK(result(f).sold == 1000);
    CHECK(subject.count_in_stats(id(f), "landed") == 1);
  }
  CHECK(result(ConformanceFault::none).attempts == 1);

  // lost_answer: the landing send's answer was lost, and the venue found the landing.
  CHECK(subject.count_in_stats(id(ConformanceFault::lost_answer), "lostAnswers") == 1);

  // late_landing: the landing came after the first attempt's timeout.
  const auto landed_at = subject.landing_slot(id(ConformanceFault::late_landing));
  REQUIRE(landed_at.has_value());
  const auto late_by_ms = static_cast<long long>(*landed_at - subject.position(id(ConformanceFault::late_landing)).slot_at_inject) * kSlotMs;
  CHECK(late_by_ms >= kLateLandingMs);
  if (durable) {
    // Exclusive: a second attempt on the same nonce went while the first was on its way.
    CHECK(result(ConformanceFault::late_landing).attempts >= 2);
  } else {
    // Not exclusive, not reduce-only: nothing may be sent in the first one's shadow.
    CHECK(result(ConformanceFault::late_landing).attempts == 1);
    CHECK(subject.position(id(ConformanceFault::late_landing)).attempt_wires.size() == 1);
  }

  // expiry: the first attempt's sends were dropped and it was proven dead.
  if (!durable) {
    CHECK(subject.count_in_stats(id(ConformanceFault::expiry), "dropped") >= 1);
    CHECK(result(ConformanceFault::expiry).attempts >= 2);
  }

  if (durable) {
    // duplicate_answer: the one transaction went out at least four times (two endpoints,
    // a rebroadcast), every send answered with its signature, and it was counted once.
    const Position& dup = subject.position(id(ConformanceFault::duplicate_answer));
    REQUIRE(dup.sends_received_at_truth.has_value());
    CHECK(*dup.sends_received_at_truth - dup.sends_received_at_inject >= 4);
    CHECK(result(ConformanceFault::duplicate_answer).filled == 1000);

    // stall: nothing answered, nothing sold, the exit ran to its deadline.
    const ConformanceResult& stall = result(ConformanceFault::stall);
    CHECK(stall.sold == 0);
    CHECK(stall.exit_time >= kDeadline - 300ms);

    // key_restart: two lifetimes, two venues, keys from two scopes.
    const ConformanceResult& restart = result(ConformanceFault::key_restart);
    CHECK(subject.position(id(ConformanceFault::key_restart)).venues.size() == 2);
    REQUIRE(restart.exclusivity_keys.size() >= 2);
    CHECK(restart.exclusivity_keys.front().substr(0, 20) != restart.exclusivity_keys.back().substr(0, 20));
  }
  CHECK(subject.drain(10s));  // every nonce released, nothing left running
  CHECK(wall < 60.0);
}

// A builder that throws once: nothing was sent, RpcVenue rejects the attempt
// venue_unavailable (transient), and the next attempt closes the exit.
TEST_CASE("RpcVenue meets the harness's throws fault (builder throws once)", "[solana][conformance]") {
  RpcVenueSubject subject(sol::LifetimeMode::durable_nonce, true);
  ConformanceOptions options;
  options.faults = {ConformanceFault::throws};
  options.deadline_tolerance = 300ms;
  const ConformanceReport report = eg::testing::run_venue_conformance(subject, options);
  std::cout << "[solana-conformance] durable_nonce, builder throws\n" << report << std::flush;
  INFO(eg::testing::to_string(report));
  REQUIRE(report.results.size() == 1);
  CHECK(report.results[0].applicable);
  REQUIRE(report.passed());
  CHECK(report.results[0].sold == 1000);
}
