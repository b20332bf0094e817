// The mute state a conference participant sends the others (docs/
// SECURITY.md, "Mute state"): whether its microphone and camera are off,
// with the time of the change so a receiver keeps the newest. Sealed
// like a display name, so the server relays it without reading it.
//
//   plaintext = at (uint64 big-endian, ms since 1970) || flags (1 byte)
//   flags: bit 0 microphone off, bit 1 camera off; other bits 0, ignored
//   on receipt. Longer plaintexts are accepted and the rest ignored, so
//   a later version can append.

const LENGTH = 9;
const MIC_OFF = 0x01;
const CAM_OFF = 0x02;

/** @param {{micOff: boolean, camOff: boolean, at: number}} s @returns {Uint8Array} */
export function encodeMuteState({ micOff, camOff, at }) {
  if (!Number.isSafeInteger(at) || at < 0) throw new RangeError('mute state: bad time');
  const b = new Uint8Array(LENGTH);
  new DataView(b.buffer).setBigUint64(0, BigInt(at));
  b[8] = (micOff ? MIC_OFF : 0) | (camOff ? CAM_OFF : 0);
  return b;
}

/** @param {Uint8Array} b @returns {{micOff: boolean, camOff: boolean, at: number}} throws on malformed */
export function decodeMuteState(b) {
  if (!(b instanceof Uint8Array) || b.length < LENGTH) throw new Error('mute state: malformed');
  const at = new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0);
  if (at > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('mute state: malformed');
  return { micOff: (b[8] & MIC_OFF) !== 0, camOff: (b[8] & CAM_OFF) !== 0, at: Number(at) };
}

/**
 * Whether a received state replaces the one we hold (null: none yet).
 * The server relays a sender's messages in order, but a new session of
 * the same participant may overtake the old one's last message.
 */
export function newerMuteState(held, got) {
  return !held || got.at >= held.at;
}
