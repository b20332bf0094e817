// UI text for one page: a set of tables by language, the language
// chosen from the user's last choice on this device (shared by the call
// app and the workspace) or the browser's languages, switchable at run
// time. Markup names its text with data-i18n (text), data-i18n-aria
// (aria-label) and data-i18n-placeholder. js/i18n.js (the call app) and
// js/workspace/i18n.js each make one over their own tables.

const STORE_KEY = 'konsil.lang';

/** A translate function over one table, with a fallback table. */
export function makeT(table, fallback) {
  return (key, vars = {}) => {
    const s = table[key] ?? fallback[key] ?? key;
    return s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  };
}

/**
 * The i18n of a page: tables by language code, and the language used
 * when neither a saved choice nor the browser names one of them.
 */
export function createI18n(tables, otherwise) {
  let lang = pick(tables, otherwise);
  const listeners = new Set();
  const t = (key, vars) => makeT(tables[lang], tables.en || tables[otherwise])(key, vars);
  const translate = (root = document) => {
    document.documentElement.lang = lang;
    for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
    for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  };
  return {
    t,
    translate,
    /** The current language code ("de" or "en"). */
    language: () => lang,
    /** Switches the language, remembers it on this device and re-renders. */
    setLanguage(next) {
      if (!tables[next]) return;
      lang = next;
      try {
        localStorage.setItem(STORE_KEY, next);
      } catch { /* ignore */ }
      translate();
      for (const f of listeners) f(lang);
    },
    /** Calls f after every language change (for text set from code). */
    onLanguageChange(f) {
      listeners.add(f);
    },
  };
}

function pick(tables, otherwise) {
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (saved && tables[saved]) return saved;
  } catch { /* storage blocked, or not a browser */ }
  const nav = typeof navigator === 'undefined' ? {} : navigator;
  for (const l of nav.languages || [nav.language || otherwise]) {
    const base = String(l).toLowerCase().split('-')[0];
    if (tables[base]) return base;
  }
  return otherwise;
}
