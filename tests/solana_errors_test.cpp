// exitguard-test-set: optimized
// Tests of exitguard/solana/errors.hpp: Solana's RPC server errors (conditions over
// JSON-RPC codes), transaction and instruction errors read from the JSON shapes
// nodes send (preflight failures, getSignatureStatuses, getTransaction), the
// custom error map, RpcErrorClassifier's verdicts, and docs/transports.md's Solana
// tables against the code.

// First include: proves the header compiles on its own.
#include <exitguard/solana/errors.hpp>

#include <catch2/catch.hpp>

#include <exitguard/error.hpp>
#include <exitguard/transport_classifier.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace json = boost::json;
namespace solana = exitguard::solana;
using boost::system::error_code;
using exitguard::FailureKind;
using exitguard::make_json_rpc_error;
using solana::instruction_error;
using solana::transaction_error;

error_code code_of(std::string_view err_json, const solana::CustomErrorMap& custom = solana::default_custom_errors()) {
  return solana::transaction_error_code(json::parse(err_json), custom);
}

FailureKind verdict(const error_code& ec) { return solana::RpcErrorClassifier{}(ec); }

struct RpcRow {
  int code;
  std::string_view name;
  solana::rpc_error condition;
  FailureKind kind;
  const char* why;
};

const std::vector<RpcRow>& rpc_rows() {
  using K = FailureKind;
  using E = solana::rpc_error;
  static const std::vector<RpcRow> rows = {
      {-32001, "BlockCleanedUp", E::block_cleaned_up, K::permanent, "the node purged that block"},
      {-32002, "SendTransactionPreflightFailure", E::send_transaction_preflight_failure, K::permanent,
       "the simulation failed and nothing was forwarded; its data.err decides (rpc_error_code)"},
      {-32003, "TransactionSignatureVerificationFailure", E::transaction_signature_verification_failure,
       K::permanent, "a bad signature: refused before forwarding"},
      {-32004, "BlockNotAvailable", E::block_not_available, K::transient, "not available yet on this node"},
      {-32005, "NodeUnhealthy", E::node_unhealthy, K::transient, "the node refused before forwarding: nothing sent"},
      {-32006, "TransactionPrecompileVerificationFailure", E::transaction_precompile_verification_failure,
       K::permanent, "a precompile check failed before forwarding"},
      {-32007, "SlotSkipped", E::slot_skipped, K::transient,
       "skipped or missing on this node: a query is harmless to repeat"},
      {-32008, "NoSnapshot", E::no_snapshot, K::permanent, "the node has no snapshot"},
      {-32009, "LongTermStorageSlotSkipped", E::long_term_storage_slot_skipped, K::permanent,
       "the slot has no block, in long-term storage too"},
      {-32010, "KeyExcludedFromSecondaryIndex", E::key_excluded_from_secondary_index, K::permanent,
       "the node's configuration"},
      {-32011, "TransactionHistoryNotAvailable", E::transaction_history_not_available, K::permanent,
       "the node's configuration"},
      {-32012, "ScanError", E::scan_error, K::permanent, "the scan was refused"},
      {-32013, "TransactionSignatureLenMismatch", E::transaction_signature_len_mismatch, K::permanent,
       "a malformed transaction"},
      {-32014, "BlockStatusNotAvailableYet", E::block_status_not_available_yet, K::transient,
       "available a little later"},
      {-32015, "UnsupportedTransactionVersion", E::unsupported_transaction_version, K::permanent,
       "the request lacks maxSupportedTransactionVersion"},
      {-32016, "MinContextSlotNotReached", E::min_context_slot_not_reached, K::transient,
       "the node is behind the slot asked for; checked before forwarding"},
      {-32017, "EpochRewardsPeriodActive", E::epoch_rewards_period_active, K::transient, "ends within the epoch"},
      {-32018, "SlotNotEpochBoundary", E::slot_not_epoch_boundary, K::permanent, "a wrong slot"},
      {-32019, "LongTermStorageUnreachable", E::long_term_storage_unreachable, K::transient,
       "storage unreachable: try again"},
  };
  return rows;
}

struct VariantRow {
  std::string_view name;
  int value;
  FailureKind kind;
};

