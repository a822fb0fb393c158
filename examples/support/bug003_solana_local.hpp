// examples/support/bug003_solana_local.hpp — the BUG-003 replay's real-network mode
// (`bug003_replay --venue solana-local`): the replay's fault variants run against a
// local Solana runtime, in real time, with exitguard's policy.
//
// Each variant gets a fresh chain: the LiteSVM JSON-RPC server of tests/solana/localnet
// (tests/support/solana_localnet.hpp starts and stops it), one `exitguard_setup` per
// position (a mint of 0 decimals, the owner's token account holding the 1,000-unit
// position plus 1,000 units that are not the position, so an oversale would show on
// chain, a market token account, two durable-nonce accounts) and one
// solana::BasicRpcVenue per position. Its transaction builder signs a real
// TransferChecked of the order's quantity to the market account with Ed25519Keypairs
// from fixed seeds; its reference price follows the replay's crash path over the
// wall-clock time since the exit signal. The fault goes in through `exitguard_faults`;
// on-chain truth comes from `exitguard_tokenBalance`, read directly from the runtime.
//
// Thread safety: everything runs on the calling thread (one io_context, driven by
// run_one_for; the localnet's control calls block that same thread between handlers).
// Cancellation: none; every wait is bounded, so a run always ends (the outage variant
// costs the 30 s deadline, the whole mode about 40 s).
#pragma once

#ifndef EXITGUARD_SOLANA_LOCALNET_DIR
#error "define EXITGUARD_SOLANA_LOCALNET_DIR as the path of tests/solana/localnet"
#endif

#include "support/solana_localnet.hpp"

#include <exitguard/adaptive_exit_executor.hpp>
#include <exitguard/exit_circuit_breaker.hpp>
#include <exitguard/solana/errors.hpp>
#include <exitguard/solana/rpc_venue.hpp>
#include <exitguard/solana/transaction.hpp>
#include <exitguard/testing/solana_signer.hpp>
#include <exitguard/trading_halt_coordinator.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace bug003 {

namespace sol = exitguard::solana;
using SteadyClock = std::chrono::steady_clock;

// How the mode runs: the lifetime of its transactions, the local chain's slot, and
// the crash the replay describes (from bug003_replay.cpp, so both modes tell one story).
struct SolanaLocalOptions {
  sol::LifetimeMode lifetime = sol::LifetimeMode::durable_nonce;
  int slot_ms = 100;
  bool verbose = false;
  std::uint64_t position_units = 1000;
  double stop_price = 95.0;
  double price_change_per_second = 0;

  // Times that scale with the chain's slot: an attempt gets 20 slots (2 s at 100 ms),
  // the same bytes are re-broadcast every 10 slots, statuses are polled every slot.
  std::chrono::milliseconds slot() const { return std::chrono::milliseconds(slot_ms); }
  std::chrono::milliseconds attempt_timeout() const { return 20 * slot(); }
  std::chrono::milliseconds rebroadcast_interval() const { return 10 * slot(); }
  // The late-landing fault: past the attempt timeout by 10 slots, so a second
  // attempt is already out when the first one lands.
  std::chrono::milliseconds late_landing_delay() const { return attempt_timeout() + 10 * slot(); }
};

struct SolanaLocalPosition {
  std::string id;
  std::string final_state;
  std::string error;  // empty if it closed
  std::uint32_t attempts = 0;
  double exit_seconds = 0;
  std::uint64_t reported_sold = 0;    // the report, corrected by fills that came after it
  std::uint64_t on_chain_sold = 0;    // what left the owner's token account
  std::uint64_t market_received = 0;  // what reached the market account
  bool escalated = false;
  bool breaker_open_after = false;
  std::uint32_t late_fills_after_exit = 0;

  bool agrees() const { return reported_sold == on_chain_sold && market_received == on_chain_sold; }
};

struct SolanaLocalRun {
  std::string variant;
  std::string fault;  // what was injected, in the localnet's words
  std::vector<SolanaLocalPosition> positions;
  bool breaker_tripped = false;
  std::string trading_state = "running";
  double wall_seconds = 0;  // server start to teardown
};

struct SolanaLocalVariant {
  const char* name;
  const char* description;
  std::size_t positions;
};

