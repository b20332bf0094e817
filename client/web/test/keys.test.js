import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadSecretError, deriveKeys, parseSecret, senderBaseKey } from '../static/js/e2ee/keys.js';
import * as b64 from '../static/js/e2ee/b64.js';
import { hex, vectors } from './vectors.js';

test('derives the same keys as Go', async () => {
  const keys = await deriveKeys(parseSecret(vectors.secret));
  for (const name of ['media', 'chat', 'names', 'fingerprint']) {
    assert.equal(hex(keys[name]), vectors.keys[name], name);
  }
});

test('per-sender SFrame base keys match Go, 64-bit KIDs included', async () => {
  const keys = await deriveKeys(parseSecret(vectors.secret));
  for (const v of vectors.sender_base_keys) {
    assert.equal(hex(await senderBaseKey(keys.media, BigInt(v.kid))), v.key, `kid ${v.kid}`);
  }
  assert.equal(hex(await senderBaseKey(keys.media, 1)), vectors.sender_base_keys[1].key, 'number KID');
});

test('refuses every secret that is not exactly 32 bytes of unpadded base64url', async () => {
  for (const s of vectors.bad_secrets) {
    assert.throws(() => parseSecret(s), BadSecretError, JSON.stringify(s));
  }
  await assert.rejects(deriveKeys(new Uint8Array(31)), BadSecretError);
});

test('base64url round trip for every length', () => {
  for (let n = 0; n < 70; n++) {
    const b = crypto.getRandomValues(new Uint8Array(n));
    const s = b64.encode(b);
    assert.equal(s, Buffer.from(b).toString('base64url'));
    assert.deepEqual(b64.decode(s), b);
  }
});
