#!/usr/bin/env node
// Self-test of the localnet: starts server.mjs on a free port (slots advanced by hand,
// blockhash validity 20), builds and signs real transactions with @solana/kit, and
// checks the runtime rules, commitments, faults and control methods. One line per
// check; exit code 0 only if every check passed.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as kit from '@solana/kit';
import * as system from '@solana-program/system';
import * as token from '@solana-program/token';

const here = path.dirname(fileURLToPath(import.meta.url));
const VALIDITY = 20;
const DECIMALS = 6;
const POSITION = 1_000_000_000n;
const OTHER = 250_000n;

let passed = 0;
let failed = 0;
async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok   - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL - ${name}: ${e.message}`);
  }
}
function expect(condition, message) {
  if (!condition) throw new Error(message);
}
function expectEqual(actual, wanted, what) {
  const text = (v) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
  const a = text(actual);
  const w = text(wanted);
  if (a !== w) throw new Error(`${what}: got ${a}, wanted ${w}`);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the server -----------------------------------------------------------------
const started = Date.now();
const child = spawn(process.execPath, [path.join(here, 'server.mjs'), '--port', '0', '--slot-ms', '0', '--blockhash-validity', String(VALIDITY)],
  { stdio: ['pipe', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  const timer = setTimeout(() => reject(new Error('server did not print its listening line within 20 s')), 20_000);
  child.stdout.on('data', (d) => {
    out += d;
    const m = /^listening (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  child.on('exit', (code) => reject(new Error(`server exited early with ${code}`)));
});
console.log(`# server at ${url}, started in ${Date.now() - started} ms`);

let nextId = 1;
async function post(body, timeoutMs = 10_000) {
  const response = await fetch(url, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : null };
}
async function rpcRaw(method, params = []) {
  return (await post({ jsonrpc: '2.0', id: nextId++, method, params })).json;
}
async function rpc(method, params = []) {
  const body = await rpcRaw(method, params);
  if (body.error) throw new Error(`${method} failed: ${JSON.stringify(body.error)}`);
  return body.result;
}
const advance = (n = 1) => rpc('exitguard_advanceSlots', [n]);
const faults = (settings) => rpc('exitguard_faults', [settings]);
const processed = { commitment: 'processed' };

// --- wallet and transactions ------------------------------------------------------
const owner = await kit.generateKeyPairSigner();
const payer = await kit.generateKeyPairSigner();
const nonceAuthority = await kit.generateKeyPairSigner();
let env;

async function latestBlockhash(commitment = 'processed') {
  return (await rpc('getLatestBlockhash', [{ commitment }])).value;
}

// Compute Budget instructions, written out (their program has no client package here).
const COMPUTE_BUDGET = kit.address('ComputeBudget111111111111111111111111111111');
function computeUnitLimit(units) {
  const data = new Uint8Array(5);
  data[0] = 2;
  new DataView(data.buffer).setUint32(1, units, true);
  return { programAddress: COMPUTE_BUDGET, accounts: [], data };
}
function computeUnitPrice(microLamports) {
  const data = new Uint8Array(9);
  data[0] = 3;
  new DataView(data.buffer).setBigUint64(1, microLamports, true);
  return { programAddress: COMPUTE_BUDGET, accounts: [], data };
}

