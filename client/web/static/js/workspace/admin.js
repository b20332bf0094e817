// The Administration view (admins only; docs/WORKSPACE.md,
// "Administration"): the practice's users with their roles (change,
// remove), the month's calls against the quota, and the API keys of the
// practice software (create: the secret is shown once; revoke). The
// section #admin-devices is filled by the device approval's own module.
//
// For browser tests: konsilWorkspace.state().admin is {users: [{id,
// name, email, role}], usage: {calls, quota} or null, keys: [{id,
// prefix}], secretShown: bool}. Stable ids and classes:
//   #admin-users tbody tr.admin-user[data-id] with .admin-role (select)
//   .admin-role-save .admin-remove; #admin-invite; #admin-usage
//   #admin-usage-meter; #admin-keys li.admin-key[data-id] with
//   .admin-key-prefix .admin-key-revoke; #admin-key-create; #admin-key-new
//   (hidden until a key is made) with #admin-key-secret #admin-key-copy
//   #admin-key-done; #admin-status (live) #admin-error

import { $, el, setText, confirmDialog } from './ui.js';
import { t, language } from './i18n.js';
import { formatDateTime, localeOf } from './format.js';
import { errorText } from './errors.js';

const ROLES = ['admin', 'clinician', 'assistant'];

/** The admin routes of /api/v1/practice, on the workspace's PracticeApi. */
function adminCalls(api) {
  const seg = encodeURIComponent;
  return {
    users: () => api.request('GET', 'admin/users'),
    setRole: (id, role) => api.request('PUT', `users/${seg(id)}`, { role }),
    remove: (id) => api.request('DELETE', `users/${seg(id)}`),
    usage: () => api.request('GET', 'usage'),
    keys: () => api.request('GET', 'api-keys'),
    createKey: () => api.request('POST', 'api-keys', {}),
    revokeKey: (id) => api.request('DELETE', `api-keys/${seg(id)}`),
  };
}

/** What a refusal of the admin page means to the user. */
function adminErrorText(err) {
  if (err && err.code === 'last_admin') return t('admin.err.lastAdmin');
  if (err && err.code === 'not_found') return t('admin.err.gone');
  return errorText(err);
}

export class AdminView {
  constructor(app) {
    this.app = app;
    this.calls = adminCalls(app.api);
    this.users = [];
    this.usage = null;
    this.keys = [];
    this.loaded = false;
    $('admin-invite').onclick = () => app.userInvite.open();
    $('admin-key-create').onclick = () => this.createKey();
    $('admin-key-copy').onclick = () => this.copySecret();
    $('admin-key-done').onclick = () => this.hideSecret({ focus: true });
  }

  /** Shows the view and loads its data. */
  async open() {
    setText('admin-error', '');
    $('admin-status').textContent = '';
    await this.load();
  }

  /** Leaves the view: a key's secret shown once does not stay on the page. */
  close() {
    this.hideSecret();
  }

  /** Forgets everything (logout, lock). */
  reset() {
    this.hideSecret();
    this.users = [];
    this.usage = null;
    this.keys = [];
    this.loaded = false;
    $('admin-users-body').replaceChildren();
    $('admin-keys').replaceChildren();
    $('admin-usage').textContent = '';
  }

