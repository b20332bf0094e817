// The appointment dialog: create (the server makes the room and its link
// tokens, this browser makes the room secret and seals everything under
// the practice key) and edit (patient details and holder; the time
// changes only through MoveDialog, which keeps the room and its links).
// Creating is two calls: POST makes the appointment and returns the
// tokens once, PUT stores the sealed JSON that keeps them.

import { $, el, setText, whileBusy } from './ui.js';
import { t } from './i18n.js';
import { b64, newSecret, sealAppointment, MAX_SEALED_APPOINTMENT } from './crypto.js';
import { dayKey, isWholeDay, localDateTimeValue, nextQuarterHour, parseDayKey, parseLocalDateTime } from './dates.js';
import { hostOf } from './calendar.js';
import { errorText } from './errors.js';

const MIN_GUESTS = 2;
const MAX_GUESTS = 11;
const val = (id) => $(id).value.trim();

/** The browser's IANA time zone (the window's days and hours are read in it). */
export function browserTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/**
 * The window of POST appointments from the dialog's choice; null when the
 * chosen field is empty or invalid.
 */
export function windowRequest(mode, dayValue, startValue, timeZone) {
  if (mode === 'day') return parseDayKey(dayValue) ? { day: dayValue, time_zone: timeZone } : null;
  const start = parseLocalDateTime(startValue);
  return start ? { start: start.toISOString(), time_zone: timeZone } : null;
}

/**
 * The sealed JSON of a new appointment (WORKSPACE.md): the room secret,
 * and per participant of the create call's answer its token and code;
 * the host's entry lets the clinician start the call.
 */
export function appointmentData({ patient, email, notes, secret, participants, labels, hostLabel }) {
  const host = participants.filter((p) => p.role === 'host');
  const guests = participants.filter((p) => p.role !== 'host');
  const entry = (p, label) => ({ participant_id: p.id, role: p.role, label, token: p.token, code: p.code });
  return {
    patient,
    email,
    notes,
    secret,
    invitees: [...host.map((p) => entry(p, hostLabel)), ...guests.map((p, i) => entry(p, labels[i] || ''))],
  };
}

/** The length of the sealed form of data: "v1." + base64url(12 + JSON + 16). */
export function sealedLength(data) {
  const n = 12 + new TextEncoder().encode(JSON.stringify(data)).length + 16;
  return 3 + Math.ceil((n * 4) / 3);
}

export class AppointmentDialog {
  constructor(app) {
    this.app = app;
    this.editing = null; // the entry being edited, or null for a new one
    this.dialog = $('appt-dialog');
    $('appt-kind').onchange = () => this.syncKind();
    $('appt-invitees').oninput = () => this.syncLabels();
    $('appt-window-day').onchange = () => this.syncWindow();
    $('appt-window-start').onchange = () => this.syncWindow();
    $('appt-close').onclick = () => this.dialog.close();
    $('appt-form').onsubmit = (ev) => {
      ev.preventDefault();
      this.save();
    };
    this.mover = new MoveDialog(app);
  }

  /** Opens the dialog that gives a scheduled appointment another time window. */
  openMove(entry) {
    this.mover.open(entry);
  }

  /** Opens the dialog for a new appointment on date. */
  openNew(date) {
    this.editing = null;
    $('appt-form').reset();
    $('appt-title').textContent = t('dlg.new');
    $('appt-kind-row').hidden = false;
    $('appt-window').hidden = false;
    $('appt-day').value = dayKey(date);
    $('appt-start').value = localDateTimeValue(nextQuarterHour(sameDayNow(date)));
    this.fillHolders(this.app.session.user.id);
    this.syncKind();
    this.syncWindow();
    this.show();
  }

  /** Opens the dialog to change patient details, notes and holder. */
  openEdit(entry) {
    this.editing = entry;
    $('appt-form').reset();
    $('appt-title').textContent = t('dlg.edit');
    $('appt-patient').value = entry.data.patient || '';
    $('appt-email').value = entry.data.email || '';
    $('appt-notes').value = entry.data.notes || '';
    $('appt-kind-row').hidden = true;
    $('appt-window').hidden = true;
    this.fillHolders(entry.a.holder_id);
    this.show();
  }

  show() {
    setText('appt-error', '');
    this.dialog.showModal();
    $('appt-patient').focus();
  }

