import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ownMuteState, tileLabel, viewSize } from '../static/js/tiles.js';
import { unprotected } from '../static/js/e2ee/transforms.js';
import de from '../static/js/i18n/de.js';

const t = (k) => de[k];

test('a tile is named by the participant, then its states', () => {
  const off = { speaking: false, micOff: false, camOff: false };
  assert.equal(tileLabel('Dr. Anna Berg', off, t), 'Dr. Anna Berg');
  assert.equal(tileLabel('Dr. Anna Berg', { ...off, speaking: true }, t), 'Dr. Anna Berg – spricht gerade');
  assert.equal(tileLabel('Dr. Anna Berg', { speaking: true, micOff: true, camOff: true }, t), 'Dr. Anna Berg – spricht gerade, Mikrofon aus, Kamera aus');
});

test('the SFU is told device pixels of a visible tile, else 0 × 0', () => {
  const table = [
    [{ width: 400, height: 225, dpr: 1, visible: true }, { w: 400, h: 225 }],
    [{ width: 400.4, height: 225.6, dpr: 2, visible: true }, { w: 801, h: 451 }],
    [{ width: 400, height: 225, dpr: 0, visible: true }, { w: 400, h: 225 }],
    [{ width: 400, height: 225, dpr: 1, visible: false }, { w: 0, h: 0 }],
    [{ width: 0, height: 225, dpr: 1, visible: true }, { w: 0, h: 0 }],
    [{ width: NaN, height: 225, dpr: 1, visible: true }, { w: 0, h: 0 }],
  ];
  for (const [input, want] of table) assert.deepEqual(viewSize(input), want, JSON.stringify(input));
});

test('our mute state: off when muted or turned off, or without the device', () => {
  assert.deepEqual(ownMuteState({ muted: false, camOff: false, hasAudio: true, hasVideo: true }), { micOff: false, camOff: false });
  assert.deepEqual(ownMuteState({ muted: true, camOff: true, hasAudio: true, hasVideo: true }), { micOff: true, camOff: true });
  assert.deepEqual(ownMuteState({ muted: false, camOff: false, hasAudio: false, hasVideo: false }), { micOff: true, camOff: true });
});

test('media on the wire that never passed the encrypt transform is caught', () => {
  assert.deepEqual(unprotected({ audio: 500, video: 900 }, { 'encrypt audio': 250, 'encrypt video': 40 }), []);
  assert.deepEqual(unprotected({ audio: 500, video: 900 }, { 'encrypt audio': 250 }), ['video']);
  assert.deepEqual(unprotected({ audio: 500, video: 900 }, { 'encrypt audio': 250, 'encrypt video': 0 }), ['video']);
  // A few packets (probing before the first frame) are not media yet.
  assert.deepEqual(unprotected({ audio: 20, video: 99 }, {}), []);
  assert.deepEqual(unprotected({}, {}), []);
});
