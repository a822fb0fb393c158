// Wire-level helpers of the localnet: transaction parsing, ed25519 signature checks,
// Solana's error JSON and messages, token-account parsing, fees and JSON with u64s.
// Pure functions, no state; safe to call from anywhere in the (single-threaded) server.

import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import * as kit from '@solana/kit';

const require = createRequire(import.meta.url);
// The native classes, for instanceof on LiteSVM's results (index.js does not re-export them).
const native = require('litesvm/dist/internal.js');

export const SYSTEM_PROGRAM = '11111111111111111111111111111111';
export const COMPUTE_BUDGET_PROGRAM = 'ComputeBudget111111111111111111111111111111';
export const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
export const TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
export const LAMPORTS_PER_SIGNATURE = 5000n;

const base58Encoder = kit.getBase58Encoder();
const base58Decoder = kit.getBase58Decoder();
export const base58ToBytes = (text) => base58Encoder.encode(text);
export const bytesToBase58 = (bytes) => base58Decoder.decode(bytes);

// JSON with exact u64s: BigInt values are written as bare integers (lamports, rentEpoch).
export function stringifyJson(value) {
  const marked = JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? `\u0000big:${v}` : v));
  return marked.replace(/"\\u0000big:(\d+)"/g, '$1');
}

// Solana's compact-u16 length prefix.
function readShortVec(bytes, offset) {
  let value = 0;
  for (let shift = 0, i = 0; i < 3; i += 1, shift += 7) {
    if (offset + i >= bytes.length) throw new Error('truncated length prefix');
    const b = bytes[offset + i];
    value |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value, offset + i + 1];
  }
  throw new Error('length prefix too long');
}

// A transaction that does not decode or sanitize. A plain value; nothing to cancel.
export class InvalidTransaction extends Error {}

// Decodes a wire transaction into what the server needs: the kit Transaction (for
// LiteSVM), the raw signatures in order, the compiled message and its static keys.
export function parseWireTransaction(bytes) {
  let kitTransaction;
  let message;
  let signatures;
  try {
    const [count, start] = readShortVec(bytes, 0);
    signatures = [];
    for (let i = 0; i < count; i += 1) {
      const sig = bytes.slice(start + 64 * i, start + 64 * (i + 1));
      if (sig.length !== 64) throw new Error('truncated signatures');
      signatures.push(sig);
    }
    kitTransaction = kit.getTransactionDecoder().decode(bytes);
    message = kit.getCompiledTransactionMessageDecoder().decode(kitTransaction.messageBytes);
  } catch (e) {
    throw new InvalidTransaction(`failed to deserialize transaction: ${e.message}`);
  }
  const header = message.header;
  const keys = message.staticAccounts;
  if (signatures.length === 0 || signatures.length !== header.numSignerAccounts || keys.length < header.numSignerAccounts) {
    throw new InvalidTransaction('Transaction failed to sanitize accounts offsets correctly');
  }
  for (const ix of message.instructions) {
    const lookupCount = (message.addressTableLookups ?? [])
      .reduce((n, l) => n + l.writableIndexes.length + l.readonlyIndexes.length, 0);
    const maxIndex = keys.length + lookupCount;
    if (ix.programAddressIndex >= maxIndex || (ix.accountIndices ?? []).some((i) => i >= maxIndex)) {
      throw new InvalidTransaction('Transaction failed to sanitize accounts offsets correctly');
    }
  }
  return {
    bytes,
    kitTransaction,
    message,
    signatures,
    signature: bytesToBase58(signatures[0]),
    signatureStrings: signatures.map(bytesToBase58),
    recentBlockhash: message.lifetimeToken,
    version: message.version,
  };
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// True when every required signature is a valid ed25519 signature of the message.
export function verifySignatures(parsed) {
  const messageBytes = Buffer.from(parsed.kitTransaction.messageBytes);
  return parsed.signatures.every((sig, i) => {
    const publicKey = crypto.createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(base58ToBytes(parsed.message.staticAccounts[i]))]),
      format: 'der',
      type: 'spki',
    });
    return crypto.verify(null, messageBytes, publicKey, Buffer.from(sig));
  });
}