  /** Who may hold an appointment: admins and clinicians (assistants do not join calls). */
  fillHolders(selected) {
    const all = this.app.users.length ? this.app.users : [this.app.session.user];
    const holders = all.filter((u) => u.role !== 'assistant');
    const users = holders.length ? holders : all;
    const sel = $('appt-holder');
    const options = users.map((u) => el('option', { value: u.id, text: `${u.name} (${t(`role.${u.role}`)})` }));
    // A holder since removed stays chosen (and unchanged on save) until
    // someone picks another: no silent change of who holds it.
    const gone = this.editing && selected && !users.some((u) => u.id === selected);
    if (gone) options.unshift(el('option', { value: selected, text: t('user.removed') }));
    sel.replaceChildren(...options);
    sel.value = gone || users.some((u) => u.id === selected) ? selected : users[0].id;
  }

  syncKind() {
    const conf = $('appt-kind').value === 'conference';
    $('appt-invitees-row').hidden = !conf;
    if (conf) this.syncLabels();
  }

  guestCount() {
    return Math.min(MAX_GUESTS, Math.max(MIN_GUESTS, Math.round(Number($('appt-invitees').value) || MIN_GUESTS)));
  }

  /** One label field per guest, keeping what was typed. */
  syncLabels() {
    const box = $('appt-labels');
    const n = this.guestCount();
    const typed = [...box.querySelectorAll('input')].map((i) => i.value);
    const rows = [];
    for (let i = 1; i <= n; i++) {
      const id = `appt-label-${i}`;
      rows.push(el('label', { for: id, text: t('dlg.label', { n: i }) }));
      const input = el('input', { id, class: 'appt-label', maxlength: '60', autocomplete: 'off', placeholder: t(i === 1 ? 'dlg.labelFirst' : 'dlg.labelPlaceholder') });
      input.value = typed[i - 1] || '';
      rows.push(input);
    }
    box.replaceChildren(...rows);
  }

  syncWindow() {
    const day = $('appt-window-day').checked;
    $('appt-day').disabled = !day;
    $('appt-start').disabled = day;
  }

  /** The first problem with the form (an i18n key and the field), or null. */
  problem() {
    if (!val('appt-patient')) return ['dlg.err.patient', 'appt-patient'];
    if (val('appt-email') && !$('appt-email').checkValidity()) return ['dlg.err.email', 'appt-email'];
    if (this.editing) return null;
    if ($('appt-kind').value === 'conference') {
      const n = Number($('appt-invitees').value);
      if (!Number.isInteger(n) || n < MIN_GUESTS || n > MAX_GUESTS) return ['dlg.err.invitees', 'appt-invitees'];
    }
    if (!this.window()) return $('appt-window-day').checked ? ['dlg.err.day', 'appt-day'] : ['dlg.err.start', 'appt-start'];
    return null;
  }

  window() {
    const mode = $('appt-window-day').checked ? 'day' : 'start';
    return windowRequest(mode, $('appt-day').value, $('appt-start').value, browserTimeZone());
  }

  async save() {
    const problem = this.problem();
    if (problem) {
      setText('appt-error', t(problem[0], { min: MIN_GUESTS, max: MAX_GUESTS }));
      $(problem[1]).focus();
      return;
    }
    setText('appt-error', '');
    try {
      await whileBusy($('appt-form'), 'appt-busy', t('dlg.saving'), () => (this.editing ? this.update() : this.create()));
      this.dialog.close();
    } catch (err) {
      setText('appt-error', err.code === 'too_large' ? t('dlg.err.tooLarge') : t('dlg.err.save', { reason: errorText(err) }));
    }
  }

  details() {
    return { patient: val('appt-patient'), email: val('appt-email'), notes: $('appt-notes').value.trim() };
  }

  labels(count) {
    if ($('appt-kind').value !== 'conference') return [val('appt-patient')];
    const typed = [...$('appt-labels').querySelectorAll('input')].map((i) => i.value.trim());
    return Array.from({ length: count }, (_, i) => typed[i] || (i === 0 ? val('appt-patient') : t('dlg.labelDefault', { n: i + 1 })));
  }

  async create() {
    const { app } = this;
    const conf = $('appt-kind').value === 'conference';
    const count = conf ? this.guestCount() : 1;
    const holderId = $('appt-holder').value;
    const fake = Array.from({ length: count + 1 }, (_, i) => ({ id: 'x'.repeat(36), role: i ? 'guest' : 'host', token: 'x'.repeat(22), code: 'x'.repeat(10) }));
    const draft = (participants) => appointmentData({
      ...this.details(), secret: b64.encode(newSecret()), participants, labels: this.labels(count), hostLabel: app.userName(holderId),
    });
    // Refused before the room exists, not after.
    if (sealedLength(draft(fake)) > MAX_SEALED_APPOINTMENT) throw Object.assign(new Error('too large'), { code: 'too_large' });
    const out = await app.api.createAppointment({ holder_id: holderId, window: this.window(), kind: conf ? 'conference' : 'consultation', invitees: count });
    const data = draft(out.participants || []);
    const a = await this.storeSealed(out.appointment, data);
    app.calendar.remember(a, data);
    await app.changed(t('msg.created', { patient: data.patient }), new Date(a.starts_at));
  }