// Every TransactionError variant: its stable value (Solana's index + 1) and verdict.
const std::vector<VariantRow>& transaction_rows() {
  using K = FailureKind;
  static const std::vector<VariantRow> rows = {
      {"AccountInUse", 1, K::transient}, {"AccountLoadedTwice", 2, K::permanent},
      {"AccountNotFound", 3, K::permanent}, {"ProgramAccountNotFound", 4, K::permanent},
      {"InsufficientFundsForFee", 5, K::permanent}, {"InvalidAccountForFee", 6, K::permanent},
      {"AlreadyProcessed", 7, K::in_doubt}, {"BlockhashNotFound", 8, K::transient},
      {"InstructionError", 9, K::permanent}, {"CallChainTooDeep", 10, K::permanent},
      {"MissingSignatureForFee", 11, K::permanent}, {"InvalidAccountIndex", 12, K::permanent},
      {"SignatureFailure", 13, K::permanent}, {"InvalidProgramForExecution", 14, K::permanent},
      {"SanitizeFailure", 15, K::permanent}, {"ClusterMaintenance", 16, K::transient},
      {"AccountBorrowOutstanding", 17, K::permanent}, {"WouldExceedMaxBlockCostLimit", 18, K::transient},
      {"UnsupportedVersion", 19, K::permanent}, {"InvalidWritableAccount", 20, K::permanent},
      {"WouldExceedMaxAccountCostLimit", 21, K::transient}, {"WouldExceedAccountDataBlockLimit", 22, K::transient},
      {"TooManyAccountLocks", 23, K::permanent}, {"AddressLookupTableNotFound", 24, K::permanent},
      {"InvalidAddressLookupTableOwner", 25, K::permanent}, {"InvalidAddressLookupTableData", 26, K::permanent},
      {"InvalidAddressLookupTableIndex", 27, K::permanent}, {"InvalidRentPayingAccount", 28, K::permanent},
      {"WouldExceedMaxVoteCostLimit", 29, K::transient}, {"WouldExceedAccountDataTotalLimit", 30, K::permanent},
      {"DuplicateInstruction", 31, K::permanent}, {"InsufficientFundsForRent", 32, K::permanent},
      {"MaxLoadedAccountsDataSizeExceeded", 33, K::permanent},
      {"InvalidLoadedAccountsDataSizeLimit", 34, K::permanent}, {"ResanitizationNeeded", 35, K::transient},
      {"ProgramExecutionTemporarilyRestricted", 36, K::transient}, {"UnbalancedTransaction", 37, K::permanent},
      {"ProgramCacheHitMaxLimit", 38, K::transient}, {"CommitCancelled", 39, K::transient},
  };
  return rows;
}

// Every InstructionError variant but Custom (26): stable value and verdict.
const std::vector<VariantRow>& instruction_rows() {
  using K = FailureKind;
  static const std::vector<VariantRow> rows = {
      {"GenericError", 1, K::permanent}, {"InvalidArgument", 2, K::permanent},
      {"InvalidInstructionData", 3, K::permanent}, {"InvalidAccountData", 4, K::permanent},
      {"AccountDataTooSmall", 5, K::permanent}, {"InsufficientFunds", 6, K::permanent},
      {"IncorrectProgramId", 7, K::permanent}, {"MissingRequiredSignature", 8, K::permanent},
      {"AccountAlreadyInitialized", 9, K::permanent}, {"UninitializedAccount", 10, K::permanent},
      {"UnbalancedInstruction", 11, K::permanent}, {"ModifiedProgramId", 12, K::permanent},
      {"ExternalAccountLamportSpend", 13, K::permanent}, {"ExternalAccountDataModified", 14, K::permanent},
      {"ReadonlyLamportChange", 15, K::permanent}, {"ReadonlyDataModified", 16, K::permanent},
      {"DuplicateAccountIndex", 17, K::permanent}, {"ExecutableModified", 18, K::permanent},
      {"RentEpochModified", 19, K::permanent}, {"NotEnoughAccountKeys", 20, K::permanent},
      {"AccountDataSizeChanged", 21, K::permanent}, {"AccountNotExecutable", 22, K::permanent},
      {"AccountBorrowFailed", 23, K::permanent}, {"AccountBorrowOutstanding", 24, K::permanent},
      {"DuplicateAccountOutOfSync", 25, K::permanent}, {"InvalidError", 27, K::permanent},
      {"ExecutableDataModified", 28, K::permanent}, {"ExecutableLamportChange", 29, K::permanent},
      {"ExecutableAccountNotRentExempt", 30, K::permanent}, {"UnsupportedProgramId", 31, K::permanent},
      {"CallDepth", 32, K::permanent}, {"MissingAccount", 33, K::permanent},
      {"ReentrancyNotAllowed", 34, K::permanent}, {"MaxSeedLengthExceeded", 35, K::permanent},
      {"InvalidSeeds", 36, K::permanent}, {"InvalidRealloc", 37, K::permanent},
      {"ComputationalBudgetExceeded", 38, K::transient}, {"PrivilegeEscalation", 39, K::permanent},
      {"ProgramEnvironmentSetupFailure", 40, K::permanent}, {"ProgramFailedToComplete", 41, K::permanent},
      {"ProgramFailedToCompile", 42, K::permanent}, {"Immutable", 43, K::permanent},
      {"IncorrectAuthority", 44, K::permanent}, {"BorshIoError", 45, K::permanent},
      {"AccountNotRentExempt", 46, K::permanent}, {"InvalidAccountOwner", 47, K::permanent},
      {"ArithmeticOverflow", 48, K::permanent}, {"UnsupportedSysvar", 49, K::permanent},
      {"IllegalOwner", 50, K::permanent}, {"MaxAccountsDataAllocationsExceeded", 51, K::permanent},
      {"MaxAccountsExceeded", 52, K::permanent}, {"MaxInstructionTraceLengthExceeded", 53, K::permanent},
      {"BuiltinProgramsMustConsumeComputeUnits", 54, K::permanent}, {"BailOut", 55, K::transient},
  };
  return rows;
}

