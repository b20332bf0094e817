// SFrame on encoded media frames: the TransformStreams that encrypt what
// a sender sends and decrypt what a receiver gets, and the keys they use.
// Shared by the encoded-transform worker (worker.js) and the page (the
// createEncodedStreams fallback); no DOM, no WebRTC objects here.
//
// Keys (docs/SECURITY.md): every session in a conference has its own KID
// (welcome.self.kid, peers[].kid); a sender's base key is
// senderBaseKey(media key, KID). A receiver needs no mapping from track
// to sender: the SFrame header names the KID, and the context holds a key
// for every KID it was told about.

import { Codec, DEFAULT_SUITE, SFrameContext, clearPrefixLength, decodeHeader } from './sframe.js';
import { senderBaseKey } from './keys.js';

/** The codec of a frame by its track kind: conferences carry VP8 and Opus only. */
function codecOf(kind) {
  return kind === 'audio' ? Codec.OPUS : Codec.VP8;
}

export class MediaCrypto {
  /** @param {Uint8Array} mediaKey the room's media key */
  constructor(mediaKey) {
    this.mediaKey = mediaKey;
    this.ctx = new SFrameContext(DEFAULT_SUITE);
    this.sendKid = null;
    this.deriving = new Map(); // kid -> Promise, so a KID is derived once
    // Counters for tests and support: frames, never contents.
    // failedByKid: frames of each sender (by the KID in their header,
    // as a string) that did not decrypt, so the UI can tell "cannot
    // decrypt" (another room secret) from "camera off".
    this.stats = { encrypted: 0, decrypted: 0, failed: 0, unsent: 0, failedByKid: {} };
  }

  /** Installs the key of a sender's KID (idempotent). */
  addKid(kid) {
    const k = BigInt(kid);
    if (!this.deriving.has(k)) {
      this.deriving.set(k, senderBaseKey(this.mediaKey, k).then((base) => this.ctx.addKey(k, base)));
    }
    return this.deriving.get(k);
  }

  /** Our own KID: frames are sent with its key once it is derived. */
  async setSendKid(kid) {
    await this.addKid(kid);
    this.sendKid = BigInt(kid);
  }

  /**
   * A TransformStream for one sender ("encrypt") or receiver ("decrypt")
   * of a kind. A frame that cannot be encrypted is dropped, never sent in
   * the clear; one that does not decrypt (another room secret, a sender
   * whose KID we do not know yet) is dropped before the decoder.
   */
  transform(role, kind) {
    const codec = codecOf(kind);
    const s = this.stats;
    if (role === 'encrypt') {
      return new TransformStream({
        transform: async (frame, controller) => {
          if (this.sendKid === null) {
            s.unsent++;
            return;
          }
          try {
            frame.data = (await this.ctx.encryptFrame(this.sendKid, codec, new Uint8Array(frame.data))).buffer;
          } catch {
            s.unsent++;
            return;
          }
          s.encrypted++;
          controller.enqueue(frame);
        },
      });
    }
    return new TransformStream({
      transform: async (frame, controller) => {
        try {
          frame.data = (await this.ctx.decryptFrame(codec, new Uint8Array(frame.data))).frame.buffer;
        } catch {
          s.failed++;
          const kid = kidOf(codec, frame.data);
          if (kid !== null) s.failedByKid[kid] = (s.failedByKid[kid] || 0) + 1;
          return;
        }
        s.decrypted++;
        controller.enqueue(frame);
      },
    });
  }
}

/** The KID in an encrypted frame's SFrame header, as a string, or null. */
function kidOf(codec, data) {
  const b = new Uint8Array(data);
  try {
    return String(decodeHeader(b.subarray(clearPrefixLength(codec, b))).kid);
  } catch {
    return null;
  }
}
