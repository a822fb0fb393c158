// tests/solana/vectors/make_vectors.mjs — writes transactions.json, the vectors that
// tests/solana_transaction_test.cpp reproduces byte for byte with
// exitguard/solana/transaction.hpp and exitguard/testing/solana_signer.hpp.
//
// Everything here is compiled and signed by @solana/kit (and the instruction
// builders and account codecs of @solana-program/system and @solana-program/token),
// from fixed seeds: running it again writes the same file. Ed25519 (RFC 8032) is
// deterministic, so the expected signatures are fixed too.
//
//   node tests/solana/vectors/make_vectors.mjs [--node-dir DIR] [--out FILE]
//
// DIR holds the node_modules with the three packages (default: tests/solana/localnet,
// whose package.json pins them); FILE defaults to transactions.json next to this script.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argument = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
};
const nodeDir = resolve(argument('--node-dir', join(here, '..', 'localnet')));
const outFile = resolve(argument('--out', join(here, 'transactions.json')));

// The packages live outside this directory: resolve them from nodeDir.
const requireFromNodeDir = createRequire(join(nodeDir, 'package.json'));
const kit = requireFromNodeDir('@solana/kit');
const system = requireFromNodeDir('@solana-program/system');
const token = requireFromNodeDir('@solana-program/token');
// Kit's own dependency, resolved from kit's location.
const sysvars = createRequire(requireFromNodeDir.resolve('@solana/kit'))('@solana/sysvars');
const versionOf = (name) =>
  JSON.parse(readFileSync(join(nodeDir, 'node_modules', name, 'package.json'), 'utf8')).version;

const {
  address,
  appendTransactionMessageInstructions,
  addSignersToTransactionMessage,
  blockhash,
  createKeyPairSignerFromPrivateKeyBytes,
  createTransactionMessage,
  getAddressComparator,
  getAddressDecoder,
  getBase58Decoder,
  getBase64Decoder,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  pipe,
  setTransactionMessageComputeUnitLimit,
  setTransactionMessageComputeUnitPrice,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  setTransactionMessageLifetimeUsingDurableNonce,
  signTransactionMessageWithSigners,
} = kit;
const { SYSVAR_RECENT_BLOCKHASHES_ADDRESS, SYSVAR_RENT_ADDRESS } = sysvars;
// Kit does not export the compute budget program's address: take it from an
// instruction kit builds for it.
const COMPUTE_BUDGET_PROGRAM_ADDRESS = setTransactionMessageComputeUnitPrice(
  1n,
  createTransactionMessage({ version: 'legacy' }),
).instructions[0].programAddress;

// 32 fixed bytes per label: the seeds, the non-signer accounts, the hashes.
const bytesOf = (label) => new Uint8Array(createHash('sha256').update(`exitguard vectors: ${label}`).digest());
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const base64 = (bytes) => getBase64Decoder().decode(bytes);
const addressOf = (label) => getAddressDecoder().decode(bytesOf(label));

const seedLabels = ['owner', 'nonce authority', 'fee payer', 'sol sender'];
const seeds = Object.fromEntries(seedLabels.map((label) => [label, bytesOf(label)]));
const signers = Object.fromEntries(
  await Promise.all(seedLabels.map(async (label) => [label, await createKeyPairSignerFromPrivateKeyBytes(seeds[label])])),
);

const mint = addressOf('mint');
const source = addressOf('source token account');
const destination = addressOf('destination token account');
const solRecipient = addressOf('sol recipient');
const nonceAccount = addressOf('nonce account');
const recentBlockhash = blockhash(getBase58Decoder().decode(bytesOf('recent blockhash')));
const nonceValue = blockhash(getBase58Decoder().decode(bytesOf('durable nonce value')));
const TOKEN_2022_PROGRAM_ADDRESS = address('TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb');

async function signed(name, description, inputs, message) {
  const transaction = await signTransactionMessageWithSigners(message);
  // Signatures in the message's signer order: the first num_required_signatures keys.
  const signerCount = transaction.messageBytes[0];
  const signerAddresses = Object.keys(transaction.signatures);
  if (signerAddresses.length !== signerCount) throw new Error(`${name}: ${signerAddresses.length} signatures`);
  return {
    name,
    description,
    inputs,
    signers: signerAddresses,
    message_base64: base64(transaction.messageBytes),
    transaction_base64: getBase64EncodedWireTransaction(transaction),
    signatures: signerAddresses.map((signer) => getBase58Decoder().decode(transaction.signatures[signer])),
    transaction_id: getSignatureFromTransaction(transaction),
  };
}

const owner = signers['owner'];
const nonceAuthority = signers['nonce authority'];
const feePayer = signers['fee payer'];
const solSender = signers['sol sender'];

const transactions = [];

