// LocalChain: a slot-by-slot Solana ledger on top of one LiteSVM instance.
//
// LiteSVM executes transactions (real signature checks, System and SPL programs)
// but keeps one blockhash and no slots. LocalChain adds what a cluster has: a new
// blockhash per slot kept for `validity` blocks, the recent-blockhash and
// durable-nonce acceptance rules (LiteSVM's own check is off: it only knows the
// newest hash), landing of accepted transactions at the next slot boundary,
// commitment levels (processed / confirmed = 1 slot / finalized = 31 slots) for
// statuses, transactions and account reads, and the ledger of landed
// transactions that getTransaction and getSignatureStatuses serve.
// Single-threaded by construction (Node's event loop); nothing here blocks or
// awaits, so every method runs to completion: there is nothing to cancel.

import * as kit from '@solana/kit';
import { LiteSVM } from 'litesvm';
import * as system from '@solana-program/system';
import * as token from '@solana-program/token';

import {
  NONCE_ACCOUNT_SIZE,
  SYSTEM_ADVANCE_NONCE,
  SYSTEM_INITIALIZE_NONCE,
  TOKEN_PROGRAM,
  durableNonceFromBlockhash,
  innerInstructionsJson,
  isCommittedError,
  isWritableIndex,
  parseMintDecimals,
  parseNonceAccount,
  parseTokenAccount,
  returnDataJson,
  systemInstructionKind,
  transactionFee,
  uiTokenAmount,
  unpackResult,
  withDurableNonce,
} from './codec.mjs';

export const CONFIRMED_DEPTH = 1;
export const FINALIZED_DEPTH = 31;
const LOOKUP_TABLE_PROGRAM = 'AddressLookupTab1e1111111111111111111111111';
const LOOKUP_TABLE_META_SIZE = 56;

// A JSON-RPC error answer (code, message, optional data) thrown by any method.
// A plain value: immutable once made, nothing to cancel.
export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

const COMMITMENT_ALIASES = {
  processed: 'processed', recent: 'processed',
  confirmed: 'confirmed', single: 'confirmed', singleGossip: 'confirmed',
  finalized: 'finalized', root: 'finalized', max: 'finalized',
};
export function normalizeCommitment(commitment, fallback = 'finalized') {
  if (commitment === undefined || commitment === null) return fallback;
  const level = COMMITMENT_ALIASES[commitment];
  if (!level) throw new RpcError(-32602, `Invalid params: unknown commitment ${JSON.stringify(commitment)}`);
  return level;
}

function sameAccount(a, b) {
  if (a === null || b === null) return a === b;
  return a.lamports === b.lamports && a.owner === b.owner && a.executable === b.executable
    && a.data.length === b.data.length && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;
}

export class LocalChain {
  constructor({ blockhashValidity }) {
    // History off: LocalChain's ledger decides what was processed, so a transaction
    // LiteSVM saw but that never landed (discarded) can be sent again.
    this.svm = new LiteSVM().withBlockhashCheck(false).withSigverify(true).withTransactionHistory(0n);
    this.validity = blockhashValidity;
    this.slot = 0;
    this.blockhashes = [this.svm.latestBlockhash()];
    this.slotOfBlockhash = new Map([[this.blockhashes[0], 0]]);
    this.slotTimes = [Date.now()];
    this.setClock();
    this.ledger = new Map(); // signature -> landed transaction record
    this.pending = [];       // accepted sends waiting for their slot boundary
    this.pendingSignatures = new Set();
    this.accountVersions = new Map(); // address -> [{slot, account}] for commitment reads
    this.stats = { sendsReceived: 0, sendsAccepted: 0, landed: [], failed: [], dropped: [], discarded: [], lostAnswers: [] };
  }

  // --- slots and blockhashes ------------------------------------------------

  setClock() {
    const clock = this.svm.getClock();
    clock.slot = BigInt(this.slot);
    clock.unixTimestamp = BigInt(Math.floor(this.slotTimes[this.slot] / 1000));
    this.svm.setClock(clock);
  }

