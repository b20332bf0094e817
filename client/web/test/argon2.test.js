import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argon2id } from '../static/js/vendor/noble-hashes/argon2.js';
import { hkdf } from '../static/js/vendor/noble-hashes/hkdf.js';
import { sha256 } from '../static/js/vendor/noble-hashes/sha2.js';

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const filled = (n, byte) => new Uint8Array(n).fill(byte);

test('vendored argon2id matches the RFC 9106 section 5.3 test vector', () => {
  // noble's option names (see ArgonOpts in the vendored argon2.js): `key` is
  // the RFC's secret K and `personalization` its associated data X.
  const tag = argon2id(filled(32, 0x01), filled(16, 0x02), {
    t: 3,
    m: 32,
    p: 4,
    dkLen: 32,
    key: filled(8, 0x03),
    personalization: filled(12, 0x04),
  });
  assert.equal(hex(tag), '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659');
});

test('vendored argon2id matches Go for t=2, m=19456 KiB, p=1', () => {
  // Expected value from golang.org/x/crypto/argon2.IDKey (x/crypto v0.58.0):
  // IDKey([]byte("correct horse"), salt 0x00..0x0f, 2, 19456, 1, 32).
  const salt = Uint8Array.from({ length: 16 }, (_, i) => i);
  const tag = argon2id(new TextEncoder().encode('correct horse'), salt, { t: 2, m: 19456, p: 1, dkLen: 32 });
  assert.equal(hex(tag), 'd00b90c40f918cf889780d7d3a9ec3c2b1719df87dc5e4d4d93ea6163db04e17');
});

test('vendored HKDF-SHA256 matches WebCrypto HKDF', async () => {
  const ikm = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const salt = new TextEncoder().encode('konsil hkdf salt');
  const info = new TextEncoder().encode('konsil hkdf info');
  const length = 42; // not a multiple of the 32-byte hash size, so expand runs twice

  const ours = hkdf(sha256, ikm, salt, info, length);

  const baseKey = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  const theirs = new Uint8Array(
    await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, baseKey, length * 8),
  );

  assert.equal(ours.length, length);
  assert.equal(hex(ours), hex(theirs));
});
