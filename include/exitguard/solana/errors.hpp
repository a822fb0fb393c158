// exitguard/solana/errors.hpp — Solana's RPC and transaction errors as error codes,
// and the classifier that knows them. Part of the optional `solana` component
// (exitguard::solana, which links Boost.JSON).
//
// - RPC server errors (the JSON-RPC codes -32001..-32019 of Agave's
//   rpc-client-api custom_error.rs) stay codes of the "exitguard.json_rpc"
//   category (make_json_rpc_error); `rpc_error` names them as conditions:
//   `ec == solana::rpc_error::node_unhealthy`.
// - Transaction errors (the `err` JSON of a preflight failure's `data.err`, of
//   getSignatureStatuses and of getTransaction's `meta.err`) become codes through
//   `transaction_error_code`: the ones exitguard acts on become exitguard errors
//   (BlockhashNotFound → attempt_expired, the swap's slippage error →
//   slippage_exceeded, lack of funds → insufficient_funds, AlreadyProcessed →
//   in_doubt), every other one a code of "exitguard.solana.transaction",
//   "exitguard.solana.instruction" or "exitguard.solana.program" (a custom
//   program error).
// - `rpc_error_code` turns a whole JSON-RPC error object into its code, so a
//   preflight failure (-32002) reads as the transaction error it carries.
// - `RpcErrorClassifier` judges all of these, then everything TransportClassifier
//   knows. docs/transports.md has the tables with their reasons.
#pragma once

#include <exitguard/error.hpp>
#include <exitguard/transport_classifier.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace exitguard::solana {

// Solana's RPC server error codes (value = the JSON-RPC code), as conditions that
// match codes of the "exitguard.json_rpc" category.
enum class rpc_error : int {
  block_cleaned_up = -32001,
  send_transaction_preflight_failure = -32002,
  transaction_signature_verification_failure = -32003,
  block_not_available = -32004,
  node_unhealthy = -32005,
  transaction_precompile_verification_failure = -32006,
  slot_skipped = -32007,
  no_snapshot = -32008,
  long_term_storage_slot_skipped = -32009,
  key_excluded_from_secondary_index = -32010,
  transaction_history_not_available = -32011,
  scan_error = -32012,
  transaction_signature_len_mismatch = -32013,
  block_status_not_available_yet = -32014,
  unsupported_transaction_version = -32015,
  min_context_slot_not_reached = -32016,
  epoch_rewards_period_active = -32017,
  slot_not_epoch_boundary = -32018,
  long_term_storage_unreachable = -32019,
};

// Solana's TransactionError variants. Value = the variant's index in Solana's enum
// (its frozen ABI order, which only ever appends) + 1, so that none is 0.
enum class transaction_error : int {
  account_in_use = 1,
  account_loaded_twice = 2,
  account_not_found = 3,
  program_account_not_found = 4,
  insufficient_funds_for_fee = 5,
  invalid_account_for_fee = 6,
  already_processed = 7,
  blockhash_not_found = 8,
  instruction_error = 9,  // only when the instruction's error could not be read
  call_chain_too_deep = 10,
  missing_signature_for_fee = 11,
  invalid_account_index = 12,
  signature_failure = 13,
  invalid_program_for_execution = 14,
  sanitize_failure = 15,
  cluster_maintenance = 16,
  account_borrow_outstanding = 17,
  would_exceed_max_block_cost_limit = 18,
  unsupported_version = 19,
  invalid_writable_account = 20,
  would_exceed_max_account_cost_limit = 21,
  would_exceed_account_data_block_limit = 22,
  too_many_account_locks = 23,
  address_lookup_table_not_found = 24,
  invalid_address_lookup_table_owner = 25,
  invalid_address_lookup_table_data = 26,
  invalid_address_lookup_table_index = 27,
  invalid_rent_paying_account = 28,
  would_exceed_max_vote_cost_limit = 29,
  would_exceed_account_data_total_limit = 30,
  duplicate_instruction = 31,
  insufficient_funds_for_rent = 32,
  max_loaded_accounts_data_size_exceeded = 33,
  invalid_loaded_accounts_data_size_limit = 34,
  resanitization_needed = 35,
  program_execution_temporarily_restricted = 36,
  unbalanced_transaction = 37,
  program_cache_hit_max_limit = 38,
  commit_cancelled = 39,
  unrecognized = 1000,  // an `err` this version cannot read (a later variant, or not Solana's shape)
};

