// The passkey wrapping of the practice key (docs/WORKSPACE.md,
// "Passkeys"), against known answers from Go (crypto/hkdf, crypto/aes +
// cipher.GCM with the fixed IV d0 d1 … db): PRF output 01 02 … 20,
// practice key 32 × 0x42.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  passkeyPrfSalt, passkeyWrappingKey, wrapPracticeKeyForPasskey, unwrapPasskeyKey, unwrapPracticeKey, SealError,
} from '../static/js/workspace/crypto.js';

const hex = (b) => Buffer.from(b).toString('hex');
const prf = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const practiceKey = new Uint8Array(32).fill(0x42);
const GO_SEALED = 'v1.0NHS09TV1tfY2drbu8jFokTUXxrmhNk_tyNZRB2wCYwncog3YxfLVFpvfSkQyp_2-2oCY6IMnYpQWEn8';

test('the PRF salt is SHA-256("konsil passkey prf v1")', async () => {
  assert.equal(hex(await passkeyPrfSalt()), '93c03680c45da4601ab7d5bd0d644d144a7292d6885b867d3eba658737630358');
});

test('a practice key wrapped by Go opens under the PRF-derived key', async () => {
  const w = await passkeyWrappingKey(prf.buffer);
  assert.deepEqual(await unwrapPasskeyKey(w, GO_SEALED), practiceKey);
});

test('wrap and unwrap round-trip; other PRF outputs and the password AAD do not open it', async () => {
  const w = await passkeyWrappingKey(prf);
  const sealed = await wrapPracticeKeyForPasskey(w, practiceKey);
  assert.deepEqual(await unwrapPasskeyKey(w, sealed), practiceKey);
  const other = await passkeyWrappingKey(new Uint8Array(32).fill(9));
  await assert.rejects(unwrapPasskeyKey(other, sealed), SealError);
  // Bound to its own AAD: not mistaken for a password-wrapped key.
  await assert.rejects(unwrapPracticeKey(w, sealed), SealError);
});
