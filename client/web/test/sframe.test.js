// Known answers of RFC 9605 and frame round trips for the browser's SFrame
// module, under `node --test client/web/test/`. The vectors are the same
// file the Go tests read (../shared/testdata/sframe from the project root).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

import {
  CipherSuite,
  Codec,
  DEFAULT_SUITE,
  ErrorCode,
  SFrameContext,
  SFrameKey,
  clearPrefixLength,
  codecFromMimeType,
  decodeHeader,
  deriveSFrameKey,
  encodeHeader,
  headerLength,
  importAEAD,
  isKeyframe,
  tagLength,
} from '../static/js/e2ee/sframe.js';

const vectorsURL = new URL('../../../../shared/testdata/sframe/test-vectors.json', import.meta.url);

let vectors = null;
let skipVectors = false;
try {
  vectors = JSON.parse(await readFile(vectorsURL, 'utf8'));
} catch (e) {
  if (e.code !== 'ENOENT') throw e;
  // CI always has the shared tree: there a missing file is a failure.
  if (process.env.CI === 'true') throw new Error(`RFC 9605 vectors not found at ${vectorsURL.pathname}, and CI=true`);
  skipVectors = `RFC 9605 vectors not found at ${vectorsURL.pathname} (the shared tree is not next to this checkout; CI has it)`;
}

const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b) => Buffer.from(b).toString('hex');
const allSuites = Object.values(CipherSuite);

// JSON.parse loses integers above 2^53, and the header vectors go up to
// 2^64 − 1: read kid and ctr from the text instead.
function headerCases(text) {
  const re = /\{\s*"kid":\s*(\d+),\s*"ctr":\s*(\d+),\s*"encoded":\s*"([0-9a-f]*)"\s*\}/g;
  return [...text.matchAll(re)].map((m) => ({ kid: BigInt(m[1]), ctr: BigInt(m[2]), encoded: m[3] }));
}

const rejectsWith = (code) => (err) => {
  assert.equal(err.name, 'SFrameError', String(err));
  assert.equal(err.code, code, String(err));
  return true;
};

test('RFC 9605 header vectors', { skip: skipVectors }, async () => {
  const cases = headerCases(await readFile(vectorsURL, 'utf8'));
  assert.equal(cases.length, vectors.header.length, 'every header vector parsed');
  for (const c of cases) {
    assert.equal(toHex(encodeHeader(c.kid, c.ctr)), c.encoded, `encode KID ${c.kid} CTR ${c.ctr}`);
    assert.equal(headerLength(c.kid, c.ctr), c.encoded.length / 2);
    const h = decodeHeader(Uint8Array.from([...hex(c.encoded), 0xff, 0xff]));
    assert.deepEqual(h, { kid: c.kid, ctr: c.ctr, length: c.encoded.length / 2 }, `decode ${c.encoded}`);
  }
});

test('RFC 9605 sframe vectors: key schedule, nonce, encryption, decryption', { skip: skipVectors }, async (t) => {
  for (const v of vectors.sframe) {
    await t.test(`suite ${v.cipher_suite}`, async () => {
      const suite = v.cipher_suite;
      const hash = suite === 5 ? 'SHA-512' : 'SHA-256';
      // sframe_secret = HKDF-Extract("", base_key) = HMAC(HashLen zeros, base_key).
      const zeros = await crypto.subtle.importKey('raw', new Uint8Array(hash === 'SHA-512' ? 64 : 32), { name: 'HMAC', hash }, false, ['sign']);
      assert.equal(toHex(new Uint8Array(await crypto.subtle.sign('HMAC', zeros, hex(v.base_key)))), v.sframe_secret);

      const { key, salt } = await deriveSFrameKey(suite, v.kid, hex(v.base_key));
      assert.equal(toHex(key), v.sframe_key);
      assert.equal(toHex(salt), v.sframe_salt);

      const k = await SFrameKey.derive(suite, v.kid, hex(v.base_key));
      assert.equal(toHex(k.nonce(v.ctr)), v.nonce);
      const header = encodeHeader(v.kid, v.ctr);
      assert.equal(toHex(header) + v.metadata, v.aad);
      assert.equal(toHex(await k.seal(v.ctr, hex(v.metadata), hex(v.pt))), v.ct);

      const ctx = new SFrameContext(suite);
      await ctx.addKey(v.kid, hex(v.base_key));
      const { kid, plaintext } = await ctx.decrypt(hex(v.metadata), hex(v.ct));
      assert.equal(kid, BigInt(v.kid));
      assert.equal(toHex(plaintext), v.pt);
      await assert.rejects(ctx.decrypt(new Uint8Array(), hex(v.ct)), rejectsWith(ErrorCode.AUTH));
    });
  }
});