// A TransferChecked of `amount` from the owner's account to the market's, paid by payer.
// lifetime: { blockhash } or { nonce, nonceAccount }; priority: { units, microLamports }.
async function transfer(amount, lifetime, priority = null) {
  const ixs = priority ? [computeUnitLimit(priority.units), computeUnitPrice(priority.microLamports)] : [];
  ixs.push(token.getTransferCheckedInstruction({
    source: env.source, mint: env.mint, destination: env.destination, authority: owner, amount, decimals: DECIMALS,
  }));
  const message = kit.pipe(
    kit.createTransactionMessage({ version: 0 }),
    (m) => kit.setTransactionMessageFeePayerSigner(payer, m),
    (m) => (lifetime.nonce
      ? kit.addSignersToTransactionMessage([nonceAuthority], kit.setTransactionMessageLifetimeUsingDurableNonce({
        nonce: lifetime.nonce, nonceAccountAddress: lifetime.nonceAccount, nonceAuthorityAddress: nonceAuthority.address,
      }, m))
      : kit.setTransactionMessageLifetimeUsingBlockhash({ blockhash: lifetime.blockhash, lastValidBlockHeight: 0n }, m)),
    (m) => kit.appendTransactionMessageInstructions(ixs, m),
  );
  const tx = await kit.signTransactionMessageWithSigners(message);
  return { wire: kit.getBase64EncodedWireTransaction(tx), signature: kit.getSignatureFromTransaction(tx) };
}
function sendRaw(tx, config = {}) {
  return rpcRaw('sendTransaction', [tx.wire, { encoding: 'base64', preflightCommitment: 'processed', ...config }]);
}
async function send(tx, config = {}) {
  const body = await sendRaw(tx, config);
  if (body.error) throw new Error(`sendTransaction failed: ${JSON.stringify(body.error)}`);
  expectEqual(body.result, tx.signature, 'sendTransaction answer');
  return body.result;
}
async function status(signature) {
  return (await rpc('getSignatureStatuses', [[signature], { searchTransactionHistory: true }])).value[0];
}
const tokenBalance = (account) => rpc('exitguard_tokenBalance', [account]);
async function nonceValue(account) {
  const info = await rpc('getAccountInfo', [account, { encoding: 'base64', commitment: 'processed' }]);
  return system.getNonceDecoder().decode(Buffer.from(info.value.data[0], 'base64')).blockhash;
}
async function lamports(address, commitment = 'processed') {
  return BigInt((await rpc('getBalance', [address, { commitment }])).value);
}

// --- checks ---------------------------------------------------------------------------
await check('getHealth answers ok and a batch gets an array of answers', async () => {
  expectEqual(await rpc('getHealth'), 'ok', 'getHealth');
  const batch = (await post([{ jsonrpc: '2.0', id: 'a', method: 'getHealth' }, { jsonrpc: '2.0', id: 'b', method: 'getSlot' }])).json;
  expectEqual(batch.map((r) => r.id), ['a', 'b'], 'batch ids');
  expectEqual((await rpcRaw('noSuchMethod')).error.code, -32601, 'unknown method code');
});

await check('exitguard_setup creates mint, funded token accounts and initialised nonce accounts', async () => {
  env = await rpc('exitguard_setup', [{
    owner: owner.address, payer: payer.address, nonceAuthority: nonceAuthority.address, decimals: DECIMALS,
    positionAmount: POSITION.toString(), otherAmount: OTHER.toString(), nonceAccounts: 2, lamports: 10_000_000_000,
  }]);
  expectEqual(await tokenBalance(env.source), (POSITION + OTHER).toString(), 'source balance');
  expectEqual(await tokenBalance(env.destination), '0', 'destination balance');
  expectEqual(env.tokenProgram, token.TOKEN_PROGRAM_ADDRESS, 'token program');
  expectEqual(env.nonceAccounts.length, 2, 'nonce accounts');
  const bal = await rpc('getTokenAccountBalance', [env.source]); // default commitment: finalized
  expectEqual(bal.value, { amount: '1000250000', decimals: 6, uiAmount: 1000.25, uiAmountString: '1000.25' }, 'getTokenAccountBalance');
  for (const n of env.nonceAccounts) {
    const info = await rpc('getAccountInfo', [n, { encoding: 'base64' }]);
    const nonce = system.getNonceDecoder().decode(Buffer.from(info.value.data[0], 'base64'));
    expectEqual([nonce.state, nonce.authority], [1, nonceAuthority.address], 'nonce state and authority');
  }
  expectEqual(await lamports(payer.address), 10_000_000_000n, 'payer lamports');
});