// (a) A priority-fee TransferChecked with a recent blockhash, the owner paying the fee.
const amountA = 1_234_567n;
transactions.push(
  await signed(
    'transfer_checked_recent_blockhash',
    'SetComputeUnitPrice then SPL Token TransferChecked, fee payer = token owner, recent blockhash lifetime',
    {
      fee_payer: owner.address,
      compute_unit_price: '25000',
      source,
      mint,
      destination,
      owner: owner.address,
      amount: amountA.toString(),
      decimals: 6,
      token_program: token.TOKEN_PROGRAM_ADDRESS,
      recent_blockhash: recentBlockhash,
    },
    pipe(
      createTransactionMessage({ version: 'legacy' }),
      (m) => setTransactionMessageFeePayerSigner(owner, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: recentBlockhash, lastValidBlockHeight: 1000n }, m),
      (m) => setTransactionMessageComputeUnitPrice(25_000n, m),
      (m) =>
        appendTransactionMessageInstructions(
          [token.getTransferCheckedInstruction({ source, mint, destination, authority: owner, amount: amountA, decimals: 6 })],
          m,
        ),
    ),
  ),
);

// (b) The same kind of exit on a durable nonce: AdvanceNonceAccount first (kit prepends
// it), its authority a second, read-only signer; Token-2022 as the token program.
const amountB = 9_007_199_254_740_993n; // above 2^53: the amount is a u64, not a double
transactions.push(
  await signed(
    'transfer_checked_durable_nonce',
    'AdvanceNonceAccount, SetComputeUnitLimit, SetComputeUnitPrice, Token-2022 TransferChecked; nonce authority is a second signer',
    {
      fee_payer: owner.address,
      nonce_account: nonceAccount,
      nonce_authority: nonceAuthority.address,
      nonce_value: nonceValue,
      compute_unit_limit: 200000,
      compute_unit_price: '1',
      source,
      mint,
      destination,
      owner: owner.address,
      amount: amountB.toString(),
      decimals: 9,
      token_program: TOKEN_2022_PROGRAM_ADDRESS,
    },
    pipe(
      createTransactionMessage({ version: 'legacy' }),
      (m) => setTransactionMessageFeePayerSigner(owner, m),
      (m) =>
        setTransactionMessageLifetimeUsingDurableNonce(
          { nonce: nonceValue, nonceAccountAddress: nonceAccount, nonceAuthorityAddress: nonceAuthority.address },
          m,
        ),
      (m) => addSignersToTransactionMessage([nonceAuthority], m),
      (m) => setTransactionMessageComputeUnitLimit(200_000, m),
      (m) => setTransactionMessageComputeUnitPrice(1n, m),
      (m) =>
        appendTransactionMessageInstructions(
          [
            token.getTransferCheckedInstruction(
              { source, mint, destination, authority: owner, amount: amountB, decimals: 9 },
              { programAddress: TOKEN_2022_PROGRAM_ADDRESS },
            ),
          ],
          m,
        ),
    ),
  ),
);

// (c) Three signers in every role: a separate fee payer, a SOL sender (writable signer)
// and the token owner (read-only signer) of a plain SPL Token Transfer.
const amountC = 42n;
const lamportsC = 1_500_000_000n;
transactions.push(
  await signed(
    'transfer_and_sol_transfer_three_signers',
    'SPL Token Transfer by the owner and System Transfer by another signer, a third signer paying the fee',
    {
      fee_payer: feePayer.address,
      source,
      destination,
      owner: owner.address,
      amount: amountC.toString(),
      token_program: token.TOKEN_PROGRAM_ADDRESS,
      sol_from: solSender.address,
      sol_to: solRecipient,
      lamports: lamportsC.toString(),
      recent_blockhash: recentBlockhash,
    },
    pipe(
      createTransactionMessage({ version: 'legacy' }),
      (m) => setTransactionMessageFeePayerSigner(feePayer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash: recentBlockhash, lastValidBlockHeight: 1000n }, m),
      (m) =>
        appendTransactionMessageInstructions(
          [
            token.getTransferInstruction({ source, destination, authority: owner, amount: amountC }),
            system.getTransferSolInstruction({ source: solSender, destination: solRecipient, amount: lamportsC }),
          ],
          m,
        ),
    ),
  ),
);

// Account data, encoded by the programs' own codecs.
const nonceAccountData = system.getNonceEncoder().encode({
  version: system.NonceVersion.Current,
  state: system.NonceState.Initialized,
  authority: nonceAuthority.address,
  blockhash: nonceValue,
  lamportsPerSignature: 5000n,
});
const tokenAccountAmount = 18_446_744_073_709_551_000n; // near u64's maximum
const tokenAccountData = token.getTokenEncoder().encode({
  mint,
  owner: owner.address,
  amount: tokenAccountAmount,
  delegate: addressOf('delegate'),
  state: token.AccountState.Initialized,
  isNative: null,
  delegatedAmount: 7n,
  closeAuthority: null,
});

