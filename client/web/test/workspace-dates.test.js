import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addDays, dayKey, daysOf, groupByDay, isWholeDay, localDateTimeValue, nextQuarterHour, overlaps, parseDayKey,
  parseLocalDateTime, startOfWeek, step, viewRange,
} from '../static/js/workspace/dates.js';
import { windowText, wholeDayIn, formatRange } from '../static/js/workspace/format.js';
import { windowRequest, appointmentData, sealedLength } from '../static/js/workspace/appointment.js';
import { makeT } from '../static/js/workspace/i18n.js';
import de from '../static/js/workspace/i18n-de.js';
import en from '../static/js/workspace/i18n-en.js';

// Read days in Berlin, where 2026 has its daylight-saving changes on
// 29 March (23-hour day) and 25 October (25-hour day).
process.env.TZ = 'Europe/Berlin';
const HOUR = 3600e3;
const local = (y, m, d, h = 0, min = 0) => new Date(y, m - 1, d, h, min);

test('a day view is local midnight to local midnight, DST days included', () => {
  const r = viewRange('day', local(2026, 5, 4, 15, 30));
  assert.equal(r.from.toISOString(), '2026-05-03T22:00:00.000Z');
  assert.equal(r.to.toISOString(), '2026-05-04T22:00:00.000Z');
  const spring = viewRange('day', local(2026, 3, 29, 12));
  assert.equal((spring.to - spring.from) / HOUR, 23);
  const autumn = viewRange('day', local(2026, 10, 25, 12));
  assert.equal((autumn.to - autumn.from) / HOUR, 25);
});

test('a week view runs Monday to Monday', () => {
  for (const d of [local(2026, 5, 4), local(2026, 5, 7, 23, 59), local(2026, 5, 10, 12)]) {
    const r = viewRange('week', d);
    assert.equal(dayKey(r.from), '2026-05-04', dayKey(d));
    assert.equal(dayKey(r.to), '2026-05-11');
    assert.equal(r.from.getHours(), 0);
  }
  assert.equal(dayKey(startOfWeek(local(2026, 5, 11))), '2026-05-11', 'a Monday is its own week start');
  const dst = viewRange('week', local(2026, 3, 29));
  assert.equal((dst.to - dst.from) / HOUR, 7 * 24 - 1);
  assert.deepEqual(daysOf(dst).map(dayKey), ['2026-03-23', '2026-03-24', '2026-03-25', '2026-03-26', '2026-03-27', '2026-03-28', '2026-03-29']);
});

test('stepping moves a day or a week, across months and DST', () => {
  assert.equal(dayKey(step('day', local(2026, 3, 31), 1)), '2026-04-01');
  assert.equal(dayKey(step('day', local(2026, 3, 29), 1)), '2026-03-30');
  assert.equal(dayKey(step('week', local(2026, 12, 28), 1)), '2027-01-04');
  assert.equal(dayKey(step('week', local(2026, 1, 2), -1)), '2025-12-26');
  assert.equal(addDays(local(2026, 10, 25), 1).getHours(), 0);
});

test('date and datetime-local values', () => {
  assert.equal(dayKey(local(2026, 1, 5)), '2026-01-05');
  assert.equal(parseDayKey('2026-02-28').getDate(), 28);
  for (const bad of ['2026-02-30', '2026-13-01', '26-01-01', '', 'x']) assert.equal(parseDayKey(bad), null, bad);
  assert.equal(localDateTimeValue(local(2026, 5, 4, 9, 5)), '2026-05-04T09:05');
  assert.equal(parseLocalDateTime('2026-05-04T09:05').toISOString(), '2026-05-04T07:05:00.000Z');
  assert.equal(parseLocalDateTime('2026-05-04'), null);
  assert.equal(localDateTimeValue(nextQuarterHour(local(2026, 5, 4, 9, 5))), '2026-05-04T09:15');
  assert.equal(localDateTimeValue(nextQuarterHour(local(2026, 5, 4, 23, 50))), '2026-05-05T00:00');
});

test('whole-day windows and overlaps', () => {
  assert.ok(isWholeDay(local(2026, 5, 4), local(2026, 5, 5)));
  assert.ok(isWholeDay(local(2026, 3, 29), local(2026, 3, 30)), '23-hour day');
  assert.ok(!isWholeDay(local(2026, 5, 4, 14), local(2026, 5, 5, 14)));
  assert.ok(wholeDayIn(new Date('2026-05-03T22:00:00Z'), new Date('2026-05-04T22:00:00Z'), 'Europe/Berlin'));
  assert.ok(!wholeDayIn(new Date('2026-05-03T22:00:00Z'), new Date('2026-05-04T22:00:00Z'), 'Europe/London'));
  assert.ok(overlaps(local(2026, 5, 4, 14), local(2026, 5, 5, 14), local(2026, 5, 5), local(2026, 5, 6)));
  assert.ok(!overlaps(local(2026, 5, 4), local(2026, 5, 5), local(2026, 5, 5), local(2026, 5, 6)), 'half-open');
});