// Index layout of a message: which keys are writable (static keys first, then loaded).
export function isWritableIndex(parsed, index, loaded) {
  const h = parsed.message.header;
  const staticCount = parsed.message.staticAccounts.length;
  if (index < h.numSignerAccounts) return index < h.numSignerAccounts - h.numReadonlySignerAccounts;
  if (index < staticCount) return index < staticCount - h.numReadonlyNonSignerAccounts;
  return index - staticCount < loaded.writable.length;
}

// The agave nonce derivation: DurableNonce::from_blockhash.
export function durableNonceFromBlockhash(blockhash) {
  const digest = crypto.createHash('sha256').update('DURABLE_NONCE').update(base58ToBytes(blockhash)).digest();
  return bytesToBase58(digest);
}

// A System-program nonce account (Versions::Current, State::Initialized) or null.
export const NONCE_ACCOUNT_SIZE = 80;
export function parseNonceAccount(account) {
  if (!account || account.owner !== SYSTEM_PROGRAM || account.data.length !== NONCE_ACCOUNT_SIZE) return null;
  const view = new DataView(account.data.buffer, account.data.byteOffset, account.data.byteLength);
  if (view.getUint32(0, true) !== 1 || view.getUint32(4, true) !== 1) return null;
  return {
    authority: bytesToBase58(account.data.slice(8, 40)),
    nonce: bytesToBase58(account.data.slice(40, 72)),
    lamportsPerSignature: view.getBigUint64(72, true),
  };
}
export function withDurableNonce(data, nonce) {
  const out = Uint8Array.from(data);
  out.set(base58ToBytes(nonce), 40);
  new DataView(out.buffer).setBigUint64(72, LAMPORTS_PER_SIGNATURE, true);
  return out;
}

// System instruction discriminators (u32 little-endian).
export const SYSTEM_ADVANCE_NONCE = 4;
export const SYSTEM_INITIALIZE_NONCE = 6;
export function systemInstructionKind(ix, keys) {
  if (keys[ix.programAddressIndex] !== SYSTEM_PROGRAM || !ix.data || ix.data.length < 4) return -1;
  return new DataView(ix.data.buffer, ix.data.byteOffset, ix.data.byteLength).getUint32(0, true);
}

// Token accounts: SPL Token (165 bytes) or Token-2022 (165 + extensions, AccountType 2).
export function parseTokenAccount(account) {
  if (!account || (account.owner !== TOKEN_PROGRAM && account.owner !== TOKEN_2022_PROGRAM)) return null;
  const d = account.data;
  if (d.length < 165 || (d.length > 165 && d[165] !== 2)) return null;
  if (d[108] === 0) return null; // AccountState::Uninitialized
  return {
    mint: bytesToBase58(d.slice(0, 32)),
    owner: bytesToBase58(d.slice(32, 64)),
    amount: new DataView(d.buffer, d.byteOffset, d.byteLength).getBigUint64(64, true),
    programId: account.owner,
  };
}
export function parseMintDecimals(account) {
  if (!account || (account.owner !== TOKEN_PROGRAM && account.owner !== TOKEN_2022_PROGRAM)) return null;
  if (account.data.length < 82 || account.data[45] !== 1) return null; // is_initialized
  return account.data[44];
}

// Solana's UiTokenAmount.
export function uiTokenAmount(amount, decimals) {
  const digits = amount.toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '');
  const uiAmountString = fraction.length > 0 ? `${whole}.${fraction}` : whole;
  return { amount: amount.toString(), decimals, uiAmount: Number(uiAmountString), uiAmountString };
}

