// The workspace's sealed formats (docs/WORKSPACE.md, "Passwords never
// reach the server" and "Sealed formats"), on WebCrypto. No DOM here:
// the page and the node tests share it. argon2id lives in kdf.js; the
// page runs it in a worker and hands the master secret in here.
//
//   auth     = HKDF-SHA256(master, salt = empty, info = "konsil auth v1", 32)
//   wrapping = HKDF-SHA256(master, salt = empty, info = "konsil wrap v1", 32)
//   sealed   = "v1." + base64url(IV(12) ‖ AES-256-GCM ciphertext ‖ tag)

import * as b64 from '../e2ee/b64.js';

export const KEY_SIZE = 32;
export const SALT_SIZE = 16;
/** argon2id's bounds and defaults (WORKSPACE.md); m in KiB. */
export const KDF_LIMITS = { minT: 2, maxT: 10, minM: 19456, maxM: 262144 };
export const DEFAULT_KDF = { t: 3, m: 65536 };
const IV_SIZE = 12;
const TAG_SIZE = 16;
const PREFIX = 'v1.';
/** The most the server stores for an appointment (WORKSPACE.md). */
export const MAX_SEALED_APPOINTMENT = 16 * 1024;

export const AAD = {
  practiceKey: 'konsil practice key v1',
  invitation: 'konsil invitation v1',
  appointment: 'konsil appointment v1 ',
};
const INFO = { auth: 'konsil auth v1', wrap: 'konsil wrap v1' };

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** Thrown when a sealed value is malformed or does not open under the key. */
export class SealError extends Error {
  constructor(message = 'sealed value does not open') {
    super(message);
    this.name = 'SealError';
  }
}

/** n random bytes. */
export function randomBytes(n) {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** A fresh 32-byte secret (practice key, room secret, invitation secret). */
export function newSecret() {
  return randomBytes(KEY_SIZE);
}

/** New KDF parameters for a password: a fresh 16-byte salt, the defaults. */
export function newKdfParams() {
  return { salt: b64.encode(randomBytes(SALT_SIZE)), ...DEFAULT_KDF };
}

/** Decodes a 32-byte key written in base64url; throws SealError otherwise. */
export function parseKey(s) {
  let b;
  try {
    b = b64.decode(s);
  } catch {
    throw new SealError('key is not base64url');
  }
  if (b.length !== KEY_SIZE) throw new SealError('key must be 32 bytes');
  return b;
}

async function hkdf(master, info) {
  const base = await crypto.subtle.importKey('raw', master, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8.encode(info) }, base, KEY_SIZE * 8);
  return new Uint8Array(bits);
}

/** An AES-256-GCM key from 32 raw bytes (not extractable). */
export async function aesKey(raw) {
  if (!(raw instanceof Uint8Array) || raw.length !== KEY_SIZE) throw new SealError('key must be 32 bytes');
  return crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

async function asKey(key) {
  return key instanceof Uint8Array ? aesKey(key) : key;
}

/**
 * From the argon2id master secret: auth (base64url, sent to the server)
 * and the wrapping key (a CryptoKey that never leaves the page).
 * @param {Uint8Array} master
 * @returns {Promise<{auth: string, wrapping: CryptoKey}>}
 */
export async function loginKeys(master) {
  const auth = await hkdf(master, INFO.auth);
  const wrap = await hkdf(master, INFO.wrap);
  return { auth: b64.encode(auth), wrapping: await aesKey(wrap) };
}

/**
 * The whole login derivation. master(password, kdf) is the argon2id step
 * (kdf.js directly, or the page's worker).
 */
export async function deriveLogin(password, kdf, master) {
  return loginKeys(await master(password, kdf));
}

/**
 * Seals plaintext bytes under key (raw 32 bytes or CryptoKey) with the
 * additional data aad (a string).
 * @returns {Promise<string>}
 */
export async function seal(key, aad, plaintext) {
  const iv = randomBytes(IV_SIZE);
  const k = await asKey(key);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8.encode(aad) }, k, plaintext));
  const out = new Uint8Array(IV_SIZE + ct.length);
  out.set(iv);
  out.set(ct, IV_SIZE);
  return PREFIX + b64.encode(out);
}

