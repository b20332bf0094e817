// UI text: the tables in i18n/, chosen from the browser's languages (or
// the user's last choice on this device), switchable at run time.
// Markup names its text with data-i18n (text), data-i18n-aria
// (aria-label) and data-i18n-placeholder.

import de from './i18n/de.js';
import en from './i18n/en.js';
import { createI18n } from './i18n-core.js';

const i18n = createI18n({ de, en }, 'en');

/** The current language code ("de" or "en"). */
export const language = i18n.language;

/**
 * The text for key in the current language, with {name} placeholders
 * filled from vars. A missing key shows as the key itself.
 */
export const t = i18n.t;

/** Fills every data-i18n* element under root. */
export const translate = i18n.translate;

/** Switches the language, remembers it on this device and re-renders. */
export const setLanguage = i18n.setLanguage;

/** Calls f after every language change (for text set from code). */
export const onLanguageChange = i18n.onLanguageChange;

/** Formats an instant in the user's time zone and language. */
export function formatDateTime(date) {
  return new Intl.DateTimeFormat(language() === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'full', timeStyle: 'short' }).format(date);
}
