// The workspace's REST calls (docs/WORKSPACE.md, "Routes"): JSON under
// /api/v1/practice, the session in an HttpOnly cookie, and the session's
// CSRF token in X-Konsil-CSRF on every change. Refusals come back as
// ApiError with the API's error code.

const BASE = '/api/v1/practice';
/** The Server-Sent Events stream of the practice's waiting rooms (lobbyview.js). */
export const EVENTS_URL = `${BASE}/events`;
const TIMEOUT_MS = 20000;

/** A refused or failed call: code is the API's error code, or "network". */
export class ApiError extends Error {
  constructor(code, message, { status = 0, retryAfter = 0, attemptsLeft = null } = {}) {
    super(message || code);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    this.attemptsLeft = attemptsLeft;
  }
}

const seg = (s) => encodeURIComponent(s);

export class PracticeApi {
  /** onUnauthorized runs when a call that needs a session gets 401. */
  constructor({ onUnauthorized = () => {} } = {}) {
    this.csrf = '';
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, body, { session = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && this.csrf) headers['X-Konsil-CSRF'] = this.csrf;
    const res = await send(`${BASE}/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await readJSON(res);
    if (res.ok) return data;
    const e = (data && data.error) || {};
    const err = new ApiError(e.code || `http_${res.status}`, e.message, {
      status: res.status,
      retryAfter: e.retry_after_seconds || Number(res.headers.get('Retry-After')) || 0,
      attemptsLeft: typeof e.attempts_left === 'number' ? e.attempts_left : null,
    });
    if (res.status === 401 && session) this.onUnauthorized(err);
    throw err;
  }

  /** Remembers the CSRF token of a Session and returns it. */
  keep(session) {
    this.csrf = (session && session.csrf) || '';
    return session;
  }

  setupInfo(token) {
    return this.request('GET', `setup/${seg(token)}`, undefined, { session: false });
  }

  async setup(token, body) {
    return this.keep(await this.request('POST', `setup/${seg(token)}`, body, { session: false }));
  }

  loginParams(email) {
    return this.request('POST', 'login/params', { email }, { session: false });
  }

  async login(email, auth) {
    return this.keep(await this.request('POST', 'login', { email, auth }, { session: false }));
  }

  /** GET session without the 401 handler: at start, 401 just means "log in". */
  async session() {
    return this.keep(await this.request('GET', 'session', undefined, { session: false }));
  }

  async logout(everywhere = false) {
    await this.request('POST', 'logout', { everywhere });
    this.csrf = '';
  }

  users() {
    return this.request('GET', 'users');
  }

  invite(role, wrappedKey) {
    return this.request('POST', 'invites', { role, wrapped_key: wrappedKey });
  }

  async appointments(from, to) {
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    return (await this.request('GET', `appointments?${q}`)) || [];
  }

  createAppointment(req) {
    return this.request('POST', 'appointments', req);
  }

  updateAppointment(id, body) {
    return this.request('PUT', `appointments/${seg(id)}`, body);
  }

  /** Moves an appointment (and its room) to a new window; the links stay. */
  moveAppointment(id, window) {
    return this.request('POST', `appointments/${seg(id)}/move`, window);
  }

  cancelAppointment(id) {
    return this.request('POST', `appointments/${seg(id)}/cancel`, {});
  }

  finishAppointment(id) {
    return this.request('POST', `appointments/${seg(id)}/done`, {});
  }

  /** The browsers the user may manage (an admin's: the practice's). */
  async devices() {
    return (await this.request('GET', 'devices')) || [];
  }

  /** Approves a pending browser with the six-digit code it shows. */
  approveDevice(id, code) {
    return this.request('POST', `devices/${seg(id)}/approve`, { code });
  }

  /** Removes a browser; its sessions end. */
  revokeDevice(id) {
    return this.request('DELETE', `devices/${seg(id)}`);
  }

  settings() {
    return this.request('GET', 'settings');
  }

  /** Changes the practice's settings (admins): {device_approval}. */
  setSettings(settings) {
    return this.request('PUT', 'settings', settings);
  }

  /** Begins adding a passkey: {ceremony, options} for navigator.credentials.create. */
  passkeyRegisterBegin() {
    return this.request('POST', 'passkeys/register/begin', {});
  }

  /** Finishes adding a passkey: {ceremony, credential, wrapped_key, label}. */
  passkeyRegisterFinish(body) {
    return this.request('POST', 'passkeys/register/finish', body);
  }

  /** The user's own passkeys. */
  async passkeys() {
    return (await this.request('GET', 'passkeys')) || [];
  }

  deletePasskey(id) {
    return this.request('DELETE', `passkeys/${seg(id)}`);
  }

  /** Begins a passkey login (no e-mail address): {ceremony, options}. */
  passkeyLoginBegin() {
    return this.request('POST', 'login/passkey/begin', {}, { session: false });
  }

  /** Finishes a passkey login; the answer is a Session with `passkey`. */
  async passkeyLoginFinish(ceremony, credential) {
    return this.keep(await this.request('POST', 'login/passkey/finish', { ceremony, credential }, { session: false }));
  }

  /** Lets a waiting guest in (admins and clinicians); the answer is the LobbyEvent after. */
  admit(id, participantId) {
    return this.request('POST', `appointments/${seg(id)}/admit`, { participant_id: participantId });
  }

  admitAll(id) {
    return this.request('POST', `appointments/${seg(id)}/admit`, { all: true });
  }

  /** Sends a waiting guest away with text (at most 500 bytes), which the guest reads. */
  decline(id, participantId, text) {
    return this.request('POST', `appointments/${seg(id)}/decline`, { participant_id: participantId, text });
  }

  /** Takes an admitted guest out of the call, back to the waiting room. */
  sendBack(id, participantId) {
    return this.request('POST', `appointments/${seg(id)}/send-back`, { participant_id: participantId });
  }
}

async function send(url, init) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    return await fetch(url, { ...init, credentials: 'same-origin', cache: 'no-store', signal: ctl.signal });
  } catch (err) {
    throw new ApiError('network', String(err));
  } finally {
    clearTimeout(timer);
  }
}

async function readJSON(res) {
  if (res.status === 204) return null;
  try {
    return await res.json();
  } catch {
    return null;
  }
}