await check('preflight at the default (finalized) commitment refuses a blockhash newer than the finalized bank', async () => {
  await advance(2);
  const { blockhash } = await latestBlockhash('processed');
  const body = await rpcRaw('sendTransaction', [(await transfer(1n, { blockhash })).wire, { encoding: 'base64' }]);
  expectEqual([body.error?.code, body.error?.data?.err], [-32002, 'BlockhashNotFound'], 'error');
  expectEqual(body.error.message, 'Transaction simulation failed: Blockhash not found', 'message');
});

let saleSignature;
await check('a TransferChecked lands at the next slot and moves the tokens', async () => {
  const { blockhash } = await latestBlockhash();
  const tx = await transfer(400_000_000n, { blockhash });
  saleSignature = await send(tx);
  expectEqual(await status(tx.signature), null, 'status before the slot boundary');
  expectEqual(await tokenBalance(env.source), (POSITION + OTHER).toString(), 'source before landing');
  const slot = await advance(1);
  expectEqual(await status(tx.signature), { slot, confirmations: 0, err: null, status: { Ok: null }, confirmationStatus: 'processed' }, 'status');
  expectEqual(await tokenBalance(env.source), (POSITION + OTHER - 400_000_000n).toString(), 'source after');
  expectEqual(await tokenBalance(env.destination), '400000000', 'destination after');
  expect((await rpc('exitguard_stats')).landed.includes(tx.signature), 'stats.landed lists it');
});

await check('commitments: confirmed one slot later, finalized 31 slots later, reads lag accordingly', async () => {
  const params = (commitment) => [saleSignature, { encoding: 'json', commitment, maxSupportedTransactionVersion: 0 }];
  expectEqual(await rpc('getTransaction', params('confirmed')), null, 'getTransaction(confirmed) while processed');
  expectEqual((await rpcRaw('getTransaction', params('processed'))).error?.code, -32602, 'getTransaction(processed) is refused');
  expectEqual((await rpc('getTokenAccountBalance', [env.source, { commitment: 'confirmed' }])).value.amount, '1000250000', 'confirmed balance before');
  await advance(1);
  expectEqual((await status(saleSignature)).confirmationStatus, 'confirmed', 'status');
  expectEqual((await status(saleSignature)).confirmations, 1, 'confirmations');
  expect((await rpc('getTransaction', params('confirmed'))) !== null, 'getTransaction(confirmed) after one slot');
  expectEqual(await rpc('getTransaction', params('finalized')), null, 'getTransaction(finalized) before 31 slots');
  expectEqual((await rpc('getTokenAccountBalance', [env.source, { commitment: 'confirmed' }])).value.amount, '600250000', 'confirmed balance after');
  expectEqual((await rpc('getTokenAccountBalance', [env.source])).value.amount, '1000250000', 'finalized balance still old');
  await advance(29);
  expectEqual([(await status(saleSignature)).confirmationStatus, (await status(saleSignature)).confirmations], ['confirmed', 30], '30 slots on');
  expectEqual(await rpc('getTransaction', params('finalized')), null, 'getTransaction(finalized) 30 slots on');
  expectEqual((await rpc('getTokenAccountBalance', [env.source])).value.amount, '1000250000', 'finalized balance 30 slots on');
  await advance(1);
  const s = await status(saleSignature);
  expectEqual([s.confirmationStatus, s.confirmations], ['finalized', null], 'finalized status');
  expect((await rpc('getTransaction', params('finalized'))) !== null, 'getTransaction(finalized) after 31 slots');
  expectEqual((await rpc('getTokenAccountBalance', [env.source])).value.amount, '600250000', 'finalized balance after');
});

