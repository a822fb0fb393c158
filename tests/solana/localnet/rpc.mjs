// RpcMethods: the JSON-RPC methods of the localnet — Solana's own (request and
// response shapes as a real node gives them) and the exitguard_* control methods.
// Each method takes the params array and returns the result or throws RpcError;
// sendTransaction may also ask the server to never answer (the loseSendAnswers fault).
// Runs on the server's event loop only; exitguard_setup is the one method that
// awaits (key generation and signing are async in @solana/kit) and it is not
// cancellable: a client that gives up does not stop a setup half-way.

import * as kit from '@solana/kit';

import { RpcError, normalizeCommitment } from './chain.mjs';
import {
  InvalidTransaction,
  base58ToBytes,
  bytesToBase58,
  parseTokenAccount,
  parseWireTransaction,
  transactionErrorText,
  uiTokenAmount,
  verifySignatures,
} from './codec.mjs';
import { FaultsError } from './faults.mjs';

const U64_MAX = 18446744073709551615n;
const MAX_SIGNATURE_STATUSES = 256;
const MAX_ADVANCE_SLOTS = 100000;

function invalidParams(detail) { return new RpcError(-32602, `Invalid params: ${detail}`); }

function configAt(params, index) {
  const c = params[index];
  if (c === undefined || c === null) return {};
  if (typeof c !== 'object' || Array.isArray(c)) throw invalidParams('expected a configuration object');
  return c;
}

function addressParam(value, what) {
  if (typeof value !== 'string') throw invalidParams(`${what} must be a base58 string`);
  try {
    return kit.address(value);
  } catch {
    throw invalidParams(`${what} is not a valid public key: ${value}`);
  }
}

function u64Param(value, what) {
  let n;
  try {
    n = BigInt(value);
  } catch {
    throw invalidParams(`${what} must be an unsigned integer`);
  }
  if ((typeof value !== 'string' && typeof value !== 'number') || n < 0n || n > U64_MAX) {
    throw invalidParams(`${what} must be an unsigned 64-bit integer`);
  }
  return n;
}

function decodeTransactionParam(params) {
  const encoded = params[0];
  const config = configAt(params, 1);
  const encoding = config.encoding ?? 'base58';
  if (typeof encoded !== 'string') throw invalidParams('the transaction must be an encoded string');
  let bytes;
  if (encoding === 'base64') bytes = new Uint8Array(Buffer.from(encoded, 'base64'));
  else if (encoding === 'base58') {
    try {
      bytes = base58ToBytes(encoded);
    } catch {
      throw invalidParams('invalid base58 transaction');
    }
  } else throw invalidParams(`unsupported encoding: ${encoding}. Supported encodings: base58, base64`);
  try {
    return { parsed: parseWireTransaction(bytes), config };
  } catch (e) {
    if (e instanceof InvalidTransaction) throw new RpcError(-32602, `invalid transaction: ${e.message}`);
    throw e;
  }
}

function preflightFailure(err, logs, unitsConsumed, returnData = null) {
  return new RpcError(-32002, `Transaction simulation failed: ${transactionErrorText(err)}`, {
    err, logs, accounts: null, unitsConsumed, returnData, innerInstructions: null, replacementBlockhash: null,
  });
}

function encodeAccount(account, encoding, dataSlice) {
  if (account === null) return null;
  let data = account.data;
  if (dataSlice) {
    const offset = Number(dataSlice.offset ?? 0);
    data = data.slice(offset, offset + Number(dataSlice.length ?? data.length));
  }
  let encoded;
  if (encoding === 'base64') encoded = [Buffer.from(data).toString('base64'), 'base64'];
  else if (encoding === 'base58') encoded = [bytesToBase58(data), 'base58'];
  else if (encoding === 'binary') encoded = bytesToBase58(data); // the legacy default
  else throw invalidParams(`unsupported encoding: ${encoding}. Supported encodings: base58, base64`);
  return {
    data: encoded,
    executable: account.executable,
    lamports: account.lamports,
    owner: account.owner,
    rentEpoch: U64_MAX,
    space: account.data.length,
  };
}

// What sendTransaction answers: the signature, and whether the answer is to be lost.
// A plain value made and read on the event loop; nothing to cancel.
class SendAnswer {
  constructor(signature, loseAnswer) {
    this.signature = signature;
    this.loseAnswer = loseAnswer;
  }
}

