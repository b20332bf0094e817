// The room key schedule, shared by the page and workers (no DOM here).
// Same as client/e2ee/keys.go; docs/SECURITY.md describes it.
//
//   key = HKDF-SHA256(IKM = room secret, salt = "konsil/v1", info = label, L = 32)
//   labels: "konsil media", "konsil chat", "konsil names", "konsil fingerprint"

import * as b64 from './b64.js';

export const SECRET_SIZE = 32;
const SALT = 'konsil/v1';
const LABELS = {
  media: 'konsil media',
  chat: 'konsil chat',
  names: 'konsil names',
  fingerprint: 'konsil fingerprint',
};
const SENDER_LABEL = 'konsil sframe sender ';

const utf8 = new TextEncoder();

/** Thrown for a secret that is not 32 bytes of unpadded base64url. */
export class BadSecretError extends Error {
  constructor() {
    super('room secret must be 32 bytes in unpadded base64url');
    this.name = 'BadSecretError';
  }
}

/**
 * Decodes the k= value of a link fragment. Anything but exactly 32 bytes
 * is refused: the app says "this link is incomplete", never continues
 * with a weaker key.
 * @param {string} s @returns {Uint8Array}
 */
export function parseSecret(s) {
  let b;
  try {
    b = b64.decode(s);
  } catch {
    throw new BadSecretError();
  }
  if (b.length !== SECRET_SIZE) throw new BadSecretError();
  return b;
}

async function hkdf(ikm, salt, info, length) {
  const base = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, base, length * 8);
  return new Uint8Array(bits);
}

/**
 * Derives the four room keys (32 bytes each) from the room secret.
 * @param {Uint8Array} secret
 * @returns {Promise<{media: Uint8Array, chat: Uint8Array, names: Uint8Array, fingerprint: Uint8Array}>}
 */
export async function deriveKeys(secret) {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_SIZE) throw new BadSecretError();
  const salt = utf8.encode(SALT);
  const out = {};
  for (const [name, label] of Object.entries(LABELS)) {
    out[name] = await hkdf(secret, salt, utf8.encode(label), 32);
  }
  return out;
}

/**
 * The SFrame base key of one sender: HKDF-SHA256(IKM = media key,
 * salt = empty, info = "konsil sframe sender " || KID as 8-byte big-endian,
 * L = 16).
 * @param {Uint8Array} mediaKey @param {number|bigint} kid @returns {Promise<Uint8Array>}
 */
export async function senderBaseKey(mediaKey, kid) {
  const label = utf8.encode(SENDER_LABEL);
  const info = new Uint8Array(label.length + 8);
  info.set(label);
  new DataView(info.buffer).setBigUint64(label.length, BigInt(kid), false);
  return hkdf(mediaKey, new Uint8Array(0), info, 16);
}
