// Device approval (docs/WORKSPACE.md, "New browsers wait for approval").
//
// A browser new to the user gets a pending session: the pending screen
// shows its six-digit code and waits (asking GET session every few
// seconds) until an approved browser of the same user, or an admin,
// types that code. The practice key arrives with the approval; the
// wrapping key derived at login waits in memory meanwhile, so the user
// does not type the password twice.
//
// In an approved workspace, the devices dialog lists the user's browsers
// (an admin's: the practice's), approves pending ones by their code and
// removes any; a banner says when a browser waits, live by the events
// stream's `device` events.

import { $, el, showScreen, setText, whileBusy, confirmDialog } from './ui.js';
import { t, language } from './i18n.js';
import { errorText } from './errors.js';
import { formatDateTime } from './format.js';
import { unwrapPracticeKey, SealError } from './crypto.js';

/** How often a pending browser asks whether it was approved. */
const POLL_MS = 3000;

/** "482913" as "482 913", easier to read aloud. */
export function spacedCode(code) {
  return /^\d{6}$/.test(code || '') ? `${code.slice(0, 3)} ${code.slice(3)}` : '';
}

/** The screen of a browser awaiting approval. */
export class PendingDevice {
  constructor(app) {
    this.app = app;
    this.timer = 0;
    this.session = null;
    this.wrapping = null;
  }

  /** Shows session's code and waits; wrapping (or null) opens the key after. */
  show(session, wrapping) {
    this.stop();
    this.app.session = session;
    this.session = session;
    this.wrapping = wrapping;
    const render = () => {
      $('device-code').textContent = spacedCode(session.device.code);
      $('device-label').textContent = t('device.label', { label: session.device.label || '—', name: session.user.name });
    };
    render();
    this.app.onRelabel(render);
    setText('device-error', '');
    showScreen('device');
    $('device-logout').onclick = () => {
      this.stop();
      this.app.logout(false);
    };
    this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = 0;
  }

  async poll() {
    this.timer = 0;
    let s;
    try {
      s = await this.app.api.session();
    } catch (err) {
      if (err.status === 401) {
        // Removed (five wrong codes, or by its user or an admin).
        this.wrapping = null;
        return this.app.login('device.removed');
      }
      setText('device-error', errorText(err));
      this.timer = setTimeout(() => this.poll(), POLL_MS * 3);
      return;
    }
    setText('device-error', '');
    if (!s.device || !s.device.approved) {
      this.timer = setTimeout(() => this.poll(), POLL_MS);
      return;
    }
    const wrapping = this.wrapping;
    this.wrapping = null;
    if (!wrapping) return this.app.unlock(s);
    try {
      // A passkey login's wrapping comes as {open(session)} (passkeys.js).
      const key = typeof wrapping.open === 'function' ? await wrapping.open(s) : await unwrapPracticeKey(wrapping, s.wrapped_key);
      await this.app.enter(s, key);
    } catch (err) {
      if (err instanceof SealError) return this.app.fail({ title: 'err.key.title', body: 'err.key.body' });
      throw err;
    }
  }
}

/** The devices dialog and the header's banner in an approved workspace. */
export class DevicePanel {
  constructor(app) {
    this.app = app;
    this.list = [];
    this.settings = null;
    this.loading = null;
    $('devices-open').onclick = () => this.open();
    $('admin-devices-open').onclick = () => this.open();
    $('device-banner-open').onclick = () => this.open();
    $('devices-close').onclick = () => $('devices-dialog').close();
    $('devices-approval').onchange = () => this.setApproval($('devices-approval').checked);
  }

  /** Loads the devices (and for admins the setting) and renders both places. */
  async load() {
    const admin = this.app.session && this.app.session.user.role === 'admin';
    try {
      const [list, settings] = await Promise.all([
        this.app.api.devices(),
        admin ? this.app.api.settings() : Promise.resolve(null),
      ]);
      this.list = list || [];
      this.settings = settings;
      setText('devices-error', '');
    } catch (err) {
      setText('devices-error', errorText(err));
    }
    this.render();
  }

  /** A `device` event: something changed; load again, one load at a time. */
  changed() {
    if (!this.app.session) return;
    if (!this.loading) this.loading = this.load().finally(() => { this.loading = null; });
  }

  open() {
    const d = $('devices-dialog');
    if (!d.open) d.showModal();
    this.load().then(() => {
      const first = d.querySelector('.device-code-input') || $('devices-close');
      first.focus();
    });
  }

  stop() {
    this.list = [];
    this.settings = null;
    $('device-banner').hidden = true;
    $('devices-open').hidden = true;
    if ($('devices-dialog').open) $('devices-dialog').close();
  }

  relabel() {
    this.render();
  }

  pending() {
    return this.list.filter((d) => !d.approved);
  }

