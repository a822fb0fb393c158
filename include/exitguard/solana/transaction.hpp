// exitguard/solana/transaction.hpp — Solana legacy transactions, byte for byte, without keys.
//
// What a bot needs to build the transaction of an exit order on Solana, and to read the
// two kinds of account an exit depends on:
//   * Pubkey, Signature and Hash (a recent blockhash or a durable nonce's value): fixed-size
//     byte values, comparable and hashable, read from base58 with T::from_base58 and written
//     with to_base58; base58 and base64 of any bytes (to_base58/from_base58,
//     to_base64/from_base64);
//   * the ids of the programs and sysvars used here;
//   * Instruction builders: system::advance_nonce_account and system::transfer,
//     spl_token::transfer_checked and spl_token::transfer (SPL Token or Token-2022),
//     compute_budget::set_compute_unit_price and set_compute_unit_limit;
//   * compile_message: the legacy message of a fee payer, instructions and a recent
//     blockhash (or a durable nonce's value), its accounts ordered as the runtime requires
//     and, within each group, as @solana/kit orders them, so the bytes equal kit's;
//     parse_message reads one back;
//   * Transaction: a message with its signatures in signer order, serialised for
//     sendTransaction (to_base64); parse_transaction reads one back;
//   * parse_nonce_account and parse_token_account: the System program's nonce account and
//     the SPL token account layouts (getAccountInfo data, base64-decoded).
//
// exitguard never holds keys: signing is the bot's, in its own key store
// (exitguard/testing/solana_signer.hpp signs for tests and examples). A transaction's id is
// its first signature, the fee payer's, so it is known as soon as the transaction is
// signed, before it is sent: record it first, and getSignatureStatuses can find the
// transaction whatever happened to the send.
//
// Errors: nothing here throws on bad input. Text, bytes and account data (from the network
// or anywhere else) are refused with std::nullopt or an error code in a
// boost::system::result, with these generic codes (boost::system::errc):
//   bad_message        bytes that are not a message, transaction or account of that kind
//   not_supported      a versioned (v0) message; a nonce account of the legacy version
//   invalid_argument   an account that is well formed but not usable (uninitialised);
//                      instructions that invoke the fee payer or a writable account
//   message_size       a transaction that would exceed max_transaction_size (1232 bytes)
// Functions that return a std::string or a std::vector (or a type holding one) may throw
// std::bad_alloc, and nothing else; the others are noexcept.
//
// Thread safety: the types are values and the functions pure: use them from any thread.
// Nothing here blocks or does I/O, so there is nothing to cancel.
#pragma once

#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exitguard::solana {

// ---------------------------------------------------------------------------
// base58 (Bitcoin alphabet) and base64 (RFC 4648, padded)
// ---------------------------------------------------------------------------

