import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callLink, formatCode, icsDescription, inviteMail, mailtoHref, parseSetupFragment, userInviteLink } from '../static/js/workspace/mail.js';
import { makeT } from '../static/js/workspace/i18n.js';
import de from '../static/js/workspace/i18n-de.js';
import en from '../static/js/workspace/i18n-en.js';

const origin = 'https://konsil.example';
const secret = 'gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8';

/** Splits a mailto: URL into its decoded parts (RFC 6068). */
function parseMailto(href) {
  const m = /^mailto:([^?]*)\?(.*)$/.exec(href);
  assert.ok(m, href);
  const q = Object.fromEntries(m[2].split('&').map((kv) => kv.split('=')).map(([k, v]) => [k, decodeURIComponent(v)]));
  return { to: decodeURIComponent(m[1]), ...q };
}

test('call and invitation links keep their secrets in the fragment', () => {
  assert.equal(callLink(origin, 'Tok_en-1', secret), `${origin}/r/Tok_en-1#k=${secret}`);
  assert.equal(userInviteLink(origin, 'InvTok', secret), `${origin}/practice/#invite=InvTok.${secret}`);
});

test('reads setup and invitation fragments', () => {
  assert.deepEqual(parseSetupFragment('#setup=abc_DEF-1'), { token: 'abc_DEF-1', secret: null });
  assert.deepEqual(parseSetupFragment(`#invite=InvTok.${secret}`), { token: 'InvTok', secret });
  assert.deepEqual(parseSetupFragment(new URL(userInviteLink(origin, 'InvTok', secret)).hash), { token: 'InvTok', secret });
  for (const bad of ['', '#', '#k=abc', '#invite=', '#invite=abc', '#invite=.abc', '#invite=abc.']) {
    assert.equal(parseSetupFragment(bad), null, bad);
  }
});

test('codes are grouped in fives, as the server prints them', () => {
  assert.equal(formatCode('ABCDEFGHJK'), 'ABCDE-FGHJK');
  assert.equal(formatCode('abcde-fghjk'), 'ABCDE-FGHJK');
  assert.equal(formatCode(' ABCDE FGHJK '), 'ABCDE-FGHJK');
  assert.equal(formatCode(''), '');
});

test('mailto: encodes every part; the link survives with its # as %23', () => {
  const link = callLink(origin, 'TOKEN', secret);
  const href = mailtoHref({ to: 'erika.m+konsil@example.org', subject: 'Termin & Link? 50 %', body: `Zeile 1\nLink: ${link}\nEnde` });
  assert.ok(!href.slice(7).includes('#'), 'no raw # anywhere');
  assert.ok(href.includes('%23k%3D'), 'the fragment encoded');
  assert.ok(href.includes('%0D%0A'), 'CRLF line breaks');
  assert.ok(!/%0A/.test(href.replace(/%0D%0A/g, '')), 'no bare LF');
  assert.ok(href.startsWith('mailto:erika.m%2Bkonsil@example.org?subject='));
  const p = parseMailto(href);
  assert.equal(p.to, 'erika.m+konsil@example.org');
  assert.equal(p.subject, 'Termin & Link? 50 %');
  assert.equal(p.body, `Zeile 1\r\nLink: ${link}\r\nEnde`);
  assert.equal(mailtoHref({ subject: 'x' }), 'mailto:?subject=x&body=');
});

test('the invitation mail names the time, the link and the code, in either language', () => {
  const link = callLink(origin, 'TOKEN', secret);
  const vars = { practice: 'Praxis Dr. Weber', when: 'Montag, 4. Mai 2026, ganztägig', link, code: 'ABCDEFGHJK', origin, secret };
  for (const [lang, table, personal] of [['de', de, 'persönlich'], ['en', en, 'personal']]) {
    const t = makeT(table);
    const { subject, body } = inviteMail(t, vars);
    assert.ok(subject.includes(vars.when), `${lang} subject`);
    assert.ok(body.includes(`\n${link}\n`), `${lang}: the link on a line of its own`);
    assert.ok(body.includes('ABCDE-FGHJK'), `${lang}: the grouped code`);
    assert.ok(body.includes(personal), `${lang}: personal note`);
    assert.ok(body.includes('Praxis Dr. Weber'));
    assert.ok(!/\{\w+\}/.test(subject + body), `${lang}: no unfilled placeholder`);
    const p = parseMailto(mailtoHref({ to: 'a@b.example', subject, body }));
    assert.equal(p.subject, subject);
    assert.equal(p.body, body.replace(/\n/g, '\r\n'));
    const desc = icsDescription(t, vars);
    assert.ok(desc.includes(link) && desc.includes('ABCDE-FGHJK'));
  }
});
