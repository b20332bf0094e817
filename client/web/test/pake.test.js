// SPAKE2 in the browser module: RFC 9382 Appendix B (the JSON the Go tests
// read too), M and N from their seeds, and the stories of client/e2ee/pake:
// same PIN agrees, wrong PIN and a relay in the middle fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import {
  CONFIRM_SIZE,
  Exchange,
  KEY_SIZE,
  MESSAGE_SIZE,
  POINT_M,
  POINT_N,
  PakeError,
  ROLE_A,
  ROLE_B,
  createA,
  createB,
  passwordScalar,
  schedule,
  transcript,
} from '../static/js/e2ee/pake.js';
import { p256 } from '../static/js/vendor/noble-curves/nist.js';

const rfc = JSON.parse(readFileSync(new URL('./testdata/spake2-rfc9382.json', import.meta.url), 'utf8'));
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const big = (s) => BigInt('0x' + s);

const HOST = 'konsil host';
const GUEST = 'konsil guest';
const AAD = 'room R7 attempt 1';

const isCode = (code) => (e) => e instanceof PakeError && e.code === code;

test('RFC 9382 Appendix B: every vector, both roles', () => {
  assert.equal(rfc.vectors.length, 4);
  for (const v of rfc.vectors) {
    const name = `A='${v.A}' B='${v.B}'`;
    const a = new Exchange(ROLE_A, unhex(v.w), v.A, v.B, undefined, { random: () => big(v.x) });
    const b = new Exchange(ROLE_B, unhex(v.w), v.A, v.B, undefined, { random: () => big(v.y) });
    const pA = a.start();
    const pB = b.start();
    assert.equal(hex(pA), v.pA, `${name} pA`);
    assert.equal(hex(pB), v.pB, `${name} pB`);
    const cA = a.finish(pB);
    const cB = b.finish(pA);
    assert.equal(hex(cA), v.cA, `${name} A conf`);
    assert.equal(hex(cB), v.cB, `${name} B conf`);
    assert.equal(hex(a.verify(cB)), v.Ke, `${name} Ke (A)`);
    assert.equal(hex(b.verify(cA)), v.Ke, `${name} Ke (B)`);
  }
});

test('RFC 9382 Appendix B: transcript and key schedule step by step', () => {
  const utf8 = new TextEncoder();
  for (const v of rfc.vectors) {
    const tt = transcript(utf8.encode(v.A), utf8.encode(v.B), unhex(v.pA), unhex(v.pB), unhex(v.K), unhex(v.w));
    assert.equal(hex(tt), v.TT);
    const s = schedule(tt);
    assert.equal(hex(s.ke) + hex(s.ka), v.hash_TT);
    assert.equal(hex(s.kcA), v.KcA);
    assert.equal(hex(s.kcB), v.KcB);
    assert.equal(hex(s.confirmA), v.cA);
    assert.equal(hex(s.confirmB), v.cB);
  }
});

// RFC 9382 Appendix A's gen_point for P-256, with node's own SHA-256.
function generatePoint(seed) {
  const iterated = (n) => {
    let h = Buffer.from(seed);
    for (let i = 0; i < n; i++) h = createHash('sha256').update(h).digest();
    return h;
  };
  for (let i = 1; i < 1000; i++) {
    const s = new Uint8Array(Buffer.concat([iterated(i), iterated(i + 1)]).subarray(0, 33));
    s[0] = (s[0] & 1) | 2;
    try {
      p256.Point.fromBytes(s);
      return hex(s);
    } catch {
      // not on the curve: next block
    }
  }
  throw new Error(`no point for ${seed}`);
}

test('M and N come from their published seeds', () => {
  assert.equal(generatePoint(rfc.M_seed), POINT_M);
  assert.equal(generatePoint(rfc.N_seed), POINT_N);
  assert.equal(POINT_M, rfc.M);
  assert.equal(POINT_N, rfc.N);
});

test('w from a PIN is the same as Go derives (pake.Scalar)', async () => {
  // client/e2ee/pake TestScalarKnownAnswer holds Go to the same value.
  const w = await passwordScalar('482173', HOST, GUEST, AAD);
  assert.equal(hex(w), '0872f7f97d6146a6a21d48d9c0b2f544b9b6457835210ab4fe4dc9cf6886071a');
  await assert.rejects(passwordScalar('', HOST, GUEST, AAD), isCode('bad_input'));
  await assert.rejects(passwordScalar('1', HOST, GUEST, new Uint8Array(1025)), isCode('bad_input'));
});

// Exchanges from a w computed once: the protocol tests need not pay
// Argon2id for every party.
async function sides(pinA, pinB = pinA) {
  const wA = await passwordScalar(pinA, HOST, GUEST, AAD);
  const wB = pinB === pinA ? wA : await passwordScalar(pinB, HOST, GUEST, AAD);
  return {
    a: () => new Exchange(ROLE_A, wA, HOST, GUEST, AAD),
    b: () => new Exchange(ROLE_B, wB, HOST, GUEST, AAD),
  };
}

