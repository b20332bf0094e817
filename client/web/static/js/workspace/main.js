// The clinician workspace at /practice/ (docs/WORKSPACE.md): setup,
// login, the calendar of appointments, invitations and "start". Patient
// data and room secrets are sealed in this browser under the practice
// key, which lives only in this tab's memory (and sessionStorage, see
// keystore.js); the server stores ciphertext.
//
// For browser tests: document.body.dataset.screen is "loading", "setup",
// "login", "unlock", "device" (awaiting approval), "calendar" or "error"; window.konsilWorkspace.state()
// returns {screen, user, practice, view, date, unlocked, appointments:
// [{id, status, kind, holder_id, starts_at, ends_at, patient, readable,
// guests}], callWindows: [ids], lobby: {[appointment id]: {waiting:
// [participant ids], present: [participant ids]}}} (the latest of the
// events stream, lobbyview.js); konsilWorkspace.refresh() reloads the
// calendar. Stable ids and classes:
//   header:    #ws-practice #ws-user-name #ws-user-role #invite-user #logout
//              #logout-all #lang-switch #waiting-count (hidden at 0)
//              #enable-notifications (only while the permission is unasked)
//   setup:     #setup-form #setup-practice (first user only) #setup-name
//              #setup-email #setup-password #setup-password2 #setup-submit
//              #setup-error
//   login:     #login-form #login-email #login-password #login-submit
//              #login-error #login-note #login-passkey (hidden without
//              WebAuthn or at an IP address) #login-passkey-note (the IP
//              note)
//   unlock:    #unlock-form #unlock-password #unlock-submit #unlock-other
//              #unlock-error
//   device:    #device-code (the six digits, spaced) #device-label
//              #device-logout #device-error
//   devices:   #devices-open (header) #device-banner #device-banner-open;
//              dialog#devices-dialog: #devices-approval (admins)
//              li.device[data-device-id][data-approved] with
//              input.device-code-input button.device-approve
//              button.device-remove; #devices-error #devices-status
//              #devices-close
//   passkeys:  section#passkeys in #devices-dialog (passkeys.js):
//              li.passkey[data-passkey-id][data-prf] with
//              button.passkey-remove; #passkeys-empty #passkey-add-form
//              #passkey-label #passkey-add #passkeys-unavailable
//              #passkeys-error #passkeys-status
//   error:     #error-title #error-body #error-action
//   calendar:  #view-day #view-week #cal-prev #cal-today #cal-next #cal-date
//              #cal-title #cal-status (live) #cal-error #new-appointment
//              li.appointment[data-id][data-status] with .appt-patient and
//              buttons .appt-start .appt-invite .appt-edit .appt-move
//              .appt-done .appt-cancel (each only where the status and role
//              allow it)
//   waiting:   in li.appointment (class has-waiting while someone waits):
//              .appt-lobby[data-waiting] with li.lobby-guest.lobby-waiting
//              [data-participant-id] (.lobby-name .lobby-since .lobby-waited
//              .lobby-check) and li.lobby-guest.lobby-present; buttons
//              .lobby-admit .lobby-decline .lobby-send-back (each with
//              data-participant-id) and .lobby-admit-all (2+ waiting), for
//              admins and clinicians only
//   decline:   dialog#decline-dialog: #decline-text #decline-send
//              #decline-cancel #decline-error
//   new/edit:  dialog#appt-dialog: #appt-patient #appt-email #appt-notes
//              #appt-kind #appt-invitees #appt-label-1.. #appt-holder
//              #appt-window-day #appt-day #appt-window-start #appt-start
//              #appt-save #appt-close #appt-error
//   move:      dialog#move-dialog (appointment.js, MoveDialog)
//   confirm:   dialog#confirm-dialog: #confirm-yes #confirm-no
//   invites:   dialog#invite-dialog: li.ws-invitee[data-participant-id] with
//              input.invite-link[data-participant-id] (readonly)
//              button.invite-copy a.invite-mailto a.invite-ics
//              .invite-code, svg.ws-qr (the link as a QR code),
//              select.invite-letter-lang button.invite-print;
//              #invite-status #invite-close; article#invite-letter (filled
//              only while the appointment letter prints, letter.js)
//   add user:  dialog#user-invite-dialog: #user-invite-role
//              #user-invite-submit #user-invite-link #user-invite-copy
//              #user-invite-close
//   admin:     #ws-sections (admins only) #nav-calendar #nav-admin
//              (aria-current on the shown one); screen "admin", see
//              admin.js; state().admin