  async load() {
    const body = $('admin-body');
    body.setAttribute('aria-busy', 'true');
    try {
      const [users, usage, keys] = await Promise.all([this.calls.users(), this.calls.usage(), this.calls.keys()]);
      this.users = users || [];
      this.usage = usage;
      this.keys = keys || [];
      this.loaded = true;
      this.render();
    } catch (err) {
      this.fail(err);
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  }

  fail(err) {
    if (err && err.code === 'unauthorized') return;
    setText('admin-error', adminErrorText(err));
  }

  announce(text) {
    setText('admin-error', '');
    $('admin-status').textContent = text;
  }

  render() {
    this.renderUsers();
    this.renderUsage();
    this.renderKeys();
  }

  relabel() {
    if (this.loaded) this.render();
  }

  // --- Users ----------------------------------------------------------

  renderUsers() {
    const me = this.app.session && this.app.session.user.id;
    $('admin-users-body').replaceChildren(...this.users.map((u) => this.userRow(u, u.id === me)));
  }

  userRow(u, isMe) {
    const lang = language();
    const id = `admin-role-${u.id}`;
    const select = el('select', { id, class: 'admin-role', 'aria-label': t('admin.roleOf', { name: u.name }) },
      ROLES.map((r) => el('option', { value: r, text: t(`role.${r}`) })));
    select.value = u.role;
    const save = el('button', { type: 'button', class: 'secondary ws-small admin-role-save', text: t('admin.roleSave'), 'aria-label': t('admin.roleSaveFor', { name: u.name }), disabled: true });
    select.onchange = () => { save.disabled = select.value === u.role; };
    save.onclick = () => this.setRole(u, select.value);
    const remove = el('button', { type: 'button', class: 'secondary ws-small ws-danger-text admin-remove', text: t('admin.remove'), 'aria-label': t('admin.removeFor', { name: u.name }) });
    remove.onclick = () => this.remove(u, isMe);
    const created = new Date(u.created_at);
    return el('tr', { class: 'admin-user', dataset: { id: u.id } }, [
      el('th', { scope: 'row' }, [u.name, isMe ? el('span', { class: 'ws-role', text: ` ${t('admin.you')}` }) : null]),
      el('td', { class: 'admin-email', text: u.email }),
      el('td', {}, el('div', { class: 'admin-role-cell' }, [select, save])),
      el('td', {}, el('time', { datetime: u.created_at, text: formatDateTime(created, lang) })),
      el('td', {}, remove),
    ]);
  }

  async setRole(u, role) {
    if (role === u.role) return;
    try {
      const changed = await this.calls.setRole(u.id, role);
      const me = this.app.session && this.app.session.user.id === u.id;
      await this.app.refreshUsers();
      if (me) {
        // Without the admin role this view is gone for this user.
        await this.app.reloadSession();
        if (!this.app.session || this.app.session.user.role !== 'admin') {
          this.app.showView('calendar');
          return;
        }
      }
      await this.load();
      this.announce(t('admin.roleChanged', { name: changed.name, role: t(`role.${changed.role}`) }));
      this.focusRow(u.id, '.admin-role');
    } catch (err) {
      this.fail(err);
      await this.load().catch(() => {});
    }
  }

  async remove(u, isMe) {
    const yes = await confirmDialog({
      title: t('admin.confirmRemove.title', { name: u.name }),
      body: t(isMe ? 'admin.confirmRemove.bodySelf' : 'admin.confirmRemove.body', { name: u.name }),
      yes: t('admin.confirmRemove.yes'),
      no: t('common.cancel'),
    });
    if (!yes) {
      this.focusRow(u.id, '.admin-remove');
      return;
    }
    try {
      await this.calls.remove(u.id);
    } catch (err) {
      this.fail(err);
      this.focusRow(u.id, '.admin-remove');
      return;
    }
    if (isMe) {
      this.app.expired();
      return;
    }
    await this.app.refreshUsers();
    await this.load();
    this.announce(t('admin.removed', { name: u.name }));
    $('admin-users-h').focus();
  }

  focusRow(id, selector) {
    const row = [...document.querySelectorAll('#admin-users-body tr.admin-user')].find((r) => r.dataset.id === id);
    const target = row && row.querySelector(selector);
    if (target) target.focus();
  }

  // --- Usage ----------------------------------------------------------

  renderUsage() {
    const u = this.usage;
    const meter = $('admin-usage-meter');
    if (!u) {
      $('admin-usage').textContent = '';
      meter.hidden = true;
      return;
    }
    const lang = language();
    const n = new Intl.NumberFormat(localeOf(lang));
    $('admin-usage').textContent = u.quota > 0
      ? t('admin.usageOf', { calls: n.format(u.calls), quota: n.format(u.quota) })
      : t('admin.usageNoQuota', { calls: n.format(u.calls) });
    meter.hidden = !(u.quota > 0);
    if (u.quota > 0) {
      meter.max = u.quota;
      meter.value = Math.min(u.calls, u.quota);
      meter.high = Math.floor(u.quota * 0.9);
    }
    const resets = new Date(u.resets_at);
    const month = new Intl.DateTimeFormat(localeOf(lang), { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date(resets.getTime() - 1));
    const day = new Intl.DateTimeFormat(localeOf(lang), { dateStyle: 'long', timeZone: 'UTC' }).format(resets);
    $('admin-usage-hint').textContent = t('admin.usageHint', { month, date: day });
  }

  // --- API keys -------------------------------------------------------

  renderKeys() {
    const lang = language();
    const list = $('admin-keys');
    if (!this.keys.length) {
      list.replaceChildren(el('li', { class: 'ws-empty', text: t('admin.keysEmpty') }));
      return;
    }
    list.replaceChildren(...this.keys.map((k) => {
      const revoke = el('button', { type: 'button', class: 'secondary ws-small ws-danger-text admin-key-revoke', text: t('admin.keyRevoke'), 'aria-label': t('admin.keyRevokeFor', { prefix: k.prefix }) });
      revoke.onclick = () => this.revokeKey(k);
      return el('li', { class: 'admin-key', dataset: { id: k.id } }, [
        el('code', { class: 'admin-key-prefix', text: `${k.prefix}…` }),
        el('span', { class: 'admin-key-created' }, [`${t('admin.keyCreatedAt')} `, el('time', { datetime: k.created_at, text: formatDateTime(new Date(k.created_at), lang) })]),
        revoke,
      ]);
    }));
  }

  async createKey() {
    const button = $('admin-key-create');
    button.disabled = true;
    try {
      const k = await this.calls.createKey();
      this.keys = [...this.keys, { ...k, key: undefined }];
      this.renderKeys();
      this.showSecret(k.key);
      this.announce(t('admin.keyCreated'));
    } catch (err) {
      this.fail(err);
    } finally {
      button.disabled = false;
    }
  }

  showSecret(secret) {
    $('admin-key-secret').value = secret;
    $('admin-key-copy-status').textContent = '';
    $('admin-key-new').hidden = false;
    $('admin-key-secret').focus();
    $('admin-key-secret').select();
  }

  /** Takes the secret off the page; it cannot be shown again. */
  hideSecret({ focus = false } = {}) {
    $('admin-key-secret').value = '';
    $('admin-key-copy-status').textContent = '';
    $('admin-key-new').hidden = true;
    if (focus) $('admin-key-create').focus();
  }

  async copySecret() {
    const input = $('admin-key-secret');
    const status = $('admin-key-copy-status');
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = t('admin.keyCopied');
    } catch {
      input.focus();
      input.select();
      status.textContent = t('admin.keyCopyManual');
    }
  }

  async revokeKey(k) {
    const yes = await confirmDialog({
      title: t('admin.confirmRevoke.title', { prefix: k.prefix }),
      body: t('admin.confirmRevoke.body'),
      yes: t('admin.keyRevoke'),
      no: t('common.cancel'),
    });
    if (!yes) return;
    try {
      await this.calls.revokeKey(k.id);
      this.keys = this.keys.filter((x) => x.id !== k.id);
      this.renderKeys();
      this.announce(t('admin.keyRevoked', { prefix: k.prefix }));
      $('admin-key-create').focus();
    } catch (err) {
      this.fail(err);
      await this.load().catch(() => {});
    }
  }

  /** What browser tests read. */
  snapshot() {
    return {
      users: this.users.map(({ id, name, email, role }) => ({ id, name, email, role })),
      usage: this.usage ? { calls: this.usage.calls, quota: this.usage.quota } : null,
      keys: this.keys.map(({ id, prefix }) => ({ id, prefix })),
      secretShown: !$('admin-key-new').hidden && $('admin-key-secret').value !== '',
    };
  }
}
