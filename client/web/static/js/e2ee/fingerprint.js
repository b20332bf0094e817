// The DTLS fingerprint check: each side sends
// HMAC-SHA256(fingerprint key, "konsil fingerprint v1" || its fingerprint)
// over signaling, and the other compares it with the fingerprint in the
// SDP it received. A signaling server that swaps certificates to sit in
// the middle cannot make the MAC without the room secret.

const utf8 = new TextEncoder();
const LABEL = 'konsil fingerprint v1';
const LINE = /^a=fingerprint:[ \t]*(\S+)[ \t]+([0-9a-f:]+)[ \t]*\r?$/gim;

/** Thrown for an SDP without exactly one sha-256 certificate fingerprint. */
export class FingerprintError extends Error {
  constructor(msg) {
    super(msg);
    this.name = 'FingerprintError';
  }
}

/**
 * The normalized sha-256 fingerprint of an SDP, "sha-256 AA:BB:…".
 * All sha-256 lines (session or media level) must agree.
 * @param {string} sdp @returns {string}
 */
export function fingerprintOf(sdp) {
  let found = '';
  for (const m of sdp.matchAll(LINE)) {
    if (m[1].toLowerCase() !== 'sha-256') continue;
    const fp = 'sha-256 ' + m[2].toUpperCase();
    if (found && found !== fp) throw new FingerprintError('two different certificates');
    found = fp;
  }
  if (!found) throw new FingerprintError('no sha-256 fingerprint');
  return found;
}

async function hmacKey(raw) {
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/** @param {Uint8Array} fpKey @param {string} fingerprint @returns {Promise<Uint8Array>} 32 bytes */
export async function fingerprintMAC(fpKey, fingerprint) {
  const sig = await crypto.subtle.sign('HMAC', await hmacKey(fpKey), utf8.encode(LABEL + fingerprint));
  return new Uint8Array(sig);
}

/** Constant-time check (WebCrypto's verify) of a MAC. @returns {Promise<boolean>} */
export async function verifyFingerprintMAC(fpKey, fingerprint, mac) {
  return crypto.subtle.verify('HMAC', await hmacKey(fpKey), mac, utf8.encode(LABEL + fingerprint));
}
