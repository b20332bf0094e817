// The invitation's words and links: the guest link with the room secret
// in its fragment, the mailto: link with subject and body, the short code
// grouped for reading aloud. Pure; t is the UI's translate function.

/** The guest's (or host's) call link: the secret stays in the fragment. */
export function callLink(origin, token, secret) {
  return `${origin}/r/${encodeURIComponent(token)}#k=${secret}`;
}

/** The link that lets a new user join the practice. */
export function userInviteLink(origin, token, secret) {
  return `${origin}/practice/#invite=${encodeURIComponent(token)}.${secret}`;
}

/**
 * Reads "#setup=<token>" or "#invite=<token>.<secret>" from a fragment;
 * null for anything else.
 * @returns {{token: string, secret: string|null}|null}
 */
export function parseSetupFragment(hash) {
  const p = new URLSearchParams(String(hash || '').replace(/^#/, ''));
  const setup = p.get('setup');
  if (setup) return { token: setup, secret: null };
  const invite = p.get('invite');
  if (!invite) return null;
  const dot = invite.lastIndexOf('.');
  if (dot <= 0 || dot === invite.length - 1) return null;
  return { token: invite.slice(0, dot), secret: invite.slice(dot + 1) };
}

/** A short code grouped for reading aloud ("ABCDE-FGHJK"), as the server prints it. */
export function formatCode(code) {
  const c = String(code || '').replace(/[\s-]/g, '').toUpperCase();
  return c.match(/.{1,5}/g)?.join('-') ?? '';
}

/**
 * A mailto: URL (RFC 6068): every part percent-encoded (so the link's
 * "#" becomes %23 and cannot end the URL early), line breaks as CRLF.
 */
export function mailtoHref({ to = '', subject = '', body = '' }) {
  // "@" stays readable: some mail programs do not decode %40 in the address.
  const addr = encodeURIComponent(to.trim()).replace(/%40/g, '@');
  const crlf = (s) => String(s).replace(/\r\n|\r|\n/g, '\r\n');
  return `mailto:${addr}?subject=${encodeURIComponent(subject)}&body=${encodeURIComponent(crlf(body))}`;
}

/**
 * The invitation mail for one guest.
 * @param {(key: string, vars?: object) => string} t
 * @param {{practice: string, when: string, link: string, code: string, origin: string, secret: string}} v
 * @returns {{subject: string, body: string}}
 */
export function inviteMail(t, v) {
  const vars = { ...v, code: formatCode(v.code) };
  const subject = t('mail.subject', vars);
  const body = [
    t('mail.greeting'),
    '',
    t('mail.intro', vars),
    '',
    v.link,
    '',
    t('mail.code', vars),
    '',
    t('mail.personal'),
    '',
    t('mail.check'),
    '',
    t('mail.closing'),
    v.practice,
  ].join('\n');
  return { subject, body };
}

/** The description of an invitee's calendar entry. */
export function icsDescription(t, v) {
  return [t('ics.intro', v), v.link, '', t('mail.code', { ...v, code: formatCode(v.code) }), '', t('mail.personal')].join('\n');
}