inline constexpr SolanaLocalVariant solana_local_variants[] = {
    {"lost-confirmation", "the first send is answered but dropped before the leader; the venue re-broadcasts its bytes", 1},
    {"late-landing", "every send lands 10 slots after its attempt timed out: given up while still on its way", 1},
    {"outage", "two positions exit while every send is dropped (answered, never lands) until both exits end", 2},
    {"rejections", "preflight fails with custom error 6001 (slippage) three times, then the market order fills", 1},
};

namespace detail {

inline exitguard::testing::Ed25519Keypair keypair_from(std::uint8_t seed_byte) {
  std::array<std::uint8_t, exitguard::testing::Ed25519Keypair::seed_size> seed{};
  seed.fill(seed_byte);
  return exitguard::testing::Ed25519Keypair(
      std::span<const std::uint8_t, exitguard::testing::Ed25519Keypair::seed_size>(seed));
}

inline std::string error_text(const boost::system::error_code& ec) {
  if (!ec) return {};
  if (ec.category() == exitguard::error_category())
    return std::string(exitguard::error_name(static_cast<exitguard::error>(ec.value())));
  return ec.message();
}

// The exit settings for a chain of short slots: the default ladder (limit at 1 %,
// then market at 5 %, 30 s deadline, final 10 s for market), with attempt timeouts
// and backoffs scaled to the slot instead of mainnet's 400 ms.
inline exitguard::ExitSettings local_exit_settings(const SolanaLocalOptions& o) {
  exitguard::ExitSettings s;
  s.classifier = sol::RpcErrorClassifier{};
  for (auto& step : s.ladder) {
    step.policy.attempt_timeout = o.attempt_timeout();
    step.policy.initial_backoff = 2 * o.slot();
    step.policy.max_backoff = 10 * o.slot();
    step.policy.min_attempt_window = 2 * o.slot();
  }
  return s;
}

// One position on the chain: its keys and accounts, and the builder's signing.
// Not thread-safe (used on the run's one thread); nothing to cancel.
struct LocalPosition {
  std::string id;
  exitguard::testing::Ed25519Keypair owner;
  sol::Pubkey mint;
  std::string source;
  std::string destination;
  std::uint64_t source_before = 0;
  std::uint64_t destination_before = 0;
  std::vector<std::string> nonce_accounts;
};

}  // namespace detail

// One variant's chain, venues and exits (see the top of this file). Single-threaded;
// nothing to cancel: run() is bounded. Members are destroyed io first (it drops the
// coroutines still suspended in it), then the venues, breaker and halt coordinator,
// then the server.
class SolanaLocalVariantRun {
 public:
  using PricedVenue = sol::BasicRpcVenue<std::function<double(const std::string&)>>;

  // The position's units that are not the position: an oversale would take them.
  static constexpr std::uint64_t other_units = 1000;

  SolanaLocalVariantRun(const SolanaLocalOptions& options, const SolanaLocalVariant& variant)
      : options_(options),
        variant_(variant),
        started_(SteadyClock::now()),
        net_(exitguard::test::SolanaLocalnet::Options{options.slot_ms, 150}),
        payer_(detail::keypair_from(7)),
        breaker_(halt_) {
    for (std::size_t i = 0; i < variant.positions; ++i) add_position(i);
    // A nonce cannot be used in the block that set it: start a few slots later, as a
    // bot whose nonce accounts were made long before does.
    net_.call("exitguard_advanceSlots", {boost::json::value(3)});
  }

  SolanaLocalVariantRun(const SolanaLocalVariantRun&) = delete;
  SolanaLocalVariantRun& operator=(const SolanaLocalVariantRun&) = delete;

  // A venue that is still busy has coroutines suspended in io_ that refer to it: it is
  // left undestroyed rather than freed under them (the replay ends soon after).
  ~SolanaLocalVariantRun() {
    for (auto& v : venues_)
      if (!v->idle()) {
        std::fprintf(stderr, "bug003_replay: a venue was still busy at teardown; it is not destroyed\n");
        (void)v.release();
      }
  }