namespace detail {

inline constexpr std::string_view base58_alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

constexpr int base58_digit(char c) noexcept {
  const auto at = base58_alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// Decodes `text` into `out`, which must be exactly the size of the decoded bytes: false
// for a bad character or any other length. Base58 is canonical (each byte string has one
// text), so no two texts decode to the same bytes.
constexpr bool base58_decode_exact(std::string_view text, std::span<std::uint8_t> out) noexcept {
  std::fill(out.begin(), out.end(), std::uint8_t{0});
  std::size_t leading_ones = 0;
  while (leading_ones < text.size() && text[leading_ones] == '1') ++leading_ones;
  if (leading_ones > out.size()) return false;
  for (std::size_t i = leading_ones; i < text.size(); ++i) {
    const int digit = base58_digit(text[i]);
    if (digit < 0) return false;
    // out = out * 58 + digit, big-endian; a carry out of the top byte is too many bytes.
    unsigned carry = static_cast<unsigned>(digit);
    for (std::size_t j = out.size(); j-- > 0;) {
      carry += 58u * out[j];
      out[j] = static_cast<std::uint8_t>(carry & 0xffu);
      carry >>= 8;
    }
    if (carry != 0) return false;
  }
  // The number's own bytes plus one zero byte per leading '1' must fill `out` exactly.
  std::size_t zero_bytes = 0;
  while (zero_bytes < out.size() && out[zero_bytes] == 0) ++zero_bytes;
  return zero_bytes == leading_ones;
}

inline constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr int base64_digit(char c) noexcept {
  const auto at = base64_alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace detail

// The base58 text of `bytes` (one '1' per leading zero byte). Throws only std::bad_alloc.
inline std::string to_base58(std::span<const std::uint8_t> bytes) {
  std::size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  // log(256)/log(58) < 1.38: enough base58 digits for the rest, little-endian.
  std::vector<std::uint8_t> digits((bytes.size() - zeros) * 138 / 100 + 1, 0);
  std::size_t used = 0;
  for (std::size_t i = zeros; i < bytes.size(); ++i) {
    unsigned carry = bytes[i];
    std::size_t j = 0;
    for (; j < used || carry != 0; ++j) {
      carry += 256u * digits[j];
      digits[j] = static_cast<std::uint8_t>(carry % 58u);
      carry /= 58u;
    }
    used = j;
  }
  std::string text(zeros, '1');
  text.reserve(zeros + used);
  for (std::size_t j = used; j-- > 0;) text.push_back(detail::base58_alphabet[digits[j]]);
  return text;
}

// The bytes of a base58 text, or nullopt for a character outside the alphabet. Quadratic
// in the length: meant for keys, hashes and signatures. Throws only std::bad_alloc.
inline std::optional<std::vector<std::uint8_t>> from_base58(std::string_view text) {
  std::size_t leading_ones = 0;
  while (leading_ones < text.size() && text[leading_ones] == '1') ++leading_ones;
  // Each base58 digit carries less than a byte: the rest needs at most that many bytes.
  std::vector<std::uint8_t> number(text.size() - leading_ones, 0);
  for (std::size_t i = leading_ones; i < text.size(); ++i) {
    const int digit = detail::base58_digit(text[i]);
    if (digit < 0) return std::nullopt;
    unsigned carry = static_cast<unsigned>(digit);
    for (std::size_t j = number.size(); j-- > 0;) {
      carry += 58u * number[j];
      number[j] = static_cast<std::uint8_t>(carry & 0xffu);
      carry >>= 8;
    }
  }
  const auto significant = std::find_if(number.begin(), number.end(), [](std::uint8_t b) { return b != 0; });
  std::vector<std::uint8_t> bytes(leading_ones, 0);
  bytes.insert(bytes.end(), significant, number.end());
  return bytes;
}

// The padded base64 text of `bytes`. Throws only std::bad_alloc.
inline std::string to_base64(std::span<const std::uint8_t> bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) text.push_back(detail::base64_alphabet[(group >> shift) & 0x3fu]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    const std::uint32_t group = (std::uint32_t{bytes[i]} << 16) | (rest == 2 ? std::uint32_t{bytes[i + 1]} << 8 : 0u);
    text.push_back(detail::base64_alphabet[(group >> 18) & 0x3fu]);
    text.push_back(detail::base64_alphabet[(group >> 12) & 0x3fu]);
    text.push_back(rest == 2 ? detail::base64_alphabet[(group >> 6) & 0x3fu] : '=');
    text.push_back('=');
  }
  return text;
}

// The bytes of a padded base64 text, or nullopt unless it is exactly what to_base64
// writes: a length that is a multiple of 4, '=' only as the last one or two characters,
// unused bits zero, no whitespace. Throws only std::bad_alloc.
inline std::optional<std::vector<std::uint8_t>> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  std::vector<std::uint8_t> bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t digits = last ? 4 - padding : 4;
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      int value = 0;
      if (k < digits) {
        value = detail::base64_digit(text[i + k]);
        if (value < 0) return std::nullopt;
      }
      group = (group << 6) | static_cast<std::uint32_t>(value);
    }
    // One or two '=': the bits below the last byte must be zero (one text per byte string).
    if ((digits == 2 && (group & 0xffffu) != 0) || (digits == 3 && (group & 0xffu) != 0)) return std::nullopt;
    bytes.push_back(static_cast<std::uint8_t>(group >> 16));
    if (digits >= 3) bytes.push_back(static_cast<std::uint8_t>(group >> 8));
    if (digits == 4) bytes.push_back(static_cast<std::uint8_t>(group));
  }
  return bytes;
}

// ---------------------------------------------------------------------------
// Pubkey, Signature, Hash
// ---------------------------------------------------------------------------

// N bytes with a meaning (Tag): a value type, ordered and hashed by its bytes, read from
// base58 without ever throwing. Pubkey, Signature and Hash are three of them, distinct
// types that do not convert into each other. Like any value: const use from any number
// of threads; nothing to cancel.
template <std::size_t N, class Tag>
struct FixedBytes {
  static constexpr std::size_t byte_count = N;

  std::array<std::uint8_t, N> bytes{};

  // The value whose base58 text is `text`; nullopt for a bad character or a text that
  // is not exactly N bytes.
  static constexpr std::optional<FixedBytes> from_base58(std::string_view text) noexcept {
    if (text.size() > 2 * N) return std::nullopt;  // longer than any N bytes' text
    FixedBytes value;
    if (!detail::base58_decode_exact(text, value.bytes)) return std::nullopt;
    return value;
  }

  // The value of exactly N bytes; nullopt for any other length.
  static constexpr std::optional<FixedBytes> from_bytes(std::span<const std::uint8_t> data) noexcept {
    if (data.size() != N) return std::nullopt;
    FixedBytes value;
    std::copy(data.begin(), data.end(), value.bytes.begin());
    return value;
  }

  constexpr std::span<const std::uint8_t, N> span() const noexcept { return bytes; }

  friend constexpr bool operator==(const FixedBytes&, const FixedBytes&) = default;
  friend constexpr auto operator<=>(const FixedBytes&, const FixedBytes&) = default;
};

namespace detail {
struct pubkey_tag {};
struct signature_tag {};
struct hash_tag {};
}  // namespace detail

