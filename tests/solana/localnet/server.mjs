#!/usr/bin/env node
// The exitguard Solana localnet: a JSON-RPC 2.0 server on 127.0.0.1 over one
// LiteSVM instance, with slots, commitments and fault injection (README.md).
//
//   node server.mjs [--port N] [--slot-ms MS] [--blockhash-validity BLOCKS] [--verbose]
//
// Prints exactly one line, `listening http://127.0.0.1:<port>`, on stdout when ready.
// Exits on SIGTERM/SIGINT, and when its stdin (if a pipe or socket) closes, so a test
// process that dies never leaves it running. HTTP/1.1 keep-alive; batches supported.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';

import { LocalChain, RpcError } from './chain.mjs';
import { stringifyJson } from './codec.mjs';
import { Faults } from './faults.mjs';
import { RpcMethods } from './rpc.mjs';

const MAX_BODY_BYTES = 1 << 20;

function usage(message) {
  process.stderr.write(`${message}\nusage: node server.mjs [--port N] [--slot-ms MS] [--blockhash-validity BLOCKS] [--verbose]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { port: 0, slotMs: 400, blockhashValidity: 150, verbose: false };
  const integer = (name, value, min) => {
    const n = Number(value);
    if (value === undefined || !Number.isSafeInteger(n) || n < min) usage(`${name} needs an integer >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--port') options.port = integer(arg, argv[++i], 0);
    else if (arg === '--slot-ms') options.slotMs = integer(arg, argv[++i], 0);
    else if (arg === '--blockhash-validity') options.blockhashValidity = integer(arg, argv[++i], 1);
    else if (arg === '--verbose') options.verbose = true;
    else usage(`unknown argument ${arg}`);
  }
  if (options.port > 65535) usage('--port must be at most 65535');
  return options;
}

const options = parseArgs(process.argv.slice(2));
const require = createRequire(import.meta.url);
const litesvmVersion = require('litesvm/package.json').version;
const { FeatureSet } = require('litesvm');

// getVersion's feature-set: a u32 naming the set of active features (LiteSVM runs with
// all features enabled). Agave hashes the same set with Rust's SipHash; this uses sha256.
function featureSetId() {
  const ids = FeatureSet.allEnabled().getActiveFeatures().map((b) => Buffer.from(b)).sort(Buffer.compare);
  return crypto.createHash('sha256').update(Buffer.concat(ids)).digest().readUInt32LE(0);
}

const chain = new LocalChain({ blockhashValidity: options.blockhashValidity });
const faults = new Faults({ slotMs: options.slotMs, blockhashValidity: options.blockhashValidity });

// The auto-advance timer: one slot every slotMs (0: slots move only on exitguard_advanceSlots).
// A throw here would end the process: report it and let the next tick try again.
function advanceOnTimer() {
  try {
    chain.advanceSlot();
  } catch (e) {
    process.stderr.write(`slot advance failed: ${e.stack}\n`);
  }
}
let slotTimer = null;
let slotTimerMs = -1;
function scheduleSlots(ms) {
  if (ms === slotTimerMs) return;
  slotTimerMs = ms;
  if (slotTimer) clearInterval(slotTimer);
  slotTimer = ms > 0 ? setInterval(advanceOnTimer, ms) : null;
}
scheduleSlots(options.slotMs);

const methods = new RpcMethods({
  chain,
  faults,
  onFaultsChanged: (settings) => {
    chain.validity = settings.blockhashValidity;
    scheduleSlots(settings.slotMs);
  },
  // The solana-program-runtime version inside litesvm 1.4.1's native module.
  version: { 'solana-core': '4.2.1', 'feature-set': featureSetId(), litesvm: litesvmVersion },
});