/**
 * Opens a sealed value; throws SealError when it is malformed, sealed
 * under another key or bound to other additional data.
 * @returns {Promise<Uint8Array>}
 */
export async function open(key, aad, sealed) {
  if (typeof sealed !== 'string' || !sealed.startsWith(PREFIX)) throw new SealError('not a v1 sealed value');
  let raw;
  try {
    raw = b64.decode(sealed.slice(PREFIX.length));
  } catch {
    throw new SealError('sealed value is not base64url');
  }
  if (raw.length < IV_SIZE + TAG_SIZE) throw new SealError('sealed value too short');
  const k = await asKey(key);
  try {
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: raw.subarray(0, IV_SIZE), additionalData: utf8.encode(aad) }, k, raw.subarray(IV_SIZE));
    return new Uint8Array(pt);
  } catch {
    throw new SealError();
  }
}

/** The practice key wrapped under the user's wrapping key. */
export function wrapPracticeKey(wrapping, practiceKey) {
  return seal(wrapping, AAD.practiceKey, practiceKey);
}

/** Opens the user's wrapped practice key (SealError: wrong password). */
export async function unwrapPracticeKey(wrapping, wrapped) {
  return exactKey(await open(wrapping, AAD.practiceKey, wrapped));
}

/** The practice key wrapped under a 32-byte invitation secret. */
export function wrapForInvitation(secret, practiceKey) {
  return seal(secret, AAD.invitation, practiceKey);
}

/** Opens an invitation's practice key with the secret from its link. */
export async function unwrapInvitation(secret, wrapped) {
  return exactKey(await open(secret, AAD.invitation, wrapped));
}

function exactKey(b) {
  if (b.length !== KEY_SIZE) throw new SealError('practice key must be 32 bytes');
  return b;
}

/**
 * Seals an appointment's JSON under the practice key, bound to its id so
 * that a blob copied onto another appointment does not open there.
 * @returns {Promise<string>}
 */
export async function sealAppointment(practiceKey, id, data) {
  const sealed = await seal(practiceKey, AAD.appointment + id, utf8.encode(JSON.stringify(data)));
  if (sealed.length > MAX_SEALED_APPOINTMENT) throw new SealError('appointment too large');
  return sealed;
}

/** Opens an appointment's JSON; SealError when it does not open. */
export async function openAppointment(practiceKey, id, sealed) {
  const pt = await open(practiceKey, AAD.appointment + id, sealed);
  let data;
  try {
    data = JSON.parse(utf8d.decode(pt));
  } catch {
    throw new SealError('appointment is not JSON');
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new SealError('appointment is not an object');
  return data;
}

// --- passkeys (WORKSPACE.md, "Passkeys") ------------------------------
//
//   prf salt = SHA-256("konsil passkey prf v1"), at create and get
//   wrapping = HKDF-SHA256(PRF output, salt = empty, info = "konsil passkey wrap v1", 32)
//   wrapped  = seal(wrapping, "konsil practice key passkey v1", practice key)

export const PASSKEY = {
  prfLabel: 'konsil passkey prf v1',
  info: 'konsil passkey wrap v1',
  aad: 'konsil practice key passkey v1',
};

/** The PRF input the workspace asks every passkey to evaluate (32 bytes). */
export async function passkeyPrfSalt() {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(PASSKEY.prfLabel)));
}

/** The wrapping key (a CryptoKey) from a passkey's PRF output. */
export async function passkeyWrappingKey(prfOutput) {
  const raw = prfOutput instanceof Uint8Array ? prfOutput : new Uint8Array(prfOutput);
  if (raw.length < 32) throw new SealError('PRF output too short');
  return aesKey(await hkdf(raw, PASSKEY.info));
}

/** The practice key wrapped under a passkey's wrapping key. */
export function wrapPracticeKeyForPasskey(wrapping, practiceKey) {
  return seal(wrapping, PASSKEY.aad, practiceKey);
}

/** Opens a passkey's wrapped practice key (SealError: another passkey's). */
export async function unwrapPasskeyKey(wrapping, wrapped) {
  return exactKey(await open(wrapping, PASSKEY.aad, wrapped));
}

export { b64 };
