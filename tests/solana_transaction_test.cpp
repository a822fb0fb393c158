// exitguard-test-set: sanitized
// Tests of exitguard/solana/transaction.hpp and exitguard/testing/solana_signer.hpp:
// base58/base64, instruction layouts, message compilation, signing and account parsing,
// checked byte for byte against @solana/kit (tests/solana/vectors/transactions.json,
// written by tests/solana/vectors/make_vectors.mjs), then sent to the LiteSVM localnet
// (tests/solana/localnet), which checks the signatures and runs the programs.
#include <exitguard/solana/transaction.hpp>
#include <exitguard/testing/solana_signer.hpp>

#include "support/solana_localnet.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace solana = exitguard::solana;
using exitguard::testing::Ed25519Keypair;
using exitguard::testing::sign_transaction;
using boost::system::errc::errc_t;

namespace {

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  REQUIRE(hex.size() % 2 == 0);
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i < hex.size(); i += 2)
    bytes.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return bytes;
}

const boost::json::object& vectors() {
  static const boost::json::value parsed = [] {
    const std::string path = EXITGUARD_SOLANA_LOCALNET_DIR "/../vectors/transactions.json";
    std::ifstream file(path);
    REQUIRE(file.good());
    std::stringstream text;
    text << file.rdbuf();
    return boost::json::parse(text.str());
  }();
  return parsed.as_object();
}

std::string text_of(const boost::json::value& v) { return std::string(v.as_string()); }

solana::Pubkey pubkey_of(const boost::json::value& v) {
  const auto key = solana::Pubkey::from_base58(text_of(v));
  REQUIRE(key.has_value());
  return *key;
}

solana::Hash hash_of(const boost::json::value& v) {
  const auto hash = solana::Hash::from_base58(text_of(v));
  REQUIRE(hash.has_value());
  return *hash;
}

std::uint64_t u64_of(const boost::json::value& v) { return std::stoull(text_of(v)); }

std::vector<std::uint8_t> base64_of(const boost::json::value& v) {
  const auto bytes = solana::from_base64(text_of(v));
  REQUIRE(bytes.has_value());
  return *bytes;
}

Ed25519Keypair keypair_labelled(std::string_view label) {
  for (const auto& entry : vectors().at("keypairs").as_array()) {
    if (entry.at("label").as_string() != label) continue;
    const auto seed = from_hex(entry.at("seed_hex").as_string());
    REQUIRE(seed.size() == Ed25519Keypair::seed_size);
    Ed25519Keypair keypair{std::span<const std::uint8_t, Ed25519Keypair::seed_size>(seed.data(), seed.size())};
    CHECK(keypair.pubkey() == pubkey_of(entry.at("pubkey")));
    return keypair;
  }
  FAIL("no keypair labelled " << label);
  throw;
}

const boost::json::object& transaction_vector(std::string_view name) {
  for (const auto& entry : vectors().at("transactions").as_array())
    if (entry.at("name").as_string() == name) return entry.as_object();
  FAIL("no transaction vector " << name);
  throw;
}

// The same messages as make_vectors.mjs, each built here from its inputs.
solana::Message message_for(std::string_view name, const boost::json::object& in) {
  if (name == "transfer_checked_recent_blockhash") {
    const std::array instructions{
        solana::compute_budget::set_compute_unit_price(u64_of(in.at("compute_unit_price"))),
        solana::spl_token::transfer_checked(pubkey_of(in.at("source")), pubkey_of(in.at("mint")),
                                            pubkey_of(in.at("destination")), pubkey_of(in.at("owner")),
                                            u64_of(in.at("amount")),
                                            static_cast<std::uint8_t>(in.at("decimals").as_int64()),
                                            pubkey_of(in.at("token_program"))),
    };
    return solana::compile_message(pubkey_of(in.at("fee_payer")), instructions, hash_of(in.at("recent_blockhash")))
        .value();
  }
  if (name == "transfer_checked_durable_nonce") {
    const std::array instructions{
        solana::system::advance_nonce_account(pubkey_of(in.at("nonce_account")), pubkey_of(in.at("nonce_authority"))),
        solana::compute_budget::set_compute_unit_limit(static_cast<std::uint32_t>(in.at("compute_unit_limit").as_int64())),
        solana::compute_budget::set_compute_unit_price(u64_of(in.at("compute_unit_price"))),
        solana::spl_token::transfer_checked(pubkey_of(in.at("source")), pubkey_of(in.at("mint")),
                                            pubkey_of(in.at("destination")), pubkey_of(in.at("owner")),
                                            u64_of(in.at("amount")),
                                            static_cast<std::uint8_t>(in.at("decimals").as_int64()),
                                            pubkey_of(in.at("token_program"))),
    };
    return solana::compile_message(pubkey_of(in.at("fee_payer")), instructions, hash_of(in.at("nonce_value"))).value();
  }
  if (name == "transfer_and_sol_transfer_three_signers") {
    const std::array instructions{
        solana::spl_token::transfer(pubkey_of(in.at("source")), pubkey_of(in.at("destination")),
                                    pubkey_of(in.at("owner")), u64_of(in.at("amount")),
                                    pubkey_of(in.at("token_program"))),
        solana::system::transfer(pubkey_of(in.at("sol_from")), pubkey_of(in.at("sol_to")), u64_of(in.at("lamports"))),
    };
    return solana::compile_message(pubkey_of(in.at("fee_payer")), instructions, hash_of(in.at("recent_blockhash")))
        .value();
  }
  FAIL("no builder for " << name);
  throw;
}

std::vector<std::uint8_t> le_bytes(std::uint64_t value, std::size_t size) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < size; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
  return out;
}

