// SFrame (RFC 9605) for Konsil conferences: the header codec (§4.3), the
// key schedule (§4.4.2), the five cipher suites (§4.5) and Konsil's frame
// format, clear codec prefix || SFrame header || ciphertext || tag. The Go
// twin is client/e2ee; both pass the RFC's vectors, and a cross-language
// test (client/e2ee/sframe_interop_test.go) holds them to the same bytes.
//
// WebCrypto only (crypto.subtle), no imports: the same file runs in the
// page, in the encoded-transform worker and under `node --test`. It knows
// nothing of room secrets: the caller derives each sender's base key (the
// room key schedule lives beside this file) and hands it to addKey.
//
// KIDs and counters are unsigned 64-bit: accepted as number or BigInt,
// returned as BigInt (so a Map of senders should be keyed by BigInt).
// Byte inputs may be Uint8Array, any ArrayBuffer view or ArrayBuffer;
// outputs are fresh Uint8Arrays that own their whole buffer, so
// `encodedFrame.data = out.buffer` works.

/** RFC 9605 cipher suites (§8.1). Konsil uses DEFAULT_SUITE. */
export const CipherSuite = Object.freeze({
  AES_128_CTR_HMAC_SHA256_80: 1,
  AES_128_CTR_HMAC_SHA256_64: 2,
  AES_128_CTR_HMAC_SHA256_32: 3,
  AES_128_GCM_SHA256_128: 4,
  AES_256_GCM_SHA512_128: 5,
});

export const DEFAULT_SUITE = CipherSuite.AES_128_GCM_SHA256_128;

// §4.5: nk = size of sframe_key, nka = AES key size (CTR suites split
// sframe_key into enc_key || auth_key), nt = tag size. Nn is 12 for all.
const SUITES = new Map([
  [1, { hash: 'SHA-256', nk: 48, nka: 16, nt: 10, ctr: true }],
  [2, { hash: 'SHA-256', nk: 48, nka: 16, nt: 8, ctr: true }],
  [3, { hash: 'SHA-256', nk: 48, nka: 16, nt: 4, ctr: true }],
  [4, { hash: 'SHA-256', nk: 16, nka: 16, nt: 16, ctr: false }],
  [5, { hash: 'SHA-512', nk: 32, nka: 32, nt: 16, ctr: false }],
]);

const NONCE_SIZE = 12;

/** The longest SFrame header: config byte, 8-byte KID, 8-byte CTR. */
export const MAX_HEADER_LENGTH = 17;

/** What went wrong, in SFrameError.code; callers branch on these. */
export const ErrorCode = Object.freeze({
  UNKNOWN_KID: 'unknown-kid', // no key for the frame's KID (yet)
  AUTH: 'auth', // wrong key, or header/prefix/metadata/ciphertext changed
  MALFORMED: 'malformed', // not an SFrame frame of this codec at all
  COUNTER_EXHAUSTED: 'counter-exhausted', // every CTR of the KID is used
  UNSUPPORTED_CODEC: 'unsupported-codec',
});

export class SFrameError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'SFrameError';
    this.code = code;
  }
}

function suiteParams(suite) {
  const p = SUITES.get(suite);
  if (!p) throw new RangeError(`unknown SFrame cipher suite ${suite}`);
  return p;
}

/** Tag size in bytes of suite. */
export function tagLength(suite) {
  return suiteParams(suite).nt;
}

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) throw new Error('WebCrypto is not available (the page must be served over https or from localhost)');
  return s;
}

const EMPTY = new Uint8Array(0);

function bytes(v) {
  if (v == null) return EMPTY;
  if (v instanceof Uint8Array) return v;
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  throw new TypeError('expected bytes (Uint8Array, ArrayBuffer view or ArrayBuffer)');
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const U64_MAX = (1n << 64n) - 1n;

function u64(v, what) {
  const b = BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`${what} ${v} is not an unsigned 64-bit integer`);
  return b;
}

