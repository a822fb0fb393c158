// exitguard/solana/rpc_venue.hpp — a reference Solana venue over JSON-RPC: it sends
// the bot's signed exit transactions, watches them land, and tells the exit what
// they sold. Part of the optional `solana` component (exitguard::solana).
//
// BasicRpcVenue is a token-style venue (venue.hpp): async_submit, get_executor (its
// own strand), capabilities, query_position, exit_finished and, when constructed
// with a price source, reference_price. exitguard never holds keys: the bot's
// builder (TransactionBuilder) turns a TransactionRequest (the order and the
// lifetime to use) into signed wire bytes and their signature.
//
// One attempt: the lifetime (below) → the builder → sendTransaction (base64,
// preflight at the venue's commitment, maxRetries 0) to every endpoint at once →
// getSignatureStatuses every status_poll_interval (reads go to the first endpoint
// that answers), the same bytes re-sent with skipPreflight every
// rebroadcast_interval while nothing is known and not_after has not passed → at a
// status at the commitment: `err` null → getTransaction, and the fill is the
// position token account's pre − post token balance (post − pre for a buy):
// filled (= the order's quantity), partially_filled (less), and in_doubt with
// error::in_doubt for 0 (a transaction that landed and did not move the position:
// the venue cannot tell what it did, so nothing is re-sent blindly on its account);
// `err` set → rejected with solana::transaction_error_code(err) (the fee was paid,
// nothing sold). `transaction_id` is the signature in every outcome, in_doubt too.
//
// The send: preflight failures map through errors.hpp (BlockhashNotFound →
// attempt_expired, Custom 6001 → slippage_exceeded...). A send that certainly did
// not leave (every endpoint failed with a code RpcErrorClassifier calls transient
// or permanent: connect_failed, HTTP 429 / 503, -32005) is rejected with that code
// (no_endpoint when every one of several endpoints failed to connect). One that may
// have left (a time-out after the write, a lost answer) is watched like an
// accepted one: its signature is known, so the venue finds out rather than guess.
//
// Lifetimes (RpcVenueSettings::lifetime) — what makes a retry after doubt safe:
//   - recent_blockhash: getLatestBlockhash at the commitment per attempt. Not
//     exclusive. An attempt is known dead only once the block height (at the
//     commitment) has passed its lastValidBlockHeight and its signature still has
//     no status (checked again after the height): then rejected with
//     attempt_expired. Until then the operation stays pending (re-sending stops at
//     not_after, polling does not), so the engine never sends in its shadow.
//   - durable_nonce: exclusive_attempts. One nonce account of the pool and its
//     value are pinned per exclusivity key (KeyLifetimes), read when the key is
//     first used; every attempt of the key reuses them, so at most one of them can
//     land. An attempt whose signature has no status once the nonce's value
//     changed is dead (attempt_expired); one that lands reports its fill, also for
//     an earlier attempt of its key that was given up (the key's one landing is
//     reported once, by the attempt that saw it first: a later attempt of that key
//     is rejected attempt_expired). At not_after with no status: in_doubt (a nonce
//     transaction never expires by itself). A key whose nonce was consumed without
//     a sale (a transaction that failed on chain) is pinned a fresh value; a key
//     that sold never is. exit_finished: for each key whose transactions may still
//     land, the venue sends an advance-only transaction (TransactionRequest without
//     order) until the nonce's value has changed, then returns the account to the
//     pool; an account is never handed to another key while its value may still
//     be consumed (nonce_release_timeout passed without that: it stays out).
//     With no free account in the pool an attempt is rejected venue_unavailable.
//   - reduce_only_by_construction: the builder's transactions can never sell more
//     than the open position (enforces_reduce_only).
//
// The builder may throw: nothing was sent, so the attempt is rejected with the
// exception's code (a boost::system::system_error's) or error::venue_unavailable
// (transient: the next attempt is safe; a builder that always throws is retried
// until the deadline). A builder answer without a valid signature or bytes is
// rejected error::callback_threw (permanent: a bug in the bot's builder).
// A read that fails before anything was sent (the blockhash, the nonce) is
// rejected with its code when RpcErrorClassifier calls it transient or permanent,
// else with venue_unavailable.
//
// The average price is `fill_price(getTransaction's result, order)` when set (and
// positive, finite), else the order's limit price.
//
// Cancellation (terminal, from the driver): the attempt stops re-sending and
// polling and completes with operation_aborted at once.
//
// Thread safety: every member runs on get_executor() (a strand the venue owns); call
// them there (the driver does). Lifetimes: the venue must outlive its operations and
// background nonce releases (idle() tells); destroy it after its io_context stopped
// or ran out of work, and before the io_context itself is destroyed (its kept-alive
// sockets close through the io_context's services). Logging: spdlog logger "exitguard.solana", at debug only.
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/exclusivity_key.hpp>
#include <exitguard/quantity.hpp>
#include <exitguard/solana/errors.hpp>
#include <exitguard/solana/json_rpc_client.hpp>
#include <exitguard/solana/transaction.hpp>
#include <exitguard/transport_classifier.hpp>
#include <exitguard/venue.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace exitguard::solana {

enum class LifetimeMode : std::uint8_t { recent_blockhash, durable_nonce };

// A nonce account of the pool: its address and the authority that signs its
// AdvanceNonceAccount (base58).
struct NonceAccountSettings {
  std::string address;
  std::string authority;
};