// Fee as the runtime charges it: 5000 per signature plus the prioritization fee
// ceil(price * limit / 1e6), the limit defaulting to 3000 CU per builtin and
// 200000 per other instruction, capped at 1.4M.
const BUILTIN_PROGRAMS = new Set([
  SYSTEM_PROGRAM, COMPUTE_BUDGET_PROGRAM,
  'AddressLookupTab1e1111111111111111111111111',
  'Stake11111111111111111111111111111111111111',
  'Vote111111111111111111111111111111111111111',
  'Config1111111111111111111111111111111111111',
  'BPFLoaderUpgradeab1e11111111111111111111111',
  'BPFLoader2111111111111111111111111111111111',
  'BPFLoader1111111111111111111111111111111111',
  'LoaderV411111111111111111111111111111111111',
]);
export function transactionFee(parsed, keys) {
  let price = 0n;
  let limit = null;
  let defaultLimit = 0n;
  for (const ix of parsed.message.instructions) {
    const program = keys[ix.programAddressIndex];
    const data = ix.data ?? new Uint8Array();
    if (program === COMPUTE_BUDGET_PROGRAM && data.length > 0) {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      if (data[0] === 2 && data.length >= 5) limit = BigInt(view.getUint32(1, true));
      if (data[0] === 3 && data.length >= 9) price = view.getBigUint64(1, true);
    }
    defaultLimit += BUILTIN_PROGRAMS.has(program) ? 3000n : 200000n;
  }
  let units = limit ?? defaultLimit;
  if (units > 1400000n) units = 1400000n;
  const priority = (price * units + 999999n) / 1000000n;
  return LAMPORTS_PER_SIGNATURE * BigInt(parsed.signatures.length) + priority;
}

// ---------------------------------------------------------------------------
// Errors: LiteSVM's result objects -> Solana's JSON (serde of TransactionError)
// and Display text (what RPC messages embed). The name tables follow the
// declaration order of the enums in litesvm's internal.d.ts (agave's order).
// ---------------------------------------------------------------------------
const TRANSACTION_ERROR_NAMES = [
  'AccountInUse', 'AccountLoadedTwice', 'AccountNotFound', 'ProgramAccountNotFound',
  'InsufficientFundsForFee', 'InvalidAccountForFee', 'AlreadyProcessed', 'BlockhashNotFound',
  'CallChainTooDeep', 'MissingSignatureForFee', 'InvalidAccountIndex', 'SignatureFailure',
  'InvalidProgramForExecution', 'SanitizeFailure', 'ClusterMaintenance', 'AccountBorrowOutstanding',
  'WouldExceedMaxBlockCostLimit', 'UnsupportedVersion', 'InvalidWritableAccount',
  'WouldExceedMaxAccountCostLimit', 'WouldExceedAccountDataBlockLimit', 'TooManyAccountLocks',
  'AddressLookupTableNotFound', 'InvalidAddressLookupTableOwner', 'InvalidAddressLookupTableData',
  'InvalidAddressLookupTableIndex', 'InvalidRentPayingAccount', 'WouldExceedMaxVoteCostLimit',
  'WouldExceedAccountDataTotalLimit', 'MaxLoadedAccountsDataSizeExceeded', 'ResanitizationNeeded',
  'InvalidLoadedAccountsDataSizeLimit', 'UnbalancedTransaction', 'ProgramCacheHitMaxLimit', 'CommitCancelled',
];
const INSTRUCTION_ERROR_NAMES = [
  'GenericError', 'InvalidArgument', 'InvalidInstructionData', 'InvalidAccountData', 'AccountDataTooSmall',
  'InsufficientFunds', 'IncorrectProgramId', 'MissingRequiredSignature', 'AccountAlreadyInitialized',
  'UninitializedAccount', 'UnbalancedInstruction', 'ModifiedProgramId', 'ExternalAccountLamportSpend',
  'ExternalAccountDataModified', 'ReadonlyLamportChange', 'ReadonlyDataModified', 'DuplicateAccountIndex',
  'ExecutableModified', 'RentEpochModified', 'NotEnoughAccountKeys', 'AccountDataSizeChanged',
  'AccountNotExecutable', 'AccountBorrowFailed', 'AccountBorrowOutstanding', 'DuplicateAccountOutOfSync',
  'InvalidError', 'ExecutableDataModified', 'ExecutableLamportChange', 'ExecutableAccountNotRentExempt',
  'UnsupportedProgramId', 'CallDepth', 'MissingAccount', 'ReentrancyNotAllowed', 'MaxSeedLengthExceeded',
  'InvalidSeeds', 'InvalidRealloc', 'ComputationalBudgetExceeded', 'PrivilegeEscalation',
  'ProgramEnvironmentSetupFailure', 'ProgramFailedToComplete', 'ProgramFailedToCompile', 'Immutable',
  'IncorrectAuthority', 'AccountNotRentExempt', 'InvalidAccountOwner', 'ArithmeticOverflow',
  'UnsupportedSysvar', 'IllegalOwner', 'MaxAccountsDataAllocationsExceeded', 'MaxAccountsExceeded',
  'MaxInstructionTraceLengthExceeded', 'BuiltinProgramsMustConsumeComputeUnits', 'BorshIoError',
];