// Solana's InstructionError variants, numbered like transaction_error (index + 1).
// 26 is Custom, which has its own category (make_custom_program_error).
enum class instruction_error : int {
  generic_error = 1,
  invalid_argument = 2,
  invalid_instruction_data = 3,
  invalid_account_data = 4,
  account_data_too_small = 5,
  insufficient_funds = 6,
  incorrect_program_id = 7,
  missing_required_signature = 8,
  account_already_initialized = 9,
  uninitialized_account = 10,
  unbalanced_instruction = 11,
  modified_program_id = 12,
  external_account_lamport_spend = 13,
  external_account_data_modified = 14,
  readonly_lamport_change = 15,
  readonly_data_modified = 16,
  duplicate_account_index = 17,
  executable_modified = 18,
  rent_epoch_modified = 19,
  not_enough_account_keys = 20,
  account_data_size_changed = 21,
  account_not_executable = 22,
  account_borrow_failed = 23,
  account_borrow_outstanding = 24,
  duplicate_account_out_of_sync = 25,
  invalid_error = 27,
  executable_data_modified = 28,
  executable_lamport_change = 29,
  executable_account_not_rent_exempt = 30,
  unsupported_program_id = 31,
  call_depth = 32,
  missing_account = 33,
  reentrancy_not_allowed = 34,
  max_seed_length_exceeded = 35,
  invalid_seeds = 36,
  invalid_realloc = 37,
  computational_budget_exceeded = 38,
  privilege_escalation = 39,
  program_environment_setup_failure = 40,
  program_failed_to_complete = 41,
  program_failed_to_compile = 42,
  immutable = 43,
  incorrect_authority = 44,
  borsh_io_error = 45,
  account_not_rent_exempt = 46,
  invalid_account_owner = 47,
  arithmetic_overflow = 48,
  unsupported_sysvar = 49,
  illegal_owner = 50,
  max_accounts_data_allocations_exceeded = 51,
  max_accounts_exceeded = 52,
  max_instruction_trace_length_exceeded = 53,
  builtin_programs_must_consume_compute_units = 54,
  bail_out = 55,
  unrecognized = 1000,  // an instruction error this version cannot read
};

}  // namespace exitguard::solana

template <>
struct boost::system::is_error_condition_enum<exitguard::solana::rpc_error> : std::true_type {};
template <>
struct boost::system::is_error_code_enum<exitguard::solana::transaction_error> : std::true_type {};
template <>
struct boost::system::is_error_code_enum<exitguard::solana::instruction_error> : std::true_type {};