  get latestBlockhash() { return this.blockhashes[this.slot]; }

  commitmentSlot(level) {
    if (level === 'processed') return this.slot;
    return Math.max(0, this.slot - (level === 'confirmed' ? CONFIRMED_DEPTH : FINALIZED_DEPTH));
  }

  lastValidBlockHeight(hashSlot) { return hashSlot + this.validity; }

  // A blockhash is usable by the bank of `atSlot` when that bank has seen it
  // and it is at most `validity` blocks old there.
  isBlockhashUsable(blockhash, atSlot) {
    const hashSlot = this.slotOfBlockhash.get(blockhash);
    return hashSlot !== undefined && hashSlot <= atSlot && atSlot <= this.lastValidBlockHeight(hashSlot);
  }

  // One slot: a new blockhash, then the due sends land in the new block.
  advanceSlot() {
    this.slot += 1;
    this.svm.expireBlockhash();
    const hash = this.svm.latestBlockhash();
    this.blockhashes.push(hash);
    this.slotOfBlockhash.set(hash, this.slot);
    this.slotTimes.push(Date.now());
    this.setClock();
    this.landDue(Date.now());
  }

  // --- accounts ---------------------------------------------------------------

  accountNow(address) {
    const a = this.svm.getAccount(kit.address(address));
    if (!a.exists) return null;
    return { lamports: a.lamports, data: a.data, owner: a.programAddress, executable: a.executable };
  }

  // The account as the bank of `atSlot` has it (current state for the newest slot).
  accountAt(address, atSlot) {
    const versions = this.accountVersions.get(address);
    if (!versions || atSlot >= this.slot) return this.accountNow(address);
    for (let i = versions.length - 1; i >= 0; i -= 1) {
      if (versions[i].slot <= atSlot) return versions[i].account;
    }
    return versions[0].account;
  }

  recordAccountChange(address, before, after) {
    if (sameAccount(before, after)) return;
    let versions = this.accountVersions.get(address);
    if (!versions) {
      versions = [{ slot: -1, account: before }];
      this.accountVersions.set(address, versions);
    }
    const last = versions[versions.length - 1];
    if (last.slot === this.slot) last.account = after;
    else versions.push({ slot: this.slot, account: after });
    this.pruneVersions(address, versions);
  }

  // Older versions than the one the finalized bank sees are never read again.
  pruneVersions(address, versions) {
    const finalized = this.commitmentSlot('finalized');
    while (versions.length > 1 && versions[1].slot <= finalized) versions.shift();
    if (versions.length === 1 && versions[0].slot <= finalized) this.accountVersions.delete(address);
  }

  // Setup writes are part of the starting state: every commitment level sees them.
  forgetVersions(addresses) {
    for (const a of addresses) this.accountVersions.delete(a);
  }

  // Static keys followed by the keys loaded from address lookup tables.
  resolveAccountKeys(parsed, atSlot) {
    const loaded = { writable: [], readonly: [] };
    for (const lookup of parsed.message.addressTableLookups ?? []) {
      const table = this.accountAt(lookup.lookupTableAddress, atSlot);
      if (!table || table.owner !== LOOKUP_TABLE_PROGRAM) return null;
      const addressAt = (i) => {
        const start = LOOKUP_TABLE_META_SIZE + 32 * i;
        if (start + 32 > table.data.length) return null;
        return kit.getAddressDecoder().decode(table.data.slice(start, start + 32));
      };
      for (const [indexes, out] of [[lookup.writableIndexes, loaded.writable], [lookup.readonlyIndexes, loaded.readonly]]) {
        for (const i of indexes) {
          const a = addressAt(i);
          if (a === null) return null;
          out.push(a);
        }
      }
    }
    return { keys: [...parsed.message.staticAccounts, ...loaded.writable, ...loaded.readonly], loaded };
  }

  // --- acceptance rules ---------------------------------------------------------

