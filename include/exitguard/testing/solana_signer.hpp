// exitguard/testing/solana_signer.hpp — ed25519 keypairs and transaction signing, for
// tests and examples only.
//
// exitguard never holds keys: a real bot signs in its own key store (an HSM, a remote
// signer, a wallet service) and gives exitguard signed transactions. This header is what
// exitguard's tests and examples sign with instead: it keeps secret keys in ordinary
// process memory, which no bot should do with keys that hold funds.
//
// Needs libsodium (ed25519 as RFC 8032 specifies it, deterministic: one message and key,
// one signature): link it, as tests/CMakeLists.txt does for tests/solana_*_test.cpp;
// the exitguard::solana target does not.
#pragma once

#include <exitguard/solana/transaction.hpp>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace exitguard::testing {

// An ed25519 keypair, from a 32-byte seed (the same seed always gives the same key, as
// in Solana's and kit's tools) or random. Signing is deterministic.
// Thread safety: const members are safe from any thread at once (libsodium signs without
// shared state). Nothing blocks: there is nothing to cancel. The secret is wiped when
// the keypair is destroyed.
class Ed25519Keypair {
 public:
  static constexpr std::size_t seed_size = crypto_sign_SEEDBYTES;

  // Throws std::runtime_error if libsodium cannot initialise.
  explicit Ed25519Keypair(std::span<const std::uint8_t, seed_size> seed) {
    initialise_sodium();
    std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
    crypto_sign_seed_keypair(public_key.data(), secret_.data(), seed.data());
    pubkey_ = solana::Pubkey{public_key};
  }

  // A keypair from the system's random source. Throws std::runtime_error if libsodium
  // cannot initialise.
  static Ed25519Keypair random() {
    initialise_sodium();
    std::array<std::uint8_t, seed_size> seed{};
    randombytes_buf(seed.data(), seed.size());
    Ed25519Keypair keypair{std::span<const std::uint8_t, seed_size>(seed)};
    sodium_memzero(seed.data(), seed.size());
    return keypair;
  }

  Ed25519Keypair(const Ed25519Keypair&) = default;
  Ed25519Keypair& operator=(const Ed25519Keypair&) = default;
  ~Ed25519Keypair() { sodium_memzero(secret_.data(), secret_.size()); }

  const solana::Pubkey& pubkey() const noexcept { return pubkey_; }

  // The ed25519 signature of `message` (for a transaction: its message's bytes()).
  solana::Signature sign(std::span<const std::uint8_t> message) const noexcept {
    solana::Signature signature;
    crypto_sign_detached(signature.bytes.data(), nullptr, message.data(), message.size(), secret_.data());
    return signature;
  }

 private:
  static void initialise_sodium() {
    // sodium_init is itself safe to call again; the static makes it once per process.
    static const int initialised = sodium_init();
    if (initialised < 0) throw std::runtime_error("libsodium could not be initialised");
  }

  solana::Pubkey pubkey_;
  // libsodium's secret key: the seed, then the public key.
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret_{};
};

// `message` signed by `keypairs`, each signature at its signer's index
// (message.signers()). Throws std::invalid_argument when a signer has no keypair, when a
// keypair is not a signer of the message (as kit refuses it too) or is null.
inline solana::Transaction sign_transaction(const solana::Message& message,
                                            std::span<const Ed25519Keypair* const> keypairs) {
  for (const auto* keypair : keypairs) {
    if (keypair == nullptr) throw std::invalid_argument("sign_transaction: a null keypair");
    const auto signers = message.signers();
    if (std::find(signers.begin(), signers.end(), keypair->pubkey()) == signers.end())
      throw std::invalid_argument("sign_transaction: " + solana::to_base58(keypair->pubkey()) +
                                  " is not a signer of the message");
  }
  std::vector<solana::Signature> signatures;
  signatures.reserve(message.signers().size());
  for (const auto& signer : message.signers()) {
    const auto keypair = std::find_if(keypairs.begin(), keypairs.end(),
                                      [&signer](const Ed25519Keypair* k) { return k->pubkey() == signer; });
    if (keypair == keypairs.end())
      throw std::invalid_argument("sign_transaction: no keypair for signer " + solana::to_base58(signer));
    signatures.push_back((*keypair)->sign(message.bytes()));
  }
  // One signature per signer, by construction: assemble cannot refuse it.
  return solana::assemble_transaction(message, std::move(signatures)).value();
}

// sign_transaction over a braced list of keypairs: sign_transaction(message, {&payer, &owner}).
inline solana::Transaction sign_transaction(const solana::Message& message,
                                            std::initializer_list<const Ed25519Keypair*> keypairs) {
  return sign_transaction(message, std::span<const Ed25519Keypair* const>(keypairs.begin(), keypairs.size()));
}

}  // namespace exitguard::testing