// The lifetime a transaction is built on: a recent blockhash...
struct RecentBlockhash {
  Hash blockhash;
  std::uint64_t last_valid_block_height = 0;
};
// ... or a durable nonce: the first instruction must be
// system::advance_nonce_account(account, authority), the message's recent
// blockhash the nonce's `value`.
struct DurableNonce {
  Pubkey account;
  Pubkey authority;
  Hash value;
};

// What the builder is asked to build and sign.
struct TransactionRequest {
  // The attempt's order; empty for an advance-only nonce transaction (exit_finished
  // makes the key's other transactions dead with it: no other instruction needed).
  std::optional<ExitOrder> order;
  std::variant<RecentBlockhash, DurableNonce> lifetime;

  // What the message carries as its recent blockhash.
  const Hash& recent_blockhash() const noexcept {
    if (const auto* n = std::get_if<DurableNonce>(&lifetime)) return n->value;
    return std::get<RecentBlockhash>(lifetime).blockhash;
  }
  const DurableNonce* durable_nonce() const noexcept { return std::get_if<DurableNonce>(&lifetime); }
};

// The builder's answer: the signed transaction as sendTransaction takes it (base64)
// and its first signature (base58): the transaction's id, known before it is sent.
struct BuiltTransaction {
  std::string wire_base64;
  std::string signature;
};

using TransactionBuilder = std::function<BuiltTransaction(const TransactionRequest&)>;
// The average price of a landed transaction (getTransaction's result, json encoding).
using FillPriceFunction = std::function<double(const boost::json::value& transaction, const ExitOrder&)>;

struct RpcVenueSettings {
  std::vector<std::string> endpoints;         // sends go to all, reads to the first that answers
  std::string commitment = "confirmed";       // processed, confirmed or finalized
  std::chrono::milliseconds rebroadcast_interval{2000};
  std::chrono::milliseconds status_poll_interval{400};
  std::chrono::milliseconds request_timeout{5000};  // each RPC call
  std::string token_account;                  // the position's token account (base58)
  unsigned mint_decimals = 0;                 // of its mint (checked on every balance read)
  std::uint64_t reserved = 0;                 // base units in the account that are not the position
  bool reduce_only_by_construction = false;   // the builder never sells more than the position
  LifetimeMode lifetime = LifetimeMode::recent_blockhash;
  std::vector<NonceAccountSettings> nonce_accounts;  // durable_nonce: the pool
  std::chrono::milliseconds nonce_release_timeout{120000};
  FillPriceFunction fill_price;
  CustomErrorMap custom_errors = default_custom_errors();
  JsonRpcClientSettings client;               // its request_timeout is replaced by request_timeout
  std::shared_ptr<boost::asio::ssl::context> tls;  // for https:// endpoints; default: system trust store

  // Why these settings cannot work, or empty.
  std::string invalid_reason() const {
    if (endpoints.empty()) return "no endpoint";
    for (const auto& e : endpoints)
      if (!RpcEndpoint::parse(e)) return "not an http(s) URL: " + e;
    if (commitment != "processed" && commitment != "confirmed" && commitment != "finalized")
      return "commitment must be processed, confirmed or finalized";
    if (rebroadcast_interval.count() <= 0 || status_poll_interval.count() <= 0 || request_timeout.count() <= 0)
      return "intervals and timeouts must be positive";
    if (!Pubkey::from_base58(token_account)) return "token_account is not a base58 address";
    if (lifetime == LifetimeMode::durable_nonce) {
      if (nonce_accounts.empty()) return "durable_nonce needs at least one nonce account";
      for (const auto& n : nonce_accounts)
        if (!Pubkey::from_base58(n.address) || !Pubkey::from_base58(n.authority))
          return "nonce account or authority is not a base58 address: " + n.address;
    }
    return {};
  }
};

namespace detail {

inline const std::shared_ptr<spdlog::logger>& solana_logger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("exitguard.solana")) return existing;
    try {
      // Everything here logs at debug: quiet until the level is lowered
      // (spdlog::get("exitguard.solana")->set_level(spdlog::level::debug)).
      auto created = spdlog::stderr_color_mt("exitguard.solana");
      created->set_level(spdlog::level::info);
      return created;
    } catch (const spdlog::spdlog_ex&) {
      return spdlog::get("exitguard.solana");  // registered by another thread meanwhile
    }
  }();
  return logger;
}

template <class... Args>
void solana_debug(spdlog::format_string_t<Args...> fmt, Args&&... args) noexcept {
  try {
    const auto& logger = solana_logger();
    if (logger->should_log(spdlog::level::debug)) logger->debug(fmt, std::forward<Args>(args)...);
  } catch (...) {
  }
}

inline std::optional<std::uint64_t> json_u64_string(const boost::json::value* v) noexcept {
  if (!v) return std::nullopt;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64() && v->as_int64() >= 0) return static_cast<std::uint64_t>(v->as_int64());
  if (!v->is_string()) return std::nullopt;
  const auto& s = v->as_string();
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (out > (UINT64_MAX - digit) / 10) return std::nullopt;
    out = out * 10 + digit;
  }
  return out;
}

inline const boost::json::value* json_path(const boost::json::value& v, std::initializer_list<std::string_view> keys) {
  const boost::json::value* at = &v;
  for (auto k : keys) {
    const auto* o = at->if_object();
    if (!o) return nullptr;
    at = o->if_contains(k);
    if (!at) return nullptr;
  }
  return at;
}

}  // namespace detail

