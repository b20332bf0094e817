// SPAKE2 (RFC 9382) over P-256, ciphersuite P256-SHA256-HKDF-HMAC: the
// guest who typed a code and a PIN and the clinician who holds the room
// secret agree on a key over signaling, and each learns whether the other
// knew the same PIN. Same as client/e2ee/pake (Go); an interop test runs
// one against the other, and docs/SECURITY.md describes the construction.
// No DOM here: page, workers and node tests import it.
//
// Curve arithmetic: @noble/curves (vendor/noble-curves), audited, with
// constant-time multiplication for secret scalars.
//
//   pA = w*M + x*P           pB = w*N + y*P
//   K  = x*(pB - w*N)  (A)   K  = y*(pA - w*M)  (B)
//   TT = len(A)||A || len(B)||B || len(pA)||pA || len(pB)||pB || len(K)||K || len(w)||w
//        (len: 8 bytes little-endian)
//   Ke || Ka  = SHA-256(TT)
//   KcA || KcB = HKDF-SHA256(Ka, salt = nil, info = "ConfirmationKeys" || AAD, 32)
//   cA = HMAC(KcA, TT), cB = HMAC(KcB, TT)
//   w = Argon2id(PIN, SHA-256("konsil/pake/v1 w" || len(A)||A || len(B)||B || len(AAD)||AAD),
//                t = 2, m = 19456 KiB, p = 1, 40 bytes) mod n

import { p256 } from '../vendor/noble-curves/nist.js';
import { sha256 } from '../vendor/noble-hashes/sha2.js';
import { hmac } from '../vendor/noble-hashes/hmac.js';
import { hkdf } from '../vendor/noble-hashes/hkdf.js';
import { argon2idAsync } from '../vendor/noble-hashes/argon2.js';

/** Size of pA and pB: an uncompressed SEC1 P-256 point. */
export const MESSAGE_SIZE = 65;
/** Size of a key confirmation (HMAC-SHA256). */
export const CONFIRM_SIZE = 32;
/** Size of the shared key Ke: half of SHA-256 (RFC 9382 §4). */
export const KEY_SIZE = 16;
/** Most bytes each identity and the AAD may have. */
export const MAX_CONTEXT_SIZE = 1024;

export const ROLE_A = 'A';
export const ROLE_B = 'B';

// RFC 9382 §6: M and N for P-256, compressed SEC1. pake.test.js
// regenerates both from their seeds.
export const POINT_M = '02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f';
export const POINT_N = '03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49';

const Point = p256.Point;
const ORDER = Point.Fn.ORDER;
const M = Point.fromHex(POINT_M);
const N = Point.fromHex(POINT_N);

const KDF = { t: 2, m: 19 * 1024, p: 1, dkLen: 40 };
const SALT_LABEL = 'konsil/pake/v1 w';
const CONFIRMATION_INFO = 'ConfirmationKeys';

const utf8 = new TextEncoder();

/**
 * The one error class; `code` says what went wrong, as Go's sentinels do:
 * 'bad_message' (the peer's message is not a valid point, or cancels the
 * mask), 'confirmation' (other PIN, or a message changed on the way),
 * 'bad_input' (empty PIN, context too long), 'state' (steps out of order).
 */
export class PakeError extends Error {
  constructor(code, message) {
    super(`pake: ${message}`);
    this.name = 'PakeError';
    this.code = code;
  }
}

const bytes = (v) => (typeof v === 'string' ? utf8.encode(v) : v ?? new Uint8Array(0));

function le64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Each part prefixed by its length, 8 bytes little-endian (RFC 9382 §3.3). */
function lengthPrefixed(parts) {
  return concat(parts.flatMap((p) => [le64(p.length), p]));
}

function checkContext(idA, idB, aad) {
  for (const [name, b] of [['idA', idA], ['idB', idB], ['aad', aad]]) {
    if (!(b instanceof Uint8Array)) throw new PakeError('bad_input', `${name} must be bytes or a string`);
    if (b.length > MAX_CONTEXT_SIZE) {
      throw new PakeError('bad_input', `${name} is ${b.length} bytes, at most ${MAX_CONTEXT_SIZE}`);
    }
  }
}

