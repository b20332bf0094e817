import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseLobbyEvent, participantName, lobbyRows, waitedMinutes, waitedText, countText, newlyWaiting, waitingTotal,
  lobbySnapshot, utf8Length, MAX_DECLINE_BYTES,
} from '../static/js/workspace/lobby.js';
import { makeT } from '../static/js/workspace/i18n.js';
import de from '../static/js/workspace/i18n-de.js';
import en from '../static/js/workspace/i18n-en.js';

const tDe = makeT(de);
const tEn = makeT(en);
const MIN = 60e3;

const consultation = {
  patient: 'Erika Mustermann',
  secret: 's',
  invitees: [
    { participant_id: 'h1', role: 'host', label: 'Dr. Anna Berg', token: 'x', code: 'c' },
    { participant_id: 'g1', role: 'guest', label: 'Erika Mustermann', token: 'y', code: 'd' },
  ],
};

const conference = {
  patient: 'Fallkonferenz Herr K.',
  invitees: [
    { participant_id: 'h1', role: 'host', label: 'Dr. Anna Berg' },
    { participant_id: 'g1', role: 'guest', label: 'Dr. Ben Kraus' },
    { participant_id: 'g2', role: 'guest', label: '' },
    { participant_id: 'g3', role: 'guest', label: '  Dolmetscherin ' },
  ],
};

const event = (waiting, present = []) => parseLobbyEvent({ appointment_id: 'a1', room_id: 'r1', waiting, present });

test('a LobbyEvent is read from the stream and cleaned', () => {
  const ev = parseLobbyEvent(JSON.stringify({
    appointment_id: 'a1',
    room_id: 'r1',
    waiting: [
      { participant_id: 'g1', since: '2026-05-04T08:00:00Z', check: 'ok' },
      { participant_id: 'g1', since: '2026-05-04T08:01:00Z', check: 'failed' }, // twice: the first counts
      { participant_id: 'g2', since: '2026-05-04T08:02:00Z', check: 'maybe' },
      { since: '2026-05-04T08:03:00Z' },
      null,
    ],
    present: ['h1', 'h1', 3, ''],
  }));
  assert.deepEqual(ev, {
    appointment_id: 'a1',
    room_id: 'r1',
    waiting: [
      { participant_id: 'g1', since: '2026-05-04T08:00:00Z', check: 'ok' },
      { participant_id: 'g2', since: '2026-05-04T08:02:00Z', check: '' },
    ],
    present: ['h1'],
  });
  for (const bad of ['', 'nonsense', '{"waiting": []}', 'null', '[]', '{"appointment_id": 7}']) {
    assert.equal(parseLobbyEvent(bad), null, bad);
  }
  assert.deepEqual(parseLobbyEvent({ appointment_id: 'a2' }), { appointment_id: 'a2', room_id: '', waiting: [], present: [] });
});

test('guests are named by their sealed label, the patient, their place, else "Gast"', () => {
  assert.equal(participantName('g1', consultation, tDe), 'Erika Mustermann');
  assert.equal(participantName('g1', conference, tDe), 'Dr. Ben Kraus');
  assert.equal(participantName('g2', conference, tDe), 'Gast 2');
  assert.equal(participantName('g2', conference, tEn), 'Guest 2');
  assert.equal(participantName('g3', conference, tDe), 'Dolmetscherin');
  assert.equal(participantName('zz', conference, tDe), 'Gast');
  assert.equal(participantName('g1', null, tEn), 'Guest');
  // The only guest without a label is the patient.
  const unlabelled = { patient: 'Max Muster', invitees: [{ participant_id: 'h', role: 'host' }, { participant_id: 'g', role: 'guest', label: '' }] };
  assert.equal(participantName('g', unlabelled, tDe), 'Max Muster');
  // The host is no guest.
  assert.equal(participantName('h1', consultation, tDe), 'Gast');
});

test('a LobbyEvent and the sealed invitees make the rows of the entry', () => {
  const ev = event(
    [
      { participant_id: 'g1', since: '2026-05-04T08:00:00Z', check: 'ok' },
      { participant_id: 'g2', since: 'not a date', check: '' },
    ],
    ['h1', 'g3'],
  );
  const rows = lobbyRows(ev, conference, tDe);
  assert.deepEqual(rows.waiting.map((w) => [w.id, w.name, w.check]), [['g1', 'Dr. Ben Kraus', 'ok'], ['g2', 'Gast 2', '']]);
  assert.equal(rows.waiting[0].since.toISOString(), '2026-05-04T08:00:00.000Z');
  assert.equal(rows.waiting[1].since, null);
  // The host is not listed as in the call; guests are.
  assert.deepEqual(rows.present, [{ id: 'g3', name: 'Dolmetscherin' }]);

  // Unreadable sealed data: waiting guests as "Gast", nobody in the call (the host is unknown).
  const blind = lobbyRows(event([{ participant_id: 'g1', since: '2026-05-04T08:00:00Z', check: 'failed' }], ['h1', 'g1x']), null, tEn);
  assert.deepEqual(blind.waiting.map((w) => w.name), ['Guest']);
  assert.deepEqual(blind.present, []);

  assert.deepEqual(lobbyRows(null, consultation, tDe), { waiting: [], present: [] });
  assert.deepEqual(lobbyRows(event([], ['h1']), consultation, tDe), { waiting: [], present: [] });
});