await check('getTransaction: message, fee and token balances are right', async () => {
  const t = await rpc('getTransaction', [saleSignature, { encoding: 'json', commitment: 'confirmed', maxSupportedTransactionVersion: 0 }]);
  const keys = t.transaction.message.accountKeys;
  expectEqual([t.version, keys[0], t.transaction.signatures[0]], [0, payer.address, saleSignature], 'version, fee payer, signature');
  expectEqual(t.meta.err, null, 'err');
  expectEqual(t.meta.fee, 10000, 'fee (2 signatures)');
  expectEqual(t.meta.preBalances[0] - t.meta.postBalances[0], t.meta.fee, 'payer paid exactly the fee');
  const pick = (list) => list.map((b) => [keys[b.accountIndex], b.mint, b.owner, b.programId, b.uiTokenAmount.amount, b.uiTokenAmount.uiAmountString])
    .sort((a, b) => a[0].localeCompare(b[0]));
  const rows = (src, dst) => [[env.source, env.mint, owner.address, token.TOKEN_PROGRAM_ADDRESS, src[0], src[1]],
    [env.destination, env.mint, env.destinationOwner, token.TOKEN_PROGRAM_ADDRESS, dst[0], dst[1]]].sort((a, b) => a[0].localeCompare(b[0]));
  expectEqual(pick(t.meta.preTokenBalances), rows(['1000250000', '1000.25'], ['0', '0']), 'preTokenBalances');
  expectEqual(pick(t.meta.postTokenBalances), rows(['600250000', '600.25'], ['400000000', '400']), 'postTokenBalances');
  expectEqual([t.meta.logMessages[0], t.meta.logMessages.at(-1)],
    [`Program ${token.TOKEN_PROGRAM_ADDRESS} invoke [1]`, `Program ${token.TOKEN_PROGRAM_ADDRESS} success`], 'program logs');
  expectEqual((await rpcRaw('getTransaction', [saleSignature, { commitment: 'confirmed' }])).error?.code, -32015, 'v0 without maxSupportedTransactionVersion');
});

await check('a priority fee is charged as getTransaction reports it', async () => {
  const tx = await transfer(7n, await latestBlockhash(), { units: 20_000, microLamports: 1_000_000n });
  const payerBefore = await lamports(payer.address);
  await send(tx);
  await advance(2);
  const t = await rpc('getTransaction', [tx.signature, { encoding: 'json', commitment: 'confirmed', maxSupportedTransactionVersion: 0 }]);
  expectEqual(t.meta.fee, 10000 + 20000, 'fee = 2 signatures + 20000 CU at 1 lamport');
  expectEqual(payerBefore - (await lamports(payer.address)), BigInt(t.meta.fee), 'payer charged that fee');
});

await check('simulateTransaction: logs, units, post-state accounts, and replaceRecentBlockhash', async () => {
  const tx = await transfer(11n, await latestBlockhash());
  const config = { encoding: 'base64', commitment: 'processed', sigVerify: true, accounts: { addresses: [env.source], encoding: 'base64' } };
  const sim = await rpc('simulateTransaction', [tx.wire, config]);
  expectEqual(sim.value.err, null, 'err');
  expect(sim.value.unitsConsumed > 0 && sim.value.logs.length > 0, 'units and logs');
  const data = Buffer.from(sim.value.accounts[0].data[0], 'base64');
  const before = BigInt(await tokenBalance(env.source));
  expectEqual(data.readBigUInt64LE(64), before - 11n, 'post-simulation source amount');
  expectEqual(BigInt(await tokenBalance(env.source)), before, 'simulation committed nothing');
  const stale = await transfer(12n, { blockhash: '11111111111111111111111111111111' });
  const refused = await rpc('simulateTransaction', [stale.wire, { encoding: 'base64', commitment: 'processed' }]);
  expectEqual(refused.value.err, 'BlockhashNotFound', 'unknown blockhash');
  const replaced = await rpc('simulateTransaction', [stale.wire, { encoding: 'base64', commitment: 'processed', replaceRecentBlockhash: true }]);
  expectEqual([replaced.value.err, replaced.value.replacementBlockhash?.blockhash], [null, (await latestBlockhash()).blockhash], 'replaced');
});