namespace exitguard::solana {

namespace detail {

struct rpc_error_info {
  rpc_error value;
  std::string_view name;  // Agave's RpcCustomError variant
  FailureKind kind;
};

// Agave answers every one of these before it forwards a transaction (decode,
// min_context_slot, signature and precompile checks, health, preflight): none
// of them is in doubt. docs/transports.md gives each row's reason.
inline constexpr rpc_error_info rpc_error_table[] = {
    {rpc_error::block_cleaned_up, "BlockCleanedUp", FailureKind::permanent},
    {rpc_error::send_transaction_preflight_failure, "SendTransactionPreflightFailure", FailureKind::permanent},
    {rpc_error::transaction_signature_verification_failure, "TransactionSignatureVerificationFailure",
     FailureKind::permanent},
    {rpc_error::block_not_available, "BlockNotAvailable", FailureKind::transient},
    {rpc_error::node_unhealthy, "NodeUnhealthy", FailureKind::transient},
    {rpc_error::transaction_precompile_verification_failure, "TransactionPrecompileVerificationFailure",
     FailureKind::permanent},
    {rpc_error::slot_skipped, "SlotSkipped", FailureKind::transient},
    {rpc_error::no_snapshot, "NoSnapshot", FailureKind::permanent},
    {rpc_error::long_term_storage_slot_skipped, "LongTermStorageSlotSkipped", FailureKind::permanent},
    {rpc_error::key_excluded_from_secondary_index, "KeyExcludedFromSecondaryIndex", FailureKind::permanent},
    {rpc_error::transaction_history_not_available, "TransactionHistoryNotAvailable", FailureKind::permanent},
    {rpc_error::scan_error, "ScanError", FailureKind::permanent},
    {rpc_error::transaction_signature_len_mismatch, "TransactionSignatureLenMismatch", FailureKind::permanent},
    {rpc_error::block_status_not_available_yet, "BlockStatusNotAvailableYet", FailureKind::transient},
    {rpc_error::unsupported_transaction_version, "UnsupportedTransactionVersion", FailureKind::permanent},
    {rpc_error::min_context_slot_not_reached, "MinContextSlotNotReached", FailureKind::transient},
    {rpc_error::epoch_rewards_period_active, "EpochRewardsPeriodActive", FailureKind::transient},
    {rpc_error::slot_not_epoch_boundary, "SlotNotEpochBoundary", FailureKind::permanent},
    {rpc_error::long_term_storage_unreachable, "LongTermStorageUnreachable", FailureKind::transient},
};

// The finders return by value, not by pointer: g++'s UBSan rejects a null test on
// a pointer into a table in a constant expression.
constexpr std::optional<rpc_error_info> find_rpc_error(int code) noexcept {
  for (const auto& info : rpc_error_table)
    if (static_cast<int>(info.value) == code) return info;
  return std::nullopt;
}

struct variant_info {
  int value;
  std::string_view name;     // Solana's variant name, as in the JSON
  std::string_view message;  // ours
  FailureKind kind;
};

// A failed transaction changes nothing but its fee payer's balance, so no
// transaction error is in doubt but AlreadyProcessed (an earlier copy landed).
// Transient: the ones the same transaction may not meet again (a lock, a block's
// limits, maintenance, a leader's cache or commit); permanent: everything that
// is a property of the transaction or its accounts.
inline constexpr variant_info transaction_error_table[] = {
    {1, "AccountInUse", "an account is in use by another transaction", FailureKind::transient},
    {2, "AccountLoadedTwice", "an account appears twice in the account keys", FailureKind::permanent},
    {3, "AccountNotFound", "the account to debit has never been credited", FailureKind::permanent},
    {4, "ProgramAccountNotFound", "a program the transaction calls does not exist", FailureKind::permanent},
    {5, "InsufficientFundsForFee", "the fee payer cannot pay the fee", FailureKind::permanent},
    {6, "InvalidAccountForFee", "this account cannot pay fees", FailureKind::permanent},
    {7, "AlreadyProcessed", "the transaction was already processed", FailureKind::in_doubt},
    {8, "BlockhashNotFound", "the blockhash is unknown or expired", FailureKind::transient},
    {9, "InstructionError", "an instruction failed", FailureKind::permanent},
    {10, "CallChainTooDeep", "the loader call chain is too deep", FailureKind::permanent},
    {11, "MissingSignatureForFee", "a fee is due but there is no signature", FailureKind::permanent},
    {12, "InvalidAccountIndex", "an account index is out of the transaction", FailureKind::permanent},
    {13, "SignatureFailure", "a signature does not verify", FailureKind::permanent},
    {14, "InvalidProgramForExecution", "this program cannot execute instructions", FailureKind::permanent},
    {15, "SanitizeFailure", "the account offsets are invalid", FailureKind::permanent},
    {16, "ClusterMaintenance", "transactions are disabled for cluster maintenance", FailureKind::transient},
    {17, "AccountBorrowOutstanding", "an account was left borrowed", FailureKind::permanent},
    {18, "WouldExceedMaxBlockCostLimit", "the block's cost limit is reached", FailureKind::transient},
    {19, "UnsupportedVersion", "the transaction version is not supported", FailureKind::permanent},
    {20, "InvalidWritableAccount", "a writable account cannot be written", FailureKind::permanent},
    {21, "WouldExceedMaxAccountCostLimit", "an account's cost limit in the block is reached",
     FailureKind::transient},
    {22, "WouldExceedAccountDataBlockLimit", "the block's account data limit is reached", FailureKind::transient},
    {23, "TooManyAccountLocks", "the transaction locks too many accounts", FailureKind::permanent},
    {24, "AddressLookupTableNotFound", "an address lookup table does not exist", FailureKind::permanent},
    {25, "InvalidAddressLookupTableOwner", "an address lookup table has the wrong owner", FailureKind::permanent},
    {26, "InvalidAddressLookupTableData", "an address lookup table is invalid", FailureKind::permanent},
    {27, "InvalidAddressLookupTableIndex", "an address lookup index is out of its table", FailureKind::permanent},
    {28, "InvalidRentPayingAccount", "an account would be left below rent exemption", FailureKind::permanent},
    {29, "WouldExceedMaxVoteCostLimit", "the block's vote cost limit is reached", FailureKind::transient},
    {30, "WouldExceedAccountDataTotalLimit", "the total account data limit would be exceeded",
     FailureKind::permanent},
    {31, "DuplicateInstruction", "an instruction appears twice where it may not", FailureKind::permanent},
    {32, "InsufficientFundsForRent", "an account would lack the lamports for rent", FailureKind::permanent},
    {33, "MaxLoadedAccountsDataSizeExceeded", "the loaded accounts exceed the data size cap",
     FailureKind::permanent},
    {34, "InvalidLoadedAccountsDataSizeLimit", "the loaded accounts data size limit is 0", FailureKind::permanent},
    {35, "ResanitizationNeeded", "the transaction must be sanitized again", FailureKind::transient},
    {36, "ProgramExecutionTemporarilyRestricted", "a program's execution is temporarily restricted",
     FailureKind::transient},
    {37, "UnbalancedTransaction", "lamports before and after the transaction differ", FailureKind::permanent},
    {38, "ProgramCacheHitMaxLimit", "the leader's program cache is full", FailureKind::transient},
    {39, "CommitCancelled", "the commit was cancelled", FailureKind::transient},
};

// Instruction errors are properties of the instruction and its accounts, so
// permanent, except two a new attempt may not meet: the compute budget (a fresh
// quote may route differently) and a leader's bail-out.
inline constexpr variant_info instruction_error_table[] = {
    {1, "GenericError", "generic instruction error", FailureKind::permanent},
    {2, "InvalidArgument", "invalid program argument", FailureKind::permanent},
    {3, "InvalidInstructionData", "invalid instruction data", FailureKind::permanent},
    {4, "InvalidAccountData", "invalid account data", FailureKind::permanent},
    {5, "AccountDataTooSmall", "account data too small", FailureKind::permanent},
    {6, "InsufficientFunds", "insufficient funds", FailureKind::permanent},
    {7, "IncorrectProgramId", "incorrect program id", FailureKind::permanent},
    {8, "MissingRequiredSignature", "a required signature is missing", FailureKind::permanent},
    {9, "AccountAlreadyInitialized", "the account is already initialized", FailureKind::permanent},
    {10, "UninitializedAccount", "the account is not initialized", FailureKind::permanent},
    {11, "UnbalancedInstruction", "lamports before and after the instruction differ", FailureKind::permanent},
    {12, "ModifiedProgramId", "an account's program id was changed", FailureKind::permanent},
    {13, "ExternalAccountLamportSpend", "lamports of an account not owned were spent", FailureKind::permanent},
    {14, "ExternalAccountDataModified", "data of an account not owned was changed", FailureKind::permanent},
    {15, "ReadonlyLamportChange", "a read-only account's lamports changed", FailureKind::permanent},
    {16, "ReadonlyDataModified", "a read-only account's data changed", FailureKind::permanent},
    {17, "DuplicateAccountIndex", "duplicate accounts in the instruction", FailureKind::permanent},
    {18, "ExecutableModified", "an account's executable flag changed", FailureKind::permanent},
    {19, "RentEpochModified", "an account's rent epoch changed", FailureKind::permanent},
    {20, "NotEnoughAccountKeys", "the instruction lacks account keys", FailureKind::permanent},
    {21, "AccountDataSizeChanged", "an account's size was changed by a program not owning it",
     FailureKind::permanent},
    {22, "AccountNotExecutable", "an executable account was expected", FailureKind::permanent},
    {23, "AccountBorrowFailed", "an account is already borrowed", FailureKind::permanent},
    {24, "AccountBorrowOutstanding", "an account was left borrowed", FailureKind::permanent},
    {25, "DuplicateAccountOutOfSync", "a repeated account was changed in two ways", FailureKind::permanent},
    {27, "InvalidError", "the program returned an invalid error", FailureKind::permanent},
    {28, "ExecutableDataModified", "an executable account's data changed", FailureKind::permanent},
    {29, "ExecutableLamportChange", "an executable account's lamports changed", FailureKind::permanent},
    {30, "ExecutableAccountNotRentExempt", "an executable account is not rent exempt", FailureKind::permanent},
    {31, "UnsupportedProgramId", "unsupported program id", FailureKind::permanent},
    {32, "CallDepth", "cross-program invocations are too deep", FailureKind::permanent},
    {33, "MissingAccount", "an account the instruction needs is missing", FailureKind::permanent},
    {34, "ReentrancyNotAllowed", "cross-program reentrancy is not allowed here", FailureKind::permanent},
    {35, "MaxSeedLengthExceeded", "an address seed is too long", FailureKind::permanent},
    {36, "InvalidSeeds", "the seeds give no valid address", FailureKind::permanent},
    {37, "InvalidRealloc", "account data could not be reallocated", FailureKind::permanent},
    {38, "ComputationalBudgetExceeded", "the compute budget was exceeded", FailureKind::transient},
    {39, "PrivilegeEscalation", "an invocation escalated a signer or writable privilege", FailureKind::permanent},
    {40, "ProgramEnvironmentSetupFailure", "the program's environment could not be created",
     FailureKind::permanent},
    {41, "ProgramFailedToComplete", "the program failed to complete", FailureKind::permanent},
    {42, "ProgramFailedToCompile", "the program failed to compile", FailureKind::permanent},
    {43, "Immutable", "the account is immutable", FailureKind::permanent},
    {44, "IncorrectAuthority", "incorrect authority", FailureKind::permanent},
    {45, "BorshIoError", "account data could not be serialized or deserialized", FailureKind::permanent},
    {46, "AccountNotRentExempt", "an account lacks the lamports for rent exemption", FailureKind::permanent},
    {47, "InvalidAccountOwner", "invalid account owner", FailureKind::permanent},
    {48, "ArithmeticOverflow", "arithmetic overflow in the program", FailureKind::permanent},
    {49, "UnsupportedSysvar", "unsupported sysvar", FailureKind::permanent},
    {50, "IllegalOwner", "the owner is not allowed", FailureKind::permanent},
    {51, "MaxAccountsDataAllocationsExceeded", "too much account data allocated", FailureKind::permanent},
    {52, "MaxAccountsExceeded", "too many accounts", FailureKind::permanent},
    {53, "MaxInstructionTraceLengthExceeded", "the instruction trace is too long", FailureKind::permanent},
    {54, "BuiltinProgramsMustConsumeComputeUnits", "builtin programs must consume compute units",
     FailureKind::permanent},
    {55, "BailOut", "block production bailed out", FailureKind::transient},
};

template <std::size_t N>
constexpr std::optional<variant_info> find_variant(const variant_info (&table)[N], int value) noexcept {
  for (const auto& info : table)
    if (info.value == value) return info;
  return std::nullopt;
}

template <std::size_t N>
constexpr std::optional<variant_info> find_variant(const variant_info (&table)[N], std::string_view name) noexcept {
  for (const auto& info : table)
    if (info.name == name) return info;
  return std::nullopt;
}

// Custom program error 0 (common: SPL Token's NotRentExempt, the System
// program's AccountAlreadyInUse) is kept as this value, since 0 would be an empty
// error code. Custom 0x80000000, which has the same bits, reads back as 0.
inline constexpr int custom_zero_value = INT_MIN;

// The four Solana categories: stateless and constant, so safe to use from any
// thread; nothing to cancel. Fixed ids make each compare equal across
// shared-library copies.
class rpc_condition_category_impl final : public boost::system::error_category {
 public:
  constexpr rpc_condition_category_impl() noexcept : error_category(0x65672e736f6c7270ULL) {}
  const char* name() const noexcept override { return "exitguard.solana.rpc"; }
  std::string message(int value) const override {
    if (const auto info = find_rpc_error(value))
      return "Solana RPC " + std::string(info->name) + " (" + std::to_string(value) + ")";
    return "unknown Solana RPC error " + std::to_string(value);
  }
  // A condition matches the JSON-RPC code of the same value, whoever made it.
  bool equivalent(const boost::system::error_code& code, int condition) const noexcept override {
    return json_rpc_code_of(code) == condition && find_rpc_error(condition).has_value();
  }
};

class transaction_category_impl final : public boost::system::error_category {
 public:
  constexpr transaction_category_impl() noexcept : error_category(0x65672e736f6c7478ULL) {}
  const char* name() const noexcept override { return "exitguard.solana.transaction"; }
  std::string message(int value) const override {
    if (const auto info = find_variant(transaction_error_table, value))
      return std::string(info->name) + ": " + std::string(info->message);
    if (value == static_cast<int>(transaction_error::unrecognized)) return "a transaction error this version cannot read";
    return "unknown Solana transaction error " + std::to_string(value);
  }
};

class instruction_category_impl final : public boost::system::error_category {
 public:
  constexpr instruction_category_impl() noexcept : error_category(0x65672e736f6c6978ULL) {}
  const char* name() const noexcept override { return "exitguard.solana.instruction"; }
  std::string message(int value) const override {
    if (const auto info = find_variant(instruction_error_table, value))
      return std::string(info->name) + ": " + std::string(info->message);
    if (value == static_cast<int>(instruction_error::unrecognized))
      return "an instruction error this version cannot read";
    return "unknown Solana instruction error " + std::to_string(value);
  }
};

inline std::string hex_of(std::uint32_t code) {
  constexpr char digits[] = "0123456789abcdef";
  std::string text;
  do {
    text.insert(text.begin(), digits[code % 16]);
    code /= 16;
  } while (code != 0);
  return "0x" + text;
}

class program_category_impl final : public boost::system::error_category {
 public:
  constexpr program_category_impl() noexcept : error_category(0x65672e736f6c6375ULL) {}
  const char* name() const noexcept override { return "exitguard.solana.program"; }
  std::string message(int value) const override {
    const auto code = value == custom_zero_value ? 0u : static_cast<std::uint32_t>(value);
    return "custom program error " + hex_of(code) + " (" + std::to_string(code) + ")";
  }
};

inline constexpr rpc_condition_category_impl rpc_condition_category_instance{};
inline constexpr transaction_category_impl transaction_category_instance{};
inline constexpr instruction_category_impl instruction_category_instance{};
inline constexpr program_category_impl program_category_instance{};

}  // namespace detail

inline const boost::system::error_category& rpc_error_category() noexcept {
  return detail::rpc_condition_category_instance;
}
inline const boost::system::error_category& transaction_error_category() noexcept {
  return detail::transaction_category_instance;
}
inline const boost::system::error_category& instruction_error_category() noexcept {
  return detail::instruction_category_instance;
}
inline const boost::system::error_category& program_error_category() noexcept {
  return detail::program_category_instance;
}

inline boost::system::error_condition make_error_condition(rpc_error e) noexcept {
  return {static_cast<int>(e), rpc_error_category()};
}
inline boost::system::error_code make_error_code(transaction_error e) noexcept {
  return {static_cast<int>(e), transaction_error_category()};
}
inline boost::system::error_code make_error_code(instruction_error e) noexcept {
  return {static_cast<int>(e), instruction_error_category()};
}

// A program's custom error (InstructionError's Custom(code)) as an error code of
// "exitguard.solana.program": value = the code's bits, message "custom program
// error 0x1771 (6001)".
inline boost::system::error_code make_custom_program_error(std::uint32_t code) noexcept {
  return {code == 0 ? detail::custom_zero_value : static_cast<int>(code), program_error_category()};
}

// The custom code an error code of "exitguard.solana.program" carries; nullopt for any other code.
inline std::optional<std::uint32_t> custom_program_error_of(const boost::system::error_code& ec) noexcept {
  if (ec.category() != program_error_category()) return std::nullopt;
  return ec.value() == detail::custom_zero_value ? 0u : static_cast<std::uint32_t>(ec.value());
}

// Solana's names, as in its JSON and its source: "NodeUnhealthy",
// "BlockhashNotFound", "InvalidAccountData". Empty if unknown.
constexpr std::string_view rpc_error_name(int code) noexcept {
  const auto info = detail::find_rpc_error(code);
  return info ? info->name : std::string_view{};
}
constexpr std::string_view transaction_error_name(transaction_error e) noexcept {
  const auto info = detail::find_variant(detail::transaction_error_table, static_cast<int>(e));
  return info ? info->name : std::string_view{};
}
constexpr std::string_view instruction_error_name(instruction_error e) noexcept {
  const auto info = detail::find_variant(detail::instruction_error_table, static_cast<int>(e));
  return info ? info->name : std::string_view{};
}

// One rule of a CustomErrorMap: what custom code `code` means, optionally only
// when raised by the instruction at index `instruction`.
struct CustomErrorRule {
  std::uint32_t code = 0;
  std::optional<std::uint8_t> instruction;  // empty: raised by any instruction
  boost::system::error_code error;          // what it means; never empty
};

// What a program's custom error codes mean. The JSON of an instruction error
// names the instruction by its index in the transaction, not by its program, and
// a code raised deep in a cross-program invocation surfaces at the index of the
// top-level instruction: so the map is by code, and a rule can be restricted to
// one instruction index (your swap instruction's) when other programs in the
// transaction could raise the same code. A rule for the instruction wins over a
// rule for any instruction; among those, the last one added wins.
// Thread safety: immutable after construction, so safe to share for reading;
// add() must not race with readers. Cancellation: none.
class CustomErrorMap {
 public:
  CustomErrorMap() = default;
  // Throws std::invalid_argument for a rule without an error (it would read as success).
  CustomErrorMap(std::initializer_list<CustomErrorRule> rules) {
    for (const auto& rule : rules) add(rule);
  }