// An account address (an ed25519 public key or a program-derived address).
using Pubkey = FixedBytes<32, detail::pubkey_tag>;
// An ed25519 signature; a transaction's first one is its id.
using Signature = FixedBytes<64, detail::signature_tag>;
// A recent blockhash, or a durable nonce's value (which a transaction uses in its place).
using Hash = FixedBytes<32, detail::hash_tag>;

// The base58 text of a key, signature or hash (as RPC and explorers show them).
template <std::size_t N, class Tag>
std::string to_base58(const FixedBytes<N, Tag>& value) {
  return to_base58(std::span<const std::uint8_t>(value.bytes));
}

namespace detail {
// A key from a literal, checked at compile time: a bad literal does not compile.
consteval Pubkey pubkey_literal(std::string_view text) {
  const auto key = Pubkey::from_base58(text);
  if (!key) throw "not the base58 text of 32 bytes";
  return *key;
}
}  // namespace detail

}  // namespace exitguard::solana

// Hashes all the bytes: program ids and sysvars share long prefixes.
template <std::size_t N, class Tag>
struct std::hash<exitguard::solana::FixedBytes<N, Tag>> {
  std::size_t operator()(const exitguard::solana::FixedBytes<N, Tag>& value) const noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (const std::uint8_t b : value.bytes) h = (h ^ b) * 0x100000001b3ULL;
    return static_cast<std::size_t>(h);
  }
};

namespace exitguard::solana {

// ---------------------------------------------------------------------------
// Well-known ids
// ---------------------------------------------------------------------------

inline constexpr Pubkey system_program_id = detail::pubkey_literal("11111111111111111111111111111111");
inline constexpr Pubkey token_program_id = detail::pubkey_literal("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
inline constexpr Pubkey token_2022_program_id = detail::pubkey_literal("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
inline constexpr Pubkey associated_token_program_id =
    detail::pubkey_literal("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
inline constexpr Pubkey compute_budget_program_id = detail::pubkey_literal("ComputeBudget111111111111111111111111111111");
inline constexpr Pubkey sysvar_recent_blockhashes_id =
    detail::pubkey_literal("SysvarRecentB1ockHashes11111111111111111111");
inline constexpr Pubkey sysvar_rent_id = detail::pubkey_literal("SysvarRent111111111111111111111111111111111");

// The largest transaction the network takes (IPv6 MTU minus headers), signatures included.
inline constexpr std::size_t max_transaction_size = 1232;

// ---------------------------------------------------------------------------
// Instructions
// ---------------------------------------------------------------------------

// One account an instruction uses, and how: signer, writable. A plain value.
struct AccountMeta {
  Pubkey pubkey;
  bool is_signer = false;
  bool is_writable = false;

  friend bool operator==(const AccountMeta&, const AccountMeta&) = default;
};

// A program call: the program, its accounts in the program's order, its data. A plain
// value (the builders below make the ones exitguard's bots need).
struct Instruction {
  Pubkey program_id;
  std::vector<AccountMeta> accounts;
  std::vector<std::uint8_t> data;

  friend bool operator==(const Instruction&, const Instruction&) = default;
};

namespace detail {

// Little-endian integers, as every program here lays out its instruction data.
template <class Int>
void append_le(std::vector<std::uint8_t>& out, Int value) {
  for (std::size_t i = 0; i < sizeof(Int); ++i)
    out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(value) >> (8 * i)));
}

template <class Int>
constexpr Int read_le(std::span<const std::uint8_t> bytes, std::size_t offset) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = sizeof(Int); i-- > 0;) value = (value << 8) | bytes[offset + i];
  return static_cast<Int>(value);
}

}  // namespace detail

namespace system {

// System AdvanceNonceAccount (instruction 4): the first instruction of a transaction that
// uses the nonce's value as its recent blockhash. Accounts: the nonce account (writable),
// the RecentBlockhashes sysvar, the nonce authority (signer). Throws only std::bad_alloc.
inline Instruction advance_nonce_account(const Pubkey& nonce_account, const Pubkey& authority) {
  Instruction ix{system_program_id,
                 {{nonce_account, false, true}, {sysvar_recent_blockhashes_id, false, false}, {authority, true, false}},
                 {}};
  detail::append_le<std::uint32_t>(ix.data, 4);
  return ix;
}

// System Transfer (instruction 2) of `lamports` from `from` (writable signer) to `to`
// (writable). Throws only std::bad_alloc.
inline Instruction transfer(const Pubkey& from, const Pubkey& to, std::uint64_t lamports) {
  Instruction ix{system_program_id, {{from, true, true}, {to, false, true}}, {}};
  detail::append_le<std::uint32_t>(ix.data, 2);
  detail::append_le<std::uint64_t>(ix.data, lamports);
  return ix;
}

}  // namespace system

