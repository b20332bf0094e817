// Entry point of the browser app. Reads the link (/r/{token}#k={secret})
// or the start form (code and key), derives the room keys, joins, runs
// the pre-call check and the call, and shows a clear page for every way
// this can end or be refused.

import { $, showScreen } from './dom.js';
import { t, translate, setLanguage, language, onLanguageChange, formatDateTime } from './i18n.js';
import { join, JoinError } from './api.js';
import { deriveKeys, parseSecret } from './e2ee/keys.js';
import { Prejoin } from './prejoin.js';
import { Call } from './call.js';
import { CallView } from './callview.js';
import { Conference } from './conference.js';
import { ConferenceView } from './conferenceview.js';
import { FrameEncryption } from './e2ee/transforms.js';

let currentMessage = null;

/**
 * Shows the message screen. spec: {kind: "info"|"warn"|"ok", title, body,
 * detail, vars, actions: [{label, run, primary}]}; keys are i18n keys, so
 * a language switch re-renders it.
 */
function message(spec) {
  currentMessage = spec;
  renderMessage();
  showScreen('screen-message');
  document.body.dataset.message = spec.id || '';
}

function renderMessage() {
  const m = currentMessage;
  if (!m) return;
  const icon = $('msg-icon');
  icon.className = `msg-icon ${m.kind || ''}`;
  icon.textContent = m.kind === 'warn' ? '!' : m.kind === 'ok' ? '✓' : 'i';
  $('screen-message').classList.toggle('security', m.id === 'security');
  $('msg-title').textContent = t(m.title, m.vars);
  $('msg-body').textContent = m.body ? t(m.body, m.vars) : '';
  $('msg-detail').textContent = m.detail ? t(m.detail, m.vars) : '';
  $('msg-detail').hidden = !m.detail;
  const actions = $('msg-actions');
  actions.replaceChildren();
  for (const a of m.actions || []) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = a.primary ? 'primary' : 'secondary';
    b.textContent = t(a.label);
    b.onclick = a.run;
    actions.append(b);
  }
}

const reload = { label: 'common.reload', run: () => location.reload(), primary: true };
const home = { label: 'common.home', run: () => location.assign('/') };

/** The page for a refused join or signaling hello. */
function refusal(err) {
  switch (err.code) {
    case 'room_not_open': {
      const at = err.opensAt;
      if (at) {
        // Try again by ourselves when the room opens (timers cap at ~24 days).
        const wait = Math.min(at.getTime() - Date.now() + 1000, 2 ** 31 - 1);
        if (wait > 0) setTimeout(() => location.reload(), wait);
      }
      return message({ id: 'not-open', title: 'msg.notOpen.title', body: 'msg.notOpen.body', detail: 'msg.notOpen.detail', get vars() { return { time: at ? formatDateTime(at) : '?' }; }, actions: [reload] });
    }
    case 'room_closed':
      return message({ id: 'closed', title: 'msg.closed.title', body: 'msg.closed.body', detail: 'msg.closed.detail' });
    case 'room_full':
      return message({ id: 'full', title: 'msg.full.title', body: 'msg.full.body', detail: 'msg.full.detail', actions: [reload] });
    case 'not_found':
      return message({ id: 'unknown', kind: 'warn', title: 'msg.unknown.title', body: 'msg.unknown.body', detail: 'msg.unknown.detail', actions: [home] });
    case 'rate_limited':
      return message({ id: 'rate-limited', kind: 'warn', title: 'msg.rateLimited.title', body: 'msg.rateLimited.body', vars: { seconds: err.retryAfter || 60 }, actions: [reload] });
    case 'declined':
      return message({ id: 'declined', title: 'msg.declined.title', body: 'msg.declined.body', detail: err.text ? 'msg.declined.detail' : '', vars: { text: err.text || '' } });
    case 'quota_exceeded':
      return message({ id: 'quota', title: 'msg.quota.title', body: 'msg.quota.body' });
    case 'network':
      return message({ id: 'network', kind: 'warn', title: 'msg.network.title', body: 'msg.network.body', actions: [reload] });
    default:
      return message({ id: 'error', kind: 'warn', title: 'msg.error.title', body: 'msg.error.body', vars: { code: err.code || 'unknown' }, actions: [reload] });
  }
}

function incomplete() {
  message({ id: 'incomplete', kind: 'warn', title: 'msg.incomplete.title', body: 'msg.incomplete.body', detail: 'msg.incomplete.detail' });
}

