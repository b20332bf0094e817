// The three ways in: setup (first admin or invited user), login, and
// unlock (a live session cookie, but no practice key in this tab). The
// password is stretched here (argon2id in the KDF worker) and only its
// auth key goes to the server; the wrapping key opens the practice key.

import { $, showScreen, setText, whileBusy } from './ui.js';
import { t } from './i18n.js';
import { masterKey } from './kdf-client.js';
import { loginKeys, newKdfParams, newSecret, parseKey, unwrapInvitation, unwrapPracticeKey, wrapPracticeKey, SealError } from './crypto.js';
import { clearSetupLink } from './keystore.js';
import { errorText } from './errors.js';
import { loginWithPasskey, renderLoginPasskey } from './passkeys.js';

export const MIN_PASSWORD = 10;

const value = (id) => $(id).value.trim();

/** The user's login keys for a password under kdf, with a visible wait. */
async function derive(password, kdf) {
  return loginKeys(await masterKey(password, kdf));
}

// --- setup -----------------------------------------------------------

/**
 * Runs the setup screen for link {token, secret}: checks the link, opens
 * an invitation's practice key with the secret, asks for name, e-mail and
 * password, and enters the workspace.
 */
export async function runSetup(app, link) {
  let info;
  try {
    info = await app.api.setupInfo(link.token);
  } catch (err) {
    return setupRefused(app, err);
  }
  let practiceKey = null;
  if (!info.first) {
    try {
      practiceKey = await unwrapInvitation(parseKey(link.secret || ''), info.wrapped_key);
    } catch {
      return app.fail({ title: 'err.invite.title', body: 'err.invite.body' });
    }
  }
  renderSetup(info);
  app.onRelabel(() => renderSetup(info));
  showScreen('setup');
  $('setup-form').onsubmit = (ev) => {
    ev.preventDefault();
    submitSetup(app, link, info, practiceKey);
  };
}

function setupRefused(app, err) {
  if (err.code === 'network') return app.fail({ title: 'err.network.title', body: 'err.network.body', retry: true });
  clearSetupLink();
  return app.fail({ title: 'err.setup.title', body: 'err.setup.body' });
}

function renderSetup(info) {
  $('setup-title').textContent = t(info.first ? 'setup.titleFirst' : 'setup.titleInvite');
  $('setup-intro').textContent = info.first
    ? t('setup.introFirst')
    : t('setup.introInvite', { practice: info.practice || '', role: t(`role.${info.role}`) });
  $('setup-practice-row').hidden = !info.first;
  $('setup-practice').required = !!info.first;
}

/** The first problem with the setup form (an i18n key and the field), or null. */
function setupProblem(first) {
  if (first && !value('setup-practice')) return ['setup.err.practice', 'setup-practice'];
  if (!value('setup-name')) return ['setup.err.name', 'setup-name'];
  const email = $('setup-email');
  if (!value('setup-email') || !email.checkValidity()) return ['setup.err.email', 'setup-email'];
  if ($('setup-password').value.length < MIN_PASSWORD) return ['setup.err.short', 'setup-password'];
  if ($('setup-password').value !== $('setup-password2').value) return ['setup.err.mismatch', 'setup-password2'];
  return null;
}

async function submitSetup(app, link, info, invitedKey) {
  const problem = setupProblem(info.first);
  if (problem) {
    setText('setup-error', t(problem[0], { min: MIN_PASSWORD }));
    $(problem[1]).focus();
    return;
  }
  setText('setup-error', '');
  const form = $('setup-form');
  try {
    await whileBusy(form, 'setup-busy', t('busy.kdf'), async () => {
      const kdf = newKdfParams();
      const { auth, wrapping } = await derive($('setup-password').value, kdf);
      const practiceKey = invitedKey || newSecret();
      const body = {
        email: value('setup-email'),
        name: value('setup-name'),
        kdf,
        auth,
        wrapped_key: await wrapPracticeKey(wrapping, practiceKey),
      };
      if (info.first) body.practice_name = value('setup-practice');
      const session = await app.api.setup(link.token, body);
      clearSetupLink();
      form.reset();
      await app.enter(session, practiceKey);
    });
  } catch (err) {
    setupFailed(app, err);
  }
}

function setupFailed(app, err) {
  switch (err.code) {
    case 'email_taken':
      setText('setup-error', t('setup.err.taken'));
      return $('setup-email').focus();
    case 'setup_invalid':
    case 'not_found':
      clearSetupLink();
      return app.fail({ title: 'err.setup.title', body: 'err.setup.body' });
    default:
      return setText('setup-error', errorText(err));
  }
}

// --- login -----------------------------------------------------------

/** Shows the login screen, with an optional note (an i18n key). */
export function showLogin(app, note) {
  setText('login-note', note ? t(note) : '');
  setText('login-error', '');
  showScreen('login');
  $('login-form').onsubmit = (ev) => {
    ev.preventDefault();
    submitLogin(app);
  };
  renderLoginPasskey();
  $('login-passkey').onclick = () => loginWithPasskey(app);
  if (!note) $('login-email').focus();
}

async function submitLogin(app) {
  const email = value('login-email');
  const password = $('login-password').value;
  if (!email || !password) {
    setText('login-error', t('login.err.required'));
    $(email ? 'login-password' : 'login-email').focus();
    return;
  }
  setText('login-error', '');
  setText('login-note', '');
  try {
    await whileBusy($('login-form'), 'login-busy', t('busy.kdf'), async () => {
      const kdf = await app.api.loginParams(email);
      const { auth, wrapping } = await derive(password, kdf);
      const session = await app.api.login(email, auth);
      $('login-password').value = '';
      // A browser new to this account waits for approval; the key comes
      // with it, and the wrapping key waits here until then.
      if (session.device && !session.device.approved) return app.pendingDevice.show(session, wrapping);
      const key = await unwrapPracticeKey(wrapping, session.wrapped_key);
      await app.enter(session, key);
    });
  } catch (err) {
    loginFailed(app, err);
  }
}

function loginFailed(app, err) {
  if (err instanceof SealError) {
    return app.fail({ title: 'err.key.title', body: 'err.key.body' });
  }
  setText('login-error', errorText(err));
  $('login-password').select();
  $('login-password').focus();
}

// --- unlock ----------------------------------------------------------

/** Asks only for the password of the session's user to open the practice key. */
export function showUnlock(app, session) {
  const render = () => {
    $('unlock-intro').textContent = t('unlock.intro', { name: session.user.name, email: session.user.email || '' });
  };
  render();
  app.onRelabel(render);
  $('unlock-email').value = session.user.email || '';
  setText('unlock-error', '');
  showScreen('unlock');
  $('unlock-password').focus();
  $('unlock-form').onsubmit = (ev) => {
    ev.preventDefault();
    submitUnlock(app, session);
  };
  $('unlock-other').onclick = () => app.logout(false);
}

async function submitUnlock(app, session) {
  const password = $('unlock-password').value;
  if (!password) {
    setText('unlock-error', t('login.err.required'));
    return;
  }
  setText('unlock-error', '');
  try {
    await whileBusy($('unlock-form'), 'unlock-busy', t('busy.kdf'), async () => {
      const kdf = await app.api.loginParams(session.user.email);
      const { wrapping } = await derive(password, kdf);
      const key = await unwrapPracticeKey(wrapping, session.wrapped_key);
      $('unlock-password').value = '';
      await app.enter(session, key);
    });
  } catch (err) {
    setText('unlock-error', err instanceof SealError ? t('unlock.err.wrong') : errorText(err));
    $('unlock-password').select();
    $('unlock-password').focus();
  }
}