export class RpcMethods {
  constructor({ chain, faults, onFaultsChanged, version }) {
    this.chain = chain;
    this.faults = faults;
    this.onFaultsChanged = onFaultsChanged;
    this.version = version;
  }

  isControl(method) { return method.startsWith('exitguard_'); }

  // -> { result } or, for sendTransaction, { result, loseAnswer }; throws RpcError.
  async call(method, params) {
    const handler = Object.prototype.hasOwnProperty.call(METHODS, method) ? METHODS[method] : undefined;
    if (!handler) throw new RpcError(-32601, 'Method not found');
    const out = await handler.call(this, params);
    return out instanceof SendAnswer ? { result: out.signature, loseAnswer: out.loseAnswer } : { result: out };
  }

  // The bank a read is served from, honouring commitment and minContextSlot.
  contextSlot(config, fallback = 'finalized') {
    const slot = this.chain.commitmentSlot(normalizeCommitment(config.commitment, fallback));
    if (config.minContextSlot !== undefined && slot < Number(config.minContextSlot)) {
      throw new RpcError(-32016, 'Minimum context slot has not been reached', { contextSlot: slot });
    }
    return slot;
  }
}

const METHODS = {
  getHealth() { return 'ok'; },

  getVersion() { return this.version; },

  getSlot(params) { return this.contextSlot(configAt(params, 0)); },

  getBlockHeight(params) { return this.contextSlot(configAt(params, 0)); },

  getLatestBlockhash(params) {
    const slot = this.contextSlot(configAt(params, 0));
    return { context: { slot }, value: { blockhash: this.chain.blockhashes[slot], lastValidBlockHeight: this.chain.lastValidBlockHeight(slot) } };
  },

  isBlockhashValid(params) {
    if (typeof params[0] !== 'string') throw invalidParams('the blockhash must be a base58 string');
    const slot = this.contextSlot(configAt(params, 1));
    return { context: { slot }, value: this.chain.isBlockhashUsable(params[0], slot) };
  },

  getMinimumBalanceForRentExemption(params) {
    const size = u64Param(params[0] ?? 0, 'data length');
    return this.chain.svm.minimumBalanceForRentExemption(size);
  },

  getBalance(params) {
    const address = addressParam(params[0], 'address');
    const slot = this.contextSlot(configAt(params, 1));
    const account = this.chain.accountAt(address, slot);
    return { context: { slot }, value: account ? account.lamports : 0n };
  },

  getAccountInfo(params) {
    const address = addressParam(params[0], 'address');
    const config = configAt(params, 1);
    if (config.encoding === 'jsonParsed') throw invalidParams('encoding jsonParsed is not served by this localnet; use base64');
    const slot = this.contextSlot(config);
    return { context: { slot }, value: encodeAccount(this.chain.accountAt(address, slot), config.encoding ?? 'binary', config.dataSlice) };
  },

  getTokenAccountBalance(params) {
    const address = addressParam(params[0], 'address');
    const slot = this.contextSlot(configAt(params, 1));
    const account = this.chain.accountAt(address, slot);
    if (!account) throw invalidParams('could not find account');
    const tokenAccount = parseTokenAccount(account);
    const decimals = tokenAccount ? this.chain.mintDecimals(tokenAccount.mint) : null;
    if (decimals === null) throw new RpcError(-32602, 'Invalid param: not a Token account');
    return { context: { slot }, value: uiTokenAmount(tokenAccount.amount, decimals) };
  },

  sendTransaction(params) {
    const { parsed, config } = decodeTransactionParam(params);
    const { chain, faults } = this;
    if (!config.skipPreflight) {
      if (!verifySignatures(parsed)) throw new RpcError(-32003, 'Transaction signature verification failure');
      if (faults.take('preflightCustomError')) {
        const program = parsed.message.staticAccounts[parsed.message.instructions[0]?.programAddressIndex ?? 0];
        const code = faults.get('customErrorCode');
        throw preflightFailure({ InstructionError: [0, { Custom: code }] }, [
          `Program ${program} invoke [1]`,
          `Program ${program} failed: custom program error: 0x${code.toString(16)}`,
        ], 0);
      }
      const bankSlot = chain.commitmentSlot(normalizeCommitment(config.preflightCommitment, 'finalized'));
      if (!chain.checkAge(parsed, bankSlot).ok) throw preflightFailure('BlockhashNotFound', [], 0);
      if (chain.isProcessed(parsed.signature)) throw preflightFailure('AlreadyProcessed', [], 0);
      const sim = chain.simulate(parsed, { sigverify: false });
      if (sim.err !== null) throw preflightFailure(sim.err, sim.logs, sim.unitsConsumed, sim.returnData);
    }
    chain.stats.sendsAccepted += 1;
    if (faults.take('dropSends')) {
      chain.stats.dropped.push(parsed.signature);
      return parsed.signature;
    }
    const loseAnswer = faults.take('loseSendAnswers');
    if (loseAnswer) chain.stats.lostAnswers.push(parsed.signature);
    chain.enqueue(parsed, Date.now() + faults.get('delayLandingMs'));
    return new SendAnswer(parsed.signature, loseAnswer);
  },

  simulateTransaction(params) {
    const { parsed, config } = decodeTransactionParam(params);
    const { chain } = this;
    if (config.sigVerify && config.replaceRecentBlockhash) {
      throw invalidParams('sigVerify may not be used with replaceRecentBlockhash');
    }
    if (config.sigVerify && !verifySignatures(parsed)) throw new RpcError(-32003, 'Transaction signature verification failure');
    const slot = this.contextSlot(config);
    const value = {
      err: null, logs: [], accounts: null, unitsConsumed: 0, returnData: null, innerInstructions: null,
      replacementBlockhash: config.replaceRecentBlockhash
        ? { blockhash: chain.blockhashes[slot], lastValidBlockHeight: chain.lastValidBlockHeight(slot) } : null,
    };
    if (!config.replaceRecentBlockhash && !chain.checkAge(parsed, slot).ok) value.err = 'BlockhashNotFound';
    else if (!config.replaceRecentBlockhash && chain.isProcessed(parsed.signature)) value.err = 'AlreadyProcessed';
    else {
      const sim = chain.simulate(parsed, { sigverify: false });
      Object.assign(value, { err: sim.err, logs: sim.logs, unitsConsumed: sim.unitsConsumed, returnData: sim.returnData });
      if (config.accounts) {
        const encoding = config.accounts.encoding ?? 'base64';
        value.accounts = (config.accounts.addresses ?? []).map((a) => {
          const address = addressParam(a, 'accounts.addresses entry');
          return encodeAccount(sim.postAccounts.get(address) ?? chain.accountNow(address), encoding);
        });
      }
    }
    return { context: { slot }, value };
  },

  getSignatureStatuses(params) {
    const signatures = params[0];
    if (!Array.isArray(signatures) || signatures.some((s) => typeof s !== 'string')) {
      throw invalidParams('expected an array of base58 signatures');
    }
    if (signatures.length > MAX_SIGNATURE_STATUSES) throw invalidParams(`Too many inputs provided; max ${MAX_SIGNATURE_STATUSES}`);
    const { chain } = this;
    const value = signatures.map((signature) => {
      const record = chain.ledger.get(signature);
      if (!record) return null;
      const confirmationStatus = chain.confirmationStatus(record.slot);
      return {
        slot: record.slot,
        confirmations: confirmationStatus === 'finalized' ? null : chain.slot - record.slot,
        err: record.err,
        status: record.err === null ? { Ok: null } : { Err: record.err },
        confirmationStatus,
      };
    });
    return { context: { slot: chain.slot }, value };
  },

  getTransaction(params) {
    if (typeof params[0] !== 'string') throw invalidParams('the signature must be a base58 string');
    const config = typeof params[1] === 'string' ? { encoding: params[1] } : configAt(params, 1);
    const level = normalizeCommitment(config.commitment, 'finalized');
    if (level === 'processed') throw invalidParams('Method does not support commitment below `confirmed`');
    const encoding = config.encoding ?? 'json';
    if (encoding !== 'json' && encoding !== 'base64') {
      throw invalidParams(`unsupported encoding: ${encoding}. Supported encodings: json, base64`);
    }
    const record = this.chain.landedAt(params[0], level);
    if (!record) return null;
    const { parsed } = record;
    const maxVersion = config.maxSupportedTransactionVersion;
    if (parsed.version !== 'legacy' && (maxVersion === undefined || maxVersion === null || maxVersion < parsed.version)) {
      throw new RpcError(-32015, `Transaction version (${parsed.version}) is not supported by the requesting client. `
        + 'Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0');
    }
    const m = parsed.message;
    const message = {
      accountKeys: m.staticAccounts,
      header: {
        numRequiredSignatures: m.header.numSignerAccounts,
        numReadonlySignedAccounts: m.header.numReadonlySignerAccounts,
        numReadonlyUnsignedAccounts: m.header.numReadonlyNonSignerAccounts,
      },
      instructions: m.instructions.map((ix) => ({
        programIdIndex: ix.programAddressIndex,
        accounts: Array.from(ix.accountIndices ?? []),
        data: bytesToBase58(ix.data ?? new Uint8Array()),
        stackHeight: null,
      })),
      recentBlockhash: parsed.recentBlockhash,
    };
    if (parsed.version !== 'legacy') {
      message.addressTableLookups = (m.addressTableLookups ?? []).map((l) => ({
        accountKey: l.lookupTableAddress, writableIndexes: l.writableIndexes, readonlyIndexes: l.readonlyIndexes,
      }));
    }
    const result = {
      slot: record.slot,
      blockTime: record.blockTime,
      transaction: encoding === 'base64'
        ? [Buffer.from(parsed.bytes).toString('base64'), 'base64']
        : { signatures: parsed.signatureStrings, message },
      meta: {
        err: record.err,
        status: record.err === null ? { Ok: null } : { Err: record.err },
        fee: record.fee,
        preBalances: record.preBalances,
        postBalances: record.postBalances,
        innerInstructions: record.innerInstructions,
        logMessages: record.logMessages,
        preTokenBalances: record.preTokenBalances,
        postTokenBalances: record.postTokenBalances,
        rewards: [],
        loadedAddresses: record.loadedAddresses,
        computeUnitsConsumed: record.computeUnitsConsumed,
        returnData: record.returnData,
      },
    };
    if (maxVersion !== undefined && maxVersion !== null) result.version = parsed.version;
    return result;
  },

  // --- control methods ---------------------------------------------------------

  async exitguard_setup(params) {
    const c = configAt(params, 0);
    const decimals = c.decimals ?? 6;
    if (!Number.isInteger(decimals) || decimals < 0 || decimals > 19) throw invalidParams('decimals must be an integer in 0..19');
    const nonceAccounts = c.nonceAccounts ?? 0;
    if (!Number.isInteger(nonceAccounts) || nonceAccounts < 0 || nonceAccounts > 64) throw invalidParams('nonceAccounts must be an integer in 0..64');
    const config = {
      owner: addressParam(c.owner, 'owner'),
      payer: addressParam(c.payer, 'payer'),
      nonceAuthority: addressParam(c.nonceAuthority ?? c.payer, 'nonceAuthority'),
      decimals,
      positionAmount: u64Param(c.positionAmount ?? '0', 'positionAmount'),
      otherAmount: u64Param(c.otherAmount ?? '0', 'otherAmount'),
      nonceAccounts,
      lamports: u64Param(c.lamports ?? 10_000_000_000, 'lamports'),
    };
    if (config.positionAmount + config.otherAmount > U64_MAX) throw invalidParams('positionAmount + otherAmount overflows u64');
    return this.chain.setup(config);
  },

  exitguard_faults(params) {
    try {
      const settings = this.faults.merge(params[0] ?? {});
      this.onFaultsChanged(settings);
      return settings;
    } catch (e) {
      if (e instanceof FaultsError) throw invalidParams(e.message);
      throw e;
    }
  },

  exitguard_advanceSlots(params) {
    const n = params[0] ?? 1;
    if (!Number.isInteger(n) || n < 0 || n > MAX_ADVANCE_SLOTS) throw invalidParams(`slot count must be an integer in 0..${MAX_ADVANCE_SLOTS}`);
    for (let i = 0; i < n; i += 1) this.chain.advanceSlot();
    return this.chain.slot;
  },

  exitguard_stats() {
    const s = this.chain.stats;
    return {
      sendsReceived: s.sendsReceived,
      sendsAccepted: s.sendsAccepted,
      landed: [...s.landed],
      failed: [...s.failed],
      dropped: [...s.dropped],
      discarded: s.discarded.map((d) => ({ ...d })),
      lostAnswers: [...s.lostAnswers],
      pending: this.chain.pending.map((p) => p.parsed.signature),
      slot: this.chain.slot,
    };
  },

  exitguard_tokenBalance(params) {
    const address = addressParam(params[0], 'account');
    const tokenAccount = parseTokenAccount(this.chain.accountNow(address));
    if (!tokenAccount) throw new RpcError(-32602, 'Invalid param: not a Token account');
    return tokenAccount.amount.toString();
  },
};
