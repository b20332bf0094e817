// The slow half of the password derivation (docs/WORKSPACE.md, "Passwords
// never reach the server"): master = argon2id(password, salt, t, m, p=1,
// 32 bytes). No DOM here: the KDF worker, the page's fallback and the
// node tests all import it.

import { argon2id, argon2idAsync } from '../vendor/noble-hashes/argon2.js';
import * as b64 from '../e2ee/b64.js';
import { KDF_LIMITS, SALT_SIZE } from './crypto.js';

export const MASTER_SIZE = 32;

const utf8 = new TextEncoder();

/** Thrown for KDF parameters outside the contract's bounds. */
export class KdfParamsError extends Error {
  constructor(message) {
    super(message);
    this.name = 'KdfParamsError';
  }
}

/**
 * Checks {salt (base64url, 16 bytes), t, m} and returns them decoded.
 * @returns {{salt: Uint8Array, t: number, m: number}}
 */
export function checkParams(kdf) {
  let salt;
  try {
    salt = b64.decode(kdf && kdf.salt);
  } catch {
    throw new KdfParamsError('kdf: salt is not base64url');
  }
  if (salt.length !== SALT_SIZE) throw new KdfParamsError('kdf: salt must be 16 bytes');
  // The server's bounds, checked here too: the parameters come from the
  // server, and a weakened t or m would make the wrapped key cheap to guess.
  const { t, m } = kdf;
  const L = KDF_LIMITS;
  if (!Number.isInteger(t) || t < L.minT || t > L.maxT) throw new KdfParamsError('kdf: t out of range');
  if (!Number.isInteger(m) || m < L.minM || m > L.maxM) throw new KdfParamsError('kdf: m out of range');
  return { salt, t, m };
}

function options({ t, m }) {
  return { t, m, p: 1, dkLen: MASTER_SIZE };
}

/**
 * The 32-byte master secret, synchronously (a worker, or tests).
 * @param {string} password @param {{salt: string, t: number, m: number}} kdf
 * @returns {Uint8Array}
 */
export function masterKey(password, kdf) {
  const p = checkParams(kdf);
  return argon2id(utf8.encode(password), p.salt, options(p));
}

/**
 * The same, yielding to the event loop now and then: the page's fallback
 * when no worker can run, so the "please wait" state still paints.
 * @returns {Promise<Uint8Array>}
 */
export function masterKeyAsync(password, kdf) {
  const p = checkParams(kdf);
  return argon2idAsync(utf8.encode(password), p.salt, { ...options(p), asyncTick: 50 });
}
