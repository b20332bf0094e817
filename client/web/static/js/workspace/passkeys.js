// Passkeys (docs/WORKSPACE.md, "Passkeys"): log in without the password,
// and where the authenticator has the WebAuthn PRF extension, open the
// practice key without it too.
//
// The server's options are the go-webauthn library's JSON, byte values
// in base64url; navigator.credentials wants ArrayBuffers, so both ways
// are converted here. The PRF salt is the workspace's own constant (not
// the server's word), and the PRF output never leaves this page: only
// the practice key wrapped under a key derived from it goes up.
//
// In an approved workspace, section#passkeys of the devices dialog lists
// the user's passkeys, removes them and adds one.

import { $, el, setText, whileBusy, confirmDialog } from './ui.js';
import { t, language } from './i18n.js';
import { errorText } from './errors.js';
import { formatDateTime } from './format.js';
import {
  b64, randomBytes, passkeyPrfSalt, passkeyWrappingKey, wrapPracticeKeyForPasskey, unwrapPasskeyKey, SealError,
} from './crypto.js';

/** True when the page's host is an IP address: WebAuthn has no site there. */
export function hostIsIP(hostname = location.hostname) {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.includes(':') || hostname.startsWith('[');
}

/** Whether passkeys can work here: "yes", "ip" (reached by IP address) or "unsupported". */
export function passkeySupport() {
  if (typeof window.PublicKeyCredential === 'undefined' || !navigator.credentials) return 'unsupported';
  return hostIsIP() ? 'ip' : 'yes';
}

const bytes = (s) => b64.decode(s);
const text = (buf) => b64.encode(new Uint8Array(buf));

async function prfInput() {
  return { prf: { eval: { first: await passkeyPrfSalt() } } };
}

/** The library's creation options (publicKey) as navigator.credentials.create wants them. */
export async function creationOptions(o) {
  return {
    ...o,
    challenge: bytes(o.challenge),
    user: { ...o.user, id: bytes(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: bytes(c.id) })),
    extensions: await prfInput(),
  };
}

/** The library's request options (publicKey) as navigator.credentials.get wants them. */
export async function requestOptions(o) {
  const out = { ...o, challenge: bytes(o.challenge), extensions: await prfInput() };
  if (o.allowCredentials) out.allowCredentials = o.allowCredentials.map((c) => ({ ...c, id: bytes(c.id) }));
  return out;
}

/**
 * A PublicKeyCredential as the server reads it (WebAuthn's JSON form).
 * The PRF results are left out: only whether PRF is enabled goes up.
 */
export function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: text(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = text(r.attestationObject);
    if (typeof r.getTransports === 'function') response.transports = r.getTransports();
  } else {
    response.authenticatorData = text(r.authenticatorData);
    response.signature = text(r.signature);
    if (r.userHandle) response.userHandle = text(r.userHandle);
  }
  const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
  const clientExtensionResults = {};
  if (ext.prf && typeof ext.prf.enabled === 'boolean') clientExtensionResults.prf = { enabled: ext.prf.enabled };
  return {
    id: cred.id,
    rawId: text(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    response,
    clientExtensionResults,
  };
}

/** The PRF output of a credential's ceremony, or null. */
export function prfOutput(cred) {
  const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
  const first = ext.prf && ext.prf.results && ext.prf.results.first;
  return first ? new Uint8Array(first) : null;
}

/** What a failed passkey step means to the user. */
function passkeyErrorText(err) {
  if (err && err.name === 'NotAllowedError') return t('passkeys.err.cancelled');
  if (err && err.name === 'InvalidStateError') return t('passkeys.err.known');
  if (err instanceof SealError) return t('passkeys.err.key');
  switch (err && err.code) {
    case 'passkey_refused':
      return t('passkeys.err.refused');
    case 'passkey_expired':
      return t('passkeys.err.expired');
    case 'passkey_needs_name':
      return t('passkeys.ip');
  }
  if (err && err.code) return errorText(err);
  return t('passkeys.err.failed', { name: (err && err.name) || '?' });
}

// --- login -----------------------------------------------------------

/** Shows or hides the login screen's passkey button (and the IP note). */
export function renderLoginPasskey() {
  const support = passkeySupport();
  $('login-passkey-row').hidden = support === 'unsupported';
  $('login-passkey').hidden = support !== 'yes';
  // The note's text is static markup (data-i18n): a language switch redoes it.
  $('login-passkey-note').hidden = support !== 'ip';
}

/**
 * Logs in with a passkey: the browser offers the passkeys it has for
 * this site. With a PRF result the practice key opens at once (or, on a
 * browser awaiting approval, once approved); without, the unlock screen
 * asks for the password.
 */
export async function loginWithPasskey(app) {
  setText('login-error', '');
  setText('login-note', '');
  try {
    await whileBusy($('login-form'), 'login-busy', t('passkeys.busyLogin'), async () => {
      const c = await app.api.passkeyLoginBegin();
      const cred = await navigator.credentials.get({ publicKey: await requestOptions(c.options.publicKey) });
      const prf = prfOutput(cred);
      const session = await app.api.passkeyLoginFinish(c.ceremony, credentialJSON(cred));
      const wrapping = prf && session.passkey && session.passkey.prf ? await passkeyWrappingKey(prf) : null;
      if (session.device && !session.device.approved) {
        // The passkey's wrapped key comes only after approval (GET
        // passkeys then); the wrapping key waits here meanwhile.
        const id = session.passkey && session.passkey.id;
        const opener = wrapping ? { open: async () => {
          const own = (await app.api.passkeys()).find((p) => p.id === id);
          if (!own || !own.wrapped_key) throw new SealError('passkey has no wrapped key');
          return unwrapPasskeyKey(wrapping, own.wrapped_key);
        } } : null;
        return app.pendingDevice.show(session, opener);
      }
      if (wrapping && session.passkey.wrapped_key) {
        return app.enter(session, await unwrapPasskeyKey(wrapping, session.passkey.wrapped_key));
      }
      // No PRF here: the password opens the practice key.
      return app.unlock(session);
    });
  } catch (err) {
    if (err instanceof SealError) return app.fail({ title: 'err.key.title', body: 'err.key.body' });
    setText('login-error', passkeyErrorText(err));
    $('login-passkey').focus();
  }
}

