import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRelayedChat } from '../static/js/conference.js';
import { MediaCrypto } from '../static/js/e2ee/frames.js';
import { deriveKeys } from '../static/js/e2ee/keys.js';

test('a relayed chat frame names its sender, then the sealed message', () => {
  const id = 'P1aB2cD3eF4gH5iJ';
  const sealed = new Uint8Array([1, 2, 3, 4]);
  const frame = new Uint8Array([id.length, ...new TextEncoder().encode(id), ...sealed]);
  const got = parseRelayedChat(frame.buffer);
  assert.equal(got.sender, id);
  assert.deepEqual([...got.sealed], [...sealed]);
  assert.throws(() => parseRelayedChat(new Uint8Array([])));
  assert.throws(() => parseRelayedChat(new Uint8Array([0, 1])));
  assert.throws(() => parseRelayedChat(new Uint8Array([5, 65, 66])));
});

// A frame as the encoded-transform APIs hand it over: data is an ArrayBuffer.
const frame = (bytes) => ({ data: new Uint8Array(bytes).buffer });

async function pipe(stream, frames) {
  const out = [];
  const w = stream.writable.getWriter();
  const reading = (async () => {
    const r = stream.readable.getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      out.push(new Uint8Array(value.data));
    }
  })();
  for (const f of frames) await w.write(f);
  await w.close();
  await reading;
  return out;
}

test('frames encrypted with one KID decrypt with the same room secret, by the KID in the header', async () => {
  const secret = new Uint8Array(32).fill(7);
  const media = (await deriveKeys(secret)).media;
  const alice = new MediaCrypto(media);
  // Nothing is sent before our KID's key exists, never in the clear.
  assert.deepEqual(await pipe(alice.transform('encrypt', 'video'), [frame([0x10, 2, 3, 4])]), []);
  assert.equal(alice.stats.unsent, 1);
  await alice.setSendKid(41);
  const key = [0x10, 0, 0, 0x9d, 0x01, 0x2a, 1, 2, 3, 4, 5, 6, 7];
  const delta = [0x11, 9, 9, 8, 8, 8];
  const sent = await pipe(alice.transform('encrypt', 'video'), [frame(key), frame(delta)]);
  assert.equal(sent.length, 2);
  assert.deepEqual([...sent[0].subarray(0, 10)], key.slice(0, 10), 'VP8 keyframe header stays clear');
  assert.notDeepEqual([...sent[0].subarray(10, 13)], key.slice(10));

  const bob = new MediaCrypto(media);
  await bob.addKid(41);
  const got = await pipe(bob.transform('decrypt', 'video'), sent.map((b) => frame(b)));
  assert.deepEqual(got.map((b) => [...b]), [key, delta]);

  const other = new MediaCrypto((await deriveKeys(new Uint8Array(32).fill(8))).media);
  await other.addKid(41);
  assert.deepEqual(await pipe(other.transform('decrypt', 'video'), sent.map((b) => frame(b))), []);
  assert.equal(other.stats.failed, 2);
  assert.deepEqual(other.stats.failedByKid, { 41: 2 });
});