  CustomErrorMap& add(CustomErrorRule rule) {
    if (!rule.error) throw std::invalid_argument("exitguard::solana::CustomErrorMap: a rule needs an error");
    rules_.push_back(std::move(rule));
    return *this;
  }
  CustomErrorMap& add(std::uint32_t code, boost::system::error_code error) {
    return add(CustomErrorRule{code, std::nullopt, error});
  }
  CustomErrorMap& add(std::uint32_t code, std::uint8_t instruction, boost::system::error_code error) {
    return add(CustomErrorRule{code, instruction, error});
  }

  // What `code`, raised by the instruction at `instruction`, means; nullopt if no rule says.
  std::optional<boost::system::error_code> find(std::uint32_t code, std::uint8_t instruction) const noexcept {
    const CustomErrorRule* for_any = nullptr;
    for (auto rule = rules_.rbegin(); rule != rules_.rend(); ++rule) {
      if (rule->code != code) continue;
      if (rule->instruction == instruction) return rule->error;
      if (!rule->instruction && !for_any) for_any = &*rule;
    }
    if (for_any) return for_any->error;
    return std::nullopt;
  }

  const std::vector<CustomErrorRule>& rules() const noexcept { return rules_; }

 private:
  std::vector<CustomErrorRule> rules_;
};

// The rules exitguard knows by default, for any instruction:
// - 6001 (0x1771): Jupiter v6's SlippageToleranceExceeded → error::slippage_exceeded
//   (an Anchor program's second error: for another Anchor program it means
//   something else; restrict or replace the rule if you route elsewhere);
// - 1: SPL Token's (and Token-2022's) InsufficientFunds, also the System
//   program's ResultWithNegativeLamports → error::insufficient_funds.
inline const CustomErrorMap& default_custom_errors() {
  static const CustomErrorMap map{
      {6001, std::nullopt, make_error_code(error::slippage_exceeded)},
      {1, std::nullopt, make_error_code(error::insufficient_funds)},
  };
  return map;
}

namespace detail {

inline std::optional<std::int64_t> json_integer(const boost::json::value& v) noexcept {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v.get_uint64());
  return std::nullopt;
}

// A Rust enum as serde writes it: "Name" for a unit variant, {"Name": payload}
// for the others.
struct json_variant {
  std::string_view name;
  const boost::json::value* payload = nullptr;
};

inline std::optional<json_variant> json_variant_of(const boost::json::value& v) noexcept {
  if (v.is_string()) {
    const auto& s = v.get_string();
    return json_variant{std::string_view(s.data(), s.size()), nullptr};
  }
  if (v.is_object() && v.get_object().size() == 1) {
    const auto& member = *v.get_object().begin();
    const auto key = member.key();
    return json_variant{std::string_view(key.data(), key.size()), &member.value()};
  }
  return std::nullopt;
}

// InstructionError's payload: [instruction index, error].
inline boost::system::error_code instruction_error_code(const boost::json::value* payload,
                                                        const CustomErrorMap& custom) noexcept {
  if (!payload || !payload->is_array() || payload->get_array().size() != 2) return transaction_error::instruction_error;
  const auto& pair = payload->get_array();
  const auto index = json_integer(pair[0]);
  if (!index || *index < 0 || *index > std::numeric_limits<std::uint8_t>::max())
    return transaction_error::instruction_error;
  const auto instruction = static_cast<std::uint8_t>(*index);
  const auto variant = json_variant_of(pair[1]);
  if (!variant) return instruction_error::unrecognized;
  if (variant->name == "Custom") {
    const auto code = variant->payload ? json_integer(*variant->payload) : std::nullopt;
    if (!code || *code < 0 || *code > std::numeric_limits<std::uint32_t>::max()) return instruction_error::unrecognized;
    const auto custom_code = static_cast<std::uint32_t>(*code);
    if (auto mapped = custom.find(custom_code, instruction)) return *mapped;
    return make_custom_program_error(custom_code);
  }
  const auto info = find_variant(instruction_error_table, variant->name);
  if (!info) return instruction_error::unrecognized;
  const auto value = static_cast<instruction_error>(info->value);
  if (value == instruction_error::insufficient_funds) return exitguard::error::insufficient_funds;
  return value;
}

}  // namespace detail

