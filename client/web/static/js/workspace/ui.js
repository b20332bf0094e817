// Small DOM helpers of the workspace's screens. Elements are built with
// createElement and textContent only: the page enforces Trusted Types, so
// nothing here ever parses HTML.

import { t } from './i18n.js';

/** The element with this id (throws when the markup lacks it). */
export function $(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing`);
  return e;
}

/**
 * A new element: el('button', {type: 'button', class: 'x', dataset: {id}},
 * 'text' or [children]). Attributes named on* are not accepted: handlers
 * are set as properties by the caller.
 */
export function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) throw new Error(`el: set ${k} as a property`);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of [].concat(children)) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/**
 * Shows one screen (section#screen-<name>) and hides the others; tests
 * wait for document.body.dataset.screen.
 */
export function showScreen(name) {
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== `screen-${name}`;
  document.body.dataset.screen = name;
  const h = document.querySelector(`#screen-${name} h1`);
  if (h) {
    h.tabIndex = -1;
    h.focus({ preventScroll: true });
  }
}

/** Shows text in an error paragraph (hidden when empty). */
export function setText(id, text) {
  const e = $(id);
  e.textContent = text || '';
  e.hidden = !text;
}

/**
 * Marks a form busy while fn runs: its submit button disabled, a visible
 * "please wait" line (role=status) when busyText is given.
 */
export async function whileBusy(form, busyId, busyText, fn) {
  const buttons = form.querySelectorAll('button, input, select, textarea');
  const was = [...buttons].map((b) => b.disabled);
  for (const b of buttons) b.disabled = true;
  form.setAttribute('aria-busy', 'true');
  if (busyId) setText(busyId, busyText);
  try {
    return await fn();
  } finally {
    buttons.forEach((b, i) => { b.disabled = was[i]; });
    form.setAttribute('aria-busy', 'false');
    if (busyId) setText(busyId, '');
  }
}

/**
 * Copies text to the clipboard; where that is refused, selects the input
 * holding it so Ctrl+C / Cmd+C copies it. Reports in statusEl.
 */
export async function copy(input, statusEl) {
  try {
    await navigator.clipboard.writeText(input.value);
    statusEl.textContent = t('common.copied');
  } catch {
    input.focus();
    input.select();
    statusEl.textContent = t('common.copyManual');
  }
}

/**
 * Asks a yes/no question in the confirm dialog. Resolves true for yes;
 * Escape or "no" resolve false.
 */
export function confirmDialog({ title, body, yes, no }) {
  const d = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-body').textContent = body;
  $('confirm-yes').textContent = yes;
  $('confirm-no').textContent = no;
  return new Promise((resolve) => {
    const done = (v) => {
      d.onclose = null;
      if (d.open) d.close();
      resolve(v);
    };
    $('confirm-yes').onclick = () => done(true);
    $('confirm-no').onclick = () => done(false);
    d.onclose = () => done(false);
    d.showModal();
    $('confirm-no').focus();
  });
}
