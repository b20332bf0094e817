// The invitation panel of one appointment: per guest the personal link
// (room secret in the fragment), a copy button, a mailto: link for the
// user's own mail program, the short code, a calendar file, a QR code of
// the link and a printable letter. All of it is made here from the sealed
// JSON; the server sees none of it, and the QR code is drawn in this page.

import { $, el, copy } from './ui.js';
import { t, language } from './i18n.js';
import { callLink, formatCode, inviteMail, icsDescription, mailtoHref } from './mail.js';
import { buildICS, icsUID } from './ics.js';
import { windowText } from './format.js';
import { guestsOf } from './calendar.js';
import { qrSVG } from './qr.js';
import { LETTER_LANGUAGES, fillLetter, printLetter, clearLetter } from './letter.js';

export class InvitePanel {
  constructor(app) {
    this.app = app;
    this.dialog = $('invite-dialog');
    this.letter = $('invite-letter');
    this.urls = [];
    this.entry = null;
    $('invite-close').onclick = () => this.dialog.close();
    this.dialog.addEventListener('close', () => this.release());
  }

  /** Shows the invitations of a calendar entry ({a, data}). */
  open(entry) {
    this.entry = entry;
    this.render();
    $('invite-status').textContent = '';
    this.dialog.showModal();
    const first = this.dialog.querySelector('.invite-copy');
    if (first) first.focus();
  }

  /** Re-renders (after a language switch) while open. */
  relabel() {
    if (this.dialog.open && this.entry) this.render();
  }

  render() {
    this.release();
    const { a, data } = this.entry;
    const lang = language();
    $('invite-title').textContent = t('inv.title', { patient: data.patient || '—' });
    $('invite-when').textContent = windowText(a, lang, t);
    const guests = guestsOf(data);
    $('invite-list').replaceChildren(...guests.map((g, i) => this.item(g, i)));
  }

  /** The words and links of one guest's invitation. */
  texts(g) {
    const { a, data } = this.entry;
    const origin = location.origin;
    const link = callLink(origin, g.token, data.secret);
    const vars = {
      practice: this.app.session.practice.name,
      when: windowText(a, language(), t, { timeZone: a.time_zone || undefined, zoned: true }),
      link,
      code: g.code,
      origin,
      secret: data.secret,
    };
    return { link, vars };
  }

  item(g, i) {
    const { a, data } = this.entry;
    const { link, vars } = this.texts(g);
    const id = `invite-${i}`;
    const input = el('input', { id: `${id}-link`, class: 'invite-link', readonly: true, spellcheck: 'false', dataset: { participantId: g.participant_id }, value: link });
    input.value = link;
    const copyBtn = el('button', { type: 'button', class: 'invite-copy secondary', 'aria-describedby': `${id}-name`, text: t('inv.copy') });
    copyBtn.onclick = () => this.copy(input, copyBtn);
    // The patient's address only for the guest who is the patient.
    const to = this.isPatient(g) ? data.email || '' : '';
    const mail = inviteMail(t, vars);
    const ics = buildICS({
      uid: icsUID(a.id, g.participant_id),
      start: a.starts_at,
      end: a.ends_at,
      summary: t('ics.summary', vars),
      description: icsDescription(t, vars),
      url: link,
    });
    const url = URL.createObjectURL(new Blob([ics], { type: 'text/calendar;charset=utf-8' }));
    this.urls.push(url);
    return el('li', { class: 'ws-invitee', dataset: { participantId: g.participant_id } }, [
      el('h3', { id: `${id}-name`, text: g.label || t('dlg.labelDefault', { n: i + 1 }) }),
      el('label', { for: `${id}-link`, text: t('inv.link') }),
      el('div', { class: 'inline' }, [input, copyBtn]),
      el('p', { class: 'ws-code' }, [
        el('span', { text: `${t('inv.code')}: ` }),
        el('strong', { class: 'invite-code', text: formatCode(g.code) }),
      ]),
      el('p', { class: 'ws-links' }, [
        el('a', { class: 'invite-mailto', href: mailtoHref({ to, subject: mail.subject, body: mail.body }), 'aria-describedby': `${id}-name`, text: t('inv.mail') }),
        el('a', { class: 'invite-ics', href: url, download: `konsil-${dayStamp(a.starts_at)}-${i + 1}.ics`, 'aria-describedby': `${id}-name`, text: t('inv.ics') }),
      ]),
      this.qrAndLetter(g, link, id),
    ]);
  }

  /** The QR code of the link, and the letter's language and print button. */
  qrAndLetter(g, link, id) {
    const select = el('select', { id: `${id}-letter-lang`, class: 'invite-letter-lang' },
      LETTER_LANGUAGES.map((l) => el('option', { value: l.code, lang: l.code, text: l.name })));
    select.value = language();
    const print = el('button', { type: 'button', class: 'invite-print secondary', 'aria-describedby': `${id}-name`, text: t('inv.print') });
    print.onclick = () => this.print(g, select.value);
    return el('div', { class: 'ws-invite-qr' }, [
      qrSVG(link, t('inv.qr', { name: this.nameOf(g) })),
      el('div', { class: 'ws-invite-letter' }, [
        el('label', { for: select.id, text: t('inv.letterLang') }),
        select,
        print,
      ]),
    ]);
  }

  /** Whether g is the patient (the only guest, or the guest so named). */
  isPatient(g) {
    const { data } = this.entry;
    return guestsOf(data).length === 1 || g.label === data.patient;
  }

  /** The name a letter is addressed to. */
  nameOf(g) {
    const { data } = this.entry;
    return (this.isPatient(g) ? data.patient || g.label : g.label || data.patient) || '—';
  }

  /** Writes g's letter in lang into the page and prints it. */
  print(g, lang) {
    const { a, data } = this.entry;
    fillLetter(this.letter, lang, {
      practice: (this.app.session.practice || {}).name || '',
      patient: this.nameOf(g),
      appointment: a,
      link: callLink(location.origin, g.token, data.secret),
      code: g.code,
      origin: location.origin,
      secret: data.secret,
    });
    printLetter(this.letter);
  }

  /** Copies a link; the button itself says so too (the status line may be scrolled away). */
  async copy(input, button) {
    const status = $('invite-status');
    await copy(input, status);
    if (status.textContent !== t('common.copied')) return;
    button.textContent = t('inv.copied');
    setTimeout(() => { button.textContent = t('inv.copy'); }, 2500);
  }

  release() {
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
    clearLetter(this.letter);
  }
}

function dayStamp(iso) {
  return new Date(iso).toISOString().slice(0, 10);
}