import { $, showScreen, setText, confirmDialog } from './ui.js';
import { t, translate, setLanguage, language, onLanguageChange } from './i18n.js';
import { PracticeApi } from './api.js';
import { aesKey } from './crypto.js';
import { runSetup, showLogin, showUnlock } from './auth.js';
import { errorText } from './errors.js';
import { Calendar, hostOf } from './calendar.js';
import { AppointmentDialog } from './appointment.js';
import { InvitePanel } from './invite.js';
import { UserInviteDialog } from './users.js';
import { AdminView } from './admin.js';
import { CallWindows, MIN_CALL_MS } from './callwindow.js';
import { WaitingRooms } from './lobbyview.js';
import { parseSetupFragment } from './mail.js';
import { PendingDevice, DevicePanel } from './devices.js';
import { PasskeyPanel } from './passkeys.js';
import { loadKey, saveKey, clearKey, loadSetupLink, saveSetupLink } from './keystore.js';
import { dayKey, startOfDay } from './dates.js';

const CALL_ROLES = new Set(['admin', 'clinician']);

/** The workspace: one owner of the session, the key and the screens. */
class App {
  constructor() {
    this.api = new PracticeApi({ onUnauthorized: () => this.expired() });
    this.session = null;
    this.key = null; // {raw: Uint8Array, aes: CryptoKey}
    this.users = [];
    this.calendar = null;
    this.relabel = null; // re-renders the current screen's code-set text
    this.failure = null;
    this.calls = new CallWindows((id, ms) => this.callClosed(id, ms));
    this.apptDialog = new AppointmentDialog(this);
    this.invitePanel = new InvitePanel(this);
    this.userInvite = new UserInviteDialog(this);
    this.admin = new AdminView(this);
    this.lobby = new WaitingRooms(this);
    this.pendingDevice = new PendingDevice(this);
    this.devices = new DevicePanel(this);
    this.passkeys = new PasskeyPanel(this);
  }

  /** Sets what a language switch re-renders on the current screen. */
  onRelabel(f) {
    this.relabel = f;
  }

  /** Enters the calendar with a session and the practice key (32 bytes). */
  async enter(session, raw) {
    this.session = session;
    this.api.keep(session);
    if (session.device && session.device.approved === false) {
      return this.pendingDevice.show(session, null);
    }
    this.pendingDevice.stop();
    this.lobby.stop();
    if (this.calendar) this.calendar.unmount();
    this.key = { raw, aes: await aesKey(raw) };
    saveKey(session.user.id, raw);
    await this.refreshUsers();
    if (this.session !== session) return; // the session ended meanwhile (401)
    this.renderHeader();
    this.showView('calendar');
    this.calendar = new Calendar(this);
    this.onRelabel(() => {
      this.renderHeader();
      this.calendar.render();
      this.invitePanel.relabel();
      this.userInvite.relabel();
      this.admin.relabel();
      this.lobby.relabel();
      this.devices.relabel();
      this.passkeys.relabel();
    });
    // The waiting rooms go live with the calendar (and tell waiting
    // patients that their clinician is online).
    this.lobby.start();
    this.devices.load();
    await this.calendar.mount();
  }

  /** Reloads who can hold appointments (kept as it was when that fails). */
  async refreshUsers() {
    try {
      this.users = (await this.api.users()) || [];
    } catch { /* the calendar's own call reports the problem */ }
  }

  /** Shows the calendar, or for admins the Administration view (admin.js). */
  showView(name) {
    const view = name === 'admin' && this.session && this.session.user.role === 'admin' ? 'admin' : 'calendar';
    showScreen(view);
    for (const [id, v] of [['nav-calendar', 'calendar'], ['nav-admin', 'admin']]) {
      if (v === view) $(id).setAttribute('aria-current', 'page');
      else $(id).removeAttribute('aria-current');
    }
    if (view === 'admin') this.admin.open();
    else this.admin.close();
  }

  /** Takes the session anew (after the user's own role changed). */
  async reloadSession() {
    try {
      this.session = await this.api.session();
    } catch (err) {
      if (err.status === 401) this.expired();
      return;
    }
    this.renderHeader();
  }

