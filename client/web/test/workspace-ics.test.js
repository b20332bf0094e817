import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildICS, escapeText, foldLine, icsUID, utcStamp } from '../static/js/workspace/ics.js';

const octets = (s) => Buffer.byteLength(s, 'utf8');
/** RFC 5545 §3.1 unfolding: CRLF followed by one space or tab goes away. */
const unfold = (s) => s.replace(/\r\n[ \t]/g, '');

test('escapes backslash, semicolon, comma and every kind of line break', () => {
  const cases = [
    ['a,b;c\\d', 'a\\,b\\;c\\\\d'],
    ['eins\nzwei\r\ndrei\rvier', 'eins\\nzwei\\ndrei\\nvier'],
    ['\\n is not a newline', '\\\\n is not a newline'],
    ['Link: https://x.example/r/T#k=S', 'Link: https://x.example/r/T#k=S'],
  ];
  for (const [input, want] of cases) assert.equal(escapeText(input), want, JSON.stringify(input));
});

test('folds at 75 octets with a space, never inside a UTF-8 sequence', () => {
  const lines = [
    'DESCRIPTION:' + 'x'.repeat(200),
    'SUMMARY:' + 'ä'.repeat(100), // two octets each
    'SUMMARY:' + 'x'.repeat(66) + '€€€€€€', // a three-octet sign across the boundary
    'SUMMARY:' + '😀'.repeat(40), // four octets, a surrogate pair in JS
    'UID:short',
    'X:' + 'y'.repeat(73), // exactly 75 octets: no fold
  ];
  for (const line of lines) {
    const folded = foldLine(line);
    const parts = folded.split('\r\n');
    for (const [i, p] of parts.entries()) {
      assert.ok(octets(p) <= 75, `${octets(p)} octets in part ${i} of ${line.slice(0, 12)}`);
      if (i > 0) assert.ok(p.startsWith(' ') && p.length > 1, 'continuation starts with one space');
      assert.ok(!p.includes('\uFFFD') && Buffer.from(p, 'utf8').toString('utf8') === p, 'whole code points');
    }
    assert.equal(unfold(folded), line, 'unfolds to the original');
  }
  assert.equal(foldLine('X:' + 'y'.repeat(73)), 'X:' + 'y'.repeat(73));
  assert.equal(foldLine('X:' + 'y'.repeat(74)).split('\r\n').length, 2);
});

test('UTC stamps without separators or milliseconds', () => {
  assert.equal(utcStamp(new Date('2026-05-04T12:34:56.789Z')), '20260504T123456Z');
  assert.equal(utcStamp('2026-05-03T22:00:00Z'), '20260503T220000Z');
});

test('a VCALENDAR with one VEVENT, CRLF line ends, escaped and folded', () => {
  const link = 'https://konsil.example/r/AbCdEfGhIjKlMnOpQrStUv#k=' + 'K'.repeat(43);
  const ics = buildICS({
    uid: icsUID('appt1', 'part2'),
    start: '2026-05-03T22:00:00Z',
    end: '2026-05-04T22:00:00Z',
    stamp: new Date('2026-05-01T08:00:00Z'),
    summary: 'Videosprechstunde – Praxis Dr. Weber, Innere; Medizin',
    description: `Ihre Videosprechstunde.\n${link}\n\nZugangscode: ABCDE-FGHJK`,
    url: link,
  });
  assert.ok(ics.endsWith('\r\n'));
  assert.ok(!/[^\r]\n/.test(ics), 'no bare LF');
  assert.ok(!/\r[^\n]/.test(ics), 'no bare CR');
  for (const line of ics.split('\r\n')) assert.ok(octets(line) <= 75, line);
  const lines = unfold(ics).split('\r\n');
  assert.deepEqual(lines.slice(0, 6), ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Konsil//Workspace//DE', 'CALSCALE:GREGORIAN', 'METHOD:PUBLISH', 'BEGIN:VEVENT']);
  assert.ok(lines.includes('UID:appt1-part2@konsil'));
  assert.ok(lines.includes('DTSTAMP:20260501T080000Z'));
  assert.ok(lines.includes('DTSTART:20260503T220000Z'));
  assert.ok(lines.includes('DTEND:20260504T220000Z'));
  assert.ok(lines.includes('SUMMARY:Videosprechstunde – Praxis Dr. Weber\\, Innere\\; Medizin'));
  assert.ok(lines.includes(`DESCRIPTION:Ihre Videosprechstunde.\\n${link}\\n\\nZugangscode: ABCDE-FGHJK`));
  assert.ok(lines.includes(`URL:${link}`));
  assert.deepEqual(lines.slice(-3), ['END:VEVENT', 'END:VCALENDAR', '']);
});