  // The bank of `atSlot` accepts the transaction's lifetime if its blockhash is in the
  // window, or if it is a durable-nonce transaction whose nonce matches and can advance.
  checkAge(parsed, atSlot) {
    if (this.isBlockhashUsable(parsed.recentBlockhash, atSlot)) return { ok: true, viaNonce: false };
    const keys = parsed.message.staticAccounts;
    const first = parsed.message.instructions[0];
    if (!first || systemInstructionKind(first, keys) !== SYSTEM_ADVANCE_NONCE) return { ok: false };
    const accounts = first.accountIndices ?? [];
    const nonceIndex = accounts[0];
    if (nonceIndex === undefined || nonceIndex >= keys.length
        || !isWritableIndex(parsed, nonceIndex, { writable: [], readonly: [] })) return { ok: false };
    const nonce = parseNonceAccount(this.accountAt(keys[nonceIndex], atSlot));
    if (!nonce || nonce.nonce !== parsed.recentBlockhash) return { ok: false };
    if (nonce.nonce === durableNonceFromBlockhash(this.blockhashes[atSlot])) return { ok: false };
    const numSigners = parsed.message.header.numSignerAccounts;
    const authorized = accounts.some((i) => i < numSigners && keys[i] === nonce.authority);
    return authorized ? { ok: true, viaNonce: true } : { ok: false };
  }

  isProcessed(signature) { return this.ledger.has(signature); }

  // Executes without committing. sigverify: whether LiteSVM checks signatures.
  simulate(parsed, { sigverify }) {
    this.svm.withSigverify(sigverify);
    try {
      const result = this.svm.simulateTransaction(parsed.kitTransaction);
      const { err, meta } = unpackResult(result);
      const postAccounts = new Map();
      if (err === null) {
        for (const a of result.postAccounts()) {
          postAccounts.set(a.address, { lamports: a.lamports, data: a.data, owner: a.programAddress, executable: a.executable });
        }
      }
      return { err, logs: meta.logs(), unitsConsumed: Number(meta.computeUnitsConsumed()), returnData: returnDataJson(meta), postAccounts };
    } catch {
      // The wrapper refuses a transaction with a missing signature when sigverify is on.
      return { err: 'SignatureFailure', logs: [], unitsConsumed: 0, returnData: null, postAccounts: new Map() };
    } finally {
      this.svm.withSigverify(true);
    }
  }

  // --- sending and landing --------------------------------------------------------

  enqueue(parsed, notBeforeMs) {
    if (this.pendingSignatures.has(parsed.signature) || this.ledger.has(parsed.signature)) return;
    this.pending.push({ parsed, notBeforeMs });
    this.pendingSignatures.add(parsed.signature);
  }

  landDue(nowMs) {
    const due = this.pending.filter((p) => p.notBeforeMs <= nowMs);
    if (due.length === 0) return;
    this.pending = this.pending.filter((p) => p.notBeforeMs > nowMs);
    for (const p of due) {
      this.pendingSignatures.delete(p.parsed.signature);
      this.land(p.parsed);
    }
  }

  discard(signature, err) { this.stats.discarded.push({ signature, err }); }

