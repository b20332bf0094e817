// The printable appointment letter of one invitee: practice, name, the
// appointment's window in its own time zone, the QR code, the link, the
// code and key to type on the start page, and four calm steps. Its
// language is picked per letter, whatever the workspace's own language:
// a German practice writes to an English-speaking patient.
//
// It prints from this page (window.print() with print CSS that shows only
// #invite-letter): a popup would load the app again, and the letter holds
// the room secret, so it stays in this tab's DOM only while it prints.

import de from './i18n-de.js';
import en from './i18n-en.js';
import { makeT } from './i18n.js';
import { el } from './ui.js';
import { windowText } from './format.js';
import { formatCode } from './mail.js';
import { qrSVG } from './qr.js';

/** The languages a letter can be written in, each named in itself. */
export const LETTER_LANGUAGES = [
  { code: 'de', name: 'Deutsch' },
  { code: 'en', name: 'English' },
];

const TABLES = { de, en };

/** The translate function of a letter language (English for unknown ones). */
export function letterT(lang) {
  return makeT(TABLES[lang] || en);
}

/**
 * The letter's words, without the DOM: the whole letter, in reading
 * order, for one invitee.
 * @param {string} lang 'de' or 'en'
 * @param {{practice: string, patient: string, appointment: {starts_at: string, ends_at: string, time_zone?: string},
 *   link: string, code: string, origin: string, secret: string}} v
 */
export function letterWords(lang, v) {
  const l = TABLES[lang] ? lang : 'en';
  const t = letterT(l);
  const vars = { practice: v.practice };
  return {
    lang: l,
    title: t('letter.title'),
    practice: v.practice,
    facts: [
      [t('letter.for'), v.patient],
      // The practice's zone with its abbreviation: the patient may be
      // elsewhere, and a printed date cannot adapt to the reader's clock.
      [t('letter.when'), windowText(v.appointment, l, t, { timeZone: v.appointment.time_zone || undefined, zoned: true })],
    ],
    qrLabel: t('letter.qr'),
    scan: t('letter.scan'),
    linkIntro: t('letter.link'),
    link: v.link,
    typeIntro: t('letter.type', { address: `${v.origin}/` }),
    typed: [
      [t('letter.address'), `${v.origin}/`],
      [t('letter.code'), formatCode(v.code)],
      [t('letter.key'), v.secret],
    ],
    stepsTitle: t('letter.steps'),
    steps: [t('letter.step1'), t('letter.step2'), t('letter.step3'), t('letter.step4', vars)],
    personal: t('letter.personal'),
    closing: t('letter.closing'),
  };
}

function facts(rows, cls) {
  return el('dl', { class: cls }, rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

/** Fills container with the letter (replacing any earlier one). */
export function fillLetter(container, lang, v) {
  const w = letterWords(lang, v);
  container.lang = w.lang;
  container.replaceChildren(
    el('p', { class: 'ws-letter-practice', text: w.practice }),
    el('h1', { text: w.title }),
    facts(w.facts, 'ws-letter-facts'),
    el('div', { class: 'ws-letter-join' }, [
      el('figure', { class: 'ws-letter-qr' }, [qrSVG(w.link, w.qrLabel), el('figcaption', { text: w.scan })]),
      el('div', { class: 'ws-letter-ways' }, [
        el('p', { text: w.linkIntro }),
        el('p', { class: 'ws-letter-link', text: w.link }),
      ]),
    ]),
    // Full width, so that the room key stays on one line: a key broken
    // after one of its own hyphens could be typed without it.
    el('p', { class: 'ws-letter-type', text: w.typeIntro }),
    facts(w.typed, 'ws-letter-typed'),
    el('h2', { text: w.stepsTitle }),
    el('ol', { class: 'ws-letter-steps' }, w.steps.map((s) => el('li', { text: s }))),
    el('p', { class: 'ws-letter-personal', text: w.personal }),
    el('p', { class: 'ws-letter-closing' }, [w.closing, el('br'), w.practice]),
  );
}

/** Empties the letter: it holds the room secret. */
export function clearLetter(container) {
  container.replaceChildren();
  document.body.classList.remove('ws-print-letter');
}

/**
 * Prints the filled letter: the body class switches the print CSS from
 * the workspace to the letter, and afterprint switches it back and
 * empties the letter.
 */
export function printLetter(container) {
  document.body.classList.add('ws-print-letter');
  window.addEventListener('afterprint', () => clearLetter(container), { once: true });
  window.print();
}