// The error code of a transaction error's JSON (`data.err` of a preflight failure,
// `err` of getSignatureStatuses, `meta.err` of getTransaction): an empty code for
// `null` (the transaction succeeded), else
// - "BlockhashNotFound" → error::attempt_expired (it can never land: the next attempt is safe);
// - "AlreadyProcessed" → error::in_doubt (an earlier copy was processed: it may have
//   landed; query its status). An exitguard code, so that every classifier,
//   DefaultClassifier included, calls it in doubt;
// - "InsufficientFundsForFee", an instruction's "InsufficientFunds" → error::insufficient_funds;
// - {"InstructionError":[i,{"Custom":n}]} → what `custom` maps n (in instruction i) to,
//   else make_custom_program_error(n);
// - {"InstructionError":[i,"Name"]} → instruction_error (or instruction_error::unrecognized);
// - any other variant → its transaction_error (or transaction_error::unrecognized).
inline boost::system::error_code transaction_error_code(const boost::json::value& err,
                                                        const CustomErrorMap& custom = default_custom_errors()) noexcept {
  if (err.is_null()) return {};
  const auto variant = detail::json_variant_of(err);
  if (!variant) return transaction_error::unrecognized;
  if (variant->name == "InstructionError") return detail::instruction_error_code(variant->payload, custom);
  const auto info = detail::find_variant(detail::transaction_error_table, variant->name);
  if (!info) return transaction_error::unrecognized;
  switch (const auto value = static_cast<transaction_error>(info->value)) {
    case transaction_error::blockhash_not_found: return exitguard::error::attempt_expired;
    case transaction_error::already_processed: return exitguard::error::in_doubt;
    case transaction_error::insufficient_funds_for_fee: return exitguard::error::insufficient_funds;
    default: return value;
  }
}

