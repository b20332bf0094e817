// UI text: the tables in i18n/, chosen from the browser's languages (or
// the user's last choice on this device), switchable at run time.
// Markup names its text with data-i18n (text), data-i18n-aria
// (aria-label) and data-i18n-placeholder.

import de from './i18n/de.js';
import en from './i18n/en.js';

const TABLES = { de, en };
const STORE_KEY = 'konsil.lang';
let lang = pick();
const listeners = new Set();

function pick() {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (saved && TABLES[saved]) return saved;
  } catch { /* storage may be blocked */ }
  for (const l of navigator.languages || [navigator.language || 'en']) {
    const base = String(l).toLowerCase().split('-')[0];
    if (TABLES[base]) return base;
  }
  return 'en';
}

/** The current language code ("de" or "en"). */
export function language() {
  return lang;
}

/**
 * The text for key in the current language, with {name} placeholders
 * filled from vars. A missing key shows as the key itself.
 */
export function t(key, vars = {}) {
  const s = TABLES[lang][key] ?? TABLES.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
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

/** Formats an instant in the user's time zone and language. */
export function formatDateTime(date) {
  return new Intl.DateTimeFormat(lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'full', timeStyle: 'short' }).format(date);
}