struct JsonRow {
  const char* err;  // the `err` JSON as a node sends it
  error_code code;
  FailureKind kind;  // RpcErrorClassifier's verdict
  const char* why;
};

const std::vector<JsonRow>& json_rows() {
  using K = FailureKind;
  using exitguard::error;
  static const std::vector<JsonRow> rows = {
      {R"("BlockhashNotFound")", error::attempt_expired, K::transient,
       "the blockhash expired or is unknown: the attempt can never land"},
      {R"("AlreadyProcessed")", error::in_doubt, K::in_doubt, "an earlier copy was processed: it may have landed"},
      {R"("InsufficientFundsForFee")", error::insufficient_funds, K::permanent, "the fee payer is short"},
      {R"("AccountInUse")", transaction_error::account_in_use, K::transient, "a lock held by another transaction"},
      {R"("WouldExceedMaxBlockCostLimit")", transaction_error::would_exceed_max_block_cost_limit, K::transient,
       "this block is full: the next one may take it"},
      {R"("ClusterMaintenance")", transaction_error::cluster_maintenance, K::transient, "maintenance ends"},
      {R"("SignatureFailure")", transaction_error::signature_failure, K::permanent, "a bad signature"},
      {R"("SomeLaterVariant")", transaction_error::unrecognized, K::permanent,
       "unknown: a failed transaction did nothing"},
      // InstructionError with custom program errors
      {R"({"InstructionError":[3,{"Custom":6001}]})", error::slippage_exceeded, K::permanent,
       "Jupiter's 0x1771: escalate, do not retry at the same step"},
      {R"({"InstructionError":[2,{"Custom":1}]})", error::insufficient_funds, K::permanent,
       "SPL Token's InsufficientFunds"},
      {R"({"InstructionError":[0,{"Custom":0}]})", solana::make_custom_program_error(0), K::permanent,
       "an unmapped custom error: the program refused"},
      {R"({"InstructionError":[1,{"Custom":6005}]})", solana::make_custom_program_error(6005), K::permanent,
       "an unmapped custom error"},
      {R"({"InstructionError":[0,{"Custom":4294967295}]})", solana::make_custom_program_error(4294967295u),
       K::permanent, "the largest custom code"},
      {R"({"InstructionError":[0,{"Custom":-1}]})", instruction_error::unrecognized, K::permanent,
       "not a u32 custom code"},
      {R"({"InstructionError":[0,{"Custom":4294967296}]})", instruction_error::unrecognized, K::permanent,
       "not a u32 custom code"},
      // InstructionError with named instruction errors
      {R"({"InstructionError":[2,"InvalidAccountData"]})", instruction_error::invalid_account_data, K::permanent,
       "a property of the accounts"},
      {R"({"InstructionError":[0,"InsufficientFunds"]})", error::insufficient_funds, K::permanent,
       "the account's balance is too small"},
      {R"({"InstructionError":[4,"ComputationalBudgetExceeded"]})", instruction_error::computational_budget_exceeded,
       K::transient, "a fresh quote may route differently"},
      {R"({"InstructionError":[0,{"BorshIoError":"Unknown"}]})", instruction_error::borsh_io_error, K::permanent,
       "older nodes send BorshIoError with a message"},
      {R"({"InstructionError":[0,"BorshIoError"]})", instruction_error::borsh_io_error, K::permanent,
       "newer nodes without"},
      {R"({"InstructionError":[0,"SomeLaterInstructionError"]})", instruction_error::unrecognized, K::permanent,
       "unknown: still an instruction that failed"},
      {R"({"InstructionError":[256,"InvalidArgument"]})", transaction_error::instruction_error, K::permanent,
       "an instruction index beyond u8"},
      {R"({"InstructionError":"InvalidArgument"})", transaction_error::instruction_error, K::permanent,
       "not [index, error]"},
      {R"({"InstructionError":[0]})", transaction_error::instruction_error, K::permanent, "not [index, error]"},
      {R"("InstructionError")", transaction_error::instruction_error, K::permanent, "no payload"},
      {R"({"InstructionError":[0,42]})", instruction_error::unrecognized, K::permanent, "an unreadable error"},
      // Variants with a payload
      {R"({"DuplicateInstruction":0})", transaction_error::duplicate_instruction, K::permanent, "a tuple variant"},
      {R"({"InsufficientFundsForRent":{"account_index":2}})", transaction_error::insufficient_funds_for_rent,
       K::permanent, "a struct variant"},
      {R"({"ProgramExecutionTemporarilyRestricted":{"account_index":3}})",
       transaction_error::program_execution_temporarily_restricted, K::transient, "temporary by its name"},
      // Not Solana's shape
      {"42", transaction_error::unrecognized, K::permanent, "not a variant"},
      {"{}", transaction_error::unrecognized, K::permanent, "no variant"},
      {R"({"AccountInUse":null,"AccountNotFound":null})", transaction_error::unrecognized, K::permanent,
       "two variants"},
      {"[]", transaction_error::unrecognized, K::permanent, "an array"},
  };
  return rows;
}