// What a landed transaction did to the position's token account: `sold` (for a sell;
// bought for a buy), from getTransaction's pre and post token balances. Nullopt when
// the result cannot be read.
inline std::optional<std::uint64_t> position_change(const boost::json::value& transaction,
                                                    std::string_view token_account, Side side) {
  const auto* keys = detail::json_path(transaction, {"transaction", "message", "accountKeys"});
  const auto* meta = detail::json_path(transaction, {"meta"});
  if (!keys || !keys->is_array() || !meta || !meta->is_object()) return std::nullopt;
  std::optional<std::int64_t> index;
  const auto& list = keys->as_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto* text = list[i].if_string();
    // jsonParsed encodes keys as objects: {"pubkey": ...}.
    if (!text && list[i].is_object())
      if (const auto* p = list[i].as_object().if_contains("pubkey")) text = p->if_string();
    if (text && std::string_view(*text) == token_account) index = static_cast<std::int64_t>(i);
  }
  if (!index) return std::uint64_t{0};  // not touched at all
  auto amount_in = [&](std::string_view which) -> std::optional<std::uint64_t> {
    const auto* balances = meta->as_object().if_contains(which);
    if (!balances || !balances->is_array()) return std::nullopt;
    for (const auto& b : balances->as_array()) {
      const auto* at = detail::json_path(b, {"accountIndex"});
      if (!at || !at->is_int64() || at->as_int64() != *index) continue;
      return detail::json_u64_string(detail::json_path(b, {"uiTokenAmount", "amount"}));
    }
    return std::uint64_t{0};  // absent: no token account there (created or closed by it)
  };
  const auto pre = amount_in("preTokenBalances");
  const auto post = amount_in("postTokenBalances");
  if (!pre || !post) return std::nullopt;
  if (side == Side::sell) return *pre > *post ? *pre - *post : 0;
  return *post > *pre ? *post - *pre : 0;
}

// See the header comment. ReferencePrice: void (no reference_price member: the
// signal price stands) or a callable double(const std::string& position_id).
// Thread safety: every member on get_executor(). Cancellation: per attempt, terminal.
template <class ReferencePrice = void>
class BasicRpcVenue {
 public:
  using executor_type = boost::asio::strand<boost::asio::any_io_executor>;

  // Throws std::invalid_argument for invalid settings or an empty builder.
  BasicRpcVenue(boost::asio::any_io_executor executor, RpcVenueSettings settings, TransactionBuilder builder)
      : strand_(boost::asio::make_strand(std::move(executor))),
        settings_(std::move(settings)),
        builder_(std::move(builder)) {
    init();
  }

  template <class P = ReferencePrice>
    requires(!std::is_void_v<P>)
  BasicRpcVenue(boost::asio::any_io_executor executor, RpcVenueSettings settings, TransactionBuilder builder,
                P reference_price)
      : strand_(boost::asio::make_strand(std::move(executor))),
        settings_(std::move(settings)),
        builder_(std::move(builder)),
        price_(std::move(reference_price)) {
    init();
  }

  BasicRpcVenue(const BasicRpcVenue&) = delete;
  BasicRpcVenue& operator=(const BasicRpcVenue&) = delete;

  executor_type get_executor() const noexcept { return strand_; }
  const RpcVenueSettings& settings() const noexcept { return settings_; }

  VenueCapabilities capabilities() const {
    VenueCapabilities c;
    c.exclusive_attempts = settings_.lifetime == LifetimeMode::durable_nonce;
    c.queries_position = true;
    c.enforces_reduce_only = settings_.reduce_only_by_construction;
    return c;
  }

  double reference_price(const std::string& position_id)
    requires(!std::is_void_v<ReferencePrice>)
  {
    return static_cast<double>(price_(position_id));
  }

