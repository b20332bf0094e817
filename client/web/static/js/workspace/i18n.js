// The workspace's UI text: its own tables (i18n-de.js, i18n-en.js), with
// the call app's choice of language (i18n-core.js); German unless the
// user or the browser says otherwise.

import de from './i18n-de.js';
import en from './i18n-en.js';
import { createI18n, makeT as makeTOver } from '../i18n-core.js';

const i18n = createI18n({ de, en }, 'de');

/** A translate function over one table (English as fallback). */
export const makeT = (table, fallback = en) => makeTOver(table, fallback);

export const { language, t, translate, setLanguage, onLanguageChange } = i18n;
