// The calendar: a day or week of the practice's appointments, in the
// browser's time zone, each with its decrypted patient name and the
// actions the user's role allows. It owns the view, the date and the
// list it last loaded; what an action does is the app's business
// (main.js), reached through app.act(action, entry).

import { $, el } from './ui.js';
import { t, language } from './i18n.js';
import { viewRange, step, daysOf, dayKey, parseDayKey, groupByDay, startOfDay, isWholeDay } from './dates.js';
import { formatDay, formatShortDay, formatTime, formatRange } from './format.js';
import { openAppointment } from './crypto.js';

const POLL_MS = 30000;
const CALL_ROLES = new Set(['admin', 'clinician']);

/** The invitee entry of the host, and the guests, of opened sealed data. */
export function hostOf(data) {
  return (data && Array.isArray(data.invitees) && data.invitees.find((i) => i.role === 'host')) || null;
}

export function guestsOf(data) {
  return (data && Array.isArray(data.invitees) ? data.invitees : []).filter((i) => i.role !== 'host');
}

export class Calendar {
  constructor(app) {
    this.app = app;
    this.view = 'day';
    this.date = startOfDay(new Date());
    this.entries = []; // [{a: Appointment, data: sealed JSON or null}]
    this.opened = new Map(); // id → {sealed, data}: no re-decrypting on every poll
    this.seq = 0;
    this.timer = null;
    this.signature = '';
  }

  /** Wires the toolbar and starts loading and polling. */
  mount() {
    $('view-day').onclick = () => this.setView('day');
    $('view-week').onclick = () => this.setView('week');
    $('cal-prev').onclick = () => this.go(step(this.view, this.date, -1));
    $('cal-next').onclick = () => this.go(step(this.view, this.date, 1));
    $('cal-today').onclick = () => this.go(new Date());
    $('cal-date').onchange = () => {
      const d = parseDayKey($('cal-date').value);
      if (d) this.go(d);
    };
    this.onVisible = () => {
      if (document.visibilityState === 'visible') this.load({ quiet: true });
    };
    document.addEventListener('visibilitychange', this.onVisible);
    this.timer = setInterval(() => {
      if (document.visibilityState === 'visible') this.load({ quiet: true });
    }, POLL_MS);
    this.renderToolbar();
    return this.load();
  }

  unmount() {
    this.seq++; // a load still under way renders nothing
    clearInterval(this.timer);
    document.removeEventListener('visibilitychange', this.onVisible);
    this.opened.clear();
    this.entries = [];
  }

  setView(view) {
    this.view = view;
    this.renderToolbar();
    return this.load();
  }

  go(date) {
    this.date = startOfDay(date);
    this.renderToolbar();
    return this.load();
  }

  range() {
    return viewRange(this.view, this.date);
  }

  /**
   * Loads the range's appointments and renders them. quiet (a poll)
   * renders and announces only when something changed, and fails
   * silently; announce: false leaves the live region to the caller.
   */
  async load({ quiet = false, announce = true } = {}) {
    const seq = ++this.seq;
    const body = $('cal-body');
    body.setAttribute('aria-busy', 'true');
    try {
      const entries = await this.fetch();
      if (seq === this.seq) this.show(entries, { quiet, announce }); // else a newer load won
    } catch (err) {
      if (seq === this.seq && !quiet) this.app.showError(err);
    } finally {
      if (seq === this.seq) body.setAttribute('aria-busy', 'false');
    }
  }

  /** The range's appointments, each with its opened sealed JSON (or null). */
  async fetch() {
    const { from, to } = this.range();
    // Users too: a colleague who joined since shows by name.
    const [list] = await Promise.all([this.app.api.appointments(from, to), this.app.refreshUsers()]);
    return Promise.all(list.map(async (a) => ({ a, data: await this.open(a) })));
  }

  show(entries, { quiet, announce }) {
    const signature = JSON.stringify(entries.map((e) => [e.a.id, e.a.status, e.a.updated_at, e.a.holder_id]));
    const changed = signature !== this.signature;
    this.signature = signature;
    this.entries = entries;
    this.app.clearError();
    if (quiet && !changed) return;
    this.render();
    if (announce) this.announce(t(quiet ? 'cal.updated' : 'cal.loaded', { title: this.title(), count: entries.length }));
  }

  async open(a) {
    if (!a.sealed) return null;
    const hit = this.opened.get(a.id);
    if (hit && hit.sealed === a.sealed) return hit.data;
    let data = null;
    try {
      data = await openAppointment(this.app.key.aes, a.id, a.sealed);
    } catch { /* not ours, or damaged: shown as "—" */ }
    this.opened.set(a.id, { sealed: a.sealed, data });
    return data;
  }

  /** Keeps data just sealed by this browser, so the list needs no reload to show it. */
  remember(a, data) {
    this.opened.set(a.id, { sealed: a.sealed, data });
  }

  entry(id) {
    return this.entries.find((e) => e.a.id === id) || null;
  }

  announce(text) {
    // Cleared first, so the same words twice are read twice.
    const live = $('cal-status');
    live.textContent = '';
    setTimeout(() => { live.textContent = text; }, 50);
  }

  title() {
    const lang = language();
    const { from, to } = this.range();
    return this.view === 'week' ? t('cal.weekTitle', { range: formatRange(from, to, lang) }) : formatDay(from, lang);
  }

