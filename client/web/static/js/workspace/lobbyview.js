// The waiting rooms in the workspace (docs/PROTOCOL.md, "Waiting room"):
// a live Server-Sent Events stream of the practice's rooms while the
// calendar is open (which also shows waiting patients that the holder is
// "online"), a block in each calendar entry where someone waits or talks
// (admit, decline with a message, send back), a header badge counting
// everyone waiting, and a chime, a browser notification and a live
// announcement when someone starts waiting. Names come from the sealed
// invitees, opened in this browser; the stream carries only ids.

import { $, el, setText, whileBusy } from './ui.js';
import { t, language } from './i18n.js';
import { EVENTS_URL } from './api.js';
import { errorText } from './errors.js';
import { formatTime } from './format.js';
import {
  parseLobbyEvent, lobbyRows, participantName, waitedText, countText, newlyWaiting, waitingTotal, lobbySnapshot,
  utf8Length, MAX_DECLINE_BYTES,
} from './lobby.js';

const CALL_ROLES = new Set(['admin', 'clinician']);
/** How often "waiting for n min" is brought up to date. */
const TICK_MS = 30000;
/** After (re)connecting: rooms the stream's first events did not name are forgotten. */
const PRUNE_MS = 5000;
/** Our own retries when the browser gave the stream up (an HTTP error, not a dropped connection). */
const RETRY_MS = [5000, 15000, 30000, 60000];
/** Around now, where the stream's rooms are (a day either side), with a margin. */
const AROUND_MS = 36 * 3600e3;

export class WaitingRooms {
  constructor(app) {
    this.app = app;
    this.events = new Map(); // appointment id → latest LobbyEvent
    this.running = false;
    this.es = null;
    this.fresh = null; // appointment ids named since the stream (re)opened
    this.retries = 0;
    this.retryTimer = 0;
    this.pruneTimer = 0;
    this.ticker = 0;
    this.notified = new Set(); // "appointment/participant/since": one alert per wait
    this.extra = new Map(); // appointments outside the calendar's view: id → {a, data}
    this.tried = new Set();
    this.around = null;
    this.audio = null;
    this.seq = 0;
    this.declining = null; // {a, data, guest, opener, text}
    this.wireAudio();
    this.wireHeader();
    this.wireDecline();
    this.renderHeader();
  }

  /** Opens the stream (the calendar is shown and the practice key is here). */
  start() {
    if (this.running) return;
    this.running = true;
    this.retries = 0;
    this.connect();
    this.ticker = setInterval(() => this.refreshTimes(), TICK_MS);
    this.renderHeader();
  }

  /** Closes the stream and forgets everything (logout, lock, expiry). */
  stop() {
    this.running = false;
    if (this.es) this.es.close();
    this.es = null;
    clearTimeout(this.retryTimer);
    clearTimeout(this.pruneTimer);
    clearInterval(this.ticker);
    this.events.clear();
    this.notified.clear();
    this.extra.clear();
    this.tried.clear();
    this.fresh = null;
    const d = $('decline-dialog');
    if (d.open) d.close();
    this.renderHeader();
  }