test('RFC 9605 aes_ctr_hmac vectors', { skip: skipVectors }, async (t) => {
  for (const v of vectors.aes_ctr_hmac) {
    await t.test(`suite ${v.cipher_suite}`, async () => {
      assert.equal(v.key, v.enc_key + v.auth_key);
      const aead = await importAEAD(v.cipher_suite, hex(v.key));
      assert.equal(toHex(await aead.seal(hex(v.nonce), hex(v.aad), hex(v.pt))), v.ct);
      assert.equal(toHex(await aead.open(hex(v.nonce), hex(v.aad), hex(v.ct))), v.pt);
      const bad = hex(v.ct);
      bad[bad.length - 1] ^= 1;
      await assert.rejects(aead.open(hex(v.nonce), hex(v.aad), bad), rejectsWith(ErrorCode.AUTH));
    });
  }
});

test('headers not in shortest form, or truncated, are malformed', () => {
  for (const b of [[], [0x90, 0x01], [0x09, 0x01], [0x80, 0x05], [0x90, 0x00, 0x12], [0x08, 0x00]]) {
    assert.throws(() => decodeHeader(Uint8Array.from(b)), rejectsWith(ErrorCode.MALFORMED), `header ${b}`);
  }
  assert.throws(() => encodeHeader(-1, 0), RangeError);
  assert.throws(() => encodeHeader(1n << 64n, 0), RangeError);
});

const baseKey = (seed) => Uint8Array.from({ length: 16 }, (_, i) => seed + i);

async function contextWith(suite, keys) {
  const ctx = new SFrameContext(suite);
  for (const [kid, key] of keys) await ctx.addKey(kid, key);
  return ctx;
}

test('encrypt/decrypt round trip, every suite, large KIDs', async () => {
  for (const suite of allSuites) {
    const keys = [[3, baseKey(1)], [0x1234n, baseKey(2)], [(1n << 64n) - 1n, baseKey(3)]];
    const sender = await contextWith(suite, keys);
    const receiver = await contextWith(suite, keys);
    for (const [kid] of keys) {
      for (const [i, pt] of [new Uint8Array(), Uint8Array.of(0), new TextEncoder().encode('frame '.repeat(200))].entries()) {
        const md = new TextEncoder().encode(`metadata ${i}`);
        const frame = await sender.encrypt(kid, md, pt);
        const h = decodeHeader(frame);
        assert.equal(h.kid, BigInt(kid));
        assert.equal(h.ctr, BigInt(i));
        assert.equal(frame.length, h.length + pt.length + tagLength(suite));
        assert.equal(frame.byteOffset, 0);
        assert.equal(frame.buffer.byteLength, frame.length, 'output owns its whole buffer');
        const out = await receiver.decrypt(md, frame);
        assert.equal(out.kid, BigInt(kid));
        assert.deepEqual(out.plaintext, pt);
      }
    }
  }
});

test('a wrong key fails every frame with auth', async () => {
  for (const suite of allSuites) {
    const sender = await contextWith(suite, [[7, baseKey(1)]]);
    const receiver = await contextWith(suite, [[7, baseKey(2)]]);
    for (let i = 0; i < 50; i++) {
      const frame = await sender.encrypt(7, null, new TextEncoder().encode(`frame ${i}`));
      await assert.rejects(receiver.decrypt(null, frame), rejectsWith(ErrorCode.AUTH));
    }
  }
});

test('unknown KID, truncation and bit flips', async () => {
  const ctx = await contextWith(DEFAULT_SUITE, [[1, baseKey(1)]]);
  const md = new TextEncoder().encode('md');
  const frame = await ctx.encrypt(1, md, new TextEncoder().encode('hello'));
  await assert.rejects(ctx.encrypt(2, null, Uint8Array.of(1)), rejectsWith(ErrorCode.UNKNOWN_KID));
  await assert.rejects(ctx.decrypt(md, Uint8Array.from([0x09, ...frame.subarray(1)])), rejectsWith(ErrorCode.UNKNOWN_KID));
  const ok = [ErrorCode.AUTH, ErrorCode.MALFORMED, ErrorCode.UNKNOWN_KID];
  for (let n = 0; n < frame.length; n++) {
    await assert.rejects(ctx.decrypt(md, frame.subarray(0, n)), (e) => ok.includes(e.code));
    const bad = Uint8Array.from(frame);
    bad[n] ^= 1;
    await assert.rejects(ctx.decrypt(md, bad), (e) => ok.includes(e.code));
  }
  ctx.removeKey(1);
  await assert.rejects(ctx.decrypt(md, frame), rejectsWith(ErrorCode.UNKNOWN_KID));
});

