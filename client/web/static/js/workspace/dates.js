// Calendar date math in the browser's time zone. Days are built from
// (year, month, day) so daylight-saving changes give 23- and 25-hour days
// instead of off-by-one-hour ranges. No DOM here.

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local midnight of date's day. */
export function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

/** The local midnight n calendar days after date's day. */
export function addDays(date, n) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate() + n);
}

/** Monday of date's week (ISO 8601 weeks start on Monday), local midnight. */
export function startOfWeek(date) {
  const back = (date.getDay() + 6) % 7;
  return addDays(date, -back);
}

/**
 * The half-open range [from, to) a view shows around date: one day, or
 * Monday to the next Monday.
 * @param {'day'|'week'} view @param {Date} date
 */
export function viewRange(view, date) {
  const from = view === 'week' ? startOfWeek(date) : startOfDay(date);
  return { from, to: addDays(from, view === 'week' ? 7 : 1) };
}

/** The date one step (dir = -1 or +1) back or on in view. */
export function step(view, date, dir) {
  return addDays(date, dir * (view === 'week' ? 7 : 1));
}

/** The local days of a range, midnight each. */
export function daysOf({ from, to }) {
  const out = [];
  for (let d = startOfDay(from); d < to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** "YYYY-MM-DD" of date's local day (the value of <input type=date>). */
export function dayKey(date) {
  return `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The local midnight of a "YYYY-MM-DD", or null. */
export function parseDayKey(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(s));
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3]);
  return d.getMonth() === +m[2] - 1 && d.getDate() === +m[3] ? d : null;
}

/** "YYYY-MM-DDTHH:MM" in local time (the value of <input type=datetime-local>). */
export function localDateTimeValue(date) {
  return `${dayKey(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** The instant of a datetime-local value, read in the browser's zone, or null. */
export function parseLocalDateTime(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(String(s));
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The next full quarter hour after date (a start time to offer). */
export function nextQuarterHour(date) {
  const d = new Date(date.getTime());
  d.setSeconds(0, 0);
  d.setMinutes(Math.floor(d.getMinutes() / 15) * 15 + 15);
  return d;
}

/** Whether [start, end) is exactly one local calendar day (a "day" window). */
export function isWholeDay(start, end) {
  const s = startOfDay(start);
  return s.getTime() === start.getTime() && addDays(s, 1).getTime() === end.getTime();
}

/** Whether [aStart, aEnd) and [bStart, bEnd) overlap. */
export function overlaps(aStart, aEnd, bStart, bEnd) {
  return aStart < bEnd && bStart < aEnd;
}

/**
 * Groups appointments by the local day a view lists them under: the day
 * they start, or the range's first day for one that began before it.
 * @returns {Map<string, object[]>} dayKey → appointments sorted by start
 */
export function groupByDay(appointments, range) {
  const out = new Map(daysOf(range).map((d) => [dayKey(d), []]));
  const sorted = [...appointments].sort((a, b) => new Date(a.starts_at) - new Date(b.starts_at));
  for (const a of sorted) {
    const start = new Date(a.starts_at);
    const key = dayKey(start < range.from ? range.from : start);
    if (out.has(key)) out.get(key).push(a);
  }
  return out;
}