// --- the list in the devices dialog ----------------------------------

/** section#passkeys in the devices dialog: list, remove, add. */
export class PasskeyPanel {
  constructor(app) {
    this.app = app;
    this.list = [];
    // The devices dialog opens from the header and the banner; devices.js
    // owns those buttons, this section only listens.
    for (const id of ['devices-open', 'device-banner-open']) $(id).addEventListener('click', () => this.load());
    $('passkey-add-form').onsubmit = (ev) => {
      ev.preventDefault();
      this.add();
    };
  }

  async load() {
    if (!this.app.session) return;
    try {
      this.list = await this.app.api.passkeys();
      setText('passkeys-error', '');
    } catch (err) {
      setText('passkeys-error', passkeyErrorText(err));
    }
    this.render();
  }

  stop() {
    this.list = [];
    $('passkeys-list').replaceChildren();
    setText('passkeys-error', '');
    setText('passkeys-status', '');
  }

  relabel() {
    this.render();
  }

  render() {
    const support = passkeySupport();
    $('passkey-add-form').hidden = support !== 'yes';
    setText('passkeys-unavailable', support === 'yes' ? '' : t(support === 'ip' ? 'passkeys.ip' : 'passkeys.unsupported'));
    $('passkeys-empty').hidden = this.list.length > 0;
    const lang = language();
    $('passkeys-list').replaceChildren(...this.list.map((p) => this.item(p, lang)));
  }

  item(p, lang) {
    const nameId = `passkey-${p.id}-name`;
    const used = p.last_used ? formatDateTime(new Date(p.last_used), lang) : t('passkeys.never');
    const remove = el('button', {
      type: 'button', class: 'passkey-remove secondary ws-small', 'aria-describedby': nameId,
      dataset: { passkeyId: p.id }, text: t('passkeys.remove'),
    });
    remove.onclick = () => this.remove(p);
    return el('li', { class: 'device passkey', dataset: { passkeyId: p.id, prf: String(!!p.prf) } }, [
      el('div', { class: 'device-who' }, [
        el('strong', { id: nameId, text: p.label }),
        el('span', { class: 'device-status', text: t(p.prf ? 'passkeys.withKey' : 'passkeys.withoutKey') }),
        el('span', { class: 'device-status', text: t('passkeys.used', { when: used }) }),
      ]),
      remove,
    ]);
  }

  async remove(p) {
    const yes = await confirmDialog({
      title: t('passkeys.confirm.title'),
      body: t('passkeys.confirm.body', { label: p.label }),
      yes: t('passkeys.confirm.yes'),
      no: t('passkeys.confirm.no'),
    });
    if (!yes) return;
    try {
      await this.app.api.deletePasskey(p.id);
      setText('passkeys-status', t('passkeys.removed', { label: p.label }));
    } catch (err) {
      setText('passkeys-error', passkeyErrorText(err));
    }
    await this.load();
    $('passkey-add').focus();
  }

  /**
   * Adds a passkey. Some authenticators answer PRF only at get(), not at
   * create(): then one get() with the new credential (a second touch)
   * gives the output. Its challenge is local: the assertion is not sent
   * anywhere, only the PRF output is used, here.
   */
  async add() {
    const key = this.app.key;
    if (!key) return;
    const label = $('passkey-label').value.trim() || t('passkeys.defaultLabel');
    setText('passkeys-error', '');
    setText('passkeys-status', '');
    try {
      await whileBusy($('passkey-add-form'), 'passkeys-busy', t('passkeys.busyAdd'), async () => {
        const c = await this.app.api.passkeyRegisterBegin();
        const publicKey = await creationOptions(c.options.publicKey);
        const cred = await navigator.credentials.create({ publicKey });
        let prf = prfOutput(cred);
        const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
        if (!prf && !(ext.prf && ext.prf.enabled === false)) {
          try {
            const again = await navigator.credentials.get({ publicKey: {
              challenge: randomBytes(32), rpId: publicKey.rp.id, userVerification: 'required',
              allowCredentials: [{ type: 'public-key', id: cred.rawId }], extensions: await prfInput(),
            } });
            prf = prfOutput(again);
          } catch { /* no PRF after all: the password opens the key at passkey logins */ }
        }
        const wrapped = prf ? await wrapPracticeKeyForPasskey(await passkeyWrappingKey(prf), key.raw) : '';
        await this.app.api.passkeyRegisterFinish({ ceremony: c.ceremony, credential: credentialJSON(cred), wrapped_key: wrapped, label });
        $('passkey-label').value = '';
        setText('passkeys-status', t(prf ? 'passkeys.addedWithKey' : 'passkeys.addedWithoutKey', { label }));
      });
    } catch (err) {
      setText('passkeys-error', passkeyErrorText(err));
    }
    await this.load();
  }
}