namespace spl_token {

// TransferChecked (instruction 12): `amount` base units of `mint` from `source` to
// `destination` token accounts, signed by the source's `owner`; the program refuses it
// unless `mint` and `decimals` are the source's. `token_program` is SPL Token or
// Token-2022. Throws only std::bad_alloc.
inline Instruction transfer_checked(const Pubkey& source, const Pubkey& mint, const Pubkey& destination,
                                    const Pubkey& owner, std::uint64_t amount, std::uint8_t decimals,
                                    const Pubkey& token_program = token_program_id) {
  Instruction ix{token_program,
                 {{source, false, true}, {mint, false, false}, {destination, false, true}, {owner, true, false}},
                 {}};
  ix.data.push_back(12);
  detail::append_le<std::uint64_t>(ix.data, amount);
  ix.data.push_back(decimals);
  return ix;
}

// Transfer (instruction 3): like transfer_checked without the mint and decimals check
// (Token-2022 refuses it for mints with some extensions). Throws only std::bad_alloc.
inline Instruction transfer(const Pubkey& source, const Pubkey& destination, const Pubkey& owner,
                            std::uint64_t amount, const Pubkey& token_program = token_program_id) {
  Instruction ix{token_program, {{source, false, true}, {destination, false, true}, {owner, true, false}}, {}};
  ix.data.push_back(3);
  detail::append_le<std::uint64_t>(ix.data, amount);
  return ix;
}

}  // namespace spl_token

namespace compute_budget {

// SetComputeUnitPrice (instruction 3): the priority fee, in micro-lamports per compute
// unit. Throws only std::bad_alloc.
inline Instruction set_compute_unit_price(std::uint64_t micro_lamports) {
  Instruction ix{compute_budget_program_id, {}, {3}};
  detail::append_le<std::uint64_t>(ix.data, micro_lamports);
  return ix;
}

// SetComputeUnitLimit (instruction 2): the transaction's compute budget (at most
// 1,400,000 units); with the price it sets the fee paid for priority. Throws only
// std::bad_alloc.
inline Instruction set_compute_unit_limit(std::uint32_t units) {
  Instruction ix{compute_budget_program_id, {}, {2}};
  detail::append_le<std::uint32_t>(ix.data, units);
  return ix;
}

}  // namespace compute_budget

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

// A legacy message's first three bytes: how many keys sign, how many of those are
// read-only, how many of the rest are read-only. A plain value.
struct MessageHeader {
  std::uint8_t num_required_signatures = 0;
  std::uint8_t num_readonly_signed_accounts = 0;
  std::uint8_t num_readonly_unsigned_accounts = 0;

  friend bool operator==(const MessageHeader&, const MessageHeader&) = default;
};

// An instruction as a message holds it: indices into the message's account keys. A
// plain value.
struct CompiledInstruction {
  std::uint8_t program_id_index = 0;
  std::vector<std::uint8_t> accounts;
  std::vector<std::uint8_t> data;

  friend bool operator==(const CompiledInstruction&, const CompiledInstruction&) = default;
};

class Message;
boost::system::result<Message> compile_message(const Pubkey& fee_payer, std::span<const Instruction> instructions,
                                               const Hash& recent_blockhash);
boost::system::result<Message> parse_message(std::span<const std::uint8_t> bytes);

// A legacy message: what every signature of a transaction signs. Made only by
// compile_message or parse_message, so it is always well formed: the header agrees with
// the keys, every index is in range, and bytes() is its serialisation. Its keys are the
// signers first (the fee payer at 0; writable, then read-only), then the other accounts
// (writable, then read-only). A value: copy it, read it from any number of threads;
// nothing to cancel.
class Message {
 public:
  const MessageHeader& header() const noexcept { return header_; }
  std::span<const Pubkey> account_keys() const noexcept { return account_keys_; }
  const Hash& recent_blockhash() const noexcept { return recent_blockhash_; }
  std::span<const CompiledInstruction> instructions() const noexcept { return instructions_; }

  // The keys that must sign, in the order of the transaction's signatures.
  std::span<const Pubkey> signers() const noexcept {
    return account_keys().first(header_.num_required_signatures);
  }
  const Pubkey& fee_payer() const noexcept { return account_keys_.front(); }

  bool is_signer(std::size_t index) const noexcept { return index < header_.num_required_signatures; }
  bool is_writable(std::size_t index) const noexcept {
    if (index >= account_keys_.size()) return false;
    if (index < header_.num_required_signatures)
      return index < std::size_t{header_.num_required_signatures} - header_.num_readonly_signed_accounts;
    return index < account_keys_.size() - header_.num_readonly_unsigned_accounts;
  }

  // The nonce account when the message uses a durable nonce, as the runtime decides it:
  // the first instruction is System AdvanceNonceAccount (data starting with u32 4) on a
  // writable nonce account; recent_blockhash() is then the nonce's value. Otherwise
  // nullopt: the message lives until its blockhash expires.
  std::optional<Pubkey> durable_nonce_account() const noexcept {
    if (instructions_.empty()) return std::nullopt;
    const auto& first = instructions_.front();
    if (account_keys_[first.program_id_index] != system_program_id) return std::nullopt;
    if (first.data.size() < 4 || detail::read_le<std::uint32_t>(first.data, 0) != 4) return std::nullopt;
    if (first.accounts.empty() || !is_writable(first.accounts.front())) return std::nullopt;
    return account_keys_[first.accounts.front()];
  }