// Kit orders the accounts of one role by their base58 text under an ICU collation;
// these addresses, sorted by kit's comparator, pin that order down. Some differ from
// another only in the case of one letter, where the collation's tie-break decides.
const orderSample = [];
for (let i = 0; i < 200; ++i) orderSample.push(addressOf(`order ${i}`));
const base58Alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
for (let i = 0; i < 40; ++i) {
  const text = orderSample[i];
  for (let at = 0; at < text.length; ++at) {
    const c = text[at];
    const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
    if (flipped === c || !base58Alphabet.includes(flipped)) continue;
    const candidate = text.slice(0, at) + flipped + text.slice(at + 1);
    try {
      orderSample.push(address(candidate)); // refused unless it decodes to 32 bytes
      break;
    } catch {
      // Not a 32-byte value once flipped: try the next letter.
    }
  }
}
// Short ones: values with many leading zero bytes encode as fewer characters.
for (let zeros = 1; zeros <= 8; ++zeros) {
  const bytes = bytesOf(`short ${zeros}`);
  bytes.fill(0, 0, zeros);
  orderSample.push(getAddressDecoder().decode(bytes));
}
// Prefixes: for s below 2^256 / 58, s * 58 + d is written as s's text plus one digit, so
// the shorter text is a prefix of the longer (also when the longer differs in case).
const toBytes32 = (value) => Uint8Array.from({ length: 32 }, (_, i) => Number((value >> BigInt(8 * (31 - i))) & 0xffn));
for (let i = 0; i < 6; ++i) {
  const bytes = bytesOf(`prefix ${i}`);
  bytes[0] = 1 + (i % 3); // in [2^248, 2^250): no leading '1', and times 58 still fits
  const shorter = getAddressDecoder().decode(bytes);
  const value = BigInt('0x' + hex(bytes));
  const longer = getAddressDecoder().decode(toBytes32(value * 58n + BigInt(i * 9)));
  if (!longer.startsWith(shorter) || longer.length !== shorter.length + 1) throw new Error('prefix construction');
  orderSample.push(shorter, longer);
  const at = [...longer].findIndex((c) => /[a-km-zA-HJ-NP-Z]/.test(c) && base58Alphabet.includes(c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()));
  const c = longer[at];
  const flipped = longer.slice(0, at) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + longer.slice(at + 1);
  try {
    orderSample.push(address(flipped));
  } catch {
    // Flipped, it is not 32 bytes: the unflipped pair is enough.
  }
}
const kitOrder = [...new Set(orderSample)].sort(getAddressComparator());

// base58 of assorted bytes, leading zeros (each one a '1') and empty included.
const base58Inputs = [
  [],
  [0],
  [0, 0, 0],
  [0, 0, 0, 1],
  [1],
  [57],
  [58],
  [255],
  [0, 255, 255],
  new Array(32).fill(0),
  new Array(32).fill(255),
  new Array(64).fill(255),
  [...new Array(5).fill(0), ...bytesOf('base58 after zeros')],
  [...bytesOf('base58 64 a'), ...bytesOf('base58 64 b')],
  [...bytesOf('base58 odd')].slice(0, 7),
];
const base58Vectors = base58Inputs.map((bytes) => ({
  hex: hex(Uint8Array.from(bytes)),
  text: getBase58Decoder().decode(Uint8Array.from(bytes)),
}));

const wellKnown = {
  system_program: system.SYSTEM_PROGRAM_ADDRESS,
  token_program: token.TOKEN_PROGRAM_ADDRESS,
  token_2022_program: TOKEN_2022_PROGRAM_ADDRESS,
  associated_token_program: token.ASSOCIATED_TOKEN_PROGRAM_ADDRESS,
  sysvar_recent_blockhashes: SYSVAR_RECENT_BLOCKHASHES_ADDRESS,
  sysvar_rent: SYSVAR_RENT_ADDRESS,
  compute_budget_program: COMPUTE_BUDGET_PROGRAM_ADDRESS,
};
for (const [name, value] of Object.entries(wellKnown)) if (!value) throw new Error(`no address for ${name}`);

const vectors = {
  generated_by: 'tests/solana/vectors/make_vectors.mjs',
  packages: {
    '@solana/kit': versionOf('@solana/kit'),
    '@solana-program/system': versionOf('@solana-program/system'),
    '@solana-program/token': versionOf('@solana-program/token'),
  },
  seed_rule: 'each seed and each fixed 32-byte value is sha256("exitguard vectors: <label>")',
  keypairs: seedLabels.map((label) => ({ label, seed_hex: hex(seeds[label]), pubkey: signers[label].address })),
  well_known: wellKnown,
  base58: base58Vectors,
  transactions,
  accounts: {
    nonce: {
      data_base64: base64(nonceAccountData),
      version: 1,
      state: 1,
      authority: nonceAuthority.address,
      nonce_value: nonceValue,
      lamports_per_signature: '5000',
    },
    token: {
      data_base64: base64(tokenAccountData),
      mint,
      owner: owner.address,
      amount: tokenAccountAmount.toString(),
      delegate: addressOf('delegate'),
      state: 1,
      delegated_amount: '7',
    },
  },
  kit_address_order: kitOrder,
};

writeFileSync(outFile, JSON.stringify(vectors, null, 2) + '\n');
console.log(`wrote ${outFile}: ${transactions.length} transactions, ${kitOrder.length} ordered addresses`);