test('counters never repeat, even for concurrent calls and re-added keys', async () => {
  const ctx = await contextWith(DEFAULT_SUITE, [[5, baseKey(1)]]);
  const frames = await Promise.all(Array.from({ length: 300 }, (_, i) => ctx.encrypt(5, null, Uint8Array.of(i))));
  await ctx.addKey(5, baseKey(1));
  frames.push(await ctx.encrypt(5, null, null));
  ctx.removeKey(5);
  await ctx.addKey(5, baseKey(1));
  frames.push(await ctx.encrypt(5, null, null));
  const ctrs = new Set(frames.map((f) => decodeHeader(f).ctr));
  assert.equal(ctrs.size, frames.length);
});

// Frames shaped like encoder output (RFC 6386 §9.1, RFC 6716 §3.1).
const fill = (head, n, mul) => Uint8Array.from({ length: n }, (_, i) => (i < head.length ? head[i] : (i * mul) & 0xff));
const vp8Keyframe = (n) => fill([0x50, 0x2d, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01], n, 7);
const vp8Delta = (n) => fill([0x31, 0x0c, 0x00], n, 13);
const opusFrame = (n) => fill([0x78], n, 5);

test('clear prefix: VP8 10 on keyframes, 3 on delta frames; Opus 1', () => {
  assert.equal(clearPrefixLength(Codec.VP8, vp8Keyframe(100)), 10);
  assert.equal(clearPrefixLength(Codec.VP8, vp8Delta(100)), 3);
  assert.equal(clearPrefixLength(Codec.OPUS, opusFrame(60)), 1);
  assert.equal(clearPrefixLength(Codec.VP8, vp8Keyframe(10).subarray(0, 4)), 4);
  assert.equal(clearPrefixLength(Codec.VP8, new Uint8Array()), 0);
  assert.equal(clearPrefixLength('h264', vp8Delta(100)), 0);
  assert.equal(isKeyframe(Codec.VP8, vp8Keyframe(20)), true);
  assert.equal(isKeyframe(Codec.VP8, vp8Delta(20)), false);
  assert.equal(isKeyframe(Codec.OPUS, opusFrame(20)), true);
  assert.equal(codecFromMimeType('video/VP8'), Codec.VP8);
  assert.equal(codecFromMimeType('audio/opus'), Codec.OPUS);
  assert.equal(codecFromMimeType('video/H264'), null);
});

test('frames: prefix stays clear and authenticated, round trips for VP8 key/delta and Opus', async () => {
  for (const suite of allSuites) {
    const sender = await contextWith(suite, [[9, baseKey(9)]]);
    const receiver = await contextWith(suite, [[9, baseKey(9)]]);
    for (const [codec, frame] of [
      [Codec.VP8, vp8Keyframe(1200)], [Codec.VP8, vp8Delta(400)], [Codec.VP8, vp8Delta(3)],
      [Codec.OPUS, opusFrame(80)], [Codec.OPUS, opusFrame(1)], [Codec.VP8, vp8Keyframe(10)],
    ]) {
      const enc = await sender.encryptFrame(9, codec, frame);
      const p = clearPrefixLength(codec, frame);
      assert.equal(clearPrefixLength(codec, enc), p, 'the SFU finds the same prefix');
      assert.deepEqual(enc.subarray(0, p), frame.subarray(0, p));
      assert.equal(isKeyframe(codec, enc), isKeyframe(codec, frame));
      assert.equal(decodeHeader(enc.subarray(p)).kid, 9n);
      const out = await receiver.decryptFrame(codec, enc);
      assert.equal(out.kid, 9n);
      assert.deepEqual(out.frame, frame);
      for (let i = 0; i < p; i++) {
        const bad = Uint8Array.from(enc);
        bad[i] ^= 0x80; // leaves VP8's key-frame bit, so the prefix length holds
        await assert.rejects(receiver.decryptFrame(codec, bad), rejectsWith(ErrorCode.AUTH), `${codec} prefix byte ${i}`);
      }
    }
  }
});

test('frames shorter than their codec header, and unknown codecs, are refused', async () => {
  const ctx = await contextWith(DEFAULT_SUITE, [[1, baseKey(1)]]);
  for (const [codec, frame] of [[Codec.VP8, vp8Keyframe(10).subarray(0, 9)], [Codec.VP8, vp8Delta(3).subarray(0, 2)], [Codec.OPUS, new Uint8Array()]]) {
    await assert.rejects(ctx.encryptFrame(1, codec, frame), rejectsWith(ErrorCode.MALFORMED));
    await assert.rejects(ctx.decryptFrame(codec, frame), rejectsWith(ErrorCode.MALFORMED));
  }
  await assert.rejects(ctx.encryptFrame(1, 'h264', vp8Delta(10)), rejectsWith(ErrorCode.UNSUPPORTED_CODEC));
  assert.throws(() => new SFrameContext(6), RangeError);
  await assert.rejects(ctx.addKey(1, new Uint8Array()), RangeError);
});