  // The serialised message: header, compact-u16 counts, keys, blockhash, instructions.
  std::span<const std::uint8_t> bytes() const noexcept { return bytes_; }
  std::string to_base64() const { return solana::to_base64(bytes_); }

  friend bool operator==(const Message& a, const Message& b) noexcept { return a.bytes_ == b.bytes_; }

 private:
  Message() = default;
  friend boost::system::result<Message> compile_message(const Pubkey&, std::span<const Instruction>, const Hash&);
  friend boost::system::result<Message> parse_message(std::span<const std::uint8_t>);

  MessageHeader header_;
  std::vector<Pubkey> account_keys_;
  Hash recent_blockhash_;
  std::vector<CompiledInstruction> instructions_;
  std::vector<std::uint8_t> bytes_;
};

namespace detail {

inline boost::system::error_code make_error(boost::system::errc::errc_t e) noexcept {
  return boost::system::errc::make_error_code(e);
}

// Solana's compact-u16 ("short_vec"): 7 bits a byte, low first, at most 3 bytes.
inline void append_compact_u16(std::vector<std::uint8_t>& out, std::size_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

constexpr std::size_t compact_u16_size(std::size_t value) noexcept {
  std::size_t size = 1;
  for (; value >= 0x80; value >>= 7) ++size;
  return size;
}

// Reads bytes in order; any read past the end, or a non-canonical compact-u16, fails it
// (and every read after that returns nothing). One reader per parse, on one thread;
// nothing to cancel.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

  bool failed() const noexcept { return failed_; }
  bool at_end() const noexcept { return position_ == bytes_.size(); }
  std::span<const std::uint8_t> rest() const noexcept { return bytes_.subspan(position_); }

  std::uint8_t u8() noexcept {
    if (failed_ || position_ >= bytes_.size()) return fail(), 0;
    return bytes_[position_++];
  }

  std::span<const std::uint8_t> take(std::size_t count) noexcept {
    if (failed_ || bytes_.size() - position_ < count) return fail(), std::span<const std::uint8_t>{};
    const auto taken = bytes_.subspan(position_, count);
    position_ += count;
    return taken;
  }

  // As the runtime reads it: no more than 3 bytes, no zero continuation byte (which
  // would give one value two encodings), nothing above 0xffff.
  std::size_t compact_u16() noexcept {
    std::size_t value = 0;
    for (int i = 0; i < 3; ++i) {
      const std::uint8_t b = u8();
      if (failed_) return 0;
      value |= std::size_t{b & 0x7fu} << (7 * i);
      if ((b & 0x80u) == 0) {
        if ((i > 0 && b == 0) || value > 0xffff) return fail(), 0;
        return value;
      }
    }
    return fail(), 0;
  }

 private:
  void fail() noexcept { failed_ = true; }

  std::span<const std::uint8_t> bytes_;
  std::size_t position_ = 0;
  bool failed_ = false;
};

// Kit's order of the accounts within one group: its address comparator, an ICU
// collation ('en', case first lower, variant sensitivity) of the base58 text. On base58's
// characters that is: case-insensitive with digits before letters; a shorter text first
// when one is a prefix of the other; then, at the first letter that differs only in
// case, the lower case first. The order has no meaning to the runtime; following kit's
// keeps messages byte-identical to those kit compiles.
inline bool kit_address_less(std::string_view a, std::string_view b) noexcept {
  const auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  const std::size_t common = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < common; ++i)
    if (fold(a[i]) != fold(b[i])) return fold(a[i]) < fold(b[i]);
  if (a.size() != b.size()) return a.size() < b.size();
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return a[i] >= 'a' && a[i] <= 'z';
  return false;
}

inline void serialize_message_into(std::vector<std::uint8_t>& out, const MessageHeader& header,
                                   std::span<const Pubkey> keys, const Hash& recent_blockhash,
                                   std::span<const CompiledInstruction> instructions) {
  out.push_back(header.num_required_signatures);
  out.push_back(header.num_readonly_signed_accounts);
  out.push_back(header.num_readonly_unsigned_accounts);
  append_compact_u16(out, keys.size());
  for (const auto& key : keys) out.insert(out.end(), key.bytes.begin(), key.bytes.end());
  out.insert(out.end(), recent_blockhash.bytes.begin(), recent_blockhash.bytes.end());
  append_compact_u16(out, instructions.size());
  for (const auto& ix : instructions) {
    out.push_back(ix.program_id_index);
    append_compact_u16(out, ix.accounts.size());
    out.insert(out.end(), ix.accounts.begin(), ix.accounts.end());
    append_compact_u16(out, ix.data.size());
    out.insert(out.end(), ix.data.begin(), ix.data.end());
  }
}

}  // namespace detail

