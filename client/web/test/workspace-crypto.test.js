import { test } from 'node:test';
import assert from 'node:assert/strict';
import { masterKey, checkParams, KdfParamsError } from '../static/js/workspace/kdf.js';
import {
  AAD, SealError, b64, deriveLogin, loginKeys, newKdfParams, newSecret, open, openAppointment, parseKey, seal,
  sealAppointment, unwrapInvitation, unwrapPracticeKey, wrapForInvitation, wrapPracticeKey, aesKey, MAX_SEALED_APPOINTMENT,
} from '../static/js/workspace/crypto.js';

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const utf8 = new TextEncoder();

// Known answers from Go (golang.org/x/crypto v0.58.0: argon2.IDKey, hkdf,
// crypto/cipher AES-GCM with the fixed IVs 0xa0.., 0xb0.., 0xc0..), so the
// browser's formats are checked against an independent implementation.
const go = {
  password: 'Grüße, Fräulein! 10+',
  kdf: { salt: 'AAECAwQFBgcICQoLDA0ODw', t: 2, m: 19456 },
  master: '17394ab52179dd498781f8746188c7478742074f0fb33aa8649dc4473ed11486',
  auth: 'IRKQOuqCntaISN222CBvnJTMmG7jLstbBPhkE_FH5WE',
  wrapping: 'c71dfe071dae87a4d286255bb4f9f416c6cb22d00d59c94eddaf3d611d2e2d82',
  practice_key: '404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f',
  wrapped_key: 'v1.oKGio6SlpqeoqaqrDoge4vfad10RVSWZ5zbgQWkpcACaIPeru_CnfO7fP5y_40Gi6ddTC4FY53gh8Eoa',
  invitation_secret: 'gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8',
  invitation_wrapped: 'v1.sLGys7S1tre4ubq7MmARwKN1doA4xfG067Wt6SViDqxu2xxNc-avwuhKQeWR_E4iCT5aCxsEcD8IA6Qe',
  appointment_id: 'appt-123',
  appointment_json: '{"patient":"Erika Mustermann","secret":"x"}',
  appointment_sealed: 'v1.wMHCw8TFxsfIycrLJGZArw7zWIUAmx4U7tHLpv7VEyStWkt6kdJdAgpWWDXhVSHihYQsnpISD0Bi6ba1_swFrqrkh6NSuqc',
};

// The smallest parameters the server accepts keep the tests quick.
const FAST = { salt: go.kdf.salt, t: 2, m: 19456 };
const fastMaster = (password, kdf) => masterKey(password, kdf);

test('argon2id master, auth and wrapping key match Go', async () => {
  const master = masterKey(go.password, go.kdf);
  assert.equal(hex(master), go.master);
  const { auth, wrapping } = await loginKeys(master);
  assert.equal(auth, go.auth);
  // The wrapping key is not extractable: check it by opening Go's wrapped key.
  assert.equal(wrapping.extractable, false);
  assert.equal(hex(await unwrapPracticeKey(wrapping, go.wrapped_key)), go.practice_key);
});

test('opens the invitation and appointment sealed by Go', async () => {
  const pk = await unwrapInvitation(parseKey(go.invitation_secret), go.invitation_wrapped);
  assert.equal(hex(pk), go.practice_key);
  const data = await openAppointment(unhex(go.practice_key), go.appointment_id, go.appointment_sealed);
  assert.deepEqual(data, JSON.parse(go.appointment_json));
});

test('a wrong password does not unwrap the practice key', async () => {
  const practiceKey = newSecret();
  const right = await deriveLogin('richtiges Passwort', FAST, fastMaster);
  const wrapped = await wrapPracticeKey(right.wrapping, practiceKey);
  assert.deepEqual(await unwrapPracticeKey(right.wrapping, wrapped), practiceKey);
  const wrong = await deriveLogin('falsches Passwort', FAST, fastMaster);
  assert.notEqual(wrong.auth, right.auth);
  await assert.rejects(unwrapPracticeKey(wrong.wrapping, wrapped), SealError);
});

test('the same password under another salt gives other keys', async () => {
  const a = await deriveLogin('ein Passwort', FAST, fastMaster);
  const b = await deriveLogin('ein Passwort', { ...FAST, salt: b64.encode(new Uint8Array(16).fill(7)) }, fastMaster);
  assert.notEqual(a.auth, b.auth);
  assert.equal(b64.decode(a.auth).length, 32);
});

