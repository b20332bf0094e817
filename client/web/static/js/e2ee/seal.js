// Sealing of chat messages and display names with AES-256-GCM; the same
// format as client/e2ee/chat.go:
//
//   0x01 || nonce (12 random bytes) || ciphertext || tag (16 bytes)
//   AAD = "konsil chat v1" || sender id   (chat, with the chat key)
//   AAD = "konsil name v1" || sender id   (names, with the names key)
//   AAD = "konsil mute v1" || sender id   (mute states, names key)

const VERSION = 0x01;
const NONCE = 12;
const TAG = 16;
export const OVERHEAD = 1 + NONCE + TAG;
export const MAX_CHAT_BYTES = 16 * 1024;
export const MAX_NAME_BYTES = 256;
export const MAX_MUTE_BYTES = 64;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Thrown when a sealed message does not decrypt. */
export class OpenError extends Error {
  constructor() {
    super('message does not decrypt (wrong key, sender or tampered)');
    this.name = 'OpenError';
  }
}

async function aesKey(raw) {
  return crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

async function seal(key, label, sender, plaintext) {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE));
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: utf8.encode(label + sender), tagLength: TAG * 8 },
    await aesKey(key),
    plaintext,
  );
  const out = new Uint8Array(1 + NONCE + ct.byteLength);
  out[0] = VERSION;
  out.set(nonce, 1);
  out.set(new Uint8Array(ct), 1 + NONCE);
  return out;
}

async function open(key, label, sender, sealed) {
  const b = sealed instanceof Uint8Array ? sealed : new Uint8Array(sealed);
  if (b.length < OVERHEAD || b[0] !== VERSION) throw new OpenError();
  try {
    const pt = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: b.subarray(1, 1 + NONCE), additionalData: utf8.encode(label + sender), tagLength: TAG * 8 },
      await aesKey(key),
      b.subarray(1 + NONCE),
    );
    return new Uint8Array(pt);
  } catch {
    throw new OpenError();
  }
}

/** @param {Uint8Array} chatKey @param {string} sender @param {string} text @returns {Promise<Uint8Array>} */
export async function sealChat(chatKey, sender, text) {
  const pt = utf8.encode(text);
  if (pt.length > MAX_CHAT_BYTES) throw new RangeError('chat message too large');
  return seal(chatKey, 'konsil chat v1', sender, pt);
}

/** @returns {Promise<string>} the text; throws OpenError */
export async function openChat(chatKey, sender, sealed) {
  const pt = await open(chatKey, 'konsil chat v1', sender, sealed);
  try {
    return utf8Strict.decode(pt);
  } catch {
    throw new OpenError();
  }
}

/** @param {Uint8Array} namesKey @param {string} sender @param {string} name */
export async function sealName(namesKey, sender, name) {
  const pt = utf8.encode(name);
  if (pt.length > MAX_NAME_BYTES) throw new RangeError('name too long');
  return seal(namesKey, 'konsil name v1', sender, pt);
}

/** @returns {Promise<string>} the name; throws OpenError */
export async function openName(namesKey, sender, sealed) {
  const pt = await open(namesKey, 'konsil name v1', sender, sealed);
  if (pt.length > MAX_NAME_BYTES) throw new OpenError();
  try {
    return utf8Strict.decode(pt);
  } catch {
    throw new OpenError();
  }
}

/**
 * A conference participant's mute state (mutestate.js), sealed with the
 * names key under its own label: neither can pass for the other.
 * @param {Uint8Array} namesKey @param {string} sender @param {Uint8Array} state
 */
export async function sealMute(namesKey, sender, state) {
  if (state.length > MAX_MUTE_BYTES) throw new RangeError('mute state too long');
  return seal(namesKey, 'konsil mute v1', sender, state);
}

/** @returns {Promise<Uint8Array>} the encoded state; throws OpenError */
export async function openMute(namesKey, sender, sealed) {
  const pt = await open(namesKey, 'konsil mute v1', sender, sealed);
  if (pt.length > MAX_MUTE_BYTES) throw new OpenError();
  return pt;
}