struct ErrorObjectRow {
  const char* error_object;  // the JSON-RPC response's "error" member
  error_code code;
  FailureKind kind;
  const char* why;
};

const std::vector<ErrorObjectRow>& error_object_rows() {
  using K = FailureKind;
  using exitguard::error;
  static const std::vector<ErrorObjectRow> rows = {
      {R"({"code":-32002,"message":"Transaction simulation failed: Error processing Instruction 3: custom program error: 0x1771",
           "data":{"accounts":null,"err":{"InstructionError":[3,{"Custom":6001}]},"innerInstructions":null,
                   "logs":["Program JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4 invoke [1]",
                           "Program log: Error: SlippageToleranceExceeded",
                           "Program JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4 failed: custom program error: 0x1771"],
                   "replacementBlockhash":null,"returnData":null,"unitsConsumed":61234}})",
       error::slippage_exceeded, K::permanent, "a preflight slippage failure: escalate"},
      {R"({"code":-32002,"message":"Transaction simulation failed: Blockhash not found",
           "data":{"accounts":null,"err":"BlockhashNotFound","innerInstructions":null,"logs":[],
                   "replacementBlockhash":null,"returnData":null,"unitsConsumed":0}})",
       error::attempt_expired, K::transient, "a preflight BlockhashNotFound: never forwarded, never lands"},
      {R"({"code":-32002,"message":"Transaction simulation failed: This transaction has already been processed",
           "data":{"err":"AlreadyProcessed","logs":[]}})",
       error::in_doubt, K::in_doubt, "a copy was processed: query its status"},
      {R"({"code":-32002,"message":"Transaction simulation failed","data":{"err":null}})",
       make_json_rpc_error(-32002), K::permanent, "no err to read: the simulation failed, nothing was forwarded"},
      {R"({"code":-32002,"message":"Transaction simulation failed"})", make_json_rpc_error(-32002), K::permanent,
       "no data"},
      {R"({"code":-32005,"message":"Node is behind by 42 slots","data":{"numSlotsBehind":42}})",
       make_json_rpc_error(-32005), K::transient, "the node refused before forwarding"},
      {R"({"code":-32016,"message":"Minimum context slot has not been reached","data":{"contextSlot":123}})",
       make_json_rpc_error(-32016), K::transient, "checked before forwarding"},
      {R"({"code":-32003,"message":"Transaction signature verification failure"})", make_json_rpc_error(-32003),
       K::permanent, "refused before forwarding"},
      {R"({"code":-32602,"message":"invalid transaction: Transaction failed to sanitize accounts offsets correctly"})",
       make_json_rpc_error(-32602), K::permanent, "invalid params: not run"},
      {R"({"code":-32603,"message":"Internal error"})", make_json_rpc_error(-32603), K::in_doubt,
       "an internal error may come after the node acted"},
      {R"({"code":-32000,"message":"something a proxy says"})", make_json_rpc_error(-32000), K::in_doubt,
       "a server error Solana does not define"},
      {R"({"code":429,"message":"Too many requests for a specific RPC call"})", make_json_rpc_error(429),
       K::in_doubt, "an application code nobody defined for us: wrap the classifier to call it transient"},
      {R"("rate limited")", error::in_doubt, K::in_doubt, "not an error object: nothing readable"},
      {R"({"message":"no code"})", error::in_doubt, K::in_doubt, "no code"},
      {R"({"code":"-32002"})", error::in_doubt, K::in_doubt, "a code that is not an integer"},
      {R"({"code":-32002.0})", error::in_doubt, K::in_doubt, "a code that is not an integer"},
      {R"({"code":9999999999})", error::in_doubt, K::in_doubt, "a code beyond int"},
  };
  return rows;
}

