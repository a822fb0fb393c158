// exitguard/exclusivity_key.hpp — exclusivity keys unique across executors, processes
// and restarts, and the pinning of one lifetime (a nonce, a client order id) per key.
//
// Every attempt carries an exclusivity key: the same for all attempts of an exit until
// one lands, then the next generation. A venue that makes attempts exclusive derives
// its durable nonce, client order id or idempotency token from it, so the key must
// never repeat: not in another executor, not after a restart. A key is
//
//     <namespace>-<instance>-<exit id>-<generation>      e.g. "bot1-9f3c0a7d5e21b846-17-0"
//
// where the namespace is the user's (ExitSettings::key_namespace: 1 to 8 letters or
// digits, say the bot's name) and the instance is 64 bits drawn when the executor is
// constructed (std::random_device mixed with the clocks and a process-wide counter).
// Keys stay within [A-Za-z0-9-] and at most 36 characters for exit ids below 10^6 and
// generations below 100: what most exchanges accept as a client order id.
//
// Client order ids are unique only among *open* orders on most exchanges: a key alone
// does not make attempts exclusive; the venue's guarantee does (venue.hpp).
//
// KeyLifetimes<Lifetime> pins one lifetime per key: the first attempt of a key fixes
// it (a durable nonce's value, a client order id slot) and every later attempt with
// that key gets the same one. It refuses a second lifetime for a pinned key, which is
// how "a fresh nonce per attempt" (two attempts of one key that could both land)
// cannot happen through it.
//
// Thread safety: ExclusivityKeyScope is immutable after construction (generate() may
// be called from any thread). KeyLifetimes is not synchronised: use it on the venue's
// executor (a strand), where every venue member runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include <exitguard/detail/splitmix64.hpp>

namespace exitguard {

class ExclusivityKeyScope {
 public:
  static constexpr std::size_t max_namespace_size = 8;

  // 1 to 8 ASCII letters or digits.
  static constexpr bool valid_namespace(std::string_view ns) noexcept {
    if (ns.empty() || ns.size() > max_namespace_size) return false;
    for (char c : ns)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
    return true;
  }

  // A scope with a given instance (a replay, a test). `key_namespace` must be valid.
  ExclusivityKeyScope(std::string_view key_namespace, std::uint64_t instance) : instance_(instance) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(instance));
    prefix_.reserve(key_namespace.size() + 17);
    prefix_.append(key_namespace).append("-").append(hex, 16);
  }

  // A scope no other executor, process or restart shares (with overwhelming
  // probability: 64 random bits).
  static ExclusivityKeyScope generate(std::string_view key_namespace) {
    return ExclusivityKeyScope(key_namespace, fresh_instance());
  }

  // "<namespace>-<instance>": what every key of this scope starts with.
  const std::string& prefix() const noexcept { return prefix_; }
  std::uint64_t instance() const noexcept { return instance_; }

  std::string key(std::uint64_t exit_id, std::uint64_t generation) const {
    return make_key(prefix_, exit_id, generation);
  }
  static std::string make_key(std::string_view prefix, std::uint64_t exit_id, std::uint64_t generation) {
    std::string k;
    k.reserve(prefix.size() + 24);
    k.append(prefix).append("-").append(std::to_string(exit_id)).append("-").append(std::to_string(generation));
    return k;
  }

 private:
  static std::uint64_t fresh_instance() {
    // random_device alone may be deterministic on some platforms: mix in the clocks
    // and a per-process counter, so two executors of one process always differ.
    static std::atomic_uint64_t counter{0};
    std::random_device rd;
    const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    const auto wall = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    const auto mono = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return detail::splitmix64(r ^ detail::splitmix64(wall ^ detail::splitmix64(mono + counter.fetch_add(1))));
  }

  std::uint64_t instance_;
  std::string prefix_;
};

// One lifetime per exclusivity key (see the header comment).
template <class Lifetime>
class KeyLifetimes {
 public:
  // The lifetime pinned to `key`, or null.
  const Lifetime* find(std::string_view key) const {
    auto it = pinned_.find(key);
    return it == pinned_.end() ? nullptr : &it->second;
  }

  // Pins `lifetime` to `key` unless the key has one already; returns the key's
  // lifetime and whether it is the one just given. A second, different lifetime for
  // a pinned key is never taken.
  std::pair<const Lifetime&, bool> pin(std::string key, Lifetime lifetime) {
    auto [it, inserted] = pinned_.try_emplace(std::move(key), std::move(lifetime));
    return {it->second, inserted};
  }

  // Forgets `key` (its exit finished, or the key landed and will not be used again)
  // and hands back its lifetime, e.g. to return a nonce account to a pool.
  std::optional<Lifetime> release(std::string_view key) {
    auto it = pinned_.find(key);
    if (it == pinned_.end()) return std::nullopt;
    std::optional<Lifetime> out(std::move(it->second));
    pinned_.erase(it);
    return out;
  }

  std::size_t size() const noexcept { return pinned_.size(); }

  template <class F>
  void for_each(F&& f) const {
    for (const auto& [k, v] : pinned_) f(k, v);
  }

 private:
  std::map<std::string, Lifetime, std::less<>> pinned_;
};

}  // namespace exitguard