  SolanaLocalRun run() {
    const std::string fault = inject_fault();
    auto settings = detail::local_exit_settings(options_);
    // Reality wins: a fill after the report corrects it (the replay compares the
    // corrected figure with the chain).
    settings.on_late_fill_after_exit = [this](const exitguard::LateFillAfterExit& f) {
      late_totals_[f.position_id] = static_cast<std::uint64_t>(f.filled_quantity.units());
      ++late_counts_[f.position_id];
    };
    exitguard::AdaptiveExitExecutor exits(io_.get_executor(), settings, &breaker_, &halt_);

    std::vector<std::optional<exitguard::ExitReport>> reports(positions_.size());
    signal_at_ = SteadyClock::now();
    for (std::size_t i = 0; i < positions_.size(); ++i) {
      exitguard::ExitRequest request{positions_[i]->id, exitguard::Side::sell,
                                     exitguard::Quantity(static_cast<std::int64_t>(options_.position_units)),
                                     options_.stop_price, "stop-loss at -5 %", 1, 0};
      exitguard::execute_exit(exits, *venues_[i], request,
                              [&reports, i](boost::system::error_code, exitguard::ExitReport r) {
                                reports[i] = std::move(r);
                              });
    }
    // The deadline is 30 s: every exit has ended well before this bound.
    run_while([&] { return std::any_of(reports.begin(), reports.end(), [](const auto& r) { return !r; }); },
              std::chrono::seconds(45));
    // Attempts still out (answers of given-up attempts) settle under the fault...
    // (a dropped blockhash transaction is known dead only once its 150 blocks passed).
    run_while([&] { return attempts_in_flight(); }, 150 * options_.slot() + std::chrono::seconds(5));
    // ... then the fault ends, so that exit_finished's nonce releases can land.
    net_.call("exitguard_faults", {boost::json::value(boost::json::object{{"reset", true}})});
    run_while([&] { return !venues_idle(); }, std::chrono::seconds(15));
    // A few more slots: anything that could still land, lands before the balances are read.
    run_while([] { return true; }, 5 * options_.slot());

    SolanaLocalRun out;
    out.variant = variant_.name;
    out.fault = fault;
    out.breaker_tripped = breaker_.is_open();
    out.trading_state = std::string(exitguard::to_string(halt_.state()));
    for (std::size_t i = 0; i < positions_.size(); ++i) {
      const auto& p = *positions_[i];
      SolanaLocalPosition row;
      row.id = p.id;
      if (reports[i]) {
        const exitguard::ExitReport& r = *reports[i];
        row.final_state = std::string(exitguard::to_string(r.final_state));
        row.error = detail::error_text(r.error);
        row.attempts = r.attempts;
        row.exit_seconds = std::chrono::duration<double>(r.exit_time).count();
        row.reported_sold = static_cast<std::uint64_t>(r.filled_quantity.units());
        row.escalated = r.escalated;
        row.breaker_open_after = r.breaker_tripped;
      } else {
        row.final_state = "NoReport";
        row.error = "no report within 45 s";
      }
      if (auto late = late_totals_.find(p.id); late != late_totals_.end()) row.reported_sold = late->second;
      if (auto n = late_counts_.find(p.id); n != late_counts_.end()) row.late_fills_after_exit = n->second;
      const std::uint64_t source_now = balance(p.source);
      const std::uint64_t destination_now = balance(p.destination);
      row.on_chain_sold = p.source_before > source_now ? p.source_before - source_now : 0;
      row.market_received = destination_now > p.destination_before ? destination_now - p.destination_before : 0;
      out.positions.push_back(std::move(row));
    }
    out.wall_seconds = std::chrono::duration<double>(SteadyClock::now() - started_).count();
    return out;
  }