function log(line) {
  if (options.verbose) process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

function errorResponse(id, error) {
  const e = { code: error.code, message: error.message };
  if (error.data !== undefined) e.data = error.data;
  return { jsonrpc: '2.0', error: e, id };
}

// One JSON-RPC call -> { response (null for a notification), loseAnswer }.
async function handleCall(call, isControlRequest) {
  if (call === null || typeof call !== 'object' || Array.isArray(call) || call.jsonrpc !== '2.0' || typeof call.method !== 'string') {
    return { response: errorResponse(null, { code: -32600, message: 'Invalid request' }), loseAnswer: false };
  }
  const id = call.id ?? null;
  const isNotification = !('id' in call);
  const params = call.params ?? [];
  let response;
  let loseAnswer = false;
  try {
    if (!Array.isArray(params)) throw new RpcError(-32602, 'Invalid params: expected an array of parameters');
    if (!isControlRequest && faults.take('unhealthy')) {
      throw new RpcError(-32005, 'Node is unhealthy', { numSlotsBehind: faults.get('numSlotsBehind') });
    }
    const out = await methods.call(call.method, params);
    loseAnswer = out.loseAnswer === true;
    response = { jsonrpc: '2.0', result: out.result, id };
  } catch (e) {
    if (!(e instanceof RpcError)) {
      process.stderr.write(`internal error in ${call.method}: ${e.stack}\n`);
      e.code = -32603;
      e.message = `Internal error: ${e.message}`;
    }
    response = errorResponse(id, e);
  }
  log(`${call.method} -> ${response.error ? `error ${response.error.code} ${response.error.message}` : 'ok'}${loseAnswer ? ' (answer lost)' : ''}`);
  return { response: isNotification ? null : response, loseAnswer };
}

const silentRequests = new Set(); // answers the loseSendAnswers fault never sends

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

async function handleHttp(req, res) {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST', 'Content-Length': 0 });
    res.end();
    return;
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      res.writeHead(413, { Connection: 'close', 'Content-Length': 0 });
      res.end();
      req.destroy();
      return;
    }
    chunks.push(chunk);
  }
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    send(res, 200, stringifyJson(errorResponse(null, { code: -32700, message: 'Parse error' })));
    return;
  }
  const calls = Array.isArray(body) ? body : [body];
  const isCall = (c) => c !== null && typeof c === 'object' && typeof c.method === 'string';
  // Control methods are never subject to faults, nor is a batch that carries one.
  const isControlRequest = calls.some((c) => isCall(c) && methods.isControl(c.method));
  chain.stats.sendsReceived += calls.filter((c) => isCall(c) && c.method === 'sendTransaction').length;
  if (Array.isArray(body) && calls.length === 0) {
    send(res, 200, stringifyJson(errorResponse(null, { code: -32600, message: 'Invalid request' })));
    return;
  }
  if (!isControlRequest && faults.take('http429')) {
    const id = isCall(calls[0]) ? calls[0].id ?? null : null;
    send(res, 429, stringifyJson(errorResponse(id, { code: 429, message: 'Too many requests for a specific RPC call' })),
      { 'Retry-After': String(faults.get('retryAfterSeconds')) });
    log('answered HTTP 429');
    return;
  }
  if (!isControlRequest && faults.take('http503')) {
    const text = 'Service Unavailable';
    res.writeHead(503, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
    log('answered HTTP 503');
    return;
  }
  const answers = [];
  let loseAnswer = false;
  for (const call of calls) {
    const { response, loseAnswer: lose } = await handleCall(call, isControlRequest);
    loseAnswer ||= lose;
    if (response) answers.push(response);
  }
  if (loseAnswer) {
    // Keep the socket open and say nothing until the client gives up and closes it.
    silentRequests.add(res);
    res.on('close', () => silentRequests.delete(res));
    return;
  }
  const payload = Array.isArray(body) ? stringifyJson(answers) : answers.length > 0 ? stringifyJson(answers[0]) : '';
  const stallMs = isControlRequest ? 0 : faults.get('stallMs');
  if (stallMs > 0) setTimeout(() => { if (!res.destroyed) send(res, 200, payload); }, stallMs);
  else send(res, 200, payload);
}

const server = http.createServer((req, res) => {
  handleHttp(req, res).catch((e) => {
    process.stderr.write(`request failed: ${e.stack}\n`);
    if (!res.headersSent) send(res, 500, stringifyJson(errorResponse(null, { code: -32603, message: 'Internal error' })));
  });
});
// Generous idle keep-alive so a client's pooled connection is not closed between test steps.
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;

let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  log(`stopping: ${reason}`);
  scheduleSlots(0);
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// Only a pipe or socket on stdin is watched: /dev/null or a closed stdin would end the
// server at once, which is not what `node server.mjs < /dev/null &` means.
let stdinStat = null;
try {
  stdinStat = fs.fstatSync(0);
} catch {
  // no stdin at all: nothing to watch
}
if (stdinStat && (stdinStat.isFIFO() || stdinStat.isSocket())) {
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}

server.on('error', (e) => {
  process.stderr.write(`cannot listen: ${e.message}\n`);
  process.exit(1);
});
server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