  // The leader's view: re-check the lifetime in this block, execute, commit or drop.
  land(parsed) {
    const { signature } = parsed;
    if (this.ledger.has(signature)) return; // the status cache drops a duplicate
    const age = this.checkAge(parsed, this.slot);
    if (!age.ok) return this.discard(signature, 'BlockhashNotFound');
    const resolved = this.resolveAccountKeys(parsed, this.slot);
    const keys = resolved ? resolved.keys : parsed.message.staticAccounts;
    const before = keys.map((k) => this.accountNow(k));
    let outcome;
    try {
      outcome = unpackResult(this.svm.sendTransaction(parsed.kitTransaction));
    } catch (e) {
      return this.discard(signature, 'SignatureFailure');
    }
    if (outcome.err !== null && !isCommittedError(outcome.err)) return this.discard(signature, outcome.err);
    this.advanceNoncesAsTheRuntimeDoes(parsed, keys, outcome.err, age.viaNonce);
    const after = keys.map((k) => this.accountNow(k));
    keys.forEach((k, i) => this.recordAccountChange(k, before[i], after[i]));
    const meta = outcome.meta;
    this.ledger.set(signature, {
      signature,
      parsed,
      slot: this.slot,
      blockTime: Math.floor(this.slotTimes[this.slot] / 1000),
      err: outcome.err,
      fee: transactionFee(parsed, keys),
      loadedAddresses: resolved ? resolved.loaded : { writable: [], readonly: [] },
      preBalances: before.map((a) => (a ? a.lamports : 0n)),
      postBalances: after.map((a) => (a ? a.lamports : 0n)),
      preTokenBalances: this.tokenBalances(keys, before),
      postTokenBalances: this.tokenBalances(keys, after),
      logMessages: meta.logs(),
      innerInstructions: innerInstructionsJson(meta),
      computeUnitsConsumed: Number(meta.computeUnitsConsumed()),
      returnData: returnDataJson(meta),
    });
    (outcome.err === null ? this.stats.landed : this.stats.failed).push(signature);
  }

  // LiteSVM derives a new nonce from the transaction's own blockhash and rolls it back
  // when the transaction fails; the runtime derives it from the block's blockhash and
  // keeps a failed nonce transaction's advance. Put the nonce where the runtime would.
  advanceNoncesAsTheRuntimeDoes(parsed, keys, err, viaNonce) {
    const instructions = parsed.message.instructions;
    const targets = new Set();
    if (err === null) {
      for (const ix of instructions) {
        const kind = systemInstructionKind(ix, keys);
        if ((kind === SYSTEM_ADVANCE_NONCE || kind === SYSTEM_INITIALIZE_NONCE) && ix.accountIndices?.length) {
          targets.add(keys[ix.accountIndices[0]]);
        }
      }
    } else if (viaNonce) {
      targets.add(keys[instructions[0].accountIndices[0]]);
    }
    this.setNonces(targets);
  }

  setNonces(addresses) {
    const nonce = durableNonceFromBlockhash(this.latestBlockhash);
    for (const address of addresses) {
      const account = this.accountNow(address);
      if (!parseNonceAccount(account)) continue;
      this.svm.setAccount({
        address: kit.address(address),
        lamports: account.lamports,
        data: withDurableNonce(account.data, nonce),
        programAddress: account.owner,
        executable: account.executable,
        space: BigInt(account.data.length),
      });
    }
  }

  tokenBalances(keys, accounts) {
    const out = [];
    accounts.forEach((account, accountIndex) => {
      const t = parseTokenAccount(account);
      if (!t) return;
      const decimals = this.mintDecimals(t.mint, keys, accounts);
      if (decimals === null) return;
      out.push({ accountIndex, mint: t.mint, owner: t.owner, programId: t.programId, uiTokenAmount: uiTokenAmount(t.amount, decimals) });
    });
    return out;
  }

  mintDecimals(mint, keys = [], accounts = []) {
    const i = keys.indexOf(mint);
    return parseMintDecimals(i >= 0 ? accounts[i] : this.accountNow(mint));
  }

  // --- statuses -------------------------------------------------------------------

  confirmationStatus(landedSlot) {
    if (this.slot - landedSlot >= FINALIZED_DEPTH) return 'finalized';
    if (this.slot - landedSlot >= CONFIRMED_DEPTH) return 'confirmed';
    return 'processed';
  }

  // A landed transaction as the bank of `level` sees it, or null.
  landedAt(signature, level) {
    const record = this.ledger.get(signature);
    if (!record || record.slot > this.commitmentSlot(level)) return null;
    return record;
  }

  // --- test setup ---------------------------------------------------------------