 private:
  void add_position(std::size_t index) {
    auto p = std::make_unique<detail::LocalPosition>(detail::LocalPosition{
        "SOL-" + std::to_string(index + 1), detail::keypair_from(static_cast<std::uint8_t>(9 + index)), {}, {}, {}, 0, 0, {}});
    const auto setup = net_.call(
        "exitguard_setup",
        {boost::json::object{{"owner", sol::to_base58(p->owner.pubkey())},
                             {"payer", sol::to_base58(payer_.pubkey())},
                             {"decimals", 0},
                             {"positionAmount", std::to_string(options_.position_units)},
                             {"otherAmount", std::to_string(other_units)},
                             {"nonceAccounts", options_.lifetime == sol::LifetimeMode::durable_nonce ? 2 : 0}}});
    p->mint = *sol::Pubkey::from_base58(std::string(setup.at("mint").as_string()));
    p->source = std::string(setup.at("source").as_string());
    p->destination = std::string(setup.at("destination").as_string());
    for (const auto& n : setup.at("nonceAccounts").as_array()) p->nonce_accounts.emplace_back(n.as_string());
    p->source_before = balance(p->source);
    p->destination_before = balance(p->destination);

    sol::RpcVenueSettings s;
    s.endpoints = {net_.url()};
    s.commitment = "confirmed";
    s.request_timeout = std::chrono::milliseconds(2000);
    s.status_poll_interval = options_.slot();
    s.rebroadcast_interval = options_.rebroadcast_interval();
    s.token_account = p->source;
    s.mint_decimals = 0;
    s.reserved = other_units;
    s.lifetime = options_.lifetime;
    s.nonce_release_timeout = std::chrono::seconds(10);
    for (const auto& n : p->nonce_accounts) s.nonce_accounts.push_back({n, sol::to_base58(payer_.pubkey())});
    const detail::LocalPosition* position = p.get();
    venues_.push_back(std::make_unique<PricedVenue>(
        io_.get_executor(), std::move(s),
        [this, position](const sol::TransactionRequest& r) { return build(*position, r); },
        std::function<double(const std::string&)>([this](const std::string&) { return crash_price(); })));
    positions_.push_back(std::move(p));
  }

  // The bot's side: a TransferChecked of the order's quantity to the market, on the
  // lifetime the venue chose, signed by the fee payer and the position's owner.
  sol::BuiltTransaction build(const detail::LocalPosition& p, const sol::TransactionRequest& r) const {
    std::vector<sol::Instruction> instructions;
    if (const auto* nonce = r.durable_nonce())
      instructions.push_back(sol::system::advance_nonce_account(nonce->account, nonce->authority));
    if (r.order) {
      // The attempt number as the priority fee: each attempt's bytes differ, as a
      // real bot's do (its limit price), so two attempts are two transactions.
      instructions.push_back(sol::compute_budget::set_compute_unit_price(r.order->attempt));
      instructions.push_back(sol::spl_token::transfer_checked(
          *sol::Pubkey::from_base58(p.source), p.mint, *sol::Pubkey::from_base58(p.destination), p.owner.pubkey(),
          static_cast<std::uint64_t>(r.order->quantity.units()), 0));
    }
    const auto message = sol::compile_message(payer_.pubkey(), instructions, r.recent_blockhash()).value();
    const auto tx = r.order ? exitguard::testing::sign_transaction(message, {&payer_, &p.owner})
                            : exitguard::testing::sign_transaction(message, {&payer_});
    return sol::BuiltTransaction{tx.to_base64(), tx.id()};
  }

  // The replay's crash, in wall-clock time since the exit signal.
  double crash_price() const {
    const double elapsed = std::chrono::duration<double>(SteadyClock::now() - signal_at_).count();
    return std::max(0.01, options_.stop_price + options_.price_change_per_second * elapsed);
  }

  std::string inject_fault() {
    boost::json::object f;
    const std::string name = variant_.name;
    if (name == "lost-confirmation") {
      f["dropSends"] = 1;
    } else if (name == "late-landing") {
      f["delayLandingMs"] = options_.late_landing_delay().count();
    } else if (name == "outage") {
      f["dropSends"] = 1000000;
    } else if (name == "rejections") {
      f["preflightCustomError"] = 3;
      f["customErrorCode"] = 6001;
    }
    net_.call("exitguard_faults", {boost::json::value(f)});
    std::string text;
    for (const auto& [key, value] : f) {
      if (!text.empty()) text += ",";
      text += std::string(key) + "=" + std::to_string(value.to_number<std::int64_t>());
    }
    return text;
  }

  template <class Predicate>
  void run_while(Predicate keep_going, SteadyClock::duration bound) {
    const auto until = SteadyClock::now() + bound;
    while (keep_going() && SteadyClock::now() < until) io_.run_one_for(std::chrono::milliseconds(50));
  }

  // The venues' observers: called on this thread between handlers, which is their
  // strand's only thread.
  bool attempts_in_flight() const {
    return std::any_of(venues_.begin(), venues_.end(), [](const auto& v) { return v->attempts_in_flight() > 0; });
  }
  bool venues_idle() const {
    return std::all_of(venues_.begin(), venues_.end(), [](const auto& v) { return v->idle(); });
  }