// The legacy message paying from `fee_payer`, running `instructions` in order, valid
// while `recent_blockhash` is (or, with system::advance_nonce_account first, while the
// nonce holds that value). Each account appears once, with the OR of the signer and
// writable flags of all its metas (the fee payer is always a writable signer); program
// ids are read-only non-signers. The order: the fee payer, then writable signers,
// read-only signers, writable non-signers, read-only non-signers, each group in kit's
// order (detail::kit_address_less).
// Errors: invalid_argument when a program invoked is the fee payer or writable;
// message_size when the signed transaction would exceed max_transaction_size (which also
// keeps the account indices within a byte). Throws only std::bad_alloc.
inline boost::system::result<Message> compile_message(const Pubkey& fee_payer,
                                                      std::span<const Instruction> instructions,
                                                      const Hash& recent_blockhash) {
  struct Entry {
    Pubkey key;
    bool is_signer;
    bool is_writable;
    bool is_program;
    std::string text;  // base58, for the order within a group
  };
  std::vector<Entry> entries;
  entries.push_back({fee_payer, true, true, false, {}});
  const auto upsert = [&entries](const Pubkey& key) -> Entry& {
    for (auto& entry : entries)
      if (entry.key == key) return entry;
    return entries.emplace_back(Entry{key, false, false, false, {}});
  };
  for (const auto& ix : instructions) {
    upsert(ix.program_id).is_program = true;
    for (const auto& meta : ix.accounts) {
      auto& entry = upsert(meta.pubkey);
      entry.is_signer = entry.is_signer || meta.is_signer;
      entry.is_writable = entry.is_writable || meta.is_writable;
    }
  }
  // The runtime never lets a program it invokes be written (or pay): refuse, as kit does.
  for (const auto& entry : entries)
    if (entry.is_program && entry.is_writable) return detail::make_error(boost::system::errc::invalid_argument);

  // Size before anything is narrowed to a byte or a compact-u16.
  std::size_t signer_count = 0;
  for (const auto& entry : entries) signer_count += entry.is_signer ? 1 : 0;
  std::size_t message_size = 3 + detail::compact_u16_size(entries.size()) + 32 * entries.size() + 32 +
                             detail::compact_u16_size(instructions.size());
  for (const auto& ix : instructions)
    message_size += 1 + detail::compact_u16_size(ix.accounts.size()) + ix.accounts.size() +
                    detail::compact_u16_size(ix.data.size()) + ix.data.size();
  if (detail::compact_u16_size(signer_count) + 64 * signer_count + message_size > max_transaction_size)
    return detail::make_error(boost::system::errc::message_size);

  for (auto& entry : entries) entry.text = to_base58(entry.key);
  const auto rank = [](const Entry& e) { return (e.is_signer ? 0 : 2) + (e.is_writable ? 0 : 1); };
  std::sort(entries.begin() + 1, entries.end(), [&rank](const Entry& a, const Entry& b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    return detail::kit_address_less(a.text, b.text);
  });

  Message message;
  message.account_keys_.reserve(entries.size());
  for (const auto& entry : entries) {
    message.account_keys_.push_back(entry.key);
    if (entry.is_signer) {
      ++message.header_.num_required_signatures;
      if (!entry.is_writable) ++message.header_.num_readonly_signed_accounts;
    } else if (!entry.is_writable) {
      ++message.header_.num_readonly_unsigned_accounts;
    }
  }
  const auto index_of = [&message](const Pubkey& key) {
    const auto at = std::find(message.account_keys_.begin(), message.account_keys_.end(), key);
    return static_cast<std::uint8_t>(at - message.account_keys_.begin());
  };
  message.recent_blockhash_ = recent_blockhash;
  message.instructions_.reserve(instructions.size());
  for (const auto& ix : instructions) {
    CompiledInstruction compiled{index_of(ix.program_id), {}, ix.data};
    compiled.accounts.reserve(ix.accounts.size());
    for (const auto& meta : ix.accounts) compiled.accounts.push_back(index_of(meta.pubkey));
    message.instructions_.push_back(std::move(compiled));
  }
  message.bytes_.reserve(message_size);
  detail::serialize_message_into(message.bytes_, message.header_, message.account_keys_, message.recent_blockhash_,
                                 message.instructions_);
  return message;
}

// compile_message over a braced list of instructions.
inline boost::system::result<Message> compile_message(const Pubkey& fee_payer,
                                                      std::initializer_list<Instruction> instructions,
                                                      const Hash& recent_blockhash) {
  return compile_message(fee_payer, std::span<const Instruction>(instructions.begin(), instructions.size()),
                         recent_blockhash);
}

