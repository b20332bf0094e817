import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveKeys, parseSecret } from '../static/js/e2ee/keys.js';
import { FingerprintError, fingerprintMAC, fingerprintOf, verifyFingerprintMAC } from '../static/js/e2ee/fingerprint.js';
import * as b64 from '../static/js/e2ee/b64.js';
import { vectors } from './vectors.js';

const keys = await deriveKeys(parseSecret(vectors.secret));

test('normalizes the SDP fingerprint as Go does and makes the same MAC', async () => {
  const fp = fingerprintOf(vectors.fingerprint.sdp);
  assert.equal(fp, vectors.fingerprint.normalized);
  assert.equal(b64.encode(await fingerprintMAC(keys.fingerprint, fp)), vectors.fingerprint.mac);
  assert.ok(await verifyFingerprintMAC(keys.fingerprint, fp, b64.decode(vectors.fingerprint.mac)));
});

test('fingerprint parsing table', () => {
  const fp = 'sha-256 0A:1B';
  const cases = [
    ['session level', 'v=0\r\na=fingerprint:sha-256 0a:1b\r\n', fp],
    ['upper-case hash name', 'a=fingerprint:SHA-256 0A:1B\n', fp],
    ['ignores sha-1', 'a=fingerprint:sha-1 FF:FF\r\na=fingerprint:sha-256 0A:1B\r\n', fp],
    ['none', 'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n', null],
    ['only sha-1', 'a=fingerprint:sha-1 0A:1B\r\n', null],
    ['two certificates', 'a=fingerprint:sha-256 0A:1B\r\na=fingerprint:sha-256 0A:1C\r\n', null],
  ];
  for (const [name, sdp, want] of cases) {
    if (want) assert.equal(fingerprintOf(sdp), want, name);
    else assert.throws(() => fingerprintOf(sdp), FingerprintError, name);
  }
});

test('a MAC does not verify another fingerprint or under another key', async () => {
  const mac = await fingerprintMAC(keys.fingerprint, 'sha-256 0A:1B');
  assert.ok(await verifyFingerprintMAC(keys.fingerprint, 'sha-256 0A:1B', mac));
  assert.equal(await verifyFingerprintMAC(keys.fingerprint, 'sha-256 0A:1C', mac), false);
  assert.equal(await verifyFingerprintMAC(keys.chat, 'sha-256 0A:1B', mac), false);
});