std::vector<std::vector<std::string>> doc_rows(std::string_view heading) {
  const auto doc = std::filesystem::path(__FILE__).parent_path().parent_path() / "docs" / "transports.md";
  std::ifstream in(doc);
  INFO("reading " << doc.string());
  REQUIRE(in.is_open());
  auto trim = [](std::string_view v) {
    const auto b = v.find_first_not_of(" \t\r`");
    if (b == std::string_view::npos) return std::string{};
    return std::string(v.substr(b, v.find_last_not_of(" \t\r`") - b + 1));
  };
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::size_t level = 0;
  while (std::getline(in, line)) {
    if (line.starts_with('#')) {
      const auto hashes = line.find_first_not_of('#');
      if (level != 0 && hashes <= level) break;
      if (level == 0 && line.substr(hashes + 1) == heading) level = hashes;
      continue;
    }
    if (level == 0 || !line.starts_with('|')) continue;
    std::vector<std::string> cells;
    std::string_view rest(line);
    rest.remove_prefix(1);
    for (auto bar = rest.find('|'); bar != std::string_view::npos; bar = rest.find('|')) {
      cells.push_back(trim(rest.substr(0, bar)));
      rest.remove_prefix(bar + 1);
    }
    rows.push_back(std::move(cells));
  }
  REQUIRE(level != 0);
  return rows;
}

std::optional<FailureKind> kind_named(std::string_view name) {
  for (auto kind : {FailureKind::transient, FailureKind::permanent, FailureKind::in_doubt})
    if (exitguard::to_string(kind) == name) return kind;
  return std::nullopt;
}

}  // namespace

TEST_CASE("RpcErrorClassifier and its idempotent form are classifiers", "[solana]") {
  STATIC_REQUIRE(exitguard::Classifier<solana::RpcErrorClassifier>);
  STATIC_REQUIRE(exitguard::Classifier<solana::IdempotentRpcErrorClassifier>);
  STATIC_REQUIRE(std::is_nothrow_invocable_v<const solana::RpcErrorClassifier&, const error_code&>);
  STATIC_REQUIRE(boost::system::is_error_condition_enum<solana::rpc_error>::value);
  STATIC_REQUIRE(boost::system::is_error_code_enum<transaction_error>::value);
  STATIC_REQUIRE(boost::system::is_error_code_enum<instruction_error>::value);
  STATIC_REQUIRE(solana::rpc_error_name(-32005) == "NodeUnhealthy");
}

TEST_CASE("Solana RPC server errors: names, conditions and verdicts", "[solana][rpc]") {
  const auto row = GENERATE(from_range(rpc_rows()));
  INFO(row.code << " " << row.name << ": expected " << exitguard::to_string(row.kind) << " because " << row.why);
  const auto ec = make_json_rpc_error(row.code);
  CHECK(static_cast<int>(row.condition) == row.code);
  CHECK(solana::rpc_error_name(row.code) == row.name);
  CHECK(ec == row.condition);
  const auto other = static_cast<solana::rpc_error>(row.code == -32001 ? -32002 : -32001);
  CHECK(ec != other);
  CHECK(verdict(ec) == row.kind);
  const auto idempotent = row.kind == FailureKind::in_doubt ? FailureKind::transient : row.kind;
  CHECK(solana::IdempotentRpcErrorClassifier{}(ec) == idempotent);
  const boost::system::error_condition condition = row.condition;
  CHECK(condition.message() == "Solana RPC " + std::string(row.name) + " (" + std::to_string(row.code) + ")");
}

TEST_CASE("RPC conditions match JSON-RPC codes only", "[solana][rpc]") {
  CHECK(make_json_rpc_error(-32005) == solana::rpc_error::node_unhealthy);
  CHECK(make_json_rpc_error(-32004) != solana::rpc_error::node_unhealthy);
  CHECK(error_code(-32005, exitguard::http_category()) != solana::rpc_error::node_unhealthy);
  CHECK(error_code(-32005, boost::system::generic_category()) != solana::rpc_error::node_unhealthy);
  CHECK(solana::rpc_error_name(-32000).empty());
  CHECK(solana::rpc_error_name(-32020).empty());
  // Codes Solana does not define keep the JSON-RPC verdict.
  CHECK(verdict(make_json_rpc_error(-32000)) == FailureKind::in_doubt);
  CHECK(verdict(make_json_rpc_error(-32020)) == FailureKind::in_doubt);
  CHECK(verdict(make_json_rpc_error(-32601)) == FailureKind::permanent);
}