function instructionErrorJson(inner) {
  if (typeof inner === 'number') return INSTRUCTION_ERROR_NAMES[inner] ?? `InstructionError${inner}`;
  if (inner instanceof native.InstructionErrorCustom) return { Custom: inner.code };
  if (inner instanceof native.InstructionErrorBorshIo) return { BorshIoError: inner.msg };
  throw new Error(`unknown LiteSVM instruction error ${inner}`);
}

export function transactionErrorJson(err) {
  if (typeof err === 'number') return TRANSACTION_ERROR_NAMES[err] ?? `TransactionError${err}`;
  if (err instanceof native.TransactionErrorInstructionError) return { InstructionError: [err.index, instructionErrorJson(err.err())] };
  if (err instanceof native.TransactionErrorDuplicateInstruction) return { DuplicateInstruction: err.index };
  if (err instanceof native.TransactionErrorInsufficientFundsForRent) return { InsufficientFundsForRent: { account_index: err.accountIndex } };
  if (err instanceof native.TransactionErrorProgramExecutionTemporarilyRestricted) {
    return { ProgramExecutionTemporarilyRestricted: { account_index: err.accountIndex } };
  }
  throw new Error(`unknown LiteSVM transaction error ${err}`);
}

// Errors that happen after the transaction was loaded and charged: the leader commits
// such a transaction (fee taken, err recorded). Any other error keeps it out of blocks.
export function isCommittedError(errJson) {
  return typeof errJson === 'object' && errJson !== null
    && ('InstructionError' in errJson || 'InsufficientFundsForRent' in errJson
        || 'ProgramExecutionTemporarilyRestricted' in errJson);
}

