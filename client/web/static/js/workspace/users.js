// An admin invites a person into the practice: the server makes a setup
// token; this browser wraps the practice key under a fresh invitation
// secret that only travels in the link's fragment.

import { $, setText, whileBusy, copy } from './ui.js';
import { t, language } from './i18n.js';
import { b64, newSecret, wrapForInvitation } from './crypto.js';
import { userInviteLink } from './mail.js';
import { formatDateTime } from './format.js';
import { errorText } from './errors.js';

export class UserInviteDialog {
  constructor(app) {
    this.app = app;
    this.dialog = $('user-invite-dialog');
    this.expires = null;
    $('user-invite-close').onclick = () => this.dialog.close();
    $('user-invite-copy').onclick = () => copy($('user-invite-link'), $('user-invite-status'));
    $('user-invite-form').onsubmit = (ev) => {
      ev.preventDefault();
      this.create();
    };
  }

  open() {
    $('user-invite-form').reset();
    $('user-invite-result').hidden = true;
    $('user-invite-submit').hidden = false;
    $('user-invite-role').disabled = false;
    $('user-invite-status').textContent = '';
    setText('user-invite-error', '');
    this.dialog.showModal();
    $('user-invite-role').focus();
  }

  relabel() {
    if (this.expires) $('user-invite-hint').textContent = t('uinv.hint', { date: formatDateTime(this.expires, language()) });
  }

  async create() {
    setText('user-invite-error', '');
    try {
      await whileBusy($('user-invite-form'), null, '', async () => {
        const secret = newSecret();
        const wrapped = await wrapForInvitation(secret, this.app.key.raw);
        const out = await this.app.api.invite($('user-invite-role').value, wrapped);
        this.show(userInviteLink(location.origin, out.token, b64.encode(secret)), new Date(out.expires_at));
      });
    } catch (err) {
      setText('user-invite-error', errorText(err));
    }
  }

  show(link, expires) {
    this.expires = expires;
    $('user-invite-link').value = link;
    $('user-invite-result').hidden = false;
    $('user-invite-submit').hidden = true;
    $('user-invite-role').disabled = true;
    this.relabel();
    $('user-invite-status').textContent = t('uinv.ready');
    $('user-invite-copy').focus();
  }
}