template <class... Parts>
std::vector<std::uint8_t> concat(const Parts&... parts) {
  std::vector<std::uint8_t> out;
  (out.insert(out.end(), std::begin(parts), std::end(parts)), ...);
  return out;
}

solana::Pubkey key_from_byte(std::uint8_t b) {
  solana::Pubkey key;
  key.bytes.fill(b);
  return key;
}

std::vector<std::uint8_t> random_bytes(std::mt19937& rng, std::size_t size, std::size_t leading_zeros) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<std::uint8_t> bytes(size);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(byte(rng));
  std::fill_n(bytes.begin(), std::min(leading_zeros, size), std::uint8_t{0});
  return bytes;
}

}  // namespace

TEST_CASE("solana transaction header declares its types and well-known ids") {
  STATIC_REQUIRE(sizeof(solana::Pubkey) == 32);
  STATIC_REQUIRE(sizeof(solana::Signature) == 64);
  STATIC_REQUIRE(solana::system_program_id == solana::Pubkey{});
  STATIC_REQUIRE(solana::token_program_id != solana::token_2022_program_id);
  STATIC_REQUIRE(!std::is_convertible_v<solana::Hash, solana::Pubkey>);
}

TEST_CASE("base58 matches the Bitcoin reference vectors") {
  const auto [hex, text] = GENERATE(table<std::string_view, std::string_view>({
      {"", ""},
      {"61", "2g"},
      {"626262", "a3gV"},
      {"636363", "aPEr"},
      {"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
      {"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
      {"516b6fcd0f", "ABnLTmg"},
      {"bf4f89001e670274dd", "3SEo3LWLoPntC"},
      {"572e4794", "3EFU7m"},
      {"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
      {"10c8511e", "Rt5zm"},
      {"00000000000000000000", "1111111111"},
  }));
  const auto bytes = from_hex(hex);
  CHECK(solana::to_base58(bytes) == text);
  CHECK(solana::from_base58(text) == bytes);
}

TEST_CASE("base58 matches kit on bytes with leading zeros") {
  const auto& list = vectors().at("base58").as_array();
  const auto count = list.size();
  const auto index = GENERATE_COPY(range(std::size_t{0}, count));
  const auto bytes = from_hex(list[index].at("hex").as_string());
  const std::string text = text_of(list[index].at("text"));
  CHECK(solana::to_base58(bytes) == text);
  CHECK(solana::from_base58(text) == bytes);
}

TEST_CASE("base58 round trips any bytes") {
  const auto size = GENERATE(0u, 1u, 2u, 7u, 31u, 32u, 33u, 64u, 100u);
  const auto leading_zeros = GENERATE(0u, 1u, 3u, 32u);
  std::mt19937 rng(static_cast<unsigned>(size * 131 + leading_zeros));
  for (int round = 0; round < 20; ++round) {
    const auto bytes = random_bytes(rng, size, leading_zeros);
    const auto text = solana::to_base58(bytes);
    CHECK(std::count(text.begin(), text.end(), '1') >= static_cast<long>(std::min<std::size_t>(leading_zeros, size)));
    CHECK(solana::from_base58(text) == bytes);
    if (size == 32) CHECK(solana::Pubkey::from_base58(text) == solana::Pubkey::from_bytes(bytes));
  }
}

TEST_CASE("base58 refuses bad characters and keys of the wrong length") {
  const std::string text = GENERATE(as<std::string>{},
                                    "0",  // not in the alphabet: 0 O I l
                                    "O", "I", "l", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5D!",
                                    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5D ", " TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                                    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5D\xc3\xa9");
  CHECK_FALSE(solana::from_base58(text).has_value());
  CHECK_FALSE(solana::Pubkey::from_base58(text).has_value());
}

TEST_CASE("Pubkey from_base58 takes exactly 32 bytes") {
  std::mt19937 rng(7);
  const auto size = GENERATE(0u, 1u, 31u, 33u, 64u);
  const auto leading_zeros = GENERATE(0u, 2u);
  const auto text = solana::to_base58(random_bytes(rng, size, leading_zeros));
  CHECK_FALSE(solana::Pubkey::from_base58(text).has_value());
  CHECK_FALSE(solana::Hash::from_base58(text).has_value());
  // An extra leading '1' is one more (zero) byte: 33 bytes.
  CHECK_FALSE(solana::Pubkey::from_base58("1" + solana::to_base58(solana::token_program_id)).has_value());
  CHECK_FALSE(solana::Pubkey::from_base58("111111111111111111111111111111111").has_value());
  CHECK_FALSE(solana::Pubkey::from_base58("1111111111111111111111111111111").has_value());
  // The largest 32-byte text plus one digit overflows.
  CHECK_FALSE(solana::Pubkey::from_base58("JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFH").has_value());
  CHECK_FALSE(solana::Signature::from_base58(solana::to_base58(solana::token_program_id)).has_value());
}

TEST_CASE("well-known ids are kit's") {
  const auto& known = vectors().at("well_known").as_object();
  const auto [name, id] = GENERATE(table<std::string_view, solana::Pubkey>({
      {"system_program", solana::system_program_id},
      {"token_program", solana::token_program_id},
      {"token_2022_program", solana::token_2022_program_id},
      {"associated_token_program", solana::associated_token_program_id},
      {"sysvar_recent_blockhashes", solana::sysvar_recent_blockhashes_id},
      {"sysvar_rent", solana::sysvar_rent_id},
      {"compute_budget_program", solana::compute_budget_program_id},
  }));
  CAPTURE(name);
  CHECK(solana::to_base58(id) == text_of(known.at(name)));
}

TEST_CASE("well-known ids have their documented text and bytes") {
  CHECK(solana::to_base58(solana::system_program_id) == "11111111111111111111111111111111");
  CHECK(solana::to_base58(solana::token_program_id) == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
  const auto token_bytes = from_hex("06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9");
  CHECK(std::equal(token_bytes.begin(), token_bytes.end(), solana::token_program_id.bytes.begin()));
}

TEST_CASE("base64 matches RFC 4648") {
  const auto [plain, text] = GENERATE(table<std::string_view, std::string_view>({
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  }));
  const std::vector<std::uint8_t> bytes(plain.begin(), plain.end());
  CHECK(solana::to_base64(bytes) == text);
  CHECK(solana::from_base64(text) == bytes);
}

TEST_CASE("base64 round trips any bytes") {
  const auto size = GENERATE(range(0u, 40u));
  std::mt19937 rng(size);
  const auto bytes = random_bytes(rng, size, 0);
  const auto text = solana::to_base64(bytes);
  CHECK(text.size() == (size + 2) / 3 * 4);
  CHECK(solana::from_base64(text) == bytes);
}

TEST_CASE("base64 refuses what to_base64 never writes") {
  const std::string text = GENERATE(as<std::string>{}, "Zg", "Zg=", "Z===", "====", "Zh==", "Zm9=", "Zm9v\n",
                                    " Zm9v", "Zm=v", "=Zm9", "Zg==Zm9v", "Zm9vY!==", "Zm9v-_8=");
  CHECK_FALSE(solana::from_base64(text).has_value());
}

TEST_CASE("keys compare and hash by their bytes") {
  const auto a = key_from_byte(1);
  auto b = a;
  CHECK(a == b);
  CHECK(std::hash<solana::Pubkey>{}(a) == std::hash<solana::Pubkey>{}(b));
  b.bytes[31] = 2;  // differs in the last byte only: the hash must see it
  CHECK(a != b);
  CHECK(a < b);
  CHECK(std::hash<solana::Pubkey>{}(a) != std::hash<solana::Pubkey>{}(b));
  std::unordered_set<solana::Pubkey> set{solana::system_program_id, solana::token_program_id, solana::sysvar_rent_id,
                                         solana::sysvar_recent_blockhashes_id, solana::token_program_id};
  CHECK(set.size() == 4);
  CHECK(set.count(solana::sysvar_rent_id) == 1);
  CHECK(set.count(solana::token_2022_program_id) == 0);
}

TEST_CASE("instruction builders lay out accounts and data as the programs read them") {
  const auto a = key_from_byte(0xa1), b = key_from_byte(0xb2), c = key_from_byte(0xc3), d = key_from_byte(0xd4);
  using Meta = solana::AccountMeta;

  const auto nonce = solana::system::advance_nonce_account(a, b);
  CHECK(nonce.program_id == solana::system_program_id);
  CHECK(nonce.accounts == std::vector<Meta>{{a, false, true}, {solana::sysvar_recent_blockhashes_id, false, false},
                                            {b, true, false}});
  CHECK(nonce.data == std::vector<std::uint8_t>{4, 0, 0, 0});

  const auto sol = solana::system::transfer(a, b, 0x0102030405060708ULL);
  CHECK(sol.program_id == solana::system_program_id);
  CHECK(sol.accounts == std::vector<Meta>{{a, true, true}, {b, false, true}});
  CHECK(sol.data == std::vector<std::uint8_t>{2, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1});

  const auto checked = solana::spl_token::transfer_checked(a, b, c, d, 0xfffffffffffffffeULL, 9);
  CHECK(checked.program_id == solana::token_program_id);
  CHECK(checked.accounts == std::vector<Meta>{{a, false, true}, {b, false, false}, {c, false, true}, {d, true, false}});
  CHECK(checked.data == std::vector<std::uint8_t>{12, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 9});
  CHECK(solana::spl_token::transfer_checked(a, b, c, d, 1, 6, solana::token_2022_program_id).program_id ==
        solana::token_2022_program_id);

  const auto plain = solana::spl_token::transfer(a, c, d, 258);
  CHECK(plain.program_id == solana::token_program_id);
  CHECK(plain.accounts == std::vector<Meta>{{a, false, true}, {c, false, true}, {d, true, false}});
  CHECK(plain.data == std::vector<std::uint8_t>{3, 2, 1, 0, 0, 0, 0, 0, 0});

  const auto price = solana::compute_budget::set_compute_unit_price(1'000'000);
  CHECK(price.program_id == solana::compute_budget_program_id);
  CHECK(price.accounts.empty());
  CHECK(price.data == std::vector<std::uint8_t>{3, 0x40, 0x42, 0x0f, 0, 0, 0, 0, 0});

  const auto limit = solana::compute_budget::set_compute_unit_limit(1'400'000);
  CHECK(limit.program_id == solana::compute_budget_program_id);
  CHECK(limit.data == std::vector<std::uint8_t>{2, 0xc0, 0x5c, 0x15, 0});
}

TEST_CASE("compile_message orders accounts by role and merges duplicate metas") {
  const auto payer = key_from_byte(0x50);
  const auto writable_signer = key_from_byte(0x10);
  const auto readonly_signer = key_from_byte(0x20);
  const auto writable = key_from_byte(0x30);
  const auto readonly = key_from_byte(0x40);
  const auto program = key_from_byte(0x60);
  const solana::Hash blockhash{key_from_byte(0x77).bytes};
  // Each account's role is the OR of its metas across instructions: readonly_signer is a
  // signer in one and writable in none; writable_signer is a signer in one and writable
  // in another; the payer's own metas cannot lower it; the program is also an account.
  const solana::Instruction first{program,
                                  {{readonly, false, false},
                                   {writable_signer, true, false},
                                   {payer, false, false},
                                   {readonly_signer, true, false},
                                   {program, false, false}},
                                  {1, 2, 3}};
  const solana::Instruction second{program,
                                   {{writable, false, true}, {writable_signer, false, true}, {readonly, false, false}},
                                   {}};
  const auto message = solana::compile_message(payer, {first, second}, blockhash).value();

  const std::vector<solana::Pubkey> expected{payer, writable_signer, readonly_signer, writable, readonly, program};
  CHECK(std::vector<solana::Pubkey>(message.account_keys().begin(), message.account_keys().end()) == expected);
  CHECK(message.header() == solana::MessageHeader{3, 1, 2});
  CHECK(std::vector<solana::Pubkey>(message.signers().begin(), message.signers().end()) ==
        std::vector<solana::Pubkey>{payer, writable_signer, readonly_signer});
  CHECK(message.fee_payer() == payer);
  const std::array writable_flags{true, true, false, true, false, false};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(message.is_writable(i) == writable_flags[i]);
    CHECK(message.is_signer(i) == (i < 3));
  }
  REQUIRE(message.instructions().size() == 2);
  CHECK(message.instructions()[0] == solana::CompiledInstruction{5, {4, 1, 0, 2, 5}, {1, 2, 3}});
  CHECK(message.instructions()[1] == solana::CompiledInstruction{5, {3, 1, 4}, {}});
  CHECK(message.recent_blockhash() == blockhash);
  CHECK_FALSE(message.durable_nonce_account().has_value());

  // The bytes: header, 6 keys, blockhash, 2 instructions.
  std::vector<std::uint8_t> expected_bytes{3, 1, 2, 6};
  for (const auto& key : expected) expected_bytes.insert(expected_bytes.end(), key.bytes.begin(), key.bytes.end());
  expected_bytes.insert(expected_bytes.end(), blockhash.bytes.begin(), blockhash.bytes.end());
  const std::vector<std::uint8_t> compiled{2, 5, 5, 4, 1, 0, 2, 5, 3, 1, 2, 3, 5, 3, 3, 1, 4, 0};
  expected_bytes.insert(expected_bytes.end(), compiled.begin(), compiled.end());
  CHECK(std::vector<std::uint8_t>(message.bytes().begin(), message.bytes().end()) == expected_bytes);
}

TEST_CASE("compile_message orders each group as kit does") {
  // kit_address_order is sorted by kit's comparator; give compile_message the same keys
  // in byte order, as read-only non-signers of one instruction, and expect kit's order.
  const auto& order = vectors().at("kit_address_order").as_array();
  std::vector<solana::Pubkey> kit_order;
  for (const auto& text : order) kit_order.push_back(pubkey_of(text));
  REQUIRE(kit_order.size() > 200);

  std::vector<std::string> texts;
  for (const auto& key : kit_order) texts.push_back(solana::to_base58(key));
  auto shuffled = texts;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
  std::sort(shuffled.begin(), shuffled.end(), solana::detail::kit_address_less);
  CHECK(shuffled == texts);

  // A message holds about 30 keys at most: compile the sample in chunks.
  const auto payer = key_from_byte(0xff);
  for (std::size_t from = 0; from < kit_order.size(); from += 25) {
    const std::size_t to = std::min(kit_order.size(), from + 25);
    std::vector<solana::Pubkey> chunk(kit_order.begin() + static_cast<long>(from),
                                      kit_order.begin() + static_cast<long>(to));
    std::vector<solana::Pubkey> by_bytes = chunk;
    std::sort(by_bytes.begin(), by_bytes.end());
    solana::Instruction ix{solana::system_program_id, {}, {}};
    for (const auto& key : by_bytes) ix.accounts.push_back({key, false, false});
    const auto message = solana::compile_message(payer, {ix}, solana::Hash{}).value();
    // Payer, then the chunk and the system program (all read-only non-signers), in kit's order.
    chunk.push_back(solana::system_program_id);
    std::sort(chunk.begin(), chunk.end(), [](const solana::Pubkey& a, const solana::Pubkey& b) {
      return solana::detail::kit_address_less(solana::to_base58(a), solana::to_base58(b));
    });
    CHECK(std::vector<solana::Pubkey>(message.account_keys().begin() + 1, message.account_keys().end()) == chunk);
  }
}

TEST_CASE("durable_nonce_account finds AdvanceNonceAccount only as the first instruction") {
  const auto payer = key_from_byte(1), nonce = key_from_byte(2), authority = key_from_byte(3);
  const auto advance = solana::system::advance_nonce_account(nonce, authority);
  const auto transfer = solana::system::transfer(payer, key_from_byte(4), 10);
  CHECK(solana::compile_message(payer, {advance, transfer}, solana::Hash{})->durable_nonce_account() == nonce);
  CHECK_FALSE(solana::compile_message(payer, {transfer, advance}, solana::Hash{})->durable_nonce_account().has_value());
  CHECK_FALSE(solana::compile_message(payer, {transfer}, solana::Hash{})->durable_nonce_account().has_value());
  // Another System instruction first, or the nonce account read-only, is not a nonce lifetime.
  auto not_advance = advance;
  not_advance.data = {5, 0, 0, 0};
  CHECK_FALSE(solana::compile_message(payer, {not_advance}, solana::Hash{})->durable_nonce_account().has_value());
  auto readonly_nonce = advance;
  readonly_nonce.accounts[0].is_writable = false;
  CHECK_FALSE(solana::compile_message(payer, {readonly_nonce}, solana::Hash{})->durable_nonce_account().has_value());
  // The runtime reads the instruction with trailing bytes allowed.
  auto trailing = advance;
  trailing.data.push_back(0);
  CHECK(solana::compile_message(payer, {trailing}, solana::Hash{})->durable_nonce_account() == nonce);
}

TEST_CASE("compile_message refuses a program that is written or pays") {
  const auto payer = key_from_byte(1), program = key_from_byte(2), other = key_from_byte(3);
  SECTION("a program written by another instruction") {
    const auto result = solana::compile_message(
        payer, {solana::Instruction{program, {}, {}}, solana::Instruction{other, {{program, false, true}}, {}}},
        solana::Hash{});
    CHECK(result.error() == errc_t::invalid_argument);
  }
  SECTION("a program written before it is invoked") {
    const auto result = solana::compile_message(
        payer, {solana::Instruction{other, {{program, false, true}}, {}}, solana::Instruction{program, {}, {}}},
        solana::Hash{});
    CHECK(result.error() == errc_t::invalid_argument);
  }
  SECTION("the fee payer invoked as a program") {
    const auto result = solana::compile_message(payer, {solana::Instruction{payer, {}, {}}}, solana::Hash{});
    CHECK(result.error() == errc_t::invalid_argument);
  }
  SECTION("a program read by another instruction is fine") {
    const auto result = solana::compile_message(
        payer, {solana::Instruction{program, {}, {}}, solana::Instruction{other, {{program, false, false}}, {}}},
        solana::Hash{});
    CHECK(result.has_value());
  }
}

TEST_CASE("compile_message refuses a transaction larger than 1232 bytes") {
  const auto payer = key_from_byte(1);
  // Fixed part: 1 + 64 (one signature) + 3 + 1 + 32 (payer) + 32 (program) + 32 + 1
  // (instruction count) + 1 + 1 + 2 (data length) = 170; 1062 bytes of data reach 1232.
  const auto data_size = GENERATE(1062u, 1063u, 70'000u);
  const solana::Instruction ix{solana::system_program_id, {}, std::vector<std::uint8_t>(data_size, 0)};
  const auto result = solana::compile_message(payer, {ix}, solana::Hash{});
  if (data_size == 1062u) {
    REQUIRE(result.has_value());
    CHECK(result->bytes().size() + 65 == solana::max_transaction_size);
  } else {
    CHECK(result.error() == errc_t::message_size);
  }
  // Too many accounts: 40 distinct keys are 1280 bytes alone.
  solana::Instruction wide{solana::system_program_id, {}, {}};
  for (std::uint8_t i = 0; i < 40; ++i) wide.accounts.push_back({key_from_byte(static_cast<std::uint8_t>(i + 2)), false, false});
  CHECK(solana::compile_message(payer, {wide}, solana::Hash{}).error() == errc_t::message_size);
}

TEST_CASE("kit vectors are reproduced byte for byte") {
  const auto name = GENERATE(as<std::string>{}, "transfer_checked_recent_blockhash", "transfer_checked_durable_nonce",
                             "transfer_and_sol_transfer_three_signers");
  CAPTURE(name);
  const auto& vector = transaction_vector(name);
  const auto message = message_for(name, vector.at("inputs").as_object());

  CHECK(message.to_base64() == text_of(vector.at("message_base64")));

  std::vector<Ed25519Keypair> keypairs;
  for (const std::string_view label : {"owner", "nonce authority", "fee payer", "sol sender"})
    keypairs.push_back(keypair_labelled(label));
  std::vector<const Ed25519Keypair*> signing;
  for (const auto& keypair : keypairs)
    if (std::find(message.signers().begin(), message.signers().end(), keypair.pubkey()) != message.signers().end())
      signing.push_back(&keypair);
  const auto transaction = sign_transaction(message, signing);

  const auto& expected_signers = vector.at("signers").as_array();
  const auto& expected_signatures = vector.at("signatures").as_array();
  REQUIRE(message.signers().size() == expected_signers.size());
  REQUIRE(transaction.signatures().size() == expected_signatures.size());
  for (std::size_t i = 0; i < expected_signers.size(); ++i) {
    CAPTURE(i);
    CHECK(message.signers()[i] == pubkey_of(expected_signers[i]));
    CHECK(solana::to_base58(transaction.signatures()[i]) == text_of(expected_signatures[i]));
  }
  CHECK(transaction.to_base64() == text_of(vector.at("transaction_base64")));
  CHECK(transaction.id() == text_of(vector.at("transaction_id")));
  CHECK(transaction.id() == solana::to_base58(transaction.signatures()[0]));

  // Kit's wire bytes parse back into the same transaction.
  const auto parsed = solana::parse_transaction(base64_of(vector.at("transaction_base64")));
  REQUIRE(parsed.has_value());
  CHECK(*parsed == transaction);
  CHECK(parsed->message().header() == message.header());
  CHECK(std::equal(parsed->message().instructions().begin(), parsed->message().instructions().end(),
                   message.instructions().begin(), message.instructions().end()));

  if (name == "transfer_checked_durable_nonce") {
    CHECK(message.durable_nonce_account() == pubkey_of(vector.at("inputs").at("nonce_account")));
    CHECK(message.recent_blockhash() == hash_of(vector.at("inputs").at("nonce_value")));
    CHECK(message.header() == solana::MessageHeader{2, 1, 5});
  } else {
    CHECK_FALSE(message.durable_nonce_account().has_value());
  }
}

TEST_CASE("signatures verify and are deterministic") {
  const auto keypair = keypair_labelled("owner");
  const std::vector<std::uint8_t> message{1, 2, 3};
  const auto signature = keypair.sign(message);
  CHECK(signature == keypair.sign(message));
  CHECK(crypto_sign_verify_detached(signature.bytes.data(), message.data(), message.size(),
                                    keypair.pubkey().bytes.data()) == 0);
  const std::vector<std::uint8_t> other{1, 2, 4};
  CHECK(crypto_sign_verify_detached(signature.bytes.data(), other.data(), other.size(),
                                    keypair.pubkey().bytes.data()) != 0);
  const auto a = Ed25519Keypair::random();
  const auto b = Ed25519Keypair::random();
  CHECK(a.pubkey() != b.pubkey());
}

TEST_CASE("sign_transaction refuses a missing, foreign or null keypair") {
  const auto payer = keypair_labelled("fee payer");
  const auto owner = keypair_labelled("owner");
  const auto stranger = keypair_labelled("sol sender");
  const auto message = solana::compile_message(
                           payer.pubkey(),
                           {solana::spl_token::transfer(key_from_byte(1), key_from_byte(2), owner.pubkey(), 5)},
                           solana::Hash{})
                           .value();
  CHECK_THROWS_AS(sign_transaction(message, {&payer}), std::invalid_argument);
  CHECK_THROWS_AS(sign_transaction(message, {&owner}), std::invalid_argument);
  CHECK_THROWS_AS(sign_transaction(message, {&payer, &owner, &stranger}), std::invalid_argument);
  CHECK_THROWS_AS(sign_transaction(message, {&payer, &owner, nullptr}), std::invalid_argument);
  // Order of the keypairs does not matter: each signature goes to its signer's index.
  const auto signed_once = sign_transaction(message, {&owner, &payer});
  REQUIRE(signed_once.signatures().size() == 2);
  CHECK(signed_once.signatures()[0] == payer.sign(message.bytes()));
  CHECK(signed_once.signatures()[1] == owner.sign(message.bytes()));
  CHECK(signed_once == sign_transaction(message, {&payer, &owner}));
}

TEST_CASE("assemble_transaction takes one signature per signer") {
  const auto message =
      solana::compile_message(key_from_byte(9), {solana::system::transfer(key_from_byte(9), key_from_byte(8), 1)},
                              solana::Hash{})
          .value();
  CHECK(solana::assemble_transaction(message, {}).error() == errc_t::invalid_argument);
  CHECK(solana::assemble_transaction(message, {solana::Signature{}, solana::Signature{}}).error() ==
        errc_t::invalid_argument);
  solana::Signature signature;
  signature.bytes.fill(0x5a);
  const auto transaction = solana::assemble_transaction(message, {signature}).value();
  CHECK(transaction.signature() == signature);
  const auto wire = transaction.serialize();
  REQUIRE(wire.size() == 1 + 64 + message.bytes().size());
  CHECK(wire[0] == 1);
  CHECK(std::all_of(wire.begin() + 1, wire.begin() + 65, [](std::uint8_t b) { return b == 0x5a; }));
  CHECK(std::equal(message.bytes().begin(), message.bytes().end(), wire.begin() + 65));
}

TEST_CASE("parse_message and parse_transaction refuse malformed bytes") {
  const auto& vector = transaction_vector("transfer_and_sol_transfer_three_signers");
  const auto wire = base64_of(vector.at("transaction_base64"));
  const auto message = base64_of(vector.at("message_base64"));
  REQUIRE(solana::parse_message(message).has_value());
  REQUIRE(solana::parse_transaction(wire).has_value());

  SECTION("every truncation") {
    for (std::size_t size = 0; size < message.size(); ++size) {
      CAPTURE(size);
      CHECK(solana::parse_message(std::span(message).first(size)).error() == errc_t::bad_message);
    }
    for (std::size_t size = 0; size < wire.size(); ++size) {
      CAPTURE(size);
      CHECK_FALSE(solana::parse_transaction(std::span(wire).first(size)).has_value());
    }
  }
  SECTION("trailing bytes") {
    auto longer = message;
    longer.push_back(0);
    CHECK(solana::parse_message(longer).error() == errc_t::bad_message);
    auto longer_wire = wire;
    longer_wire.push_back(0);
    CHECK(solana::parse_transaction(longer_wire).error() == errc_t::bad_message);
  }
  SECTION("a versioned message") {
    auto versioned = message;
    versioned.insert(versioned.begin(), 0x80);
    CHECK(solana::parse_message(versioned).error() == errc_t::not_supported);
  }
  SECTION("a non-canonical compact-u16") {
    // The key count (byte 3) written in two bytes, the second a zero continuation.
    auto padded = message;
    padded[3] = static_cast<std::uint8_t>(padded[3] | 0x80);
    padded.insert(padded.begin() + 4, 0x00);
    CHECK(solana::parse_message(padded).error() == errc_t::bad_message);
  }
  SECTION("an inconsistent header") {
    const auto [at, value] = GENERATE(table<std::size_t, std::uint8_t>({
        {0, 0},    // no signer
        {1, 3},    // every signer read-only: the fee payer too
        {2, 200},  // more read-only non-signers than non-signers
    }));
    auto bad = message;
    bad[at] = value;
    CHECK(solana::parse_message(bad).error() == errc_t::bad_message);
  }
  SECTION("a duplicate key") {
    auto duplicated = message;
    std::copy_n(duplicated.begin() + 4, 32, duplicated.begin() + 4 + 32);
    CHECK(solana::parse_message(duplicated).error() == errc_t::bad_message);
  }
  SECTION("an account index out of range and a program at the fee payer's index") {
    const auto parsed = solana::parse_message(message).value();
    // The first instruction starts after header, key count, keys and blockhash, and
    // the instruction count.
    const std::size_t first_instruction = 3 + 1 + 32 * parsed.account_keys().size() + 32 + 1;
    auto out_of_range = message;
    out_of_range[first_instruction + 2] = static_cast<std::uint8_t>(parsed.account_keys().size());
    CHECK(solana::parse_message(out_of_range).error() == errc_t::bad_message);
    auto payer_program = message;
    payer_program[first_instruction] = 0;
    CHECK(solana::parse_message(payer_program).error() == errc_t::bad_message);
  }
  SECTION("a signature count that is not the message's") {
    auto fewer = wire;
    fewer[0] = 2;
    fewer.erase(fewer.begin() + 1, fewer.begin() + 65);
    CHECK(solana::parse_transaction(fewer).error() == errc_t::bad_message);
  }
}

TEST_CASE("parse_nonce_account reads kit's bytes and the documented layout") {
  const auto& expected = vectors().at("accounts").at("nonce").as_object();
  const auto data = base64_of(expected.at("data_base64"));
  const auto authority = pubkey_of(expected.at("authority"));
  const auto nonce_value = hash_of(expected.at("nonce_value"));
  // version u32, state u32, authority, nonce value, lamports_per_signature u64.
  const auto packed = concat(le_bytes(1, 4), le_bytes(1, 4), authority.bytes, nonce_value.bytes,
                             le_bytes(u64_of(expected.at("lamports_per_signature")), 8));
  CHECK(packed == data);

  const auto account = solana::parse_nonce_account(data);
  REQUIRE(account.has_value());
  CHECK(account->authority == authority);
  CHECK(account->nonce == nonce_value);
  CHECK(account->lamports_per_signature == 5000);

  const auto [version, state, error] = GENERATE(table<std::uint32_t, std::uint32_t, errc_t>({
      {1, 0, errc_t::invalid_argument},  // uninitialised
      {0, 1, errc_t::not_supported},     // legacy version
      {2, 1, errc_t::bad_message},       // no such version
      {1, 2, errc_t::bad_message},       // no such state
  }));
  CAPTURE(version, state);
  const auto altered = concat(le_bytes(version, 4), le_bytes(state, 4), std::span(data).subspan(8));
  CHECK(solana::parse_nonce_account(altered).error() == error);
  CHECK(solana::parse_nonce_account(std::span(data).first(79)).error() == errc_t::bad_message);
  CHECK(solana::parse_nonce_account(concat(data, std::array<std::uint8_t, 1>{0})).error() == errc_t::bad_message);
}

TEST_CASE("parse_token_account reads kit's bytes and the documented layout") {
  const auto& expected = vectors().at("accounts").at("token").as_object();
  const auto data = base64_of(expected.at("data_base64"));
  REQUIRE(data.size() == solana::token_account_size);
  const auto mint = pubkey_of(expected.at("mint"));
  const auto owner = pubkey_of(expected.at("owner"));
  const auto amount = u64_of(expected.at("amount"));
  // mint, owner, amount u64, delegate COption<Pubkey> (u32 tag + 32), state u8,
  // is_native COption<u64> (u32 tag + 8), delegated_amount u64, close_authority COption<Pubkey>.
  const auto packed = concat(mint.bytes, owner.bytes, le_bytes(amount, 8), le_bytes(1, 4),
                             pubkey_of(expected.at("delegate")).bytes, std::array<std::uint8_t, 1>{1},
                             std::vector<std::uint8_t>(12, 0), le_bytes(u64_of(expected.at("delegated_amount")), 8),
                             std::vector<std::uint8_t>(36, 0));
  CHECK(packed == data);

  const auto account = solana::parse_token_account(data);
  REQUIRE(account.has_value());
  CHECK(account->mint == mint);
  CHECK(account->owner == owner);
  CHECK(account->amount == amount);
  CHECK(account->state == solana::TokenAccountState::initialized);
  CHECK(solana::parse_token_account_amount(data).value() == amount);

  SECTION("frozen: the amount still reads") {
    auto frozen = data;
    frozen[108] = 2;
    CHECK(solana::parse_token_account(frozen)->state == solana::TokenAccountState::frozen);
    CHECK(solana::parse_token_account_amount(frozen).value() == amount);
  }
  SECTION("refused") {
    auto uninitialised = data;
    uninitialised[108] = 0;
    CHECK(solana::parse_token_account_amount(uninitialised).error() == errc_t::invalid_argument);
    auto unknown_state = data;
    unknown_state[108] = 3;
    CHECK(solana::parse_token_account(unknown_state).error() == errc_t::bad_message);
    CHECK(solana::parse_token_account(std::span(data).first(164)).error() == errc_t::bad_message);
    CHECK(solana::parse_token_account(std::vector<std::uint8_t>(355, 1)).error() == errc_t::bad_message);
  }
  SECTION("Token-2022 with extensions") {
    // After the base layout: the account-type byte (2 = account), then extensions.
    const auto extended = concat(data, std::array<std::uint8_t, 1>{2}, std::vector<std::uint8_t>(12, 0));
    CHECK(solana::parse_token_account_amount(extended).value() == amount);
    const auto mint_type = concat(data, std::array<std::uint8_t, 1>{1}, std::vector<std::uint8_t>(12, 0));
    CHECK(solana::parse_token_account(mint_type).error() == errc_t::bad_message);
  }
}

namespace {

// The account's data at the processed commitment, base64-decoded.
std::vector<std::uint8_t> account_data(exitguard::test::SolanaLocalnet& net, const std::string& account) {
  const auto info = net.call("getAccountInfo", {boost::json::string(account),
                                                boost::json::object{{"encoding", "base64"}, {"commitment", "processed"}}});
  REQUIRE(info.at("value").is_object());
  return base64_of(info.at("value").at("data").at(0));
}

std::string token_balance(exitguard::test::SolanaLocalnet& net, const boost::json::value& account) {
  return text_of(net.call("exitguard_tokenBalance", {account}));
}

// Sends `transaction`, lands it (one slot) and returns its status.
boost::json::object send_and_land(exitguard::test::SolanaLocalnet& net, const solana::Transaction& transaction) {
  const auto sent = net.call("sendTransaction", {boost::json::string(transaction.to_base64()),
                                                 boost::json::object{{"encoding", "base64"}}});
  // The id was known before the send: the node answers the same signature.
  CHECK(text_of(sent) == transaction.id());
  net.call("exitguard_advanceSlots", {1});
  const auto statuses = net.call("getSignatureStatuses", {boost::json::array{boost::json::string(transaction.id())}});
  const auto& status = statuses.at("value").at(0);
  REQUIRE(status.is_object());
  return status.as_object();
}

}  // namespace

TEST_CASE("a TransferChecked signed here lands on the localnet and moves the tokens") {
  exitguard::test::SolanaLocalnet net({.slot_ms = 0, .blockhash_validity = 150});
  const auto owner = keypair_labelled("owner");
  const auto payer = keypair_labelled("fee payer");
  const auto setup = net.call("exitguard_setup", {boost::json::object{{"owner", solana::to_base58(owner.pubkey())},
                                                                      {"payer", solana::to_base58(payer.pubkey())},
                                                                      {"decimals", 6},
                                                                      {"positionAmount", "1000000"}}})
                         .as_object();
  const auto source = pubkey_of(setup.at("source"));
  const auto mint = pubkey_of(setup.at("mint"));
  const auto destination = pubkey_of(setup.at("destination"));
  const auto token_program = pubkey_of(setup.at("tokenProgram"));
  CHECK(token_program == solana::token_program_id);

  // The source account's bytes as the chain holds them.
  const auto before = solana::parse_token_account(account_data(net, text_of(setup.at("source"))));
  REQUIRE(before.has_value());
  CHECK(before->mint == mint);
  CHECK(before->owner == owner.pubkey());
  CHECK(before->amount == 1'000'000);
  CHECK(before->state == solana::TokenAccountState::initialized);

  const auto latest = net.call("getLatestBlockhash", {});
  const auto blockhash = hash_of(latest.at("value").at("blockhash"));
  const std::array instructions{
      solana::compute_budget::set_compute_unit_limit(50'000),
      solana::compute_budget::set_compute_unit_price(10'000),
      solana::spl_token::transfer_checked(source, mint, destination, owner.pubkey(), 250'000, 6, token_program),
  };
  const auto message = solana::compile_message(payer.pubkey(), instructions, blockhash).value();
  const auto transaction = sign_transaction(message, {&payer, &owner});

  const auto status = send_and_land(net, transaction);
  CHECK(status.at("err").is_null());
  CHECK(token_balance(net, setup.at("source")) == "750000");
  CHECK(token_balance(net, setup.at("destination")) == "250000");
  CHECK(solana::parse_token_account_amount(account_data(net, text_of(setup.at("source")))).value() == 750'000);
  CHECK(solana::parse_token_account_amount(account_data(net, text_of(setup.at("destination")))).value() == 250'000);
}

TEST_CASE("a durable-nonce TransferChecked signed here lands once on the localnet") {
  exitguard::test::SolanaLocalnet net({.slot_ms = 0, .blockhash_validity = 150});
  const auto owner = keypair_labelled("owner");
  const auto payer = keypair_labelled("fee payer");
  const auto authority = keypair_labelled("nonce authority");
  const auto setup = net.call("exitguard_setup", {boost::json::object{{"owner", solana::to_base58(owner.pubkey())},
                                                                      {"payer", solana::to_base58(payer.pubkey())},
                                                                      {"nonceAuthority", solana::to_base58(authority.pubkey())},
                                                                      {"decimals", 9},
                                                                      {"positionAmount", "5000000000"},
                                                                      {"nonceAccounts", 1}}})
                         .as_object();
  const std::string nonce_address = text_of(setup.at("nonceAccounts").at(0));

  const auto nonce = solana::parse_nonce_account(account_data(net, nonce_address));
  REQUIRE(nonce.has_value());
  CHECK(nonce->authority == authority.pubkey());
  CHECK(nonce->lamports_per_signature == 5000);

  const std::array instructions{
      solana::system::advance_nonce_account(pubkey_of(setup.at("nonceAccounts").at(0)), authority.pubkey()),
      solana::spl_token::transfer_checked(pubkey_of(setup.at("source")), pubkey_of(setup.at("mint")),
                                          pubkey_of(setup.at("destination")), owner.pubkey(), 1'000'000'000, 9,
                                          pubkey_of(setup.at("tokenProgram"))),
  };
  const auto message = solana::compile_message(payer.pubkey(), instructions, nonce->nonce).value();
  CHECK(message.durable_nonce_account() == pubkey_of(setup.at("nonceAccounts").at(0)));
  const auto transaction = sign_transaction(message, {&payer, &owner, &authority});

  // Slots pass before the send: a durable nonce does not expire with blockhashes.
  net.call("exitguard_advanceSlots", {200});
  const auto status = send_and_land(net, transaction);
  CHECK(status.at("err").is_null());
  CHECK(token_balance(net, setup.at("source")) == "4000000000");
  CHECK(token_balance(net, setup.at("destination")) == "1000000000");

  // Landing advanced the nonce: the same transaction can never land again.
  const auto advanced = solana::parse_nonce_account(account_data(net, nonce_address));
  REQUIRE(advanced.has_value());
  CHECK(advanced->nonce != nonce->nonce);
  // (Preflight at processed: the bank where the nonce has already moved.)
  try {
    net.call("sendTransaction", {boost::json::string(transaction.to_base64()),
                                 boost::json::object{{"encoding", "base64"}, {"preflightCommitment", "processed"}}});
    FAIL("the node took a transaction on a used nonce");
  } catch (const exitguard::test::SolanaRpcError& e) {
    CHECK(e.code() == -32002);  // preflight failure
    CHECK(e.data().at("err") == "BlockhashNotFound");
  }
}