const INSTRUCTION_ERROR_TEXT = {
  GenericError: 'generic instruction error',
  InvalidArgument: 'invalid program argument',
  InvalidInstructionData: 'invalid instruction data',
  InvalidAccountData: 'invalid account data for instruction',
  AccountDataTooSmall: 'account data too small for instruction',
  InsufficientFunds: 'insufficient funds for instruction',
  IncorrectProgramId: 'incorrect program id for instruction',
  MissingRequiredSignature: 'missing required signature for instruction',
  AccountAlreadyInitialized: 'instruction requires an uninitialized account',
  UninitializedAccount: 'instruction requires an initialized account',
  UnbalancedInstruction: 'sum of account balances before and after instruction do not match',
  ModifiedProgramId: 'instruction illegally modified the program id of an account',
  ExternalAccountLamportSpend: 'instruction spent from the balance of an account it does not own',
  ExternalAccountDataModified: 'instruction modified data of an account it does not own',
  ReadonlyLamportChange: 'instruction changed the balance of a read-only account',
  ReadonlyDataModified: 'instruction modified data of a read-only account',
  DuplicateAccountIndex: 'instruction contains duplicate accounts',
  NotEnoughAccountKeys: 'insufficient account keys for instruction',
  AccountNotExecutable: 'instruction expected an executable account',
  UnsupportedProgramId: 'Unsupported program id',
  MissingAccount: 'An account required by the instruction is missing',
  ComputationalBudgetExceeded: 'Computational budget exceeded',
  PrivilegeEscalation: 'Cross-program invocation with unauthorized signer or writable account',
  ProgramFailedToComplete: 'Program failed to complete',
  IncorrectAuthority: 'Incorrect authority provided',
  AccountNotRentExempt: 'An account does not have enough lamports to be rent-exempt',
  InvalidAccountOwner: 'Invalid account owner',
  ArithmeticOverflow: 'Program arithmetic overflowed',
  IllegalOwner: 'Provided owner is not allowed',
};
const TRANSACTION_ERROR_TEXT = {
  AccountInUse: 'Account in use',
  AccountLoadedTwice: 'Account loaded twice',
  AccountNotFound: 'Attempt to debit an account but found no record of a prior credit.',
  ProgramAccountNotFound: 'Attempt to load a program that does not exist',
  InsufficientFundsForFee: 'Insufficient funds for fee',
  InvalidAccountForFee: 'This account may not be used to pay transaction fees',
  AlreadyProcessed: 'This transaction has already been processed',
  BlockhashNotFound: 'Blockhash not found',
  MissingSignatureForFee: 'Transaction requires a fee but has no signature present',
  InvalidAccountIndex: 'Transaction contains an invalid account reference',
  SignatureFailure: 'Transaction did not pass signature verification',
  InvalidProgramForExecution: 'This program may not be used for executing instructions',
  SanitizeFailure: 'Transaction failed to sanitize accounts offsets correctly',
  UnsupportedVersion: 'Transaction version is unsupported',
  InvalidWritableAccount: 'Transaction loads a writable account that cannot be written',
  TooManyAccountLocks: 'Transaction locked too many accounts',
  AddressLookupTableNotFound: "Transaction loads an address table account that doesn't exist",
  InvalidRentPayingAccount: 'Transaction leaves an account with a lower balance than rent-exempt minimum',
};

// Display text of a TransactionError JSON value, as agave formats it.
export function transactionErrorText(errJson) {
  if (typeof errJson === 'string') return TRANSACTION_ERROR_TEXT[errJson] ?? errJson;
  if ('InstructionError' in errJson) {
    const [index, inner] = errJson.InstructionError;
    let text;
    if (typeof inner === 'string') text = INSTRUCTION_ERROR_TEXT[inner] ?? inner;
    else if ('Custom' in inner) text = `custom program error: 0x${inner.Custom.toString(16)}`;
    else text = `Failed to serialize or deserialize account data: ${inner.BorshIoError}`;
    return `Error processing Instruction ${index}: ${text}`;
  }
  if ('DuplicateInstruction' in errJson) {
    return `Transaction contains a duplicate instruction (${errJson.DuplicateInstruction}) that is not allowed`;
  }
  if ('InsufficientFundsForRent' in errJson) {
    return `Transaction results in an account (${errJson.InsufficientFundsForRent.account_index}) with insufficient funds for rent`;
  }
  const [name] = Object.keys(errJson);
  return name;
}

// LiteSVM result -> { err (JSON or null), meta } where meta is its TransactionMetadata.
export function unpackResult(result) {
  if (result instanceof native.FailedTransactionMetadata) {
    return { err: transactionErrorJson(result.err()), meta: result.meta() };
  }
  return { err: null, meta: typeof result.meta === 'function' ? result.meta() : result };
}

export function innerInstructionsJson(meta) {
  return meta.innerInstructions()
    .map((list, index) => ({
      index,
      instructions: list.map((inner) => {
        const ix = inner.instruction();
        return {
          programIdIndex: ix.programIdIndex(),
          accounts: Array.from(ix.accounts()),
          data: bytesToBase58(ix.data()),
          stackHeight: inner.stackHeight(),
        };
      }),
    }))
    .filter((entry) => entry.instructions.length > 0);
}

export function returnDataJson(meta) {
  const rd = meta.returnData();
  const data = rd.data();
  if (data.length === 0) return null;
  return { programId: bytesToBase58(rd.programId()), data: [Buffer.from(data).toString('base64'), 'base64'] };
}