// The error code of a JSON-RPC error object ({"code", "message", "data"}): a
// preflight failure (-32002) with a `data.err` is that transaction error's code
// (so a preflight slippage failure is slippage_exceeded, a preflight
// BlockhashNotFound attempt_expired); any other error object is
// make_json_rpc_error(code). An object without an integer code says nothing
// readable about what happened: error::in_doubt.
inline boost::system::error_code rpc_error_code(const boost::json::value& error_object,
                                                const CustomErrorMap& custom = default_custom_errors()) noexcept {
  const auto* object = error_object.if_object();
  const auto* code_value = object ? object->if_contains("code") : nullptr;
  const auto code = code_value ? detail::json_integer(*code_value) : std::nullopt;
  if (!code || *code < std::numeric_limits<int>::min() || *code > std::numeric_limits<int>::max())
    return exitguard::error::in_doubt;
  if (*code == static_cast<int>(rpc_error::send_transaction_preflight_failure)) {
    const auto* data = object->if_contains("data");
    const auto* data_object = data ? data->if_object() : nullptr;
    const auto* err = data_object ? data_object->if_contains("err") : nullptr;
    if (err && !err->is_null()) return transaction_error_code(*err, custom);
  }
  return make_json_rpc_error(static_cast<int>(*code));
}