test('appointments are listed under their start day, or the first day when they began before', () => {
  const range = viewRange('week', local(2026, 5, 6));
  const a = (id, start) => ({ id, starts_at: start.toISOString() });
  const groups = groupByDay([a('late', local(2026, 5, 6, 16)), a('early', local(2026, 5, 6, 8)), a('before', local(2026, 5, 3, 14)), a('sun', local(2026, 5, 10, 23, 30))], range);
  assert.deepEqual([...groups.keys()], daysOf(range).map(dayKey));
  assert.deepEqual(groups.get('2026-05-04').map((x) => x.id), ['before']);
  assert.deepEqual(groups.get('2026-05-06').map((x) => x.id), ['early', 'late']);
  assert.deepEqual(groups.get('2026-05-10').map((x) => x.id), ['sun']);
});

test('window requests for POST appointments', () => {
  assert.deepEqual(windowRequest('day', '2026-05-04', '', 'Europe/Berlin'), { day: '2026-05-04', time_zone: 'Europe/Berlin' });
  assert.deepEqual(windowRequest('start', '', '2026-05-04T14:00', 'Europe/Berlin'), { start: '2026-05-04T12:00:00.000Z', time_zone: 'Europe/Berlin' });
  assert.equal(windowRequest('day', '', '2026-05-04T14:00', 'Europe/Berlin'), null);
  assert.equal(windowRequest('start', '2026-05-04', '', 'Europe/Berlin'), null);
});

test('windows in words', () => {
  const day = { starts_at: '2026-05-03T22:00:00Z', ends_at: '2026-05-04T22:00:00Z' };
  const from = { starts_at: '2026-05-04T12:00:00Z', ends_at: '2026-05-05T12:00:00Z' };
  assert.equal(windowText(day, 'de', makeT(de)), 'Montag, 4. Mai 2026, ganztägig');
  assert.equal(windowText(from, 'de', makeT(de)), 'Montag, 4. Mai 2026, ab 14:00 Uhr für 24 Stunden');
  assert.match(windowText(from, 'en', makeT(en), { timeZone: 'Europe/London' }), /^Monday,? 4 May 2026, from 13:00 for 24 hours$/);
  assert.equal(windowText(from, 'de', makeT(de), { timeZone: 'Europe/Berlin', zoned: true }), 'Montag, 4. Mai 2026, ab 14:00 Uhr (MESZ) für 24 Stunden');
  assert.match(windowText(from, 'en', makeT(en), { timeZone: 'Europe/Berlin', zoned: true }), /from 14:00 \((CEST|GMT\+2)\) for 24 hours$/);
  assert.match(formatRange(local(2026, 5, 4), local(2026, 5, 11), 'de'), /4\.\s*–\s*10\. Mai 2026/);
});

test('the sealed JSON keeps the host and every guest with token and code', () => {
  const participants = [
    { id: 'g1', role: 'guest', token: 'tg1', code: 'CODE1', link: 'x' },
    { id: 'h', role: 'host', token: 'th', code: 'CODEH' },
    { id: 'g2', role: 'guest', token: 'tg2', code: 'CODE2' },
  ];
  const data = appointmentData({ patient: 'Erika', email: '', notes: '', secret: 'S', participants, labels: ['Erika', 'Dolmetscherin'], hostLabel: 'Dr. Weber' });
  assert.deepEqual(data.invitees, [
    { participant_id: 'h', role: 'host', label: 'Dr. Weber', token: 'th', code: 'CODEH' },
    { participant_id: 'g1', role: 'guest', label: 'Erika', token: 'tg1', code: 'CODE1' },
    { participant_id: 'g2', role: 'guest', label: 'Dolmetscherin', token: 'tg2', code: 'CODE2' },
  ]);
  assert.deepEqual(Object.keys(data), ['patient', 'email', 'notes', 'secret', 'invitees']);
  const n = 12 + Buffer.byteLength(JSON.stringify(data)) + 16;
  assert.equal(sealedLength(data), 3 + Math.ceil((n * 4) / 3));
});
