// The waiting rooms' pure logic (docs/PROTOCOL.md, "Waiting room";
// docs/openapi.yaml, LobbyEvent): reading a LobbyEvent from the events
// stream, naming its people from the appointment's sealed invitees, how
// long someone has waited, and who is newly waiting. No DOM here: the
// unit tests import it (test/workspace-lobby.test.js); lobbyview.js
// shows it.

const CHECKS = new Set(['ok', 'failed']);
const MINUTE = 60e3;

/** The most the practice's message to a declined guest may be, in UTF-8 bytes. */
export const MAX_DECLINE_BYTES = 500;

/**
 * A LobbyEvent from the stream's JSON text (or an API answer), cleaned:
 * {appointment_id, room_id, waiting: [{participant_id, since, check}],
 * present: [ids]}, each participant once, check "ok", "failed" or "".
 * Null for anything else.
 */
export function parseLobbyEvent(input) {
  let ev = input;
  if (typeof input === 'string') {
    try {
      ev = JSON.parse(input);
    } catch {
      return null;
    }
  }
  if (!ev || typeof ev !== 'object' || typeof ev.appointment_id !== 'string' || !ev.appointment_id) return null;
  const seen = new Set();
  const waiting = [];
  for (const w of Array.isArray(ev.waiting) ? ev.waiting : []) {
    if (!w || typeof w.participant_id !== 'string' || !w.participant_id || seen.has(w.participant_id)) continue;
    seen.add(w.participant_id);
    waiting.push({
      participant_id: w.participant_id,
      since: typeof w.since === 'string' ? w.since : '',
      check: CHECKS.has(w.check) ? w.check : '',
    });
  }
  const present = [...new Set((Array.isArray(ev.present) ? ev.present : []).filter((id) => typeof id === 'string' && id))];
  return { appointment_id: ev.appointment_id, room_id: typeof ev.room_id === 'string' ? ev.room_id : '', waiting, present };
}

/** The invitee with role "host" of opened sealed data, or null. */
function hostId(data) {
  const h = data && Array.isArray(data.invitees) ? data.invitees.find((i) => i && i.role === 'host') : null;
  return h ? h.participant_id : null;
}

/**
 * The display name of a participant: the invitee's label, else (the only
 * guest) the patient's name, else "Gast n" by the guest's place, else
 * "Gast" (a participant the sealed data does not list, or no data).
 */
export function participantName(id, data, t) {
  const invitees = data && Array.isArray(data.invitees) ? data.invitees : [];
  const guests = invitees.filter((i) => i && i.role !== 'host');
  const i = guests.findIndex((g) => g.participant_id === id);
  if (i < 0) return t('lobby.guest');
  const label = typeof guests[i].label === 'string' ? guests[i].label.trim() : '';
  if (label) return label;
  if (guests.length === 1 && data.patient) return String(data.patient);
  return t('dlg.labelDefault', { n: i + 1 });
}

/**
 * What an appointment's entry shows of its waiting room: who waits
 * (longest first, as the server sends them) with since (a Date, or null)
 * and check, and which guests are in the call (present minus the host;
 * nobody when the sealed data cannot be read, as the host is then
 * unknown).
 */
export function lobbyRows(ev, data, t) {
  if (!ev) return { waiting: [], present: [] };
  const host = hostId(data);
  const waiting = ev.waiting
    .filter((w) => w.participant_id !== host)
    .map((w) => {
      const since = w.since ? new Date(w.since) : null;
      return {
        id: w.participant_id,
        name: participantName(w.participant_id, data, t),
        since: since && !Number.isNaN(since.getTime()) ? since : null,
        check: w.check,
      };
    });
  const waitingIds = new Set(waiting.map((w) => w.id));
  const present = host === null
    ? []
    : ev.present.filter((id) => id !== host && !waitingIds.has(id)).map((id) => ({ id, name: participantName(id, data, t) }));
  return { waiting, present };
}

/** Whole minutes from since to now (never negative). */
export function waitedMinutes(since, now) {
  if (!since) return 0;
  return Math.max(0, Math.floor((now - since) / MINUTE));
}

/** "wartet seit 3 Min." / "waiting for 3 min", in t's language. */
export function waitedText(since, now, t) {
  const m = waitedMinutes(since, now);
  if (m < 1) return t('lobby.waitedJust');
  if (m < 60) return t('lobby.waitedMin', { n: m });
  return t('lobby.waitedHours', { h: Math.floor(m / 60), m: m % 60 });
}

/** "1 wartet" / "3 warten". */
export function countText(n, t) {
  return t(n === 1 ? 'lobby.countOne' : 'lobby.countMany', { n });
}

/** The ids waiting in after but not in before (before may be undefined: all are new). */
export function newlyWaiting(before, after) {
  if (!after) return [];
  const was = new Set(before ? before.waiting.map((w) => w.participant_id) : []);
  return after.waiting.map((w) => w.participant_id).filter((id) => !was.has(id));
}

/** How many wait in all the rooms of a Map appointment id → LobbyEvent. */
export function waitingTotal(events) {
  let n = 0;
  for (const ev of events.values()) n += ev.waiting.length;
  return n;
}

/** What the test hook shows: {[appointment_id]: {waiting: [ids], present: [ids]}}. */
export function lobbySnapshot(events) {
  const out = {};
  for (const [id, ev] of events) {
    out[id] = { waiting: ev.waiting.map((w) => w.participant_id), present: [...ev.present] };
  }
  return out;
}

/** The length of s in UTF-8 bytes (the server's limit of a decline message). */
export function utf8Length(s) {
  return new TextEncoder().encode(String(s)).length;
}