// The legacy message serialised in `bytes`, entirely (nothing may follow it).
// Errors: not_supported for a versioned message; bad_message for anything else the
// runtime would not read (truncated, trailing bytes, a non-canonical length, an index
// out of range, a duplicate key, an inconsistent header). Throws only std::bad_alloc.
inline boost::system::result<Message> parse_message(std::span<const std::uint8_t> bytes) {
  const auto malformed = detail::make_error(boost::system::errc::bad_message);
  detail::ByteReader reader(bytes);
  Message message;
  auto& header = message.header_;
  header.num_required_signatures = reader.u8();
  if (!reader.failed() && (header.num_required_signatures & 0x80u) != 0)
    return detail::make_error(boost::system::errc::not_supported);  // a versioned message's prefix
  header.num_readonly_signed_accounts = reader.u8();
  header.num_readonly_unsigned_accounts = reader.u8();
  const std::size_t key_count = reader.compact_u16();
  if (reader.failed() || key_count > 256) return malformed;
  message.account_keys_.reserve(key_count);
  for (std::size_t i = 0; i < key_count; ++i) {
    const auto key = Pubkey::from_bytes(reader.take(32));
    if (!key) return malformed;
    // The runtime refuses a key loaded twice.
    if (std::find(message.account_keys_.begin(), message.account_keys_.end(), *key) != message.account_keys_.end())
      return malformed;
    message.account_keys_.push_back(*key);
  }
  // Signers exist and the fee payer is writable; the read-only counts fit their groups.
  if (header.num_required_signatures == 0 || header.num_required_signatures > key_count ||
      header.num_readonly_signed_accounts >= header.num_required_signatures ||
      header.num_readonly_unsigned_accounts > key_count - header.num_required_signatures)
    return malformed;
  const auto blockhash = Hash::from_bytes(reader.take(32));
  if (!blockhash) return malformed;
  message.recent_blockhash_ = *blockhash;
  const std::size_t instruction_count = reader.compact_u16();
  if (reader.failed()) return malformed;
  for (std::size_t i = 0; i < instruction_count; ++i) {
    CompiledInstruction ix;
    ix.program_id_index = reader.u8();
    // Index 0 is the fee payer, which no program can be.
    if (reader.failed() || ix.program_id_index == 0 || ix.program_id_index >= key_count) return malformed;
    const auto accounts = reader.take(reader.compact_u16());
    if (reader.failed()) return malformed;
    for (const std::uint8_t index : accounts)
      if (index >= key_count) return malformed;
    ix.accounts.assign(accounts.begin(), accounts.end());
    const auto data = reader.take(reader.compact_u16());
    if (reader.failed()) return malformed;
    ix.data.assign(data.begin(), data.end());
    message.instructions_.push_back(std::move(ix));
  }
  if (!reader.at_end()) return malformed;
  message.bytes_.assign(bytes.begin(), bytes.end());
  return message;
}

// ---------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------

class Transaction;
boost::system::result<Transaction> assemble_transaction(const Message& message, std::vector<Signature> signatures);
boost::system::result<Transaction> parse_transaction(std::span<const std::uint8_t> wire);

// A message with one signature per signer, signatures()[i] by message().signers()[i].
// Made by assemble_transaction (from signatures made elsewhere: the bot's key store) or
// parse_transaction; signatures are not verified here. Its id() is its first signature,
// known before it is sent. A value: copy it, read it from any number of threads;
// nothing to cancel.
class Transaction {
 public:
  const Message& message() const noexcept { return message_; }
  std::span<const Signature> signatures() const noexcept { return signatures_; }

  // The fee payer's signature: the transaction's id on the network.
  const Signature& signature() const noexcept { return signatures_.front(); }
  // The id as RPC takes it (getSignatureStatuses, getTransaction). Throws only std::bad_alloc.
  std::string id() const { return to_base58(signature()); }

  // The wire format: compact-u16 signature count, the signatures, the message.
  // Throws only std::bad_alloc.
  std::vector<std::uint8_t> serialize() const {
    std::vector<std::uint8_t> wire;
    wire.reserve(detail::compact_u16_size(signatures_.size()) + 64 * signatures_.size() + message_.bytes().size());
    detail::append_compact_u16(wire, signatures_.size());
    for (const auto& signature : signatures_) wire.insert(wire.end(), signature.bytes.begin(), signature.bytes.end());
    wire.insert(wire.end(), message_.bytes().begin(), message_.bytes().end());
    return wire;
  }
  // What sendTransaction takes with "encoding": "base64". Throws only std::bad_alloc.
  std::string to_base64() const { return solana::to_base64(serialize()); }

  friend bool operator==(const Transaction&, const Transaction&) = default;

 private:
  Transaction(Message message, std::vector<Signature> signatures) noexcept
      : message_(std::move(message)), signatures_(std::move(signatures)) {}
  friend boost::system::result<Transaction> assemble_transaction(const Message&, std::vector<Signature>);
  friend boost::system::result<Transaction> parse_transaction(std::span<const std::uint8_t>);

  Message message_;
  std::vector<Signature> signatures_;
};

// `message` with `signatures` in signer order (signatures[i] by message.signers()[i]).
// Errors: invalid_argument unless there is exactly one signature per signer.
// Throws only std::bad_alloc.
inline boost::system::result<Transaction> assemble_transaction(const Message& message,
                                                               std::vector<Signature> signatures) {
  if (signatures.size() != message.signers().size())
    return detail::make_error(boost::system::errc::invalid_argument);
  return Transaction(message, std::move(signatures));
}