  renderToolbar() {
    $('view-day').setAttribute('aria-pressed', String(this.view === 'day'));
    $('view-week').setAttribute('aria-pressed', String(this.view === 'week'));
    $('cal-prev-label').textContent = t(this.view === 'week' ? 'cal.prevWeek' : 'cal.prevDay');
    $('cal-next-label').textContent = t(this.view === 'week' ? 'cal.nextWeek' : 'cal.nextDay');
    $('cal-date').value = dayKey(this.date);
    $('cal-title').textContent = this.title();
  }

  /** Renders the loaded list (also after a language switch). */
  render() {
    this.renderToolbar();
    const body = $('cal-body');
    const range = this.range();
    const groups = groupByDay(this.entries.map((e) => e.a), range);
    const byId = new Map(this.entries.map((e) => [e.a.id, e]));
    if (this.view === 'day') {
      body.replaceChildren(this.dayList(groups.get(dayKey(range.from)).map((a) => byId.get(a.id)), range.from));
      return;
    }
    body.replaceChildren(...daysOf(range).map((d) => this.daySection(d, groups.get(dayKey(d)).map((a) => byId.get(a.id)))));
  }

  daySection(day, entries) {
    const id = `day-${dayKey(day)}`;
    const today = dayKey(day) === dayKey(new Date());
    return el('section', { class: `ws-day${today ? ' today' : ''}`, 'aria-labelledby': id }, [
      el('h2', { id, text: formatShortDay(day, language()) + (today ? ` · ${t('cal.today')}` : '') }),
      this.dayList(entries, day),
    ]);
  }

  dayList(entries, day) {
    if (entries.length === 0) return el('p', { class: 'ws-empty', text: t('cal.empty') });
    return el('ul', { class: 'ws-list' }, entries.map((e) => this.item(e, day)));
  }

  item({ a, data }, day) {
    const nameId = `appt-${a.id}-name`;
    // The waiting room, across the whole entry (lobbyview.js).
    const lobby = this.app.lobby ? this.app.lobby.block({ a, data }) : null;
    const waiting = lobby && lobby.dataset.waiting !== '0';
    return el('li', { class: `appointment status-${a.status}${waiting ? ' has-waiting' : ''}`, dataset: { id: a.id, status: a.status } }, [
      this.timeCell(a, day),
      el('div', { class: 'appt-main' }, [
        el('h3', { class: 'appt-patient', id: nameId, text: data && data.patient ? data.patient : '—', title: data ? undefined : t('appt.sealed') }),
        el('p', { class: 'appt-meta' }, [
          el('span', { class: 'appt-kind', text: t(`kind.${a.kind}`) + (a.kind === 'conference' ? ` (${t('appt.guests', { n: Math.max(0, (a.capacity || 1) - 1) })})` : '') }),
          el('span', { class: 'appt-holder', text: t('appt.holder', { name: this.app.userName(a.holder_id) }) }),
          el('span', { class: `appt-status badge-${a.status}`, text: t(`status.${a.status}`) }),
        ]),
        data && data.notes ? el('p', { class: 'appt-notes', text: data.notes }) : null,
        data ? null : el('p', { class: 'hint', text: t('appt.sealed') }),
      ]),
      el('div', { class: 'appt-actions' }, this.actions(a, data, nameId)),
      lobby,
    ]);
  }

  timeCell(a, day) {
    const lang = language();
    const start = new Date(a.starts_at);
    const end = new Date(a.ends_at);
    const sameDay = (d) => dayKey(d) === dayKey(day);
    let main;
    let sub;
    if (isWholeDay(start, end)) {
      main = t('when.allDayShort');
    } else {
      main = sameDay(start) ? formatTime(start, lang) : `${formatShortDay(start, lang)}, ${formatTime(start, lang)}`;
      sub = t('when.until', { time: sameDay(end) ? formatTime(end, lang) : `${formatShortDay(end, lang)}, ${formatTime(end, lang)}` });
    }
    return el('div', { class: 'appt-time' }, [
      el('time', { datetime: start.toISOString(), text: main }),
      sub ? el('span', { class: 'appt-until', text: sub }) : null,
    ]);
  }

  actions(a, data, nameId) {
    const role = this.app.session.user.role;
    const canCall = CALL_ROLES.has(role);
    const host = hostOf(data);
    const b = (cls, key, action, extra = '') => {
      const btn = el('button', { type: 'button', class: `${cls} ${extra}`.trim(), 'aria-describedby': nameId, text: t(key) });
      btn.onclick = () => this.app.act(action, this.entry(a.id));
      return btn;
    };
    if (a.status === 'cancelled') return [];
    if (a.status === 'done') return data ? [b('appt-edit secondary ws-small', 'appt.edit', 'edit')] : [];
    const out = [];
    if (canCall && host && host.token && data.secret) out.push(b('appt-start primary ws-small', 'appt.start', 'start'));
    if (data) out.push(b('appt-invite secondary ws-small', 'appt.invite', 'invite'), b('appt-edit secondary ws-small', 'appt.edit', 'edit'));
    // Moving needs no sealed data: the links stay.
    out.push(b('appt-move secondary ws-small', 'appt.move', 'move'));
    if (canCall) out.push(b('appt-done secondary ws-small', 'appt.done', 'done'));
    out.push(b('appt-cancel secondary ws-small', 'appt.cancel', 'cancel', 'ws-danger-text'));
    return out;
  }

  /** What the test hook shows of the list. */
  snapshot() {
    return this.entries.map(({ a, data }) => ({
      id: a.id,
      status: a.status,
      kind: a.kind,
      holder_id: a.holder_id,
      starts_at: a.starts_at,
      ends_at: a.ends_at,
      patient: data ? data.patient : null,
      readable: !!data,
      guests: guestsOf(data).length,
    }));
  }
}