// The verdict on a Solana code (an RPC server error in "exitguard.json_rpc", a
// transaction, instruction or custom program error); nullopt for any other code.
inline std::optional<FailureKind> rpc_failure_kind(const boost::system::error_code& ec) noexcept {
  if (const auto code = json_rpc_code_of(ec)) {
    if (const auto info = detail::find_rpc_error(*code)) return info->kind;
    return std::nullopt;
  }
  const auto& category = ec.category();
  if (category == transaction_error_category()) {
    const auto info = detail::find_variant(detail::transaction_error_table, ec.value());
    return info ? info->kind : FailureKind::permanent;  // a transaction that failed did nothing
  }
  if (category == instruction_error_category()) {
    const auto info = detail::find_variant(detail::instruction_error_table, ec.value());
    return info ? info->kind : FailureKind::permanent;
  }
  if (category == program_error_category()) return FailureKind::permanent;  // unmapped: the program refused
  return std::nullopt;
}

// The classifier for a Solana RPC venue's submits: Solana's codes as in the
// tables (rpc_failure_kind), then everything TransportClassifier knows, then the
// fallback for codes neither knows (by default DefaultClassifier: permanent).
// For queries (getSignatureStatuses, balances) use IdempotentRpcErrorClassifier.
// Thread safety: as safe to call concurrently as the fallback is. Cancellation:
// none (a pure function).
template <Classifier Fallback = DefaultClassifier>
class BasicRpcErrorClassifier {
 public:
  BasicRpcErrorClassifier() = default;
  explicit BasicRpcErrorClassifier(Fallback fallback) noexcept(std::is_nothrow_move_constructible_v<Fallback>)
      : transport_(std::move(fallback)) {}

  FailureKind operator()(const boost::system::error_code& ec) const
      noexcept(std::is_nothrow_invocable_v<const BasicTransportClassifier<Fallback>&,
                                           const boost::system::error_code&>) {
    if (const auto kind = rpc_failure_kind(ec)) return *kind;
    return transport_(ec);
  }

 private:
  BasicTransportClassifier<Fallback> transport_;
};

template <class Fallback>
BasicRpcErrorClassifier(Fallback) -> BasicRpcErrorClassifier<Fallback>;

using RpcErrorClassifier = BasicRpcErrorClassifier<>;
using IdempotentRpcErrorClassifier = Idempotent<RpcErrorClassifier>;

}  // namespace exitguard::solana