  std::uint64_t balance(const std::string& account) {
    return std::stoull(std::string(net_.call("exitguard_tokenBalance", {boost::json::value(account)}).as_string()));
  }

  SolanaLocalOptions options_;
  SolanaLocalVariant variant_;
  SteadyClock::time_point started_;
  SteadyClock::time_point signal_at_ = SteadyClock::now();
  exitguard::test::SolanaLocalnet net_;
  exitguard::testing::Ed25519Keypair payer_;
  std::vector<std::unique_ptr<detail::LocalPosition>> positions_;
  std::map<std::string, std::uint64_t> late_totals_;
  std::map<std::string, std::uint32_t> late_counts_;
  exitguard::TradingHaltCoordinator halt_;
  exitguard::ExitCircuitBreaker breaker_;  // before io_: outlives the exits' state in it
  boost::asio::io_context io_;
  // After io_: destroyed while it still lives (their sockets close through its
  // services), once idle (no coroutine of theirs left in io_; see ~SolanaLocalVariantRun).
  std::vector<std::unique_ptr<PricedVenue>> venues_;
};

inline std::vector<SolanaLocalRun> run_solana_local(const SolanaLocalOptions& options) {
  if (options.verbose) sol::detail::solana_logger()->set_level(spdlog::level::debug);
  std::vector<SolanaLocalRun> runs;
  for (const auto& v : solana_local_variants) {
    SolanaLocalVariantRun run(options, v);
    runs.push_back(run.run());
  }
  return runs;
}

inline const char* lifetime_name(sol::LifetimeMode m) {
  return m == sol::LifetimeMode::durable_nonce ? "durable-nonce" : "blockhash";
}

inline void print_solana_local_table(const SolanaLocalOptions& o, const std::vector<SolanaLocalRun>& runs,
                                     double wall_seconds) {
  std::printf("BUG-003 replay on a local Solana runtime (LiteSVM over JSON-RPC: real signatures, real SPL Token\n"
              "transfers, real time): long %llu units, stop-loss at %.2f, price falling %.3f/s; slot %d ms,\n"
              "%s lifetime, attempt timeout %lld ms.\n"
              "exitguard's policy only: the legacy loop would take its 600 s in real time here; its figures are\n"
              "those of --venue mock (virtual time).\n\n",
              static_cast<unsigned long long>(o.position_units), o.stop_price, -o.price_change_per_second, o.slot_ms,
              lifetime_name(o.lifetime), static_cast<long long>(o.attempt_timeout().count()));
  std::printf("%-18s %-6s %-15s %-22s %8s %9s %8s %8s %-5s %-9s %s\n", "variant", "pos", "final state", "error",
              "attempts", "exit time", "reported", "on chain", "agree", "escalated", "breaker");
  for (const auto& r : runs)
    for (const auto& p : r.positions)
      std::printf("%-18s %-6s %-15s %-22s %8u %8.2fs %8llu %8llu %-5s %-9s %s\n", r.variant.c_str(), p.id.c_str(),
                  p.final_state.c_str(), p.error.empty() ? "-" : p.error.c_str(), p.attempts, p.exit_seconds,
                  static_cast<unsigned long long>(p.reported_sold), static_cast<unsigned long long>(p.on_chain_sold),
                  p.agrees() ? "yes" : "NO", p.escalated ? "yes" : "no", p.breaker_open_after ? "open" : "closed");
  std::printf("\nVariants (faults through exitguard_faults):\n");
  for (std::size_t i = 0; i < runs.size(); ++i)
    std::printf("  %-18s %s\n  %-18s [%s] breaker %s, trading %s, %.1f s of wall time\n", runs[i].variant.c_str(),
                solana_local_variants[i].description, "", runs[i].fault.c_str(),
                runs[i].breaker_tripped ? "tripped" : "closed", runs[i].trading_state.c_str(), runs[i].wall_seconds);
  std::printf("Wall time: %.1f s\n", wall_seconds);
}