  connect() {
    if (!this.running || typeof EventSource === 'undefined') return;
    const es = new EventSource(EVENTS_URL);
    this.es = es;
    es.addEventListener('open', () => {
      if (this.es !== es) return;
      this.retries = 0;
      this.fresh = new Set();
      clearTimeout(this.pruneTimer);
      this.pruneTimer = setTimeout(() => this.prune(), PRUNE_MS);
    });
    es.addEventListener('lobby', (m) => {
      if (this.es === es) this.apply(parseLobbyEvent(m.data));
    });
    // A browser was added, approved or removed (devices.js).
    es.addEventListener('device', () => {
      if (this.es === es) this.app.devices.changed();
    });
    // A dropped connection: the browser reconnects by itself and the
    // stream starts over with every room. Refused (401, 429, 5xx): the
    // browser gives up, so we retry, slower each time; a 401 also ends
    // the session through the calendar's next poll. Nothing is shown.
    es.onerror = () => {
      if (this.es !== es || es.readyState !== EventSource.CLOSED) return;
      es.close();
      this.es = null;
      const wait = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)];
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.connect(), wait);
    };
  }

  /** Forgets rooms the reopened stream did not name (they left the day around now). */
  prune() {
    const fresh = this.fresh;
    this.fresh = null;
    if (!fresh) return;
    for (const id of [...this.events.keys()]) {
      if (fresh.has(id)) continue;
      this.events.delete(id);
      this.update(id);
    }
    this.renderHeader();
  }

  /** Takes in a LobbyEvent (from the stream, or an action's answer when quiet). */
  apply(ev, { quiet = false } = {}) {
    if (!ev || !this.running) return;
    const id = ev.appointment_id;
    const before = this.events.get(id);
    this.events.set(id, ev);
    if (this.fresh) this.fresh.add(id);
    this.update(id);
    this.renderHeader();
    if (quiet) return;
    const fresh = newlyWaiting(before, ev).filter((pid) => {
      const w = ev.waiting.find((x) => x.participant_id === pid);
      const key = `${id}/${pid}/${w.since}`;
      if (this.notified.has(key)) return false;
      this.notified.add(key);
      return true;
    });
    if (fresh.length) this.alert(id, fresh).catch(() => {});
  }

  /** What the test hook shows. */
  snapshot() {
    return lobbySnapshot(this.events);
  }

  canAct() {
    const s = this.app.session;
    return !!(s && CALL_ROLES.has(s.user.role));
  }

  // --- The calendar entry's block ------------------------------------

  /**
   * The waiting-room block of a calendar entry ({a, data}), or null
   * when nobody waits or talks. Buttons only for roles that may act.
   */
  block({ a, data }) {
    const ev = this.events.get(a.id);
    if (!ev || a.status === 'cancelled') return null;
    const rows = lobbyRows(ev, data, t);
    if (!rows.waiting.length && !rows.present.length) return null;
    const can = this.canAct();
    const base = `lobby-${++this.seq}`;
    const now = Date.now();
    const lang = language();
    const items = [];
    rows.waiting.forEach((w, i) => {
      const nameId = `${base}-w${i}`;
      const admit = this.button('lobby-admit primary ws-small', 'lobby.admit', nameId, w.id);
      admit.onclick = () => this.admit(a, data, w, admit);
      const decline = this.button('lobby-decline secondary ws-small ws-danger-text', 'lobby.decline', nameId, w.id);
      decline.onclick = () => this.openDecline(a, data, w, decline);
      items.push(el('li', { class: 'lobby-guest lobby-waiting', dataset: { participantId: w.id } }, [
        el('div', { class: 'lobby-who' }, [
          el('strong', { class: 'lobby-name', id: nameId, text: w.name }),
          el('span', { class: 'lobby-when' }, [
            w.since ? el('time', { class: 'lobby-since', datetime: w.since.toISOString(), text: t('lobby.since', { time: formatTime(w.since, lang) }) }) : null,
            el('span', { class: 'lobby-waited', dataset: { since: w.since ? w.since.toISOString() : '' }, text: waitedText(w.since, now, t) }),
          ]),
          checkBadge(w.check),
        ]),
        can ? el('div', { class: 'lobby-buttons' }, [admit, decline]) : null,
      ]));
    });
    rows.present.forEach((p, i) => {
      const nameId = `${base}-p${i}`;
      const back = this.button('lobby-send-back secondary ws-small', 'lobby.sendBack', nameId, p.id);
      back.onclick = () => this.sendBack(a, data, p, back);
      items.push(el('li', { class: 'lobby-guest lobby-present', dataset: { participantId: p.id } }, [
        el('div', { class: 'lobby-who' }, [
          el('strong', { class: 'lobby-name', id: nameId, text: p.name }),
          el('span', { class: 'lobby-incall', text: t('lobby.inCall') }),
        ]),
        can ? el('div', { class: 'lobby-buttons' }, [back]) : null,
      ]));
    });
    const n = rows.waiting.length;
    let all = null;
    if (can && n >= 2) {
      all = el('button', { type: 'button', class: 'lobby-admit-all primary ws-small', 'aria-describedby': a.id ? `appt-${a.id}-name` : undefined, text: t('lobby.admitAll') });
      all.onclick = () => this.admitAll(a, data, rows.waiting, all);
    }
    const titleId = `${base}-title`;
    return el('div', { class: `appt-lobby${n ? ' has-waiting' : ''}`, role: 'group', 'aria-labelledby': titleId, dataset: { waiting: String(n) } }, [
      el('div', { class: 'lobby-head' }, [
        el('h4', { class: 'lobby-title', id: titleId, text: n ? t('lobby.title', { count: countText(n, t) }) : t('lobby.titleInCall') }),
        all,
      ]),
      el('ul', { class: 'lobby-list' }, items),
    ]);
  }

  button(cls, key, nameId, participantId) {
    return el('button', { type: 'button', class: cls, 'aria-describedby': nameId, dataset: { participantId }, text: t(key) });
  }

  /** Re-renders the block of one appointment where the calendar shows it, keeping the focus. */
  update(id) {
    const cal = this.app.calendar;
    const entry = cal && cal.entry(id);
    for (const li of document.querySelectorAll('#cal-body li.appointment')) {
      if (li.dataset.id !== id) continue;
      const old = li.querySelector('.appt-lobby');
      const focus = old && old.contains(document.activeElement) ? focusKey(document.activeElement) : null;
      const block = entry ? this.block(entry) : null;
      if (old && block) old.replaceWith(block);
      else if (old) old.remove();
      else if (block) li.append(block);
      li.classList.toggle('has-waiting', !!block && block.dataset.waiting !== '0');
      if (focus) restoreFocus(li, focus);
    }
  }

  /** Brings "waiting for n min" up to date (every 30 s, not every second). */
  refreshTimes() {
    const now = Date.now();
    for (const s of document.querySelectorAll('#cal-body .lobby-waited[data-since]')) {
      if (s.dataset.since) s.textContent = waitedText(new Date(s.dataset.since), now, t);
    }
  }

  // --- Actions ---------------------------------------------------------

  async act(button, call, done, goneKey, name) {
    button.disabled = true;
    this.app.clearError();
    try {
      this.apply(parseLobbyEvent(await call()), { quiet: true });
      if (this.app.calendar) this.app.calendar.announce(done);
    } catch (err) {
      button.disabled = false;
      if (err && err.code === 'unauthorized') return;
      setText('cal-error', err && err.code === 'not_found' ? t(goneKey, { name }) : errorText(err));
    }
  }

  admit(a, data, w, button) {
    return this.act(button, () => this.app.api.admit(a.id, w.id), t('lobby.admitted', { name: w.name }), 'lobby.err.goneWaiting', w.name);
  }

  admitAll(a, data, waiting, button) {
    const names = waiting.map((w) => w.name).join(', ');
    return this.act(button, () => this.app.api.admitAll(a.id), t('lobby.admittedAll', { names }), 'lobby.err.goneWaiting', names);
  }

  sendBack(a, data, p, button) {
    return this.act(button, () => this.app.api.sendBack(a.id, p.id), t('lobby.sentBack', { name: p.name }), 'lobby.err.goneCall', p.name);
  }

  // --- Decline with a message -----------------------------------------

  wireDecline() {
    const d = $('decline-dialog');
    $('decline-cancel').onclick = () => d.close();
    $('decline-form').onsubmit = (e) => {
      e.preventDefault();
      this.sendDecline();
    };
    $('decline-text').oninput = () => setText('decline-error', '');
    d.addEventListener('close', () => {
      const s = this.declining;
      this.declining = null;
      if (!s) return;
      // Back to where the user was; that button may have gone (the guest left or was admitted).
      const li = s.opener.isConnected ? null : document.querySelector(`#cal-body li.appointment[data-id="${CSS.escape(s.a.id)}"]`);
      const target = s.opener.isConnected ? s.opener : li && (li.querySelector('.appt-lobby button') || li.querySelector('.appt-actions button'));
      if (target) target.focus();
    });
  }

  openDecline(a, data, guest, opener) {
    const d = $('decline-dialog');
    this.declining = { a, data, guest, opener, text: t('decline.default') };
    $('decline-title').textContent = t('decline.title', { name: guest.name });
    $('decline-text').value = this.declining.text;
    setText('decline-error', '');
    d.showModal();
    $('decline-text').focus();
  }

  async sendDecline() {
    const s = this.declining;
    if (!s) return;
    const text = $('decline-text').value.trim();
    if (utf8Length(text) > MAX_DECLINE_BYTES) {
      setText('decline-error', t('decline.err.long', { max: MAX_DECLINE_BYTES }));
      return;
    }
    setText('decline-error', '');
    await whileBusy($('decline-form'), null, '', async () => {
      try {
        const ev = parseLobbyEvent(await this.app.api.decline(s.a.id, s.guest.id, text));
        this.apply(ev, { quiet: true });
        if (this.declining === s) $('decline-dialog').close();
        if (this.app.calendar) this.app.calendar.announce(t('lobby.declined', { name: s.guest.name }));
      } catch (err) {
        if (err && err.code === 'unauthorized') return;
        setText('decline-error', err && err.code === 'not_found' ? t('lobby.err.goneWaiting', { name: s.guest.name }) : errorText(err));
      }
    });
  }

  // --- Header: the count, and notifications ---------------------------

  wireHeader() {
    $('waiting-count').onclick = () => this.reveal(this.longestWaiting());
    $('enable-notifications').onclick = () => this.askNotifications();
  }

  renderHeader() {
    const n = this.running ? waitingTotal(this.events) : 0;
    const badge = $('waiting-count');
    badge.hidden = n === 0;
    badge.textContent = countText(n, t);
    badge.title = t('lobby.badgeHint');
    $('enable-notifications').hidden = !this.running || notificationPermission() !== 'default';
  }

  async askNotifications() {
    if (notificationPermission() !== 'default') return this.renderHeader();
    try {
      await Notification.requestPermission();
    } catch { /* old Safari: callback form only; nothing to do */ }
    this.renderHeader();
    if (this.app.calendar) this.app.calendar.announce(t(notificationPermission() === 'granted' ? 'lobby.notifyOn' : 'lobby.notifyOff'));
  }

  /** After a language switch. */
  relabel() {
    this.renderHeader();
    const s = this.declining;
    if (s && $('decline-dialog').open) {
      $('decline-title').textContent = t('decline.title', { name: s.guest.name });
      // The default message follows the language; a message the user wrote stays.
      if ($('decline-text').value === s.text) {
        s.text = t('decline.default');
        $('decline-text').value = s.text;
      }
    }
  }

  /** The appointment whose guest has waited longest, or null. */
  longestWaiting() {
    let best = null;
    let since = Infinity;
    for (const [id, ev] of this.events) {
      for (const w of ev.waiting) {
        const ms = Date.parse(w.since);
        const at = Number.isNaN(ms) ? Infinity : ms;
        if (best === null || at < since) {
          best = id;
          since = at;
        }
      }
    }
    return best;
  }

  /** Shows an appointment's entry (today's view, else its own day) and focuses its waiting room. */
  async reveal(id) {
    const cal = this.app.calendar;
    if (!id || !cal) return;
    if (!cal.entry(id)) {
      await cal.go(new Date());
      if (!cal.entry(id)) {
        const x = await this.resolve(id);
        if (x && this.app.calendar === cal) await cal.go(new Date(x.a.starts_at));
      }
    }
    const li = [...document.querySelectorAll('#cal-body li.appointment')].find((e) => e.dataset.id === id);
    if (!li) return;
    li.scrollIntoView({ block: 'center', behavior: 'smooth' });
    const target = li.querySelector('.appt-lobby button') || li.querySelector('.appt-lobby .lobby-title');
    if (target) {
      if (!target.matches('button')) target.tabIndex = -1;
      target.focus({ preventScroll: true });
    }
  }

  /** An appointment with its opened sealed data, also when the calendar shows another day. */
  async resolve(id) {
    const cal = this.app.calendar;
    if (!cal) return null;
    const hit = cal.entry(id) || this.extra.get(id);
    if (hit || this.tried.has(id)) return hit || null;
    this.tried.add(id);
    if (!this.around) this.around = this.loadAround(cal).finally(() => { this.around = null; });
    try {
      await this.around;
    } catch { /* unnamed then: "Gast" */ }
    return (this.app.calendar && (this.app.calendar.entry(id) || this.extra.get(id))) || null;
  }

  async loadAround(cal) {
    const now = Date.now();
    const list = await this.app.api.appointments(new Date(now - AROUND_MS), new Date(now + AROUND_MS));
    for (const a of list) {
      if (!this.running || this.app.calendar !== cal) return;
      this.extra.set(a.id, { a, data: await cal.open(a) });
    }
  }

  // --- Alerts: chime, notification, live region -----------------------

  /** Someone started waiting in appointment id: chime, notify, announce. */
  async alert(id, ids) {
    const entry = await this.resolve(id);
    if (!this.running) return;
    const ev = this.events.get(id);
    const still = ids.filter((pid) => ev && ev.waiting.some((w) => w.participant_id === pid));
    if (!still.length) return; // admitted or gone meanwhile
    const data = entry && entry.data;
    const patient = data && data.patient ? String(data.patient) : '';
    this.chime();
    const said = [];
    for (const pid of still) {
      const name = participantName(pid, data, t);
      said.push(patient && patient !== name ? t('lobby.announceFor', { name, patient }) : t('lobby.announce', { name }));
      this.notify(id, pid, name, patient);
    }
    if (this.app.calendar) this.app.calendar.announce(said.join(' '));
  }

  notify(id, pid, name, patient) {
    if (notificationPermission() !== 'granted') return;
    try {
      const n = new Notification(t('lobby.notifyTitle', { name }), {
        body: patient && patient !== name ? t('lobby.notifyBodyFor', { patient }) : t('lobby.notifyBody'),
        tag: `konsil-lobby-${id}-${pid}`,
        lang: language(),
        silent: true, // the page chimes itself
      });
      n.onclick = () => {
        window.focus();
        n.close();
        this.reveal(id);
      };
    } catch { /* no page notifications here (Android Chrome wants a service worker) */ }
  }

  /** The audio context needs a user gesture: made (or resumed) on any click or key in the page. */
  wireAudio() {
    const arm = () => {
      const AC = window.AudioContext || window.webkitAudioContext;
      if (!AC) return;
      if (!this.audio) {
        try {
          this.audio = new AC();
        } catch {
          return;
        }
      }
      if (this.audio.state === 'suspended') this.audio.resume().catch(() => {});
    };
    document.addEventListener('click', arm, true);
    document.addEventListener('keydown', arm, true);
  }

  /** A gentle two-tone chime of about 0.4 s (no audio files), when audio is allowed. */
  chime() {
    const ctx = this.audio;
    if (!ctx || ctx.state !== 'running') return;
    try {
      const t0 = ctx.currentTime + 0.02;
      for (const [freq, at] of [[659.25, 0], [880, 0.17]]) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = 'sine';
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, t0 + at);
        gain.gain.exponentialRampToValueAtTime(0.15, t0 + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.23);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t0 + at);
        osc.stop(t0 + at + 0.25);
      }
    } catch { /* no sound then */ }
  }
}

/** The device check: ✓ checked, ⚠ failed, — not reported. */
function checkBadge(check) {
  const [cls, icon, key] = {
    ok: ['check-ok', '✓', 'lobby.check.ok'],
    failed: ['check-failed', '⚠', 'lobby.check.failed'],
  }[check] || ['check-none', '—', 'lobby.check.none'];
  return el('span', { class: `lobby-check ${cls}` }, [
    el('span', { 'aria-hidden': 'true', text: `${icon} ` }),
    el('span', { class: check ? undefined : 'visually-hidden', text: t(key) }),
  ]);
}

function notificationPermission() {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
}

/** What the focused lobby button was, to find its successor after a re-render. */
function focusKey(active) {
  const cls = [...active.classList].find((c) => c.startsWith('lobby-')) || '';
  return { cls, pid: (active.dataset && active.dataset.participantId) || '' };
}

function restoreFocus(li, { cls, pid }) {
  const same = cls ? [...li.querySelectorAll(`.appt-lobby .${cls}`)].find((b) => (b.dataset.participantId || '') === pid) : null;
  const next = same || li.querySelector('.appt-lobby button') || li.querySelector('.appt-actions button');
  if (next) next.focus({ preventScroll: true });
}
