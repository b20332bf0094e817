import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveKeys, parseSecret } from '../static/js/e2ee/keys.js';
import { OVERHEAD, OpenError, openChat, openName, sealChat, sealName, MAX_CHAT_BYTES } from '../static/js/e2ee/seal.js';
import { decodeMeta, encodeMeta } from '../static/js/e2ee/meta.js';
import { unhex, vectors } from './vectors.js';

const keys = await deriveKeys(parseSecret(vectors.secret));

test('opens chat messages and names that Go sealed', async () => {
  for (const c of vectors.chat) {
    assert.equal(await openChat(keys.chat, c.sender, unhex(c.sealed)), c.plaintext);
  }
  for (const n of vectors.names) {
    assert.equal(await openName(keys.names, n.sender, unhex(n.sealed)), n.name);
  }
});

test('chat round trip with format 0x01 || nonce || ciphertext || tag', async () => {
  const sealed = await sealChat(keys.chat, 'alice', 'hallo');
  assert.equal(sealed.length, OVERHEAD + 5);
  assert.equal(sealed[0], 1);
  assert.equal(await openChat(keys.chat, 'alice', sealed), 'hallo');
  const again = await sealChat(keys.chat, 'alice', 'hallo');
  assert.notDeepEqual(again.subarray(1, 13), sealed.subarray(1, 13), 'fresh nonce each time');
});

test('refuses wrong key, wrong sender, tampering and other kinds', async () => {
  const other = await deriveKeys(new Uint8Array(32).fill(7));
  const sealed = await sealChat(keys.chat, 'alice', 'hallo');
  const flipped = sealed.slice();
  flipped[flipped.length - 1] ^= 1;
  const cases = {
    'wrong key': () => openChat(other.chat, 'alice', sealed),
    'wrong sender': () => openChat(keys.chat, 'bob', sealed),
    tampered: () => openChat(keys.chat, 'alice', flipped),
    short: () => openChat(keys.chat, 'alice', sealed.subarray(0, OVERHEAD - 1)),
    'wrong version': () => openChat(keys.chat, 'alice', Uint8Array.of(2, ...sealed.subarray(1))),
    'chat as a name': () => openName(keys.chat, 'alice', sealed),
  };
  for (const [name, f] of Object.entries(cases)) {
    await assert.rejects(f(), OpenError, name);
  }
  await assert.rejects(sealChat(keys.chat, 'alice', 'x'.repeat(MAX_CHAT_BYTES + 1)), RangeError);
  await assert.rejects(sealName(keys.names, 'alice', 'x'.repeat(257)), RangeError);
});

test('meta payloads encode exactly as Go encodes them', () => {
  for (const m of vectors.meta) {
    assert.equal(encodeMeta(m.kind, unhex(m.value)), m.data);
    const back = decodeMeta(m.data);
    assert.equal(back.kind, m.kind);
    assert.deepEqual(back.value, unhex(m.value));
  }
  assert.throws(() => decodeMeta('!!'));
  assert.throws(() => decodeMeta(Buffer.from('{"v":"AA"}').toString('base64url')));
});