  // Funds, a mint, the owner's token account, a market token account and durable-nonce
  // accounts, all created by real System / SPL Token / ATA instructions in the SVM.
  async setup(config) {
    const lamports = BigInt(config.lamports);
    const decimals = config.decimals;
    const minted = BigInt(config.positionAmount) + BigInt(config.otherAmount);
    const setupPayer = await kit.generateKeyPairSigner();
    const mint = await kit.generateKeyPairSigner();
    const market = await kit.generateKeyPairSigner();
    const touched = new Set([config.payer, config.owner, setupPayer.address]);

    this.airdrop(setupPayer.address, 1_000_000_000_000n);
    this.airdrop(config.payer, lamports);
    this.airdrop(config.owner, lamports);

    const [source] = await token.findAssociatedTokenPda({ mint: mint.address, owner: config.owner, tokenProgram: TOKEN_PROGRAM });
    const [destination] = await token.findAssociatedTokenPda({ mint: mint.address, owner: market.address, tokenProgram: TOKEN_PROGRAM });
    await this.executeSetup(setupPayer, [
      system.getCreateAccountInstruction({
        payer: setupPayer, newAccount: mint, lamports: this.svm.minimumBalanceForRentExemption(82n), space: 82, programAddress: TOKEN_PROGRAM,
      }),
      token.getInitializeMint2Instruction({ mint: mint.address, decimals, mintAuthority: setupPayer.address }),
    ]);
    const fill = [
      token.getCreateAssociatedTokenIdempotentInstruction({ payer: setupPayer, ata: source, owner: config.owner, mint: mint.address }),
      token.getCreateAssociatedTokenIdempotentInstruction({ payer: setupPayer, ata: destination, owner: market.address, mint: mint.address }),
    ];
    if (minted > 0n) {
      fill.push(token.getMintToCheckedInstruction({ mint: mint.address, token: source, mintAuthority: setupPayer, amount: minted, decimals }));
    }
    await this.executeSetup(setupPayer, fill);
    [mint.address, source, destination].forEach((a) => touched.add(a));

    const nonceAccounts = [];
    for (let i = 0; i < config.nonceAccounts; i += 1) {
      const nonce = await kit.generateKeyPairSigner();
      await this.executeSetup(setupPayer, [
        system.getCreateAccountInstruction({
          payer: setupPayer, newAccount: nonce, lamports: this.svm.minimumBalanceForRentExemption(BigInt(NONCE_ACCOUNT_SIZE)),
          space: NONCE_ACCOUNT_SIZE, programAddress: system.SYSTEM_PROGRAM_ADDRESS,
        }),
        system.getInitializeNonceAccountInstruction({ nonceAccount: nonce.address, nonceAuthority: config.nonceAuthority }),
      ]);
      nonceAccounts.push(nonce.address);
      touched.add(nonce.address);
    }
    this.setNonces(nonceAccounts);
    this.forgetVersions(touched);
    // A nonce cannot advance in the block that set it: move on so they are usable at once.
    this.advanceSlot();
    return { mint: mint.address, source, destination, destinationOwner: market.address, tokenProgram: TOKEN_PROGRAM, nonceAccounts };
  }

  airdrop(address, lamports) {
    const { err } = unpackResult(this.svm.airdrop(kit.address(address), kit.lamports(lamports)));
    if (err !== null) throw new RpcError(-32603, `airdrop to ${address} failed: ${JSON.stringify(err)}`);
  }

  async executeSetup(feePayer, instructions) {
    const message = kit.pipe(
      kit.createTransactionMessage({ version: 0 }),
      (m) => kit.setTransactionMessageFeePayerSigner(feePayer, m),
      (m) => kit.setTransactionMessageLifetimeUsingBlockhash({ blockhash: this.latestBlockhash, lastValidBlockHeight: 0n }, m),
      (m) => kit.appendTransactionMessageInstructions(instructions, m),
    );
    const transaction = await kit.signTransactionMessageWithSigners(message);
    const { err, meta } = unpackResult(this.svm.sendTransaction(transaction));
    if (err !== null) {
      throw new RpcError(-32603, `exitguard_setup transaction failed: ${JSON.stringify(err)}`, { logs: meta.logs() });
    }
  }
}