TEST_CASE("Every TransactionError variant: its code, name, message and verdict", "[solana][transaction]") {
  const auto row = GENERATE(from_range(transaction_rows()));
  INFO(row.name);
  const error_code own(row.value, solana::transaction_error_category());
  CHECK(solana::transaction_error_name(static_cast<transaction_error>(row.value)) == row.name);
  CHECK(own.message().starts_with(std::string(row.name) + ": "));
  CHECK(verdict(own) == row.kind);
  // Read from the JSON (payload variants by name alone): the three exitguard acts on
  // become its own codes, with the same verdict.
  const auto read = code_of("\"" + std::string(row.name) + "\"");
  if (row.name == "BlockhashNotFound")
    CHECK(read == exitguard::error::attempt_expired);
  else if (row.name == "AlreadyProcessed")
    CHECK(read == exitguard::error::in_doubt);
  else if (row.name == "InsufficientFundsForFee")
    CHECK(read == exitguard::error::insufficient_funds);
  else
    CHECK(read == own);
  CHECK(verdict(read) == row.kind);
  // What is in doubt is in doubt whichever classifier the user picked.
  if (row.kind == FailureKind::in_doubt) CHECK(exitguard::DefaultClassifier{}(read) == FailureKind::in_doubt);
}

TEST_CASE("Every InstructionError variant: its code, name, message and verdict", "[solana][instruction]") {
  const auto row = GENERATE(from_range(instruction_rows()));
  INFO(row.name);
  const error_code own(row.value, solana::instruction_error_category());
  CHECK(solana::instruction_error_name(static_cast<instruction_error>(row.value)) == row.name);
  CHECK(own.message().starts_with(std::string(row.name) + ": "));
  CHECK(verdict(own) == row.kind);
  const auto read = code_of(R"({"InstructionError":[1,")" + std::string(row.name) + "\"]}");
  CHECK(read == (row.name == "InsufficientFunds" ? error_code(exitguard::error::insufficient_funds) : own));
  CHECK(verdict(read) == row.kind);
}

TEST_CASE("Transaction errors in the JSON shapes nodes send", "[solana][json]") {
  const auto row = GENERATE(from_range(json_rows()));
  INFO(row.err << " -> " << row.code.category().name() << " " << row.code.value() << " (" << row.code.message()
                << "), " << exitguard::to_string(row.kind) << " because " << row.why);
  const auto ec = code_of(row.err);
  CHECK(ec == row.code);
  CHECK(verdict(ec) == row.kind);
  if (row.kind == FailureKind::in_doubt) CHECK(exitguard::DefaultClassifier{}(ec) == FailureKind::in_doubt);
}

TEST_CASE("JSON-RPC error objects: a preflight failure is the transaction error it carries", "[solana][json]") {
  const auto row = GENERATE(from_range(error_object_rows()));
  INFO(row.error_object << " -> " << row.code.message() << ", " << exitguard::to_string(row.kind) << " because "
                        << row.why);
  const auto ec = solana::rpc_error_code(json::parse(row.error_object));
  CHECK(ec == row.code);
  CHECK(verdict(ec) == row.kind);
}

TEST_CASE("A null err is success: an empty code", "[solana][json]") {
  CHECK_FALSE(code_of("null"));
  // getSignatureStatuses and getTransaction, as a venue reads them.
  const auto statuses = json::parse(R"({"jsonrpc":"2.0","result":{"context":{"slot":82},"value":[
      {"slot":72,"confirmations":10,"err":null,"status":{"Ok":null},"confirmationStatus":"confirmed"},
      {"slot":73,"confirmations":null,"err":{"InstructionError":[2,{"Custom":6001}]},
       "status":{"Err":{"InstructionError":[2,{"Custom":6001}]}},"confirmationStatus":"finalized"}]},"id":1})");
  const auto& value = statuses.at("result").at("value").as_array();
  CHECK_FALSE(solana::transaction_error_code(value.at(0).at("err")));
  CHECK(solana::transaction_error_code(value.at(1).at("err")) == exitguard::error::slippage_exceeded);

  const auto transaction = json::parse(R"({"jsonrpc":"2.0","result":{"slot":430,"blockTime":1700000000,
      "meta":{"err":{"InstructionError":[1,"InvalidAccountData"]},"fee":5000,"preBalances":[1,2],"postBalances":[1,2],
              "status":{"Err":{"InstructionError":[1,"InvalidAccountData"]}}},"transaction":{}},"id":1})");
  CHECK(solana::transaction_error_code(transaction.at("result").at("meta").at("err")) ==
        instruction_error::invalid_account_data);
}