// The transaction in `wire` (e.g. sendTransaction's base64, decoded), entirely.
// Errors: as parse_message; bad_message also when the signature count is not the
// message's number of signers. Signatures are not verified. Throws only std::bad_alloc.
inline boost::system::result<Transaction> parse_transaction(std::span<const std::uint8_t> wire) {
  detail::ByteReader reader(wire);
  const std::size_t count = reader.compact_u16();
  if (reader.failed() || count > max_transaction_size / 64) return detail::make_error(boost::system::errc::bad_message);
  std::vector<Signature> signatures;
  signatures.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto signature = Signature::from_bytes(reader.take(64));
    if (!signature) return detail::make_error(boost::system::errc::bad_message);
    signatures.push_back(*signature);
  }
  auto message = parse_message(reader.rest());
  if (!message) return message.error();
  if (message->signers().size() != count) return detail::make_error(boost::system::errc::bad_message);
  return Transaction(std::move(*message), std::move(signatures));
}

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

// The System program's nonce account (80 bytes): version u32, state u32, authority,
// durable nonce value, lamports_per_signature u64, little-endian.
inline constexpr std::size_t nonce_account_size = 80;

// What a durable-nonce transaction needs from its nonce account. A plain value.
struct NonceAccount {
  // Whoever must sign AdvanceNonceAccount.
  Pubkey authority;
  // The value a durable-nonce transaction uses as its recent blockhash; advancing the
  // nonce (any transaction that does) replaces it, so a transaction built on it either
  // lands once or never.
  Hash nonce;
  std::uint64_t lamports_per_signature = 0;

  friend bool operator==(const NonceAccount&, const NonceAccount&) = default;
};

// Errors: bad_message for a size other than nonce_account_size or an unknown version or
// state; invalid_argument for an uninitialised nonce; not_supported for the legacy
// version (0), which the runtime no longer accepts for durable transactions (upgrade it
// with UpgradeNonceAccount). Check also that the account's owner is the System program.
inline boost::system::result<NonceAccount> parse_nonce_account(std::span<const std::uint8_t> data) noexcept {
  using boost::system::errc::bad_message;
  if (data.size() != nonce_account_size) return detail::make_error(bad_message);
  const auto version = detail::read_le<std::uint32_t>(data, 0);
  const auto state = detail::read_le<std::uint32_t>(data, 4);
  if (version > 1 || state > 1) return detail::make_error(bad_message);
  if (state == 0) return detail::make_error(boost::system::errc::invalid_argument);
  if (version == 0) return detail::make_error(boost::system::errc::not_supported);
  NonceAccount account;
  std::copy_n(data.begin() + 8, 32, account.authority.bytes.begin());
  std::copy_n(data.begin() + 40, 32, account.nonce.bytes.begin());
  account.lamports_per_signature = detail::read_le<std::uint64_t>(data, 72);
  return account;
}

// The SPL token account layout (165 bytes; Token-2022 accounts may be longer, their
// extensions after an account-type byte): mint, owner, amount u64 LE, delegate, state
// (offset 108), ...
inline constexpr std::size_t token_account_size = 165;

enum class TokenAccountState : std::uint8_t { uninitialized = 0, initialized = 1, frozen = 2 };

// The fields of an SPL token account an exit reads. A plain value.
struct TokenAccount {
  Pubkey mint;
  Pubkey owner;
  // In the mint's base units (10^-decimals of a token).
  std::uint64_t amount = 0;
  // A frozen account holds its amount but can neither send nor receive.
  TokenAccountState state = TokenAccountState::uninitialized;

  friend bool operator==(const TokenAccount&, const TokenAccount&) = default;
};

// Errors: bad_message for data that is not a token account (shorter than 165 bytes, a
// multisig's 355, a Token-2022 account-type byte other than "account", an unknown
// state); invalid_argument for an uninitialised account. Check also that the account's
// owner is the token program you expect.
inline boost::system::result<TokenAccount> parse_token_account(std::span<const std::uint8_t> data) noexcept {
  using boost::system::errc::bad_message;
  constexpr std::size_t multisig_size = 355;
  constexpr std::uint8_t account_type_account = 2;  // Token-2022's AccountType::Account
  if (data.size() < token_account_size || data.size() == multisig_size) return detail::make_error(bad_message);
  if (data.size() > token_account_size && data[token_account_size] != account_type_account)
    return detail::make_error(bad_message);
  const std::uint8_t state = data[108];
  if (state > 2) return detail::make_error(bad_message);
  if (state == 0) return detail::make_error(boost::system::errc::invalid_argument);
  TokenAccount account;
  std::copy_n(data.begin(), 32, account.mint.bytes.begin());
  std::copy_n(data.begin() + 32, 32, account.owner.bytes.begin());
  account.amount = detail::read_le<std::uint64_t>(data, 64);
  account.state = static_cast<TokenAccountState>(state);
  return account;
}

// parse_token_account's amount (frozen accounts included).
inline boost::system::result<std::uint64_t> parse_token_account_amount(std::span<const std::uint8_t> data) noexcept {
  const auto account = parse_token_account(data);
  if (!account) return account.error();
  return account->amount;
}

}  // namespace exitguard::solana