const toBig = (b) => BigInt('0x' + (Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('') || '0'));

function toBytes32(n) {
  const b = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    b[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return b;
}

/**
 * w for a PIN (see the header): the same 32 bytes as Go's pake.Scalar.
 * Runs Argon2id (19 MiB) without blocking the page for long stretches.
 * @param {string|Uint8Array} password already normalised (a PIN: digits only)
 * @returns {Promise<Uint8Array>}
 */
export async function passwordScalar(password, idA, idB, aad) {
  const pw = bytes(password);
  [idA, idB, aad] = [bytes(idA), bytes(idB), bytes(aad)];
  if (!(pw instanceof Uint8Array) || pw.length === 0) throw new PakeError('bad_input', 'empty password');
  checkContext(idA, idB, aad);
  const salt = sha256(concat([utf8.encode(SALT_LABEL), lengthPrefixed([idA, idB, aad])]));
  const w = toBig(await argon2idAsync(pw, salt, KDF)) % ORDER;
  if (w === 0n) throw new PakeError('bad_input', 'password hashes to zero');
  return toBytes32(w);
}

/** A uniform scalar in [1, n), by rejection sampling (RFC 9382 §7). */
function randomScalar() {
  for (;;) {
    const x = toBig(crypto.getRandomValues(new Uint8Array(32)));
    if (x > 0n && x < ORDER) return x;
  }
}

/**
 * Decodes a peer's pA or pB: exactly 65 bytes, an uncompressed point on
 * P-256 (not the identity). One encoding per message, so both sides hash
 * the same transcript.
 * @param {Uint8Array} b @returns {import('../vendor/noble-curves/nist.js').p256.Point}
 */
export function parseMessage(b) {
  if (!(b instanceof Uint8Array) || b.length !== MESSAGE_SIZE || b[0] !== 4) {
    throw new PakeError('bad_message', `want ${MESSAGE_SIZE} bytes starting 0x04`);
  }
  try {
    return Point.fromBytes(b);
  } catch (e) {
    throw new PakeError('bad_message', `not a point on P-256 (${e.message})`);
  }
}

/**
 * One party's side of one exchange: start(), finish(peerMsg) and
 * verify(peerConfirm), once each and in that order; any error ends it.
 * The key comes only from verify, after the peer proved it knew the PIN.
 */
export class Exchange {
  #role;
  #w;
  #wBytes;
  #idA;
  #idB;
  #aad;
  #random;
  #step = 'new';
  #x = 0n;
  #own = null;
  #key = null;
  #peerConfirm = null;

  /**
   * Use createA / createB; this is for w given directly (RFC vectors).
   * `random` returns the ephemeral scalar as a bigint; tests pass the
   * RFC's x or y, everyone else leaves it out.
   */
  constructor(role, w, idA, idB, aad, { random = randomScalar } = {}) {
    if (role !== ROLE_A && role !== ROLE_B) throw new PakeError('bad_input', `role must be A or B`);
    [idA, idB, aad] = [bytes(idA), bytes(idB), bytes(aad)];
    checkContext(idA, idB, aad);
    const wBig = w instanceof Uint8Array && w.length === 32 ? toBig(w) : 0n;
    if (wBig <= 0n || wBig >= ORDER) throw new PakeError('bad_input', 'w is not a nonzero scalar below n');
    this.#role = role;
    this.#w = wBig;
    this.#wBytes = Uint8Array.from(w);
    this.#idA = Uint8Array.from(idA);
    this.#idB = Uint8Array.from(idB);
    this.#aad = Uint8Array.from(aad);
    this.#random = random;
  }

  get role() {
    return this.#role;
  }

  /** This side's message (pA or pB, 65 bytes) for the peer. */
  start() {
    this.#expect('new', 'start');
    const x = this.#random();
    if (typeof x !== 'bigint' || x <= 0n || x >= ORDER) throw this.#fail('bad_input', 'ephemeral scalar out of range');
    const own = this.#role === ROLE_A ? M : N;
    this.#x = x;
    this.#own = own.multiply(this.#w).add(Point.BASE.multiply(x)).toBytes(false);
    this.#step = 'started';
    return Uint8Array.from(this.#own);
  }

  /**
   * Takes the peer's message, returns this side's key confirmation
   * (32 bytes) for the peer.
   * @param {Uint8Array} peerMsg @returns {Uint8Array}
   */
  finish(peerMsg) {
    this.#expect('started', 'finish');
    let peer;
    try {
      peer = parseMessage(peerMsg);
    } catch (e) {
      throw this.#fail(e.code, e.message);
    }
    if (equalBytes(peerMsg, this.#own)) throw this.#fail('bad_message', 'our own message came back');
    const mask = (this.#role === ROLE_A ? N : M).multiply(this.#w);
    const T = peer.subtract(mask);
    if (T.is0()) throw this.#fail('bad_message', 'the message cancels the password mask');
    const K = T.multiply(this.#x).toBytes(false);
    const [pA, pB] = this.#role === ROLE_A ? [this.#own, peerMsg] : [peerMsg, this.#own];
    const s = schedule(transcript(this.#idA, this.#idB, pA, pB, K, this.#wBytes), this.#aad);
    this.#key = s.ke;
    const [mine, theirs] = this.#role === ROLE_A ? [s.confirmA, s.confirmB] : [s.confirmB, s.confirmA];
    this.#peerConfirm = theirs;
    this.#x = 0n;
    this.#step = 'finished';
    return mine;
  }

  /**
   * Checks the peer's confirmation; returns the 16-byte shared key Ke.
   * Throws PakeError 'confirmation' for another PIN or a changed message.
   * @param {Uint8Array} peerConfirm @returns {Uint8Array}
   */
  verify(peerConfirm) {
    this.#expect('finished', 'verify');
    if (!(peerConfirm instanceof Uint8Array) || !equalBytes(peerConfirm, this.#peerConfirm)) {
      throw this.#fail('confirmation', 'key confirmation failed');
    }
    this.#step = 'verified';
    return Uint8Array.from(this.#key);
  }

  #expect(step, method) {
    if (this.#step !== step) throw new PakeError('state', `${method} on a ${this.#step} exchange`);
  }

  #fail(code, message) {
    this.#step = 'failed';
    this.#x = 0n;
    this.#key = null;
    this.#peerConfirm = null;
    return new PakeError(code, message);
  }
}

/**
 * The A side: derives w from the PIN (Argon2id, async) and returns a fresh
 * exchange. Both sides pass the same idA, idB and aad.
 * @returns {Promise<Exchange>}
 */
export async function createA(password, idA, idB, aad) {
  return new Exchange(ROLE_A, await passwordScalar(password, idA, idB, aad), idA, idB, aad);
}

/** The B side; see createA. @returns {Promise<Exchange>} */
export async function createB(password, idA, idB, aad) {
  return new Exchange(ROLE_B, await passwordScalar(password, idA, idB, aad), idA, idB, aad);
}

/** TT of RFC 9382 §3.3. Exported for the vector tests. */
export function transcript(idA, idB, pA, pB, K, w) {
  return lengthPrefixed([idA, idB, pA, pB, K, w]);
}

/** The key schedule of RFC 9382 §4. Exported for the vector tests. */
export function schedule(tt, aad) {
  const h = sha256(tt);
  const ke = h.slice(0, KEY_SIZE);
  const ka = h.slice(KEY_SIZE);
  const kc = hkdf(sha256, ka, undefined, concat([utf8.encode(CONFIRMATION_INFO), bytes(aad)]), 2 * KEY_SIZE);
  const kcA = kc.slice(0, KEY_SIZE);
  const kcB = kc.slice(KEY_SIZE);
  return { ke, ka, kcA, kcB, confirmA: hmac(sha256, kcA, tt), confirmB: hmac(sha256, kcB, tt) };
}

/** Compares in time that depends only on the lengths. */
function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