TEST_CASE("The custom error map is the user's: by code, optionally by instruction, last rule wins", "[solana][custom]") {
  const error_code amm_slippage = exitguard::error::slippage_exceeded;
  solana::CustomErrorMap map;
  map.add(30, amm_slippage);                                         // any instruction
  map.add(6001, 2, exitguard::make_error_code(exitguard::error::slippage_exceeded));  // only the swap at index 2

  CHECK(code_of(R"({"InstructionError":[0,{"Custom":30}]})", map) == exitguard::error::slippage_exceeded);
  CHECK(code_of(R"({"InstructionError":[2,{"Custom":6001}]})", map) == exitguard::error::slippage_exceeded);
  // 6001 raised by another instruction is another program's error.
  CHECK(code_of(R"({"InstructionError":[1,{"Custom":6001}]})", map) == solana::make_custom_program_error(6001));
  // This map replaces the default one: SPL Token's 1 is not in it.
  CHECK(code_of(R"({"InstructionError":[0,{"Custom":1}]})", map) == solana::make_custom_program_error(1));

  // A rule for the instruction wins over one for any; among equals the last added wins.
  map.add(30, exitguard::make_error_code(exitguard::error::insufficient_funds));
  CHECK(code_of(R"({"InstructionError":[0,{"Custom":30}]})", map) == exitguard::error::insufficient_funds);
  map.add(30, 0, exitguard::make_error_code(exitguard::error::exit_rejected));
  map.add(30, exitguard::make_error_code(exitguard::error::venue_unavailable));
  CHECK(code_of(R"({"InstructionError":[0,{"Custom":30}]})", map) == exitguard::error::exit_rejected);
  CHECK(code_of(R"({"InstructionError":[5,{"Custom":30}]})", map) == exitguard::error::venue_unavailable);
  CHECK(map.rules().size() == 5);

  // Extending the default map keeps its rules.
  solana::CustomErrorMap extended = solana::default_custom_errors();
  extended.add(30, amm_slippage);
  CHECK(code_of(R"({"InstructionError":[0,{"Custom":1}]})", extended) == exitguard::error::insufficient_funds);
  CHECK(code_of(R"({"InstructionError":[0,{"Custom":30}]})", extended) == exitguard::error::slippage_exceeded);

  // A rule without an error would read as success: refused.
  CHECK_THROWS_AS(map.add(7, error_code{}), std::invalid_argument);
  CHECK_THROWS_AS((solana::CustomErrorMap{{7, std::nullopt, error_code{}}}), std::invalid_argument);
  CHECK(map.rules().size() == 5);

  // The preflight helper takes the map too.
  const auto preflight = json::parse(R"({"code":-32002,"message":"Transaction simulation failed",
      "data":{"err":{"InstructionError":[0,{"Custom":30}]}}})");
  CHECK(solana::rpc_error_code(preflight, extended) == exitguard::error::slippage_exceeded);
  CHECK(solana::rpc_error_code(preflight) == solana::make_custom_program_error(30));
}

TEST_CASE("The default custom errors", "[solana][custom]") {
  const auto& rules = solana::default_custom_errors().rules();
  REQUIRE(rules.size() == 2);
  CHECK(solana::default_custom_errors().find(6001, 0) == error_code(exitguard::error::slippage_exceeded));
  CHECK(solana::default_custom_errors().find(6001, 255) == error_code(exitguard::error::slippage_exceeded));
  CHECK(solana::default_custom_errors().find(1, 3) == error_code(exitguard::error::insufficient_funds));
  CHECK(solana::default_custom_errors().find(6002, 0) == std::nullopt);
  CHECK(&solana::default_custom_errors() == &solana::default_custom_errors());
}

TEST_CASE("Solana categories: stable names, fixed ids, messages", "[solana]") {
  CHECK(std::string_view(solana::rpc_error_category().name()) == "exitguard.solana.rpc");
  CHECK(std::string_view(solana::transaction_error_category().name()) == "exitguard.solana.transaction");
  CHECK(std::string_view(solana::instruction_error_category().name()) == "exitguard.solana.instruction");
  CHECK(std::string_view(solana::program_error_category().name()) == "exitguard.solana.program");
  CHECK(solana::detail::rpc_condition_category_impl{} == solana::rpc_error_category());
  CHECK(solana::detail::transaction_category_impl{} == solana::transaction_error_category());
  CHECK(solana::detail::instruction_category_impl{} == solana::instruction_error_category());
  CHECK(solana::detail::program_category_impl{} == solana::program_error_category());

  CHECK(error_code(transaction_error::blockhash_not_found).message() ==
        "BlockhashNotFound: the blockhash is unknown or expired");
  CHECK(error_code(transaction_error::unrecognized).message() == "a transaction error this version cannot read");
  CHECK(error_code(instruction_error::invalid_account_data).message() == "InvalidAccountData: invalid account data");
  CHECK(error_code(instruction_error::unrecognized).message() == "an instruction error this version cannot read");
  CHECK(error_code(26, solana::instruction_error_category()).message() == "unknown Solana instruction error 26");
  CHECK(solana::make_custom_program_error(6001).message() == "custom program error 0x1771 (6001)");
  CHECK(solana::make_custom_program_error(0).message() == "custom program error 0x0 (0)");
  CHECK(solana::make_custom_program_error(4294967295u).message() == "custom program error 0xffffffff (4294967295)");
  CHECK(solana::make_custom_program_error(0));  // never an empty code
  CHECK(solana::custom_program_error_of(solana::make_custom_program_error(0)) == 0u);
  CHECK(solana::custom_program_error_of(solana::make_custom_program_error(6001)) == 6001u);
  CHECK(solana::custom_program_error_of(make_json_rpc_error(6001)) == std::nullopt);
  CHECK(solana::make_custom_program_error(6001) != solana::make_custom_program_error(6002));
  CHECK(error_code(transaction_error::account_in_use) != error_code(instruction_error::generic_error));
  CHECK(solana::transaction_error_name(transaction_error::unrecognized).empty());
  CHECK(solana::instruction_error_name(instruction_error::unrecognized).empty());
}

