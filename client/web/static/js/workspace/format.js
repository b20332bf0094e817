// Dates and windows as people read them, in German or English. Pure
// (Intl only): the calendar, the invitation mail and the tests use it.

import { isWholeDay } from './dates.js';

const HOUR = 3600e3;

/** The Intl locale of a UI language. */
export function localeOf(lang) {
  return lang === 'de' ? 'de-DE' : 'en-GB';
}

function fmt(lang, opts, date, timeZone) {
  return new Intl.DateTimeFormat(localeOf(lang), timeZone ? { ...opts, timeZone } : opts).format(date);
}

/** "Montag, 4. Mai 2026" / "Monday 4 May 2026". */
export function formatDay(date, lang, timeZone) {
  return fmt(lang, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }, date, timeZone);
}

/** "Mo., 4. Mai" / "Mon 4 May": a day heading in the week view. */
export function formatShortDay(date, lang) {
  return fmt(lang, { weekday: 'short', day: 'numeric', month: 'short' }, date);
}

/** "14:00". */
export function formatTime(date, lang, timeZone) {
  return fmt(lang, { hour: '2-digit', minute: '2-digit' }, date, timeZone);
}

/** The zone's short name at date ("MESZ", "CEST", "UTC"). */
export function zoneName(date, lang, timeZone) {
  const parts = new Intl.DateTimeFormat(localeOf(lang), { timeZoneName: 'short', ...(timeZone ? { timeZone } : {}) }).formatToParts(date);
  return (parts.find((p) => p.type === 'timeZoneName') || {}).value || '';
}

/** "04.05.2026, 14:00" / "04/05/2026, 14:00". */
export function formatDateTime(date, lang) {
  return fmt(lang, { dateStyle: 'medium', timeStyle: 'short' }, date);
}

/** The title of a week: "4. – 10. Mai 2026". */
export function formatRange(from, toExclusive, lang) {
  const last = new Date(toExclusive.getTime() - 1);
  const f = new Intl.DateTimeFormat(localeOf(lang), { day: 'numeric', month: 'long', year: 'numeric' });
  return typeof f.formatRange === 'function' ? f.formatRange(from, last) : `${f.format(from)} – ${f.format(last)}`;
}

/** Whether [start, end) is one whole calendar day in timeZone (or here). */
export function wholeDayIn(start, end, timeZone) {
  if (!timeZone) return isWholeDay(start, end);
  const hours = (end - start) / HOUR;
  const midnight = (d) => fmt('en', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }, d, timeZone) === '00:00';
  return hours >= 23 && hours <= 25 && midnight(start) && midnight(end);
}

/**
 * An appointment's window in words: "Montag, 4. Mai 2026, ganztägig" or
 * "Montag, 4. Mai 2026, ab 14:00 Uhr für 24 Stunden". t gives the
 * phrasing; zoned adds the zone's abbreviation (for people elsewhere).
 */
export function windowText(appt, lang, t, { timeZone, zoned = false } = {}) {
  const start = new Date(appt.starts_at);
  const end = new Date(appt.ends_at);
  const day = formatDay(start, lang, timeZone);
  if (wholeDayIn(start, end, timeZone)) return t('when.allDay', { day });
  const zone = zoned ? zoneName(start, lang, timeZone) : '';
  return t('when.from', { day, time: formatTime(start, lang, timeZone), zone: zone ? ` (${zone})` : '', hours: Math.round((end - start) / HOUR) });
}