inline void print_solana_local_json(const SolanaLocalOptions& o, const std::vector<SolanaLocalRun>& runs,
                                    double wall_seconds) {
  std::printf("{\"venue\":\"solana-local\",\"lifetime\":\"%s\",\"slot_ms\":%d,\"wall_seconds\":%.3f,\"runs\":[",
              lifetime_name(o.lifetime), o.slot_ms, wall_seconds);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    std::printf("%s{\"policy\":\"exitguard\",\"variant\":\"%s\",\"fault\":\"%s\",\"breaker_tripped\":%s,"
                "\"trading_state\":\"%s\",\"wall_seconds\":%.3f,\"positions\":[",
                i ? "," : "", r.variant.c_str(), r.fault.c_str(), r.breaker_tripped ? "true" : "false",
                r.trading_state.c_str(), r.wall_seconds);
    for (std::size_t j = 0; j < r.positions.size(); ++j) {
      const auto& p = r.positions[j];
      std::printf("%s{\"id\":\"%s\",\"final_state\":\"%s\",\"error\":\"%s\",\"attempts\":%u,\"exit_seconds\":%.3f,"
                  "\"reported_sold\":%llu,\"on_chain_sold\":%llu,\"market_received\":%llu,\"agree\":%s,"
                  "\"escalated\":%s,\"breaker_open_after\":%s,\"late_fills_after_exit\":%u}",
                  j ? "," : "", p.id.c_str(), p.final_state.c_str(), p.error.c_str(), p.attempts, p.exit_seconds,
                  static_cast<unsigned long long>(p.reported_sold), static_cast<unsigned long long>(p.on_chain_sold),
                  static_cast<unsigned long long>(p.market_received), p.agrees() ? "true" : "false",
                  p.escalated ? "true" : "false", p.breaker_open_after ? "true" : "false", p.late_fills_after_exit);
    }
    std::printf("]}");
  }
  std::printf("]}\n");
}

// The figures the real-network mode exists to show; each line says what it checked.
inline bool check_solana_local(const SolanaLocalOptions& o, const std::vector<SolanaLocalRun>& runs) {
  int passed = 0, failed = 0;
  auto expect = [&](bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    ++(ok ? passed : failed);
  };
  auto find = [&](const char* variant) -> const SolanaLocalRun* {
    for (const auto& r : runs)
      if (r.variant == variant) return &r;
    return nullptr;
  };
  std::printf("\nChecks:\n");
  bool all_agree = !runs.empty(), none_oversold = !runs.empty();
  for (const auto& r : runs)
    for (const auto& p : r.positions) {
      all_agree = all_agree && p.agrees();
      none_oversold = none_oversold && p.on_chain_sold <= o.position_units && p.market_received <= o.position_units;
    }
  expect(all_agree, "every run: the report's sold quantity is what left the account on chain and reached the market");
  expect(none_oversold, "every run: nothing sold more than 1,000 units on chain");
  for (const char* name : {"lost-confirmation", "late-landing"}) {
    const SolanaLocalRun* r = find(name);
    const bool ok = r && r->positions.size() == 1 && r->positions[0].final_state == "PositionClosed" &&
                    r->positions[0].on_chain_sold == o.position_units && r->positions[0].exit_seconds <= 10.0;
    expect(ok, std::string(name) + ": closed, exactly 1,000 sold on chain, within 10 s");
  }
  const SolanaLocalRun* outage = find("outage");
  bool at_deadline = outage && outage->positions.size() == 2;
  if (outage)
    for (const auto& p : outage->positions)
      at_deadline = at_deadline && p.final_state == "ExitFailed" && p.exit_seconds >= 25.0 && p.exit_seconds <= 31.0 &&
                    (p.error == "deadline_exceeded" || p.error == "in_doubt_unresolvable") && p.on_chain_sold == 0;
  expect(at_deadline, "outage: both exits end at their 30 s deadline (25-31 s), nothing sold on chain");
  expect(outage && outage->breaker_tripped, "outage: the breaker tripped");
  const SolanaLocalRun* rejections = find("rejections");
  const bool escalated_fill = rejections && rejections->positions.size() == 1 &&
                              rejections->positions[0].final_state == "PositionClosed" &&
                              rejections->positions[0].escalated && rejections->positions[0].attempts >= 2 &&
                              rejections->positions[0].on_chain_sold == o.position_units;
  expect(escalated_fill, "rejections: escalated to market and closed, 1,000 sold on chain");
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0;
}

}  // namespace bug003