  /**
   * PUTs the sealed JSON of a just-created appointment, once more on
   * failure. Without it the link tokens are lost for good, so an
   * appointment that cannot be sealed is cancelled rather than left as
   * an unusable room.
   */
  async storeSealed(a, data) {
    const sealed = await sealAppointment(this.app.key.aes, a.id, data);
    try {
      return await this.app.api.updateAppointment(a.id, { sealed });
    } catch {
      try {
        return await this.app.api.updateAppointment(a.id, { sealed });
      } catch (err) {
        await this.app.api.cancelAppointment(a.id).catch(() => {});
        throw err;
      }
    }
  }

  async update() {
    const { app } = this;
    const { a, data: old } = this.editing;
    const holderId = $('appt-holder').value;
    const data = { ...old, ...this.details() };
    if (holderId !== a.holder_id && hostOf(old)) {
      data.invitees = old.invitees.map((i) => (i.role === 'host' ? { ...i, label: app.userName(holderId) } : i));
    }
    const body = { sealed: await sealAppointment(app.key.aes, a.id, data) };
    if (holderId !== a.holder_id) body.holder_id = holderId;
    const updated = await app.api.updateAppointment(a.id, body);
    app.calendar.remember(updated, data);
    await app.changed(t('msg.updated', { patient: data.patient }));
  }
}

/**
 * The move dialog: another window for a scheduled appointment, chosen
 * with the same fields and read the same way (windowRequest) as at
 * creation. The server moves the room with it; its links and codes, in
 * the sealed data, stay as they are, so nothing is sealed again.
 */
export class MoveDialog {
  constructor(app) {
    this.app = app;
    this.entry = null;
    this.dialog = $('move-dialog');
    $('move-window-day').onchange = () => this.syncWindow();
    $('move-window-start').onchange = () => this.syncWindow();
    $('move-close').onclick = () => this.dialog.close();
    $('move-form').onsubmit = (ev) => {
      ev.preventDefault();
      this.save();
    };
  }

  /** Opens the dialog on entry's current window. */
  open(entry) {
    if (!entry) return;
    this.entry = entry;
    const start = new Date(entry.a.starts_at);
    const whole = isWholeDay(start, new Date(entry.a.ends_at));
    $('move-form').reset();
    $('move-title').textContent = t('move.title', { patient: this.patient() });
    $('move-window-day').checked = whole;
    $('move-window-start').checked = !whole;
    $('move-day').value = dayKey(start);
    $('move-start').value = localDateTimeValue(whole ? nextQuarterHour(sameDayNow(start)) : start);
    this.syncWindow();
    setText('move-error', '');
    this.dialog.showModal();
    $(whole ? 'move-day' : 'move-start').focus();
  }

  patient() {
    const { data } = this.entry;
    return (data && data.patient) || '—';
  }

  syncWindow() {
    const day = $('move-window-day').checked;
    $('move-day').disabled = !day;
    $('move-start').disabled = day;
  }

  async save() {
    const day = $('move-window-day').checked;
    const w = windowRequest(day ? 'day' : 'start', $('move-day').value, $('move-start').value, browserTimeZone());
    if (!w) {
      setText('move-error', t(day ? 'dlg.err.day' : 'dlg.err.start'));
      $(day ? 'move-day' : 'move-start').focus();
      return;
    }
    setText('move-error', '');
    const { a } = this.entry;
    try {
      const moved = await whileBusy($('move-form'), 'move-busy', t('move.saving'),
        () => this.app.api.moveAppointment(a.id, w));
      this.dialog.close();
      await this.app.changed(t('msg.moved', { patient: this.patient() }), new Date(moved.starts_at));
    } catch (err) {
      setText('move-error', t('move.err.save', { reason: errorText(err) }));
    }
  }
}

/** date with the current time of day: the default start on another day. */
function sameDayNow(date) {
  const now = new Date();
  return new Date(date.getFullYear(), date.getMonth(), date.getDate(), now.getHours(), now.getMinutes());
}
