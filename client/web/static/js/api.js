// The REST call the app makes: POST /api/v1/join with a link token or a
// short code. Refusals come back as JoinError with the API's error code.

/** A refused or failed join. code is the API's error code, or "network". */
export class JoinError extends Error {
  constructor(code, message, { status = 0, opensAt = null, retryAfter = 0 } = {}) {
    super(message || code);
    this.name = 'JoinError';
    this.code = code;
    this.status = status;
    this.opensAt = opensAt;
    this.retryAfter = retryAfter;
  }
}

const JOIN_TIMEOUT_MS = 15000;

/**
 * Joins with {token} or {code}. Resolves to the JoinResponse
 * (protocol/rest.go), rejects with JoinError.
 */
export async function join(credential) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), JOIN_TIMEOUT_MS);
  let res;
  try {
    res = await fetch('/api/v1/join', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(credential),
      signal: ctl.signal,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new JoinError('network', String(err));
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try {
    body = await res.json();
  } catch { /* not JSON */ }
  if (res.ok && body && body.session_token) return body;
  const e = (body && body.error) || {};
  throw new JoinError(e.code || `http_${res.status}`, e.message, {
    status: res.status,
    opensAt: e.opens_at ? new Date(e.opens_at) : null,
    retryAfter: e.retry_after_seconds || Number(res.headers.get('Retry-After')) || 0,
  });
}

/** Resolves a ws_url relative to this page (a proxy may answer "/ws"). */
export function wsURL(url) {
  const u = new URL(url, location.href);
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol === 'http:') u.protocol = 'ws:';
  return u.toString();
}
