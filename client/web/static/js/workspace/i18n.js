// The workspace's UI text: its own tables (i18n-de.js, i18n-en.js), the
// same choice of language as the call app's i18n.js (the user's last
// choice on this device under the same storage key, else the browser's
// languages), switchable at run time. Markup names its text with
// data-i18n (text), data-i18n-aria (aria-label) and data-i18n-placeholder.
// The call app's module cannot be reused as is: its t() reads only its
// own tables, and its setLanguage() re-translates the whole document.

import de from './i18n-de.js';
import en from './i18n-en.js';

const TABLES = { de, en };
const STORE_KEY = 'konsil.lang'; // shared with js/i18n.js
let lang = pick();
const listeners = new Set();

function pick() {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (saved && TABLES[saved]) return saved;
  } catch { /* storage blocked, or not a browser */ }
  const nav = typeof navigator === 'undefined' ? {} : navigator;
  for (const l of nav.languages || [nav.language || 'de']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (TABLES[base]) return base;
  }
  return 'de';
}

/** A translate function over one table (English as fallback). */
export function makeT(table, fallback = en) {
  return (key, vars = {}) => {
    const s = table[key] ?? fallback[key] ?? key;
    return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  };
}

/** The current language ("de" or "en"). */
export function language() {
  return lang;
}

/** The text for key in the current language, {name} filled from vars. */
export function t(key, vars) {
  return makeT(TABLES[lang])(key, vars);
}

/** Fills every data-i18n* element under root. */
export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}

/** Switches the language, remembers it on this device and re-renders. */
export function setLanguage(next) {
  if (!TABLES[next]) return;
  lang = next;
  try {
    localStorage.setItem(STORE_KEY, next);
  } catch { /* ignore */ }
  translate();
  for (const f of listeners) f(lang);
}

/** Calls f after every language change (for text set from code). */
export function onLanguageChange(f) {
  listeners.add(f);
}