  renderHeader() {
    const s = this.session;
    $('ws-account').hidden = !s;
    $('ws-sections').hidden = !s || s.user.role !== 'admin';
    if (!s) {
      $('ws-practice').textContent = '';
      return;
    }
    $('ws-practice').textContent = s.practice && s.practice.name ? ` · ${s.practice.name}` : '';
    $('ws-user-name').textContent = s.user.name;
    $('ws-user-role').textContent = `(${t(`role.${s.user.role}`)})`;
    $('invite-user').hidden = s.user.role !== 'admin';
  }

  /** The display name of a user id (from GET users). */
  userName(id) {
    const u = this.users.find((x) => x.id === id) || (this.session && this.session.user.id === id ? this.session.user : null);
    if (u) return u.name;
    // Appointments keep the id of a user an admin removed.
    return id && this.users.length ? t('user.removed') : '—';
  }

  /** Runs a calendar entry's action (a button of li.appointment). */
  act(action, entry) {
    if (!entry) return;
    const handlers = {
      start: () => this.start(entry),
      invite: () => this.invitePanel.open(entry),
      edit: () => this.apptDialog.openEdit(entry),
      move: () => this.apptDialog.openMove(entry),
      done: () => this.finish(entry.a.id, 'msg.done'),
      cancel: () => this.cancel(entry),
    };
    handlers[action]?.();
  }

  start({ a, data }) {
    const host = hostOf(data);
    if (!host) return;
    const ok = this.calls.start(a.id, host.token, data.secret);
    this.calendar.announce(t(ok ? 'msg.callOpen' : 'msg.popupBlocked', { patient: data.patient }));
    if (!ok) setText('cal-error', t('msg.popupBlocked'));
  }

  /** A call window closed: after a real call the appointment is done. */
  callClosed(id, ms) {
    const canFinish = this.session && CALL_ROLES.has(this.session.user.role);
    const e = this.calendar && this.calendar.entry(id);
    if (canFinish && ms > MIN_CALL_MS && (!e || e.a.status === 'scheduled')) {
      this.finish(id, 'msg.doneAfterCall');
    } else if (this.calendar) {
      this.calendar.load({ quiet: true });
    }
  }

  async finish(id, msg) {
    const e = this.calendar && this.calendar.entry(id);
    try {
      await this.api.finishAppointment(id);
      await this.changed(t(msg, { patient: (e && e.data && e.data.patient) || '—' }));
    } catch (err) {
      this.showError(err);
    }
  }

  async cancel({ a, data }) {
    const patient = (data && data.patient) || '—';
    const yes = await confirmDialog({
      title: t('confirm.cancel.title'),
      body: t('confirm.cancel.body', { patient }),
      yes: t('confirm.cancel.yes'),
      no: t('confirm.cancel.no'),
    });
    if (!yes) return;
    try {
      await this.api.cancelAppointment(a.id);
      await this.changed(t('msg.cancelled', { patient }));
    } catch (err) {
      this.showError(err);
    }
  }

  /** After a change: reload the list (showing date when given), then say what happened. */
  async changed(message, date) {
    if (!this.calendar) return;
    const { from, to } = this.calendar.range();
    if (date && (date < from || date >= to)) this.calendar.date = startOfDay(date);
    await this.calendar.load({ quiet: true, announce: false });
    this.calendar.render();
    this.calendar.announce(message);
  }

  showError(err) {
    if (err && err.code === 'unauthorized') return;
    setText('cal-error', errorText(err));
  }

  clearError() {
    setText('cal-error', '');
  }

  /** The error screen: title and body are i18n keys; retry reloads, else back to login. */
  fail(spec) {
    this.failure = spec;
    const render = () => {
      $('error-title').textContent = t(spec.title);
      $('error-body').textContent = t(spec.body);
      $('error-action').textContent = t(spec.retry ? 'common.retry' : 'err.toLogin');
    };
    render();
    this.onRelabel(render);
    $('error-action').onclick = () => (spec.retry ? location.reload() : this.logout(false));
    showScreen('error');
  }