/** What the call's end shows. */
function ended({ reason, detail }) {
  const rejoin = { label: 'msg.rejoin', run: () => location.reload(), primary: true };
  switch (reason) {
    case 'declined':
      return refusal({ code: 'declined', text: detail || '' });
    case 'security':
      return message({ id: 'security', kind: 'warn', title: 'msg.security.title', body: 'msg.security.body', detail: 'msg.security.detail' });
    case 'room_closed':
      return message({ id: 'time-up', title: 'msg.timeUp.title', body: 'msg.timeUp.body' });
    case 'room_deleted':
      return message({ id: 'deleted', title: 'msg.deleted.title', body: 'msg.deleted.body' });
    case 'replaced':
      return message({ id: 'replaced', title: 'msg.replaced.title', body: 'msg.replaced.body', actions: [{ label: 'msg.continueHere', run: () => location.reload(), primary: true }] });
    default:
      return message({ id: 'ended', kind: 'ok', title: 'msg.ended.title', body: 'msg.ended.body', actions: [rejoin] });
  }
}

/** Reads where we are: {token, key} from a link, {code, key} from the start form's fragment, or nothing. */
function route() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const m = location.pathname.match(/^\/r\/([A-Za-z0-9_-]{1,128})\/?$/);
  if (m) return { credential: { token: m[1] }, key: frag.get('k') };
  if (frag.get('c')) return { credential: { code: frag.get('c') }, key: frag.get('k') };
  return null;
}

function startScreen() {
  showScreen('screen-start');
  const err = (key) => {
    $('start-error').textContent = key ? t(key) : '';
    $('start-error').hidden = !key;
  };
  $('start-form').onsubmit = (ev) => {
    ev.preventDefault();
    const code = $('start-code').value.trim();
    const key = $('start-key').value.trim();
    // A pasted link goes where it points (same origin only).
    try {
      const u = new URL(code);
      if (u.origin === location.origin && u.pathname.startsWith('/r/')) {
        location.assign(u.href);
        return;
      }
    } catch { /* not a URL: a code */ }
    if (!code) return err('start.needCode');
    if (!key) return err('start.needKey');
    try {
      parseSecret(key);
    } catch {
      return incomplete();
    }
    err('');
    // The fragment keeps code and key across a reload; browsers never
    // send it to the server.
    // (The hashchange handler in main reloads into the code flow.)
    location.hash = new URLSearchParams({ c: code, k: key }).toString();
  };
}

async function enter({ credential, key }) {
  let secret;
  try {
    secret = parseSecret(key || '');
  } catch {
    return incomplete();
  }
  const keys = await deriveKeys(secret);
  let joined;
  try {
    joined = await join(credential);
    performance.mark('konsil:joined');
  } catch (err) {
    return refusal(err instanceof JoinError ? err : new JoinError('network'));
  }
  const conference = joined.mode === 'sfu';
  if (conference && !FrameEncryption.supported) {
    // Never join a conference whose media the SFU could read.
    return message({ id: 'unsupported', kind: 'warn', title: 'msg.unsupported.title', body: 'msg.unsupported.body' });
  }
  showScreen('screen-prejoin');
  const prefs = await new Prejoin(joined).run();
  performance.mark('konsil:enter');
  const o = { credential, join: joined, keys, name: prefs.name, localStream: prefs.stream };
  const call = conference ? new Conference(o) : new Call(o);
  const view = conference ? new ConferenceView(call, prefs) : new CallView(call, prefs);
  const done = view.run();
  try {
    await call.start();
  } catch (err) {
    call.end('refused');
    for (const tr of prefs.stream.getTracks()) tr.stop();
    return refusal(err);
  }
  ended(await done);
}

function main() {
  translate();
  $('lang-switch').onclick = () => setLanguage(language() === 'de' ? 'en' : 'de');
  onLanguageChange(renderMessage);
  if (typeof RTCPeerConnection === 'undefined' || !window.crypto || !crypto.subtle) {
    message({ id: 'unsupported', kind: 'warn', title: 'msg.unsupported.title', body: 'msg.unsupported.body' });
    return;
  }
  // A new fragment is a new link (another key, a typed code): start over.
  window.addEventListener('hashchange', () => location.reload());
  const r = route();
  if (!r) {
    startScreen();
    return;
  }
  enter(r).catch((err) => {
    console.error('konsil:', err);
    refusal(new JoinError('internal'));
  });
}

main();