  render() {
    const s = this.app.session;
    $('devices-open').hidden = !s;
    const pending = this.pending();
    const banner = $('device-banner');
    banner.hidden = pending.length === 0;
    if (pending.length) {
      const d = pending[0];
      setText('device-banner-text', t(pending.length === 1 ? 'devices.bannerOne' : 'devices.bannerMany', {
        label: d.label, name: d.user_name || '', n: pending.length,
      }));
    }
    const admin = s && s.user.role === 'admin';
    $('admin-devices-summary').textContent = t('devices.summary', {
      n: this.list.length, pending: pending.length,
      approval: t(this.settings && !this.settings.device_approval ? 'devices.summaryOff' : 'devices.summaryOn'),
    });
    $('devices-settings').hidden = !admin || !this.settings;
    if (this.settings) $('devices-approval').checked = !!this.settings.device_approval;
    $('devices-intro').textContent = t(admin ? 'devices.introAdmin' : 'devices.intro');
    const lang = language();
    // A half-typed code and the focus survive a reload of the list.
    const ul = $('devices-list');
    const typed = new Map([...ul.querySelectorAll('.device-code-input')].map((i) => [i.dataset.deviceId, i.value]));
    const focused = document.activeElement && ul.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = focused ? `${focused.className}|${focused.dataset.deviceId || ''}` : '';
    ul.replaceChildren(...this.list.map((d) => this.item(d, admin, lang)));
    for (const i of ul.querySelectorAll('.device-code-input')) i.value = typed.get(i.dataset.deviceId) || '';
    if (focusKey) {
      const again = [...ul.querySelectorAll('input, button')].find((e) => `${e.className}|${e.dataset.deviceId || ''}` === focusKey);
      if (again) again.focus();
    }
  }

  item(d, admin, lang) {
    const nameId = `device-${d.id}-name`;
    const who = admin && d.user_name ? ` · ${d.user_name}` : '';
    const status = d.approved
      ? t('devices.approved', { when: d.last_login ? formatDateTime(new Date(d.last_login), lang) : '—' })
      : t('devices.pending');
    const children = [
      el('div', { class: 'device-who' }, [
        el('strong', { id: nameId, text: `${d.label}${who}` }),
        d.current ? el('span', { class: 'device-current', text: t('devices.current') }) : null,
        el('span', { class: 'device-status', text: status }),
      ]),
    ];
    if (!d.approved) {
      const inputId = `device-${d.id}-code`;
      const input = el('input', {
        id: inputId, class: 'device-code-input', inputmode: 'numeric', autocomplete: 'off', maxlength: '7',
        pattern: '[0-9 ]*', 'aria-describedby': nameId, dataset: { deviceId: d.id },
      });
      const approve = el('button', { type: 'submit', class: 'device-approve primary ws-small', dataset: { deviceId: d.id }, text: t('devices.approve') });
      const form = el('form', { class: 'device-approve-form' }, [
        el('label', { for: inputId, text: t('devices.codeLabel') }), input, approve,
      ]);
      form.onsubmit = (ev) => {
        ev.preventDefault();
        this.approve(d, input, form);
      };
      children.push(form);
    }
    const remove = el('button', {
      type: 'button', class: 'device-remove secondary ws-small', 'aria-describedby': nameId,
      dataset: { deviceId: d.id }, text: t(d.current ? 'devices.removeThis' : 'devices.remove'),
    });
    remove.onclick = () => this.remove(d);
    children.push(remove);
    return el('li', { class: `device${d.approved ? '' : ' device-pending'}`, dataset: { deviceId: d.id, approved: String(d.approved) } }, children);
  }

  async approve(d, input, form) {
    const code = input.value.replace(/\s/g, '');
    if (!/^\d{6}$/.test(code)) {
      setText('devices-error', t('devices.err.code'));
      input.focus();
      return;
    }
    try {
      await whileBusy(form, 'devices-busy', t('devices.busy'), () => this.app.api.approveDevice(d.id, code));
      await this.load();
      setText('devices-status', t('devices.approvedNow', { label: d.label }));
    } catch (err) {
      // A wrong code says how many attempts are left; after the last the
      // pending browser is gone and the list shows it.
      await this.load();
      setText('devices-error', errorText(err));
      const again = document.querySelector(`.device-code-input[data-device-id="${d.id}"]`);
      if (again) again.focus();
    }
  }

  async remove(d) {
    const yes = await confirmDialog({
      title: t('devices.confirm.title'),
      body: t(d.current ? 'devices.confirm.bodyThis' : 'devices.confirm.body', { label: d.label }),
      yes: t('devices.confirm.yes'),
      no: t('devices.confirm.no'),
    });
    if (!yes) return;
    try {
      await this.app.api.revokeDevice(d.id);
    } catch (err) {
      setText('devices-error', errorText(err));
      return;
    }
    if (d.current) return this.app.expired();
    setText('devices-status', t('devices.removed', { label: d.label }));
    await this.load();
  }

  async setApproval(on) {
    try {
      this.settings = await this.app.api.setSettings({ device_approval: on });
      setText('devices-status', t(on ? 'devices.approvalOn' : 'devices.approvalOff'));
    } catch (err) {
      setText('devices-error', errorText(err));
    }
    this.render();
  }
}