await check('a landed transaction is AlreadyProcessed in preflight and never lands twice', async () => {
  const { blockhash } = await latestBlockhash();
  const tx = await transfer(1_000n, { blockhash });
  await send(tx);
  await advance(1);
  const body = await sendRaw(tx);
  expectEqual([body.error?.code, body.error?.data?.err], [-32002, 'AlreadyProcessed'], 'preflight error');
  const before = await tokenBalance(env.source);
  await send(tx, { skipPreflight: true });
  await advance(2);
  expectEqual(await tokenBalance(env.source), before, 'balance unchanged by the resend');
});

await check('insufficient tokens: preflight fails with Custom(1), skipPreflight lands as failed and pays the fee', async () => {
  const { blockhash } = await latestBlockhash();
  const tx = await transfer(POSITION * 10n, { blockhash });
  const body = await sendRaw(tx);
  expectEqual([body.error?.code, body.error?.data?.err], [-32002, { InstructionError: [0, { Custom: 1 }] }], 'preflight');
  expectEqual(body.error.message, 'Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1', 'message');
  expect(body.error.data.logs.some((l) => l.includes('insufficient funds')), 'simulation logs');
  const payerBefore = await lamports(payer.address);
  const tokensBefore = await tokenBalance(env.source);
  await send(tx, { skipPreflight: true });
  await advance(1);
  const s = await status(tx.signature);
  expectEqual(s.err, { InstructionError: [0, { Custom: 1 }] }, 'landed err');
  expectEqual(payerBefore - (await lamports(payer.address)), 10000n, 'fee charged');
  expectEqual(await tokenBalance(env.source), tokensBefore, 'tokens unchanged');
  const stats = await rpc('exitguard_stats');
  expect(stats.failed.includes(tx.signature) && !stats.landed.includes(tx.signature), 'stats.failed lists it');
});

await check(`a blockhash is valid for ${VALIDITY} blocks, then BlockhashNotFound`, async () => {
  const { blockhash, lastValidBlockHeight } = await latestBlockhash();
  const height = await rpc('getBlockHeight', [processed]);
  expectEqual(lastValidBlockHeight, height + VALIDITY, 'lastValidBlockHeight');
  const tx = await transfer(2_000n, { blockhash });
  await advance(VALIDITY);
  expectEqual((await rpc('isBlockhashValid', [blockhash, processed])).value, true, 'valid at lastValidBlockHeight');
  await advance(1);
  expectEqual((await rpc('isBlockhashValid', [blockhash, processed])).value, false, 'invalid after');
  const body = await sendRaw(tx);
  expectEqual([body.error?.code, body.error?.data?.err], [-32002, 'BlockhashNotFound'], 'preflight');
  await send(tx, { skipPreflight: true }); // a node takes it, the leader never includes it
  await advance(2);
  expectEqual(await status(tx.signature), null, 'never lands');
  const discarded = (await rpc('exitguard_stats')).discarded.find((d) => d.signature === tx.signature);
  expectEqual(discarded?.err, 'BlockhashNotFound', 'stats.discarded');
});

await check('durable nonce: lands once, the spent nonce is BlockhashNotFound, the new one lands past blockhash validity', async () => {
  const nonceAccount = env.nonceAccounts[0];
  const first = await nonceValue(nonceAccount);
  const tx1 = await transfer(3_000n, { nonce: first, nonceAccount });
  await send(tx1);
  await advance(1);
  expectEqual((await status(tx1.signature))?.err, null, 'first nonce transaction landed');
  const second = await nonceValue(nonceAccount);
  expect(second !== first, 'the nonce advanced');
  const stale = await transfer(3_001n, { nonce: first, nonceAccount });
  const body = await sendRaw(stale);
  expectEqual([body.error?.code, body.error?.data?.err], [-32002, 'BlockhashNotFound'], 'spent nonce');
  await send(stale, { skipPreflight: true });
  await advance(VALIDITY + 5);
  expectEqual(await status(stale.signature), null, 'spent nonce never lands');
  const before = await tokenBalance(env.destination);
  const tx3 = await transfer(3_002n, { nonce: second, nonceAccount });
  await send(tx3);
  await advance(1);
  expectEqual((await status(tx3.signature))?.err, null, 'current nonce lands after many slots');
  expectEqual(BigInt(await tokenBalance(env.destination)) - BigInt(before), 3_002n, 'tokens moved');
});