  // One attempt (see the header comment). Completes with void(error_code, SubmitOutcome):
  // the code is operation_aborted when cancelled, else empty.
  template <class CompletionToken>
  auto async_submit(ExitOrder order, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, SubmitOutcome)>(
        [this](auto handler, ExitOrder o) {
          auto slot = boost::asio::get_associated_cancellation_slot(handler);
          auto ex = boost::asio::get_associated_executor(handler, strand_);
          boost::asio::co_spawn(
              strand_, attempt(std::move(o)),
              boost::asio::bind_cancellation_slot(
                  slot, boost::asio::bind_executor(ex, [h = std::move(handler)](std::exception_ptr e,
                                                                                 Answer a) mutable {
                    if (e) return std::move(h)(make_error_code(error::operation_threw), SubmitOutcome{});
                    std::move(h)(a.error, std::move(a.outcome));
                  })));
        },
        token, std::move(order));
  }

  // The position's open size now: the token account's balance at the commitment,
  // less `reserved` (never below 0). Throws boost::system::system_error when no
  // endpoint answers.
  boost::asio::awaitable<Quantity> query_position(std::string position_id) {
    boost::json::value params = boost::json::array{settings_.token_account, commitment_object()};
    Read r = co_await read("getTokenAccountBalance", params);
    if (r.error) throw boost::system::system_error(r.error, "getTokenAccountBalance");
    const auto* value = detail::json_path(r.result, {"value"});
    const auto amount = value ? detail::json_u64_string(detail::json_path(*value, {"amount"})) : std::nullopt;
    const auto* decimals = value ? detail::json_path(*value, {"decimals"}) : nullptr;
    if (!amount || !decimals || !decimals->is_int64() || decimals->as_int64() != settings_.mint_decimals)
      throw boost::system::system_error(make_http_status_error(200), "getTokenAccountBalance: unexpected answer");
    const std::uint64_t open = *amount > settings_.reserved ? *amount - settings_.reserved : 0;
    detail::solana_debug("solana query_position position={} balance={} open={}", position_id, *amount, open);
    co_return Quantity(open);
  }

  // The exit takes no more answers: make its keys' transactions dead and return
  // their nonce accounts to the pool (durable_nonce; see the header comment).
  void exit_finished(const ExitFinished& f) {
    for (const auto& key : f.exclusivity_keys) {
      if (lifetimes_.find(key)) {
        ++releases_;
        boost::asio::co_spawn(strand_, release_key(key), boost::asio::detached);
      } else {
        keys_.erase(key);
      }
    }
  }

  // Observers, on get_executor(): attempts running, nonce releases running, free
  // nonce accounts, and whether nothing runs at all.
  std::size_t attempts_in_flight() const noexcept { return in_flight_; }
  std::size_t nonce_releases_in_flight() const noexcept { return releases_; }
  std::size_t free_nonce_accounts() const noexcept {
    std::size_t n = 0;
    for (const auto& a : pool_) n += a.free ? 1 : 0;
    return n;
  }
  bool idle() const noexcept { return in_flight_ == 0 && releases_ == 0; }

 private:
  struct Answer {
    boost::system::error_code error;
    SubmitOutcome outcome;
  };
  struct Read {
    boost::system::error_code error;
    boost::json::value result;
  };
  struct Status {
    bool reached = false;  // at the venue's commitment
    boost::json::value err;
  };
  using Statuses = std::vector<std::optional<Status>>;

  struct PoolAccount {
    Pubkey address;
    Pubkey authority;
    std::optional<Hash> last_consumed;  // a fresh pin must see another value
    bool free = true;
  };
  struct PinnedNonce {
    std::size_t account = 0;
    Hash value;
  };
  enum class NonceUse : std::uint8_t { live, consumed_without_fill, consumed_by_fill };
  struct KeyState {
    std::vector<std::string> signatures;  // sent (or maybe sent) on the pinned value, oldest first
    NonceUse nonce = NonceUse::live;
    bool pinning = false;
    bool fill_claimed = false;
    bool fill_delivered = false;
  };

  static constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  using call_op = decltype(std::declval<JsonRpcClient&>().async_call(
      std::string_view{}, std::declval<const boost::json::value&>(), boost::asio::deferred));

  void init() {
    if (auto why = settings_.invalid_reason(); !why.empty()) throw std::invalid_argument("RpcVenue: " + why);
    if (!builder_) throw std::invalid_argument("RpcVenue: no transaction builder");
    auto client_settings = settings_.client;
    client_settings.request_timeout = settings_.request_timeout;
    for (const auto& url : settings_.endpoints)
      clients_.push_back(std::make_unique<JsonRpcClient>(strand_, url, client_settings, settings_.tls));
    for (const auto& n : settings_.nonce_accounts)
      pool_.push_back(PoolAccount{*Pubkey::from_base58(n.address), *Pubkey::from_base58(n.authority), {}, true});
  }

  bool durable() const noexcept { return settings_.lifetime == LifetimeMode::durable_nonce; }

  boost::json::object commitment_object() const { return boost::json::object{{"commitment", settings_.commitment}}; }

  static Answer rejected(std::string tx, boost::system::error_code ec) {
    Answer a;
    a.outcome.status = SubmitStatus::rejected;
    a.outcome.transaction_id = std::move(tx);
    a.outcome.error = ec;
    return a;
  }

  // A failed read before anything was sent: its code if it says the node refused,
  // venue_unavailable if the code would read as "in doubt" (nothing was sent).
  static boost::system::error_code read_failure(boost::system::error_code ec) {
    return RpcErrorClassifier{}(ec) == FailureKind::in_doubt ? make_error_code(error::venue_unavailable) : ec;
  }

  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d) {
    boost::asio::steady_timer timer(strand_);
    timer.expires_after(d);
    auto [ec] = co_await timer.async_wait(use_tuple);
    (void)ec;
  }

  static bool cancelled(const boost::asio::cancellation_state& s) {
    return s.cancelled() != boost::asio::cancellation_type::none;
  }

  // The first endpoint's answer that is not an error, else the last error.
  boost::asio::awaitable<Read> read(std::string_view method, const boost::json::value& params) {
    Read last{make_error_code(transport_error::no_endpoint), {}};
    for (auto& client : clients_) {
      auto [ec, reply] = co_await client->async_call(method, params, use_tuple);
      if (!ec) co_return Read{{}, std::move(reply.result)};
      last = Read{ec, {}};
      auto state = co_await boost::asio::this_coro::cancellation_state;
      if (cancelled(state)) co_return Read{boost::asio::error::operation_aborted, {}};
    }
    co_return last;
  }

  struct SendResult {
    bool may_have_left = false;
    boost::system::error_code error;  // when it certainly did not leave
  };

  // sendTransaction to every endpoint at once.
  boost::asio::awaitable<SendResult> send(const std::string& wire, bool preflight) {
    boost::json::object options{{"encoding", "base64"},
                                {"skipPreflight", !preflight},
                                {"preflightCommitment", settings_.commitment},
                                {"maxRetries", 0}};
    boost::json::value params = boost::json::array{boost::json::value(wire), boost::json::value(std::move(options))};
    std::vector<call_op> ops;
    ops.reserve(clients_.size());
    for (auto& client : clients_) ops.push_back(client->async_call("sendTransaction", params, boost::asio::deferred));
    auto group = boost::asio::experimental::make_parallel_group(std::move(ops));
    auto [order, codes, replies] =
        co_await group.async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
    (void)order;
    SendResult out;
    std::optional<boost::system::error_code> preflight_failure;
    std::size_t not_connected = 0;
    for (std::size_t i = 0; i < codes.size(); ++i) {
      boost::system::error_code ec = codes[i];
      if (!ec) {
        out.may_have_left = true;
        continue;
      }
      if (json_rpc_code_of(ec)) {
        ec = rpc_error_code(replies[i].error, settings_.custom_errors);
        if (json_rpc_code_of(codes[i]) == static_cast<int>(rpc_error::send_transaction_preflight_failure) &&
            !preflight_failure)
          preflight_failure = ec;
      }
      detail::solana_debug("solana send endpoint={} error={}", clients_[i]->url(), ec.message());
      if (ec == boost::asio::error::operation_aborted || RpcErrorClassifier{}(ec) == FailureKind::in_doubt) {
        out.may_have_left = true;
        continue;
      }
      if (ec == transport_error::connect_failed) ++not_connected;
      if (!out.error) out.error = ec;
    }
    if (!out.may_have_left) {
      if (preflight_failure)
        out.error = *preflight_failure;
      else if (not_connected == codes.size() && codes.size() > 1)
        out.error = transport_error::no_endpoint;
    }
    co_return out;
  }

  boost::asio::awaitable<std::optional<Statuses>> statuses(const std::vector<std::string>& signatures) {
    boost::json::array list;
    for (const auto& s : signatures) list.emplace_back(s);
    boost::json::value params =
        boost::json::array{boost::json::value(std::move(list)),
                           boost::json::value(boost::json::object{{"searchTransactionHistory", true}})};
    Read r = co_await read("getSignatureStatuses", params);
    if (r.error) co_return std::nullopt;
    const auto* value = detail::json_path(r.result, {"value"});
    if (!value || !value->is_array() || value->as_array().size() != signatures.size()) co_return std::nullopt;
    Statuses out;
    for (const auto& s : value->as_array()) {
      if (s.is_null()) {
        out.emplace_back();
        continue;
      }
      Status st;
      const auto* level = detail::json_path(s, {"confirmationStatus"});
      const std::string_view got = level && level->is_string() ? std::string_view(level->as_string()) : "processed";
      const auto rank = [](std::string_view c) { return c == "finalized" ? 2 : c == "confirmed" ? 1 : 0; };
      st.reached = rank(got) >= rank(settings_.commitment);
      if (const auto* err = detail::json_path(s, {"err"})) st.err = *err;
      out.emplace_back(std::move(st));
    }
    co_return out;
  }

  boost::asio::awaitable<std::optional<std::uint64_t>> block_height() {
    boost::json::value params = boost::json::array{commitment_object()};
    Read r = co_await read("getBlockHeight", params);
    if (r.error) co_return std::nullopt;
    co_return detail::json_u64_string(&r.result);
  }

  // The nonce account's state now (at the commitment).
  boost::asio::awaitable<std::optional<NonceAccount>> read_nonce(const Pubkey& account) {
    boost::json::object options = commitment_object();
    options["encoding"] = "base64";
    boost::json::value params = boost::json::array{boost::json::value(to_base58(account)), boost::json::value(options)};
    Read r = co_await read("getAccountInfo", params);
    if (r.error) co_return std::nullopt;
    const auto* data = detail::json_path(r.result, {"value", "data"});
    if (!data || !data->is_array() || data->as_array().empty() || !data->as_array()[0].is_string())
      co_return std::nullopt;
    const auto bytes = from_base64(std::string_view(data->as_array()[0].as_string()));
    if (!bytes) co_return std::nullopt;
    auto parsed = parse_nonce_account(*bytes);
    if (!parsed) co_return std::nullopt;
    co_return *parsed;
  }

  std::shared_ptr<KeyState> key_state(const std::string& key) {
    auto& slot = keys_[key];
    if (!slot) slot = std::make_shared<KeyState>();
    return slot;
  }

  void return_to_pool(std::size_t account, const Hash& consumed) {
    pool_[account].free = true;
    pool_[account].last_consumed = consumed;
  }

  // The key's nonce: pinned before, renewed if it was consumed without a sale, or a
  // free pool account's current value. Nullopt (with why) when none can be had.
  boost::asio::awaitable<std::optional<PinnedNonce>> pin_nonce(const std::string& key, const std::shared_ptr<KeyState>& ks,
                                                               std::chrono::system_clock::time_point not_after,
                                                               boost::system::error_code& why) {
    auto state = co_await boost::asio::this_coro::cancellation_state;
    while (ks->pinning) {  // another attempt of the key is reading it
      co_await sleep(settings_.status_poll_interval);
      if (cancelled(state)) co_return std::nullopt;
    }
    const PinnedNonce* pinned = lifetimes_.find(key);
    if (pinned && ks->nonce == NonceUse::live) co_return *pinned;
    std::optional<std::size_t> account;
    std::optional<Hash> old_value;
    if (pinned) {
      account = pinned->account;  // consumed without a sale: the same account, a fresh value
      old_value = pinned->value;
    } else {
      for (std::size_t i = 0; i < pool_.size() && !account; ++i)
        if (pool_[i].free) account = i;
      if (!account) {
        why = error::venue_unavailable;
        co_return std::nullopt;
      }
      pool_[*account].free = false;
      old_value = pool_[*account].last_consumed;
    }
    ks->pinning = true;
    std::optional<PinnedNonce> out;
    for (;;) {
      auto nonce = co_await read_nonce(pool_[*account].address);
      if (cancelled(state)) break;
      if (nonce && nonce->authority != pool_[*account].authority) {
        why = error::venue_unavailable;  // not the authority the builder signs with
        break;
      }
      if (nonce && (!old_value || nonce->nonce != *old_value)) {
        lifetimes_.release(key);
        lifetimes_.pin(key, PinnedNonce{*account, nonce->nonce});
        ks->signatures.clear();
        ks->nonce = NonceUse::live;
        out = PinnedNonce{*account, nonce->nonce};
        break;
      }
      // Unreadable, or the consumed value is still what the node shows: not yet.
      if (std::chrono::system_clock::now() >= not_after) {
        why = error::venue_unavailable;
        break;
      }
      co_await sleep(settings_.status_poll_interval);
      if (cancelled(state)) break;
    }
    ks->pinning = false;
    if (!out && !pinned) pool_[*account].free = true;
    co_return out;
  }

  // The fill of `signature`, which landed without error at the commitment.
  boost::asio::awaitable<Answer> landed(const ExitOrder& order, const std::string& signature) {
    auto state = co_await boost::asio::this_coro::cancellation_state;
    boost::json::object options{{"encoding", "json"},
                                {"commitment", settings_.commitment == "processed" ? "confirmed" : settings_.commitment},
                                {"maxSupportedTransactionVersion", 0}};
    boost::json::value params = boost::json::array{boost::json::value(signature), boost::json::value(options)};
    for (;;) {
      Read r = co_await read("getTransaction", params);
      if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
      if (!r.error && r.result.is_object()) {
        Answer a;
        a.outcome.transaction_id = signature;
        const auto change = position_change(r.result, settings_.token_account, order.side);
        const std::uint64_t sold = change.value_or(0);
        if (!change || sold == 0) {
          a.outcome.status = SubmitStatus::in_doubt;
          a.outcome.error = error::in_doubt;
        } else {
          a.outcome.filled_quantity = Quantity(sold);
          a.outcome.status =
              a.outcome.filled_quantity >= order.quantity ? SubmitStatus::filled : SubmitStatus::partially_filled;
          double price = order.limit_price;
          if (settings_.fill_price) {
            try {
              const double p = settings_.fill_price(r.result, order);
              if (p > 0 && std::isfinite(p)) price = p;
            } catch (...) {
              detail::solana_debug("solana fill_price threw tx={}", signature);
            }
          }
          a.outcome.average_price = price;
        }
        detail::solana_debug("solana landed tx={} sold={} status={}", signature, sold, to_string(a.outcome.status));
        co_return a;
      }
      co_await sleep(settings_.status_poll_interval);
      if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
    }
  }

  boost::asio::awaitable<Answer> attempt(ExitOrder order) {
    ++in_flight_;
    Answer a = co_await attempt_body(order);
    --in_flight_;
    co_return a;
  }

  boost::asio::awaitable<Answer> attempt_body(const ExitOrder& order) {
    std::string signature;
    try {
      auto state = co_await boost::asio::this_coro::cancellation_state;
      const std::string key = order.exclusivity_key;
      std::shared_ptr<KeyState> ks;
      TransactionRequest request;
      request.order = order;
      std::optional<std::uint64_t> last_valid;
      std::optional<PinnedNonce> nonce;
      if (durable()) {
        ks = key_state(key);
        if (ks->nonce == NonceUse::consumed_by_fill) {
          // The key sold already (reported by one of its attempts, or being read):
          // nothing of this attempt can land.
          while (!ks->fill_delivered) {
            co_await sleep(settings_.status_poll_interval);
            if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
          }
          co_return rejected({}, error::attempt_expired);
        }
        boost::system::error_code why;
        nonce = co_await pin_nonce(key, ks, order.not_after, why);
        if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
        if (!nonce) co_return rejected({}, why ? why : make_error_code(error::venue_unavailable));
        const auto& account = pool_[nonce->account];
        request.lifetime = DurableNonce{account.address, account.authority, nonce->value};
      } else {
        boost::json::value params = boost::json::array{commitment_object()};
        Read r = co_await read("getLatestBlockhash", params);
        if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
        if (r.error) co_return rejected({}, read_failure(r.error));
        const auto* text = detail::json_path(r.result, {"value", "blockhash"});
        const auto height = detail::json_u64_string(detail::json_path(r.result, {"value", "lastValidBlockHeight"}));
        const auto hash = text && text->is_string() ? Hash::from_base58(std::string_view(text->as_string())) : std::nullopt;
        if (!hash || !height) co_return rejected({}, error::venue_unavailable);
        request.lifetime = RecentBlockhash{*hash, *height};
        last_valid = *height;
      }

      BuiltTransaction built;
      try {
        built = builder_(request);
      } catch (const boost::system::system_error& e) {
        co_return rejected({}, e.code() ? e.code() : make_error_code(error::venue_unavailable));
      } catch (...) {
        // Nothing was sent: a retry is safe, and a signer's hiccup must not end the exit.
        co_return rejected({}, error::venue_unavailable);
      }
      if (!Signature::from_base58(built.signature) || built.wire_base64.empty())
        co_return rejected(built.signature, error::callback_threw);
      signature = built.signature;

      // Recorded before it is sent: from now on it may leave, and the key's nonce
      // account must not serve another key while it could land.
      if (durable()) ks->signatures.push_back(signature);
      SendResult sent = co_await send(built.wire_base64, true);
      if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
      detail::solana_debug("solana sent tx={} attempt={} may_have_left={} error={}", signature, order.attempt,
                           sent.may_have_left, sent.error.message());
      if (!sent.may_have_left) {
        if (durable()) std::erase(ks->signatures, signature);
        if (durable() && sent.error == error::attempt_expired) co_return co_await nonce_gone(order, key, ks, *nonce, signature);
        co_return rejected(signature, sent.error);
      }
      co_return co_await watch(order, key, ks, nonce, last_valid, built.wire_base64, signature);
    } catch (const boost::system::system_error& e) {
      if (e.code() == boost::asio::error::operation_aborted)
        co_return Answer{boost::asio::error::operation_aborted, {}};
      co_return Answer{e.code(), {}};
    } catch (...) {
      co_return Answer{make_error_code(error::operation_threw), {}};
    }
  }

  // Preflight said the nonce's value is gone: if the node's account agrees, the key
  // was consumed (by its sale, which is then reported, or by a failure).
  boost::asio::awaitable<Answer> nonce_gone(const ExitOrder& order, const std::string& key,
                                            const std::shared_ptr<KeyState>& ks, PinnedNonce pinned,
                                            const std::string& signature) {
    auto now_nonce = co_await read_nonce(pool_[pinned.account].address);
    if (!now_nonce || now_nonce->nonce == pinned.value) co_return rejected(signature, error::attempt_expired);
    co_return co_await settle_consumed(order, key, ks, signature);
  }

  // The key's nonce value changed: one of its transactions landed (its sale is
  // reported once), or none did and the nonce went another way.
  boost::asio::awaitable<Answer> settle_consumed(const ExitOrder& order, const std::string& key,
                                                 const std::shared_ptr<KeyState>& ks, const std::string& signature) {
    auto state = co_await boost::asio::this_coro::cancellation_state;
    for (;;) {
      if (ks->nonce == NonceUse::consumed_by_fill) {
        if (!ks->fill_claimed) break;
        while (!ks->fill_delivered) {
          co_await sleep(settings_.status_poll_interval);
          if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
        }
        co_return rejected(signature, error::attempt_expired);
      }
      if (ks->signatures.empty()) break;
      const std::vector<std::string> sigs = ks->signatures;
      auto st = co_await statuses(sigs);
      if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
      if (!st) {
        co_await sleep(settings_.status_poll_interval);
        if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
        continue;
      }
      bool waiting = false;
      for (std::size_t i = 0; i < sigs.size(); ++i) {
        const auto& s = (*st)[i];
        if (!s) continue;
        if (!s->reached) {
          waiting = true;
          continue;
        }
        if (s->err.is_null()) co_return co_await claim_landing(order, key, ks, sigs[i]);
      }
      if (!waiting) break;
      co_await sleep(settings_.status_poll_interval);
      if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
    }
    if (ks->nonce == NonceUse::live) ks->nonce = NonceUse::consumed_without_fill;
    co_return rejected(signature, error::attempt_expired);
  }

  // `landed_signature` of the key sold: this attempt reports it (the key's one sale),
  // and the key's nonce account goes back to the pool (its value is consumed).
  boost::asio::awaitable<Answer> claim_landing(const ExitOrder& order, const std::string& key,
                                               const std::shared_ptr<KeyState>& ks,
                                               const std::string& landed_signature) {
    if (ks) {
      if (ks->fill_claimed) {
        auto state = co_await boost::asio::this_coro::cancellation_state;
        while (!ks->fill_delivered) {
          co_await sleep(settings_.status_poll_interval);
          if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
        }
        co_return rejected(landed_signature, error::attempt_expired);
      }
      ks->fill_claimed = true;
      ks->nonce = NonceUse::consumed_by_fill;
      if (auto released = lifetimes_.release(key)) return_to_pool(released->account, released->value);
    }
    Answer a = co_await landed(order, landed_signature);
    if (ks) {
      if (a.error) ks->fill_claimed = false;  // cancelled before it was read: another attempt may report it
      else ks->fill_delivered = true;
    }
    co_return a;
  }

  boost::asio::awaitable<Answer> watch(const ExitOrder& order, const std::string& key,
                                       const std::shared_ptr<KeyState>& ks,
                                       std::optional<PinnedNonce> nonce, std::optional<std::uint64_t> last_valid,
                                       const std::string& wire, const std::string& signature) {
    auto state = co_await boost::asio::this_coro::cancellation_state;
    auto next_rebroadcast = std::chrono::steady_clock::now() + settings_.rebroadcast_interval;
    const std::vector<std::string> own{signature};
    for (;;) {
      const std::vector<std::string> sigs = ks ? ks->signatures : own;
      auto st = co_await statuses(sigs);
      if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
      bool seen = false;
      if (st) {
        for (std::size_t i = 0; i < sigs.size(); ++i) {
          const auto& s = (*st)[i];
          if (!s) continue;
          seen = true;
          if (!s->reached) continue;
          if (!s->err.is_null()) {
            if (ks && ks->nonce == NonceUse::live) ks->nonce = NonceUse::consumed_without_fill;
            // Its own failure is its answer; another's failure consumed the nonce.
            if (sigs[i] == signature) co_return rejected(signature, transaction_error_code(s->err, settings_.custom_errors));
            co_return rejected(signature, error::attempt_expired);
          }
          co_return co_await claim_landing(order, key, ks, sigs[i]);
        }
        if (ks && ks->nonce == NonceUse::consumed_by_fill) co_return co_await settle_consumed(order, key, ks, signature);
        if (!seen) {
          // Nothing landed: is it dead?
          if (last_valid) {
            const auto height = co_await block_height();
            if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
            if (height && *height > *last_valid) {
              auto again = co_await statuses(own);
              if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
              if (again && !again->front()) {
                detail::solana_debug("solana expired tx={} height={} last_valid={}", signature, *height, *last_valid);
                co_return rejected(signature, error::attempt_expired);
              }
            }
          } else if (nonce) {
            const auto now_nonce = co_await read_nonce(pool_[nonce->account].address);
            if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
            if (now_nonce && now_nonce->nonce != nonce->value) co_return co_await settle_consumed(order, key, ks, signature);
          }
        }
      }
      const auto now = std::chrono::system_clock::now();
      if (!seen && nonce && now >= order.not_after) {
        Answer a;
        a.outcome.status = SubmitStatus::in_doubt;
        a.outcome.transaction_id = signature;
        a.outcome.error = error::in_doubt;
        co_return a;
      }
      if (!seen && now < order.not_after && std::chrono::steady_clock::now() >= next_rebroadcast) {
        next_rebroadcast = std::chrono::steady_clock::now() + settings_.rebroadcast_interval;
        detail::solana_debug("solana rebroadcast tx={}", signature);
        SendResult again = co_await send(wire, false);
        (void)again;
        if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
      }
      co_await sleep(settings_.status_poll_interval);
      if (cancelled(state)) co_return Answer{boost::asio::error::operation_aborted, {}};
    }
  }

  // exit_finished's work for one key: its nonce must move on before the account
  // serves another key.
  boost::asio::awaitable<void> release_key(std::string key) {
    try {
      co_await release_key_body(key);
    } catch (...) {
      detail::solana_debug("solana nonce release failed key={}", key);
    }
    --releases_;
  }

  boost::asio::awaitable<void> release_key_body(const std::string& key) {
    const PinnedNonce* found = lifetimes_.find(key);
    if (!found) co_return;
    const PinnedNonce pinned = *found;
    auto ks = key_state(key);
    const auto give_back = [&](bool consumed) {
      lifetimes_.release(key);
      keys_.erase(key);
      pool_[pinned.account].free = true;
      if (consumed) pool_[pinned.account].last_consumed = pinned.value;
    };
    if (ks->signatures.empty() && ks->nonce == NonceUse::live) {
      give_back(false);  // nothing signed on this value ever left the venue: it stays usable
      co_return;
    }
    const auto deadline = std::chrono::steady_clock::now() + settings_.nonce_release_timeout;
    std::optional<BuiltTransaction> advance;
    auto next_send = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      const auto current = co_await read_nonce(pool_[pinned.account].address);
      if (current && current->nonce != pinned.value) {
        detail::solana_debug("solana nonce released key={} account={}", key, to_base58(pool_[pinned.account].address));
        give_back(true);
        co_return;
      }
      if (std::chrono::steady_clock::now() >= next_send) {
        next_send = std::chrono::steady_clock::now() + settings_.rebroadcast_interval;
        if (!advance) {
          TransactionRequest request;
          const auto& account = pool_[pinned.account];
          request.lifetime = DurableNonce{account.address, account.authority, pinned.value};
          try {
            advance = builder_(request);
          } catch (...) {
            detail::solana_debug("solana advance builder threw key={}", key);
            break;
          }
        }
        SendResult sent = co_await send(advance->wire_base64, true);
        detail::solana_debug("solana advance key={} tx={} may_have_left={} error={}", key, advance->signature,
                             sent.may_have_left, sent.error.message());
      }
      co_await sleep(settings_.status_poll_interval);
    }
    // The nonce may still be consumed by a transaction of this key: the account stays out of the pool.
    detail::solana_debug("solana nonce account quarantined key={} account={}", key,
                         to_base58(pool_[pinned.account].address));
    lifetimes_.release(key);
    keys_.erase(key);
  }

  executor_type strand_;
  RpcVenueSettings settings_;
  TransactionBuilder builder_;
  [[no_unique_address]] std::conditional_t<std::is_void_v<ReferencePrice>, std::monostate, ReferencePrice> price_{};
  std::vector<std::unique_ptr<JsonRpcClient>> clients_;
  std::vector<PoolAccount> pool_;
  KeyLifetimes<PinnedNonce> lifetimes_;
  std::map<std::string, std::shared_ptr<KeyState>, std::less<>> keys_;
  std::size_t in_flight_ = 0;
  std::size_t releases_ = 0;
};

using RpcVenue = BasicRpcVenue<>;

}  // namespace exitguard::solana
