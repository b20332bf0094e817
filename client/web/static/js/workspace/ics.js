// A calendar entry for one invitee (RFC 5545), made in the browser: the
// link carries the room secret, so the server never sees the file. No DOM
// here; invite.js turns the text into a Blob URL.

const CRLF = '\r\n';
const MAX_OCTETS = 75; // RFC 5545 §3.1: lines SHOULD NOT be longer than 75 octets
const utf8 = new TextEncoder();

/** RFC 5545 §3.3.11: backslash, semicolon, comma and line breaks escaped. */
export function escapeText(s) {
  return String(s)
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n');
}

/**
 * RFC 5545 §3.1: splits a content line into lines of at most 75 octets,
 * each continuation starting with one space, never inside a UTF-8
 * sequence (whole code points move to the next line).
 */
export function foldLine(line) {
  const out = [];
  let cur = '';
  let octets = 0;
  for (const ch of line) {
    const n = utf8.encode(ch).length;
    if (octets + n > MAX_OCTETS) {
      out.push(cur);
      cur = ' ';
      octets = 1;
    }
    cur += ch;
    octets += n;
  }
  out.push(cur);
  return out.join(CRLF);
}

/** An instant as a UTC DATE-TIME: 20260504T120000Z. */
export function utcStamp(date) {
  return new Date(date).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * One VEVENT in a VCALENDAR, CRLF line ends, folded.
 * @param {{uid: string, start: Date|string, end: Date|string, summary: string,
 *   description?: string, url?: string, stamp?: Date}} ev
 * @returns {string}
 */
export function buildICS(ev) {
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Konsil//Workspace//DE',
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    'BEGIN:VEVENT',
    `UID:${escapeText(ev.uid)}`,
    `DTSTAMP:${utcStamp(ev.stamp || new Date())}`,
    `DTSTART:${utcStamp(ev.start)}`,
    `DTEND:${utcStamp(ev.end)}`,
    `SUMMARY:${escapeText(ev.summary)}`,
  ];
  if (ev.description) lines.push(`DESCRIPTION:${escapeText(ev.description)}`);
  // URL is a URI value (§3.3.13), not TEXT: no escaping.
  if (ev.url) lines.push(`URL:${ev.url}`);
  lines.push('END:VEVENT', 'END:VCALENDAR');
  return lines.map(foldLine).join(CRLF) + CRLF;
}

/** The UID of an invitee's entry: appointment id + participant id @konsil. */
export function icsUID(appointmentId, participantId) {
  return `${appointmentId}-${participantId}@konsil`;
}