await check('a failed durable-nonce transaction still advances the nonce and pays the fee', async () => {
  const nonceAccount = env.nonceAccounts[1];
  const value = await nonceValue(nonceAccount);
  const tx = await transfer(POSITION * 10n, { nonce: value, nonceAccount });
  const payerBefore = await lamports(payer.address);
  await send(tx, { skipPreflight: true });
  await advance(1);
  expectEqual((await status(tx.signature))?.err, { InstructionError: [1, { Custom: 1 }] }, 'err');
  expect((await nonceValue(nonceAccount)) !== value, 'nonce advanced');
  expectEqual(payerBefore - (await lamports(payer.address)), 15000n, 'fee of 3 signatures');
});

async function freshTransfer(amount) {
  return transfer(amount, await latestBlockhash());
}

await check('fault dropSends: answered with the signature, never lands, a resend lands', async () => {
  await faults({ dropSends: 1 });
  const tx = await freshTransfer(5_000n);
  await send(tx);
  await advance(2);
  expectEqual(await status(tx.signature), null, 'dropped');
  expect((await rpc('exitguard_stats')).dropped.includes(tx.signature), 'stats.dropped');
  await send(tx);
  await advance(1);
  expectEqual((await status(tx.signature))?.err, null, 'resend landed');
});

await check('fault loseSendAnswers: no answer, the transaction lands anyway', async () => {
  await faults({ loseSendAnswers: 1 });
  const tx = await freshTransfer(5_001n);
  let error = null;
  try {
    await post({ jsonrpc: '2.0', id: 1, method: 'sendTransaction', params: [tx.wire, { encoding: 'base64', preflightCommitment: 'processed' }] }, 300);
  } catch (e) {
    error = e;
  }
  expectEqual(error?.name, 'TimeoutError', 'the client gave up');
  await advance(1);
  expectEqual((await status(tx.signature))?.err, null, 'landed');
  expect((await rpc('exitguard_stats')).lostAnswers.includes(tx.signature), 'stats.lostAnswers');
  await send(await freshTransfer(5_002n)); // the counter is spent: answered again
  await advance(1);
});

await check('fault delayLandingMs: the send lands only at a slot boundary after the delay', async () => {
  await faults({ delayLandingMs: 300 });
  const tx = await freshTransfer(5_003n);
  await send(tx);
  await advance(1);
  expectEqual(await status(tx.signature), null, 'not landed before the delay');
  await sleep(320);
  await advance(1);
  expectEqual((await status(tx.signature))?.err, null, 'landed after the delay');
  await faults({ delayLandingMs: 0 });
});

await check('fault stallMs: every answer is held, control methods are not', async () => {
  await faults({ stallMs: 250 });
  let t = Date.now();
  await rpc('getSlot', [processed]);
  const held = Date.now() - t;
  t = Date.now();
  await rpc('exitguard_stats');
  const control = Date.now() - t;
  await faults({ stallMs: 0 });
  expect(held >= 250, `getSlot answered after ${held} ms`);
  expect(control < 200, `control method answered after ${control} ms`);
});

await check('fault http429: HTTP 429 with Retry-After for the next N requests', async () => {
  await faults({ http429: 2, retryAfterSeconds: 2 });
  await rpc('exitguard_stats'); // control: does not consume the counter
  for (let i = 0; i < 2; i += 1) {
    const r = await post({ jsonrpc: '2.0', id: 1, method: 'getSlot' });
    expectEqual([r.status, r.headers.get('retry-after')], [429, '2'], `request ${i + 1}`);
  }
  expectEqual((await post({ jsonrpc: '2.0', id: 1, method: 'getSlot' })).status, 200, 'third request');
});