test('"waiting for n minutes" in German and English', () => {
  const since = new Date('2026-05-04T08:00:00Z');
  const at = (ms) => new Date(since.getTime() + ms);
  assert.equal(waitedMinutes(since, at(59e3)), 0);
  assert.equal(waitedMinutes(since, at(3 * MIN + 59e3)), 3);
  assert.equal(waitedMinutes(since, at(-5 * MIN)), 0); // a clock a little behind the server's
  assert.equal(waitedMinutes(null, at(0)), 0);
  assert.equal(waitedText(since, at(20e3), tDe), 'wartet seit weniger als 1 Min.');
  assert.equal(waitedText(since, at(20e3), tEn), 'waiting for less than a minute');
  assert.equal(waitedText(since, at(3 * MIN), tDe), 'wartet seit 3 Min.');
  assert.equal(waitedText(since, at(3 * MIN), tEn), 'waiting for 3 min');
  assert.equal(waitedText(since, at(59 * MIN + 59e3), tDe), 'wartet seit 59 Min.');
  assert.equal(waitedText(since, at(75 * MIN), tDe), 'wartet seit 1 Std. 15 Min.');
  assert.equal(waitedText(since, at(75 * MIN), tEn), 'waiting for 1 h 15 min');
});

test('the header counts who waits', () => {
  assert.equal(countText(1, tDe), '1 wartet');
  assert.equal(countText(3, tDe), '3 warten');
  assert.equal(countText(1, tEn), '1 waiting');
  assert.equal(countText(2, tEn), '2 waiting');
  const events = new Map([
    ['a1', event([{ participant_id: 'g1', since: '', check: '' }, { participant_id: 'g2', since: '', check: '' }], ['h1'])],
    ['a2', parseLobbyEvent({ appointment_id: 'a2', waiting: [{ participant_id: 'g9', since: '', check: 'ok' }], present: [] })],
    ['a3', parseLobbyEvent({ appointment_id: 'a3', waiting: [], present: ['h3', 'g4'] })],
  ]);
  assert.equal(waitingTotal(events), 3);
  assert.equal(waitingTotal(new Map()), 0);
  assert.deepEqual(lobbySnapshot(events), {
    a1: { waiting: ['g1', 'g2'], present: ['h1'] },
    a2: { waiting: ['g9'], present: [] },
    a3: { waiting: [], present: ['h3', 'g4'] },
  });
});

test('who is newly waiting', () => {
  const w = (...ids) => event(ids.map((id) => ({ participant_id: id, since: '2026-05-04T08:00:00Z', check: '' })));
  // The first event after connecting: everyone waiting is new.
  assert.deepEqual(newlyWaiting(undefined, w('g1', 'g2')), ['g1', 'g2']);
  assert.deepEqual(newlyWaiting(undefined, w()), []);
  assert.deepEqual(newlyWaiting(w('g1'), w('g1', 'g2')), ['g2']);
  // A device check or someone leaving is no new arrival.
  assert.deepEqual(newlyWaiting(w('g1', 'g2'), w('g1')), []);
  assert.deepEqual(newlyWaiting(w('g1'), w('g1')), []);
  // Admitted, then sent back: waiting again.
  assert.deepEqual(newlyWaiting(w(), w('g1')), ['g1']);
  assert.deepEqual(newlyWaiting(w('g1'), null), []);
});

test('a decline message is measured in UTF-8 bytes, as the server does', () => {
  assert.equal(MAX_DECLINE_BYTES, 500);
  assert.equal(utf8Length('Bitte rufen Sie an.'), 19);
  assert.equal(utf8Length('Grüße'), 7);
  assert.equal(utf8Length('ü'.repeat(250)), 500);
  assert.ok(utf8Length('ü'.repeat(251)) > MAX_DECLINE_BYTES);
  // The default messages fit.
  assert.ok(utf8Length(de['decline.default']) <= MAX_DECLINE_BYTES);
  assert.ok(utf8Length(en['decline.default']) <= MAX_DECLINE_BYTES);
});