// ---- Header (RFC 9605 §4.3) ----------------------------------------------
// Config byte X|K(3)|Y|C(3). A value 0–7 sits in K (or C) with X (or Y)
// clear; a larger one follows in the fewest big-endian bytes, X (or Y) set
// and K (or C) = length − 1. KID comes first, then CTR.

function fieldLength(v) {
  if (v < 8n) return 0;
  let n = 0;
  for (; v > 0n; v >>= 8n) n++;
  return n;
}

function putBigEndian(out, off, n, v) {
  for (let i = off + n - 1; i >= off; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Encoded size of the header for kid and ctr. */
export function headerLength(kid, ctr) {
  return 1 + fieldLength(u64(kid, 'KID')) + fieldLength(u64(ctr, 'CTR'));
}

/** The SFrame header for kid and ctr. */
export function encodeHeader(kid, ctr) {
  kid = u64(kid, 'KID');
  ctr = u64(ctr, 'CTR');
  const kl = fieldLength(kid);
  const cl = fieldLength(ctr);
  const out = new Uint8Array(1 + kl + cl);
  out[0] = (kl === 0 ? Number(kid) << 4 : 0x80 | ((kl - 1) << 4)) | (cl === 0 ? Number(ctr) : 0x08 | (cl - 1));
  putBigEndian(out, 1, kl, kid);
  putBigEndian(out, 1 + kl, cl, ctr);
  return out;
}

/**
 * Reads the SFrame header at the start of buf: { kid, ctr, length } with
 * kid and ctr as BigInt. A truncated header, or one not in the shortest
 * form the RFC requires of encoders, throws SFrameError 'malformed'.
 */
export function decodeHeader(buf) {
  buf = bytes(buf);
  if (buf.length === 0) throw new SFrameError(ErrorCode.MALFORMED, 'empty SFrame header');
  const config = buf[0];
  let off = 1;
  const field = (name, extended, bits) => {
    if (!extended) return BigInt(bits);
    const n = bits + 1;
    if (buf.length < off + n) {
      throw new SFrameError(ErrorCode.MALFORMED, `SFrame header ${name} truncated: need ${n} bytes, have ${buf.length - off}`);
    }
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[off + i]);
    if (fieldLength(v) !== n) {
      throw new SFrameError(ErrorCode.MALFORMED, `SFrame header ${name} ${v} not in shortest form (${n} bytes)`);
    }
    off += n;
    return v;
  };
  const kid = field('KID', (config & 0x80) !== 0, (config >> 4) & 7);
  const ctr = field('CTR', (config & 0x08) !== 0, config & 7);
  return { kid, ctr, length: off };
}

// ---- Key schedule (RFC 9605 §4.4.2) ----------------------------------------

const encoder = new TextEncoder();

function sframeLabel(prefix, kid, suite) {
  const out = new Uint8Array(prefix.length + 10);
  out.set(encoder.encode(prefix));
  const view = new DataView(out.buffer);
  view.setBigUint64(prefix.length, kid);
  view.setUint16(prefix.length + 8, suite);
  return out;
}

/**
 * The key schedule of RFC 9605 §4.4.2, with the suite's hash:
 *   sframe_secret = HKDF-Extract("", base_key)
 *   sframe_key    = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key "  || KID || suite, Nk)
 *   sframe_salt   = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " || KID || suite, Nn)
 * KID is 8 bytes and suite 2 bytes, big-endian. Returns raw { key, salt };
 * media code uses SFrameContext.addKey, which keeps them non-extractable.
 */
export async function deriveSFrameKey(suite, kid, baseKey) {
  const p = suiteParams(suite);
  kid = u64(kid, 'KID');
  baseKey = bytes(baseKey);
  if (baseKey.length === 0) throw new RangeError(`empty SFrame base key for KID ${kid}`);
  const s = subtle();
  // WebCrypto's HKDF is Extract-then-Expand; an empty salt is RFC 5869's
  // "not provided" (HashLen zero bytes), as the RFC's Extract("", …) means.
  const ikm = await s.importKey('raw', baseKey, 'HKDF', false, ['deriveBits']);
  const expand = async (label, n) =>
    new Uint8Array(await s.deriveBits({ name: 'HKDF', hash: p.hash, salt: EMPTY, info: sframeLabel(label, kid, suite) }, ikm, n * 8));
  const [key, salt] = await Promise.all([
    expand('SFrame 1.0 Secret key ', p.nk),
    expand('SFrame 1.0 Secret salt ', NONCE_SIZE),
  ]);
  return { key, salt };
}

// ---- AEADs (RFC 9605 §4.5) -------------------------------------------------

function authError(detail) {
  return new SFrameError(ErrorCode.AUTH, `SFrame frame does not authenticate${detail ? ` (${detail})` : ''}`);
}

/**
 * The suite's AEAD over a raw sframe_key: { seal(nonce, aad, pt),
 * open(nonce, aad, ct) }, both async, ciphertext = ct || tag. open throws
 * SFrameError 'auth' for a frame that does not authenticate.
 */
export async function importAEAD(suite, rawKey) {
  const p = suiteParams(suite);
  rawKey = bytes(rawKey);
  if (rawKey.length !== p.nk) throw new RangeError(`suite ${suite} key must be ${p.nk} bytes, got ${rawKey.length}`);
  return p.ctr ? importCTRHMAC(p, rawKey) : importGCM(p, rawKey);
}

async function importGCM(p, rawKey) {
  const s = subtle();
  const key = await s.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const alg = (nonce, aad) => ({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: p.nt * 8 });
  return {
    tagLength: p.nt,
    async seal(nonce, aad, pt) {
      return new Uint8Array(await s.encrypt(alg(nonce, aad), key, pt));
    },
    async open(nonce, aad, ct) {
      if (ct.length < p.nt) throw authError('shorter than the tag');
      try {
        return new Uint8Array(await s.decrypt(alg(nonce, aad), key, ct));
      } catch (e) {
        if (e && e.name === 'OperationError') throw authError();
        throw e;
      }
    },
  };
}

// AES-CTR + HMAC (§4.5.1), encrypt-then-MAC as in SRTP, which allows the
// short tags of suites 1–3. The initial counter block is nonce || 0^32 and
// the tag is HMAC(auth_key, len(aad) || len(ct) || Nt || nonce || aad ||
// ct) truncated to Nt, lengths 8 bytes big-endian.
async function importCTRHMAC(p, rawKey) {
  const s = subtle();
  const encKey = await s.importKey('raw', rawKey.subarray(0, p.nka), 'AES-CTR', false, ['encrypt']);
  const authKey = await s.importKey('raw', rawKey.subarray(p.nka), { name: 'HMAC', hash: p.hash }, false, ['sign']);
  const ctr = async (nonce, data) => {
    const counter = new Uint8Array(16);
    counter.set(nonce);
    return new Uint8Array(await s.encrypt({ name: 'AES-CTR', counter, length: 32 }, encKey, data));
  };
  const tag = async (nonce, aad, ct) => {
    const lens = new Uint8Array(24);
    const view = new DataView(lens.buffer);
    view.setBigUint64(0, BigInt(aad.length));
    view.setBigUint64(8, BigInt(ct.length));
    view.setBigUint64(16, BigInt(p.nt));
    const mac = await s.sign('HMAC', authKey, concat(lens, nonce, aad, ct));
    return new Uint8Array(mac, 0, p.nt);
  };
  return {
    tagLength: p.nt,
    async seal(nonce, aad, pt) {
      const ct = await ctr(nonce, pt);
      return concat(ct, await tag(nonce, aad, ct));
    },
    async open(nonce, aad, ct) {
      if (ct.length < p.nt) throw authError('shorter than the tag');
      const inner = ct.subarray(0, ct.length - p.nt);
      const want = await tag(nonce, aad, inner);
      const got = ct.subarray(ct.length - p.nt);
      let diff = 0;
      for (let i = 0; i < p.nt; i++) diff |= want[i] ^ got[i];
      if (diff !== 0) throw authError();
      return ctr(nonce, inner);
    },
  };
}

// ---- Keys and the context (RFC 9605 §4.4) ----------------------------------

/**
 * SFrameKey is sframe_key and sframe_salt of one KID. Its seal takes the
 * counter from the caller, so it is the low-level operation of §4.4.3 (and
 * what the known-answer tests drive); media code uses SFrameContext, which
 * never hands out a counter twice.
 */
export class SFrameKey {
  #aead;
  #salt;

  constructor(suite, kid, aead, salt) {
    this.suite = suite;
    this.kid = u64(kid, 'KID');
    this.#aead = aead;
    this.#salt = Uint8Array.from(salt);
  }

  /** Derives the key of kid from baseKey (§4.4.2) and imports it. */
  static async derive(suite, kid, baseKey) {
    const { key, salt } = await deriveSFrameKey(suite, kid, baseKey);
    try {
      return new SFrameKey(suite, kid, await importAEAD(suite, key), salt);
    } finally {
      key.fill(0);
    }
  }

  /** §4.4.3: nonce = sframe_salt XOR CTR, CTR big-endian in Nn bytes. */
  nonce(ctr) {
    ctr = u64(ctr, 'CTR');
    const n = Uint8Array.from(this.#salt);
    for (let i = NONCE_SIZE - 1; ctr > 0n; i--, ctr >>= 8n) n[i] ^= Number(ctr & 0xffn);
    return n;
  }

  /**
   * clear || header || AEAD.Encrypt(sframe_key, nonce, header || metadata,
   * plaintext). The caller must never pass the same ctr twice.
   */
  async seal(ctr, metadata, plaintext, clear = EMPTY) {
    const header = encodeHeader(this.kid, ctr);
    const ct = await this.#aead.seal(this.nonce(ctr), concat(header, bytes(metadata)), bytes(plaintext));
    return concat(bytes(clear), header, ct);
  }

  /** Checks and decrypts ct (after header) of a frame with this key's KID. */
  async open(ctr, header, metadata, ct) {
    return this.#aead.open(this.nonce(ctr), concat(bytes(header), bytes(metadata)), bytes(ct));
  }
}

/**
 * SFrameContext holds the SFrame keys of one participant, all of one suite,
 * by KID, and the next counter of each KID. encrypt draws counters itself,
 * synchronously before any await, so concurrent calls never share one, and
 * a KID's counter carries on when its key is replaced or removed and added
 * again. It cannot see other contexts: a (KID, base key) pair must be
 * encrypted with in one context only (Konsil gives each join its own KID).
 */
export class SFrameContext {
  #suite;
  #keys = new Map(); // BigInt KID -> SFrameKey
  #counters = new Map(); // BigInt KID -> BigInt next CTR; outlives its key

  constructor(suite = DEFAULT_SUITE) {
    suiteParams(suite);
    this.#suite = suite;
  }

  get suite() {
    return this.#suite;
  }

  /** Derives and installs the key of kid, replacing any it had. */
  async addKey(kid, baseKey) {
    kid = u64(kid, 'KID');
    const key = await SFrameKey.derive(this.#suite, kid, baseKey);
    this.#keys.set(kid, key);
    if (!this.#counters.has(kid)) this.#counters.set(kid, 0n);
  }

  /** Forgets the key of kid (a sender left); its counter is kept. */
  removeKey(kid) {
    this.#keys.delete(u64(kid, 'KID'));
  }

  hasKey(kid) {
    return this.#keys.has(u64(kid, 'KID'));
  }

  #key(kid) {
    const key = this.#keys.get(kid);
    if (!key) throw new SFrameError(ErrorCode.UNKNOWN_KID, `no SFrame key for KID ${kid}`);
    return key;
  }

  // The last CTR value is never used, so the counter cannot wrap to 0.
  #nextCounter(kid) {
    const ctr = this.#counters.get(kid);
    if (ctr === U64_MAX) throw new SFrameError(ErrorCode.COUNTER_EXHAUSTED, `SFrame counter exhausted for KID ${kid}`);
    this.#counters.set(kid, ctr + 1n);
    return ctr;
  }

  /**
   * Encrypts plaintext with kid's key and next counter: header ||
   * ciphertext || tag. metadata is authenticated but not sent; the
   * receiver passes the same bytes to decrypt.
   */
  async encrypt(kid, metadata, plaintext) {
    return this.#encrypt(u64(kid, 'KID'), metadata, plaintext, EMPTY);
  }

  #encrypt(kid, metadata, plaintext, clear) {
    const key = this.#key(kid);
    const ctr = this.#nextCounter(kid);
    return key.seal(ctr, metadata, plaintext, clear);
  }

  /**
   * Checks and decrypts an SFrame frame with the key its KID names:
   * { kid, plaintext }. Throws SFrameError 'malformed', 'unknown-kid' or
   * 'auth'.
   */
  async decrypt(metadata, frame) {
    frame = bytes(frame);
    const { kid, ctr, length } = decodeHeader(frame);
    const key = this.#key(kid);
    const plaintext = await key.open(ctr, frame.subarray(0, length), metadata, frame.subarray(length));
    return { kid, plaintext };
  }

  /**
   * Encrypts one encoded media frame: clear prefix || SFrame header ||
   * ciphertext || tag, the prefix authenticated as metadata.
   */
  async encryptFrame(kid, codec, frame) {
    frame = bytes(frame);
    const p = requiredPrefix(codec, frame);
    const prefix = frame.subarray(0, p);
    return this.#encrypt(u64(kid, 'KID'), prefix, frame.subarray(p), prefix);
  }

  /** Decrypts a frame made by encryptFrame: { kid, frame } (the original). */
  async decryptFrame(codec, frame) {
    frame = bytes(frame);
    const p = requiredPrefix(codec, frame);
    const prefix = frame.subarray(0, p);
    const { kid, plaintext } = await this.decrypt(prefix, frame.subarray(p));
    return { kid, frame: concat(prefix, plaintext) };
  }
}

// ---- Clear prefix -----------------------------------------------------------
// The browser's depacketizer and decoder read the codec header before the
// frame reaches the decrypting transform, and the SFU reads it to find
// keyframes, so it stays clear (BROWSER-TESTING.md: with VP8 encrypted
// whole, Chromium misreads the frame type). VP8 (RFC 6386 §9.1): 3-byte
// frame tag, on keyframes followed by start code and size, 10 bytes in
// all. Opus (RFC 6716 §3.1): the 1-byte TOC.

export const Codec = Object.freeze({ VP8: 'vp8', OPUS: 'opus' });

/** The Codec for a name or MIME type ('video/VP8', 'audio/opus'), or null. */
export function codecFromMimeType(mime) {
  const n = String(mime).toLowerCase().replace(/^(video|audio)\//, '');
  return n === Codec.VP8 || n === Codec.OPUS ? n : null;
}

function codecPrefix(codec, frame) {
  switch (codec) {
    case Codec.VP8:
      return frame.length > 0 && (frame[0] & 1) !== 0 ? 3 : 10;
    case Codec.OPUS:
      return 1;
    default:
      throw new SFrameError(ErrorCode.UNSUPPORTED_CODEC, `no SFrame clear-prefix rule for codec ${codec}`);
  }
}

function requiredPrefix(codec, frame) {
  const p = codecPrefix(codec, frame);
  if (frame.length < p) {
    throw new SFrameError(ErrorCode.MALFORMED, `${codec} frame of ${frame.length} bytes is shorter than its ${p}-byte header`);
  }
  return p;
}

/**
 * The number of leading bytes of frame that stay clear: VP8 10 on
 * keyframes and 3 on delta frames, Opus 1. Reads only the first byte, so
 * it answers the same for a frame before and after encryptFrame. Never more
 * than frame.length; 0 for a codec it does not know.
 */
export function clearPrefixLength(codec, frame) {
  frame = bytes(frame);
  try {
    return Math.min(codecPrefix(codec, frame), frame.length);
  } catch {
    return 0;
  }
}

/** Whether frame (clear or encrypted) is a keyframe; every Opus frame is. */
export function isKeyframe(codec, frame) {
  frame = bytes(frame);
  if (frame.length === 0) return false;
  if (codec === Codec.VP8) return (frame[0] & 1) === 0;
  return codec === Codec.OPUS;
}