test('same PIN: both confirm and share a fresh 16-byte key', async () => {
  const a = await createA('482173', HOST, GUEST, AAD);
  const b = await createB('482173', HOST, GUEST, AAD);
  const pA = a.start();
  const pB = b.start();
  assert.equal(pA.length, MESSAGE_SIZE);
  const cB = b.finish(pA);
  const cA = a.finish(pB);
  assert.equal(cA.length, CONFIRM_SIZE);
  const keyA = a.verify(cB);
  const keyB = b.verify(cA);
  assert.equal(keyA.length, KEY_SIZE);
  assert.deepEqual(keyA, keyB);

  const { a: a2, b: b2 } = await sides('482173');
  const x = a2();
  const y = b2();
  const [m1, m2] = [x.start(), y.start()];
  const [c1, c2] = [x.finish(m2), y.finish(m1)];
  assert.notDeepEqual(x.verify(c2), keyA, 'a second exchange must not repeat the key');
  y.verify(c1);
});

test('wrong PIN: both confirmations fail, no key', async () => {
  const { a, b } = await sides('482173', '482174');
  const [x, y] = [a(), b()];
  const [pA, pB] = [x.start(), y.start()];
  const [cA, cB] = [x.finish(pB), y.finish(pA)];
  assert.throws(() => x.verify(cB), isCode('confirmation'));
  assert.throws(() => y.verify(cA), isCode('confirmation'));
  assert.throws(() => x.verify(cB), isCode('state'), 'a failed exchange stays failed');
});

test('a relay in the middle fails: own exchange with a guess, swapped or reflected messages', async () => {
  const { a, b } = await sides('482173');
  const eve = await sides('000000');

  // Runs an exchange with each side itself, guessing the PIN.
  let [x, y, ea, eb] = [a(), b(), eve.a(), eve.b()];
  let [pA, pB, eA, eB] = [x.start(), y.start(), ea.start(), eb.start()];
  const toA = eb.finish(pA);
  x.finish(eB);
  const toB = ea.finish(pB);
  y.finish(eA);
  assert.throws(() => x.verify(toA), isCode('confirmation'));
  assert.throws(() => y.verify(toB), isCode('confirmation'));

  // Swaps the B messages of two concurrent exchanges with the same PIN.
  const [a1, b1, a2, b2] = [a(), b(), a(), b()];
  const [m1, n1, m2, n2] = [a1.start(), b1.start(), a2.start(), b2.start()];
  a1.finish(n2);
  a2.finish(n1);
  const c1 = b1.finish(m1);
  b2.finish(m2);
  assert.throws(() => a1.verify(c1), isCode('confirmation'));

  // Reflects A's own message, or A's own confirmation.
  [x, y] = [a(), b()];
  [pA, pB] = [x.start(), y.start()];
  assert.throws(() => x.finish(pA), isCode('bad_message'));
  const z = a();
  z.start();
  const own = z.finish(pB);
  assert.throws(() => z.verify(own), isCode('confirmation'));
});

test('refuses peer messages that are not one valid uncompressed point', () => {
  const v = rfc.vectors[0];
  const valid = unhex(v.pB);
  const offCurve = valid.slice();
  offCurve[64] ^= 1;
  const wN = p256.Point.fromHex(POINT_N).multiply(big(v.w)).toBytes(false);
  const cases = {
    empty: new Uint8Array(0),
    identity: new Uint8Array([0]),
    short: valid.slice(0, 64),
    long: new Uint8Array([...valid, 0]),
    compressed: unhex(POINT_N),
    hybrid: new Uint8Array([6, ...valid.slice(1)]),
    'off the curve': offCurve,
    'coordinates over p': new Uint8Array([4, ...new Array(64).fill(0xff)]),
    'w*N cancels the mask': wN,
    'not bytes': 'hello',
  };
  for (const [name, msg] of Object.entries(cases)) {
    const a = new Exchange(ROLE_A, unhex(v.w), v.A, v.B, undefined, { random: () => big(v.x) });
    a.start();
    assert.throws(() => a.finish(msg), isCode('bad_message'), name);
    assert.throws(() => a.verify(new Uint8Array(32)), isCode('state'), `${name}: exchange over`);
  }
});

test('steps once each, in order', async () => {
  const { a, b } = await sides('482173');
  const [x, y] = [a(), b()];
  assert.throws(() => x.finish(new Uint8Array(65)), isCode('state'));
  assert.throws(() => x.verify(new Uint8Array(32)), isCode('state'));
  const [pA, pB] = [x.start(), y.start()];
  assert.throws(() => x.start(), isCode('state'));
  const cA = x.finish(pB);
  const cB = y.finish(pA);
  assert.throws(() => x.finish(pB), isCode('state'));
  x.verify(cB);
  y.verify(cA);
  assert.throws(() => x.verify(cB), isCode('state'));
  assert.throws(() => new Exchange(ROLE_A, new Uint8Array(32), HOST, GUEST, AAD), isCode('bad_input'));
  assert.throws(() => new Exchange('C', unhex(rfc.vectors[0].w), HOST, GUEST, AAD), isCode('bad_input'));
});
