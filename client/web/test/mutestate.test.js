import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMuteState, encodeMuteState, newerMuteState } from '../static/js/e2ee/mutestate.js';
import { OpenError, openMute, openName, sealMute, sealName } from '../static/js/e2ee/seal.js';
import { decodeMeta, encodeMeta, META_MUTE } from '../static/js/e2ee/meta.js';
import { deriveKeys, parseSecret } from '../static/js/e2ee/keys.js';
import { hex, unhex, vectors } from './vectors.js';

const at = 1795474135901;

test('a mute state is the time, then one byte of flags', () => {
  const table = [
    [{ micOff: false, camOff: false, at }, 0x00],
    [{ micOff: true, camOff: false, at }, 0x01],
    [{ micOff: false, camOff: true, at }, 0x02],
    [{ micOff: true, camOff: true, at }, 0x03],
  ];
  for (const [state, flags] of table) {
    const b = encodeMuteState(state);
    assert.equal(b.length, 9);
    assert.equal(b[8], flags);
    assert.equal(new DataView(b.buffer).getBigUint64(0), BigInt(at));
    assert.deepEqual(decodeMuteState(b), state);
  }
});

test('reserved bits and appended bytes are ignored; short or huge input is refused', () => {
  const b = encodeMuteState({ micOff: true, camOff: false, at });
  b[8] |= 0xf0;
  assert.deepEqual(decodeMuteState(b), { micOff: true, camOff: false, at });
  const longer = new Uint8Array(12);
  longer.set(b);
  assert.deepEqual(decodeMuteState(longer), { micOff: true, camOff: false, at });
  assert.deepEqual(decodeMuteState(longer.subarray(0, 9)), { micOff: true, camOff: false, at });
  assert.throws(() => decodeMuteState(new Uint8Array(8)));
  assert.throws(() => decodeMuteState(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0])));
  assert.throws(() => encodeMuteState({ micOff: true, camOff: true, at: -1 }));
});

test('a state replaces the held one unless it is older', () => {
  const s = (t) => ({ micOff: false, camOff: false, at: t });
  assert.ok(newerMuteState(null, s(1)));
  assert.ok(newerMuteState(s(1), s(2)));
  assert.ok(newerMuteState(s(2), s(2)));
  assert.ok(!newerMuteState(s(3), s(2)));
});

test('a sealed mute state opens only for its sender and only as a mute state', async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const state = encodeMuteState({ micOff: true, camOff: true, at });
  const sealed = await sealMute(key, 'P1aB2cD3eF4gH5iJ', state);
  assert.deepEqual(decodeMuteState(await openMute(key, 'P1aB2cD3eF4gH5iJ', sealed)), { micOff: true, camOff: true, at });
  await assert.rejects(openMute(key, 'P6kL7mN8oP9qR0sT', sealed), OpenError);
  await assert.rejects(openMute(crypto.getRandomValues(new Uint8Array(32)), 'P1aB2cD3eF4gH5iJ', sealed), OpenError);
  // Same key, other label: a name cannot pass for a state, nor the reverse.
  await assert.rejects(openName(key, 'P1aB2cD3eF4gH5iJ', sealed), OpenError);
  await assert.rejects(openMute(key, 'P1aB2cD3eF4gH5iJ', await sealName(key, 'P1aB2cD3eF4gH5iJ', 'Dr. Anna Berg')), OpenError);
  // In a meta payload, as conference.js sends it.
  const meta = decodeMeta(encodeMeta(META_MUTE, sealed));
  assert.equal(meta.kind, 'mute');
  assert.deepEqual([...meta.value], [...sealed]);
});

test('opens and decodes the mute states Go sealed (key-schedule.json)', async () => {
  const keys = await deriveKeys(parseSecret(vectors.secret));
  assert.ok(vectors.mute && vectors.mute.length > 0, 'no mute vectors');
  for (const v of vectors.mute) {
    const pt = await openMute(keys.names, v.sender, unhex(v.sealed));
    assert.equal(hex(pt), v.state);
    const state = { micOff: v.mic_off, camOff: v.camera_off, at: v.at };
    assert.deepEqual(decodeMuteState(pt), state);
    // This version's nine bytes encode back to the same bytes.
    if (pt.length === 9 && (pt[8] & ~0x03) === 0) assert.equal(hex(encodeMuteState(state)), v.state);
  }
});