await check('fault http503: HTTP 503 for the next N requests', async () => {
  await faults({ http503: 1 });
  expectEqual((await post({ jsonrpc: '2.0', id: 1, method: 'getHealth' })).status, 503, 'first');
  expectEqual((await post({ jsonrpc: '2.0', id: 1, method: 'getHealth' })).status, 200, 'second');
});

await check('fault unhealthy: JSON-RPC -32005 Node is unhealthy with numSlotsBehind', async () => {
  await faults({ unhealthy: 1, numSlotsBehind: 7 });
  const body = await rpcRaw('getHealth');
  expectEqual(body.error, { code: -32005, message: 'Node is unhealthy', data: { numSlotsBehind: 7 } }, 'error');
  expectEqual(await rpc('getHealth'), 'ok', 'next request');
});

await check('fault preflightCustomError: the next preflighted send fails simulation with Custom(code)', async () => {
  await faults({ preflightCustomError: 1, customErrorCode: 6001 });
  const skipped = await freshTransfer(5_004n);
  await send(skipped, { skipPreflight: true }); // not preflighted: not affected
  const tx = await freshTransfer(5_005n);
  const body = await sendRaw(tx);
  expectEqual([body.error?.code, body.error?.data?.err], [-32002, { InstructionError: [0, { Custom: 6001 }] }], 'error');
  expect(body.error.message.endsWith('custom program error: 0x1771'), `message ${body.error.message}`);
  await send(tx);
  await advance(1);
  expectEqual([(await status(skipped.signature))?.err, (await status(tx.signature))?.err], [null, null], 'both landed');
});

await check('fault slotMs: slots advance on a timer, 0 stops it', async () => {
  const before = await rpc('getSlot', [processed]);
  await faults({ slotMs: 40 });
  await sleep(400);
  await faults({ slotMs: 0 });
  const after = await rpc('getSlot', [processed]);
  expect(after - before >= 4, `advanced ${after - before} slots`);
  await sleep(100);
  expectEqual(await rpc('getSlot', [processed]), after, 'stopped');
});

await check('fault blockhashValidity, and reset restores every default', async () => {
  await faults({ blockhashValidity: 3 });
  const { blockhash, lastValidBlockHeight } = await latestBlockhash();
  expectEqual(lastValidBlockHeight, (await rpc('getBlockHeight', [processed])) + 3, 'lastValidBlockHeight');
  await advance(4);
  expectEqual((await rpc('isBlockhashValid', [blockhash, processed])).value, false, 'expired under the short window');
  await faults({ http429: 5 });
  const reset = await faults({ reset: true });
  expectEqual([reset.blockhashValidity, reset.http429, reset.slotMs], [VALIDITY, 0, 0], 'reset settings');
  expectEqual((await rpc('isBlockhashValid', [blockhash, processed])).value, true, 'valid again under the restored window');
  expectEqual((await rpcRaw('exitguard_faults', [{ dropSend: 1 }])).error?.code, -32602, 'unknown setting refused');
});

await check('stats count sends received and accepted', async () => {
  const before = await rpc('exitguard_stats');
  await sendRaw(await freshTransfer(POSITION * 10n)); // preflight failure: received, not accepted
  await send(await freshTransfer(6_000n));
  await advance(1);
  const after = await rpc('exitguard_stats');
  expectEqual([after.sendsReceived - before.sendsReceived, after.sendsAccepted - before.sendsAccepted], [2, 1], 'deltas');
  expectEqual(after.landed.length - before.landed.length, 1, 'landed delta');
});

await check('the server exits when its stdin closes', async () => {
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  child.stdin.end();
  const code = await Promise.race([exited, sleep(3000).then(() => 'still running')]);
  expectEqual(code, 0, 'exit code');
});

if (child.exitCode === null) child.kill('SIGTERM');
console.log(`# ${Date.now() - started} ms`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
