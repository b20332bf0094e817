// Payloads of signaling meta messages: base64url(JSON {"t": kind, "v":
// base64url bytes}). Kinds: "fp" (fingerprint MAC), "name" (sealed
// display name), "mute" (sealed mute state, conferences). Unknown kinds
// are returned for the caller to ignore.

import * as b64 from './b64.js';

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

export const META_FP = 'fp';
export const META_NAME = 'name';
export const META_MUTE = 'mute';

/** @param {string} kind @param {Uint8Array} value @returns {string} meta.data */
export function encodeMeta(kind, value) {
  return b64.encode(utf8.encode(JSON.stringify({ t: kind, v: b64.encode(value) })));
}

/** @param {string} data @returns {{kind: string, value: Uint8Array}} throws on malformed */
export function decodeMeta(data) {
  const j = JSON.parse(utf8d.decode(b64.decode(data)));
  if (!j || typeof j.t !== 'string' || !j.t || typeof j.v !== 'string') throw new Error('meta: malformed');
  return { kind: j.t, value: b64.decode(j.v) };
}