TEST_CASE("RpcErrorClassifier knows what TransportClassifier knows, then its fallback", "[solana]") {
  namespace aerr = boost::asio::error;
  CHECK(verdict(boost::beast::error::timeout) == FailureKind::in_doubt);
  CHECK(verdict(exitguard::make_http_status_error(429)) == FailureKind::transient);
  CHECK(verdict(exitguard::transport_error::connect_failed) == FailureKind::transient);
  CHECK(verdict(aerr::connection_refused) == FailureKind::transient);
  // The real Asio SSL codes (this test links OpenSSL), recognised by category name.
  CHECK(verdict(boost::asio::ssl::error::stream_truncated) == FailureKind::in_doubt);
  CHECK(verdict(error_code(0x0A000126, boost::asio::error::get_ssl_category())) == FailureKind::in_doubt);

  struct ExchangeFallback {
    FailureKind operator()(const error_code& ec) const noexcept {
      return ec == boost::system::errc::permission_denied ? FailureKind::transient : FailureKind::permanent;
    }
  };
  const solana::BasicRpcErrorClassifier classify(ExchangeFallback{});
  CHECK(classify(boost::system::errc::make_error_code(boost::system::errc::permission_denied)) ==
        FailureKind::transient);
  CHECK(classify(make_json_rpc_error(-32005)) == FailureKind::transient);
  CHECK(classify(solana::make_custom_program_error(6005)) == FailureKind::permanent);

  const solana::IdempotentRpcErrorClassifier query;
  CHECK(query(make_json_rpc_error(-32603)) == FailureKind::transient);
  CHECK(query(exitguard::error::in_doubt) == FailureKind::transient);
  CHECK(query(make_json_rpc_error(-32001)) == FailureKind::permanent);
}

TEST_CASE("docs/transports.md's Solana tables say what the code does", "[solana][docs]") {
  SECTION("RPC server errors") {
    std::map<int, std::string> documented;
    for (const auto& cells : doc_rows("Solana RPC server errors")) {
      if (cells.size() < 4 || !cells[0].starts_with("-320")) continue;
      const int code = std::stoi(cells[0]);
      INFO("row for " << code);
      const auto kind = kind_named(cells[2]);
      REQUIRE(kind);
      CHECK(*kind == verdict(make_json_rpc_error(code)));
      CHECK(cells[1] == solana::rpc_error_name(code));
      CHECK_FALSE(cells[3].empty());
      CHECK(documented.emplace(code, cells[1]).second);
    }
    for (const auto& row : rpc_rows()) CHECK(documented.contains(row.code));
  }
  SECTION("transaction errors") {
    std::map<std::string, int> documented;
    for (const auto& cells : doc_rows("Solana transaction errors")) {
      if (cells.size() < 4 || cells[0].empty()) continue;
      INFO("row for " << cells[0]);
      const auto kind = kind_named(cells[2]);
      if (!kind) continue;  // the header row
      CHECK(*kind == verdict(code_of("\"" + cells[0] + "\"")));
      CHECK_FALSE(cells[3].empty());
      CHECK(documented.emplace(cells[0], 0).second);
    }
    for (const auto& row : transaction_rows()) {
      INFO(row.name << " must have a row");
      CHECK(documented.contains(std::string(row.name)));
    }
  }
  SECTION("instruction errors") {
    std::map<std::string, int> documented;
    for (const auto& cells : doc_rows("Solana instruction errors")) {
      if (cells.size() < 4 || cells[0].empty()) continue;
      INFO("row for " << cells[0]);
      const auto kind = kind_named(cells[2]);
      if (!kind) continue;
      CHECK(*kind == verdict(code_of(R"({"InstructionError":[0,")" + cells[0] + "\"]}")));
      CHECK_FALSE(cells[3].empty());
      CHECK(documented.emplace(cells[0], 0).second);
    }
    for (const auto& row : instruction_rows()) {
      INFO(row.name << " must have a row");
      CHECK(documented.contains(std::string(row.name)));
    }
  }
}