test('appointment round trip, bound to its id', async () => {
  const pk = newSecret();
  const data = { patient: 'Erika Mustermann', email: 'erika@example.org', notes: 'Befund, „Zweitmeinung“', secret: b64.encode(newSecret()), invitees: [] };
  const sealed = await sealAppointment(pk, 'a1', data);
  assert.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(await openAppointment(pk, 'a1', sealed), data);
  assert.deepEqual(await openAppointment(await aesKey(pk), 'a1', sealed), data, 'with a CryptoKey');
  await assert.rejects(openAppointment(pk, 'a2', sealed), SealError, 'another id');
  await assert.rejects(openAppointment(newSecret(), 'a1', sealed), SealError, 'another practice key');
});

test('each sealed kind opens only as itself', async () => {
  const key = newSecret();
  const pk = newSecret();
  const asInvitation = await wrapForInvitation(key, pk);
  assert.deepEqual(await unwrapInvitation(key, asInvitation), pk);
  const wrapping = await aesKey(key);
  await assert.rejects(unwrapPracticeKey(wrapping, asInvitation), SealError);
  const asWrapped = await wrapPracticeKey(wrapping, pk);
  await assert.rejects(unwrapInvitation(key, asWrapped), SealError);
});

test('sealed values are fresh each time: a 12-byte random IV', async () => {
  const key = newSecret();
  const pt = utf8.encode('same');
  const a = await seal(key, 'x', pt);
  const b = await seal(key, 'x', pt);
  assert.notEqual(a, b);
  assert.equal(b64.decode(a.slice(3)).length, 12 + pt.length + 16);
});

test('malformed sealed values are refused as SealError', async () => {
  const key = newSecret();
  const good = await seal(key, 'x', utf8.encode('hello'));
  const body = b64.decode(good.slice(3));
  const flipped = body.slice();
  flipped[20] ^= 1;
  for (const bad of ['', 'v2.' + good.slice(3), good.slice(3), 'v1.', 'v1.!!!!', 'v1.' + b64.encode(body.subarray(0, 27)), 'v1.' + b64.encode(flipped), null]) {
    await assert.rejects(open(key, 'x', bad), SealError, String(bad).slice(0, 12));
  }
  await assert.rejects(open(key, 'y', good), SealError, 'other additional data');
});

test('the unwrapped practice key must be exactly 32 bytes', async () => {
  const wrapping = await aesKey(newSecret());
  const short = await seal(wrapping, AAD.practiceKey, new Uint8Array(31));
  await assert.rejects(unwrapPracticeKey(wrapping, short), SealError);
});

test('appointments over 16 KiB sealed are refused', async () => {
  const pk = newSecret();
  await assert.rejects(sealAppointment(pk, 'a', { notes: 'x'.repeat(13000) }), SealError);
  const ok = await sealAppointment(pk, 'a', { notes: 'x'.repeat(11000) });
  assert.ok(ok.length <= MAX_SEALED_APPOINTMENT);
});

test('KDF parameters outside the contract are refused', () => {
  const ok = newKdfParams();
  assert.deepEqual({ t: ok.t, m: ok.m }, { t: 3, m: 65536 });
  assert.equal(b64.decode(ok.salt).length, 16);
  assert.notEqual(newKdfParams().salt, ok.salt);
  checkParams(ok);
  for (const bad of [{ ...ok, t: 1 }, { ...ok, t: 11 }, { ...ok, m: 19455 }, { ...ok, m: 262145 }, { ...ok, t: 2.5 },
    { ...ok, salt: b64.encode(new Uint8Array(15)) }, { ...ok, salt: 'AAAA+AAAAAAAAAAAAAAAAA' }, { ...ok, salt: undefined }]) {
    assert.throws(() => checkParams(bad), KdfParamsError, JSON.stringify(bad));
  }
  assert.throws(() => masterKey('x', { ...ok, m: 8 }), KdfParamsError);
});

test('parseKey takes exactly 32 bytes of unpadded base64url', () => {
  assert.equal(parseKey(go.invitation_secret).length, 32);
  for (const bad of ['', go.invitation_secret.slice(1), go.invitation_secret + 'A', go.invitation_secret + '=', '/' + go.invitation_secret.slice(1)]) {
    assert.throws(() => parseKey(bad), SealError, bad);
  }
});
