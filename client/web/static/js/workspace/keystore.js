// Where the practice key waits between reloads of one tab. It lives in
// memory; a copy in sessionStorage (this tab only, gone when the tab
// closes, cleared at logout) spares a reload the password prompt. It is
// bound to the user id, so another account in the same tab never picks
// it up. The pending setup link waits here too once it is off the URL.

import * as b64 from '../e2ee/b64.js';

const KEY = 'konsil.practice.key';
const SETUP = 'konsil.practice.setup';

function get(name) {
  try {
    return JSON.parse(sessionStorage.getItem(name) || 'null');
  } catch {
    return null;
  }
}

function put(name, value) {
  try {
    if (value === null) sessionStorage.removeItem(name);
    else sessionStorage.setItem(name, JSON.stringify(value));
  } catch { /* storage blocked: memory only */ }
}

/** Keeps the practice key of userId for this tab. */
export function saveKey(userId, key) {
  put(KEY, { user: userId, key: b64.encode(key) });
}

/** The practice key kept for userId, or null. */
export function loadKey(userId) {
  const v = get(KEY);
  if (!v || v.user !== userId) return null;
  try {
    const k = b64.decode(v.key);
    return k.length === 32 ? k : null;
  } catch {
    return null;
  }
}

export function clearKey() {
  put(KEY, null);
}

/** Keeps a setup or invitation link ({token, secret}) across a reload. */
export function saveSetupLink(link) {
  put(SETUP, link);
}

export function loadSetupLink() {
  const v = get(SETUP);
  return v && typeof v.token === 'string' ? v : null;
}

export function clearSetupLink() {
  put(SETUP, null);
}

/**
 * Runs f with the practice key out of sessionStorage and puts it back:
 * a window opened in f (window.open copies the opener's sessionStorage)
 * starts without it.
 */
export function withoutStoredKey(f) {
  let kept = null;
  try {
    kept = sessionStorage.getItem(KEY);
    sessionStorage.removeItem(KEY);
  } catch { /* storage blocked: nothing to hide */ }
  try {
    return f();
  } finally {
    try {
      if (kept !== null) sessionStorage.setItem(KEY, kept);
    } catch { /* ignore */ }
  }
}