  /** Forgets the key and the session in this tab. */
  lock() {
    this.lobby.stop();
    this.pendingDevice.stop();
    this.devices.stop();
    this.passkeys.stop();
    if (this.calendar) this.calendar.unmount();
    this.calendar = null;
    this.key = null;
    this.session = null;
    this.users = [];
    this.admin.reset();
    clearKey();
    for (const d of document.querySelectorAll('dialog[open]')) d.close();
    this.renderHeader();
  }

  async logout(everywhere) {
    if (this.session || this.api.csrf) await this.api.logout(everywhere).catch(() => {});
    this.api.csrf = '';
    this.lock();
    this.login(everywhere ? 'login.loggedOutAll' : this.failure ? null : 'login.loggedOut');
    this.failure = null;
  }

  /** A 401 from a call that needs the session: back to login. */
  expired() {
    if (!this.session) return;
    this.api.csrf = '';
    this.lock();
    this.login('login.expired');
  }

  /** An approved session without the key in this tab: ask for the password. */
  unlock(session) {
    this.session = session;
    showUnlock(this, session);
  }

  login(note) {
    showLogin(this, note);
    this.onRelabel(() => setText('login-note', note ? t(note) : ''));
  }

  /** What browser tests read. */
  snapshot() {
    const s = this.session;
    return {
      screen: document.body.dataset.screen,
      user: s ? { ...s.user } : null,
      practice: s ? { ...s.practice } : null,
      unlocked: !!this.key,
      view: this.calendar ? this.calendar.view : null,
      date: this.calendar ? dayKey(this.calendar.date) : null,
      appointments: this.calendar ? this.calendar.snapshot() : [],
      callWindows: [...this.calls.open.keys()].filter((id) => this.calls.isOpen(id)),
      lobby: this.lobby.snapshot(),
      admin: this.admin.snapshot(),
    };
  }
}

/** A setup or invitation link from the fragment (taken off the URL) or kept from before a reload. */
function takeSetupLink() {
  const link = parseSetupFragment(location.hash);
  if (link) {
    saveSetupLink(link);
    history.replaceState(null, '', location.pathname + location.search);
    return link;
  }
  return loadSetupLink();
}

async function boot(app) {
  const link = takeSetupLink();
  if (link) return runSetup(app, link);
  let session;
  try {
    session = await app.api.session();
  } catch (err) {
    if (err.status === 401) return app.login(null);
    if (err.code === 'network') return app.fail({ title: 'err.network.title', body: 'err.network.body', retry: true });
    return app.fail({ title: 'err.title', body: 'err.body', retry: true });
  }
  app.session = session;
  if (session.device && !session.device.approved) return app.pendingDevice.show(session, null);
  const key = loadKey(session.user.id);
  if (key) return app.enter(session, key);
  return showUnlock(app, session);
}

function wireHeader(app) {
  $('lang-switch').onclick = () => setLanguage(language() === 'de' ? 'en' : 'de');
  onLanguageChange(() => app.relabel && app.relabel());
  $('logout').onclick = () => app.logout(false);
  $('logout-all').onclick = () => app.logout(true);
  $('invite-user').onclick = () => app.userInvite.open();
  $('nav-calendar').onclick = () => app.showView('calendar');
  $('nav-admin').onclick = () => app.showView('admin');
  // The waiting-room badge leads to the calendar, from any view (capture:
  // before lobbyview.js's own handler looks for the entry).
  $('waiting-count').addEventListener('click', () => {
    if (document.body.dataset.screen === 'admin') app.showView('calendar');
  }, true);
  $('new-appointment').onclick = () => app.apptDialog.openNew(app.calendar ? app.calendar.date : new Date());
}

function main() {
  translate();
  const app = new App();
  window.konsilWorkspace = { state: () => app.snapshot(), refresh: () => app.calendar && app.calendar.load() };
  wireHeader(app);
  if (!window.crypto || !crypto.subtle || typeof TextEncoder === 'undefined') {
    app.fail({ title: 'err.insecure.title', body: 'err.insecure.body', retry: true });
    return;
  }
  // A new setup or invitation link pasted into this tab starts over.
  window.addEventListener('hashchange', () => {
    if (parseSetupFragment(location.hash)) location.reload();
  });
  boot(app).catch((err) => {
    console.error('konsil workspace:', err);
    app.fail({ title: 'err.title', body: 'err.body', retry: true });
  });
}

main();
