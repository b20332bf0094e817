import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import de from '../static/js/workspace/i18n-de.js';
import en from '../static/js/workspace/i18n-en.js';

const placeholders = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
const staticDir = new URL('../static/', import.meta.url);
const jsDir = new URL('js/workspace/', staticDir);
const html = readFileSync(new URL('workspace.html', staticDir), 'utf8');
const sources = readdirSync(jsDir).filter((f) => f.endsWith('.js')).map((f) => [f, readFileSync(new URL(f, jsDir), 'utf8')]);

test('the workspace speaks German and English with the same keys and placeholders', () => {
  assert.deepEqual(Object.keys(de).sort(), Object.keys(en).sort());
  for (const k of Object.keys(en)) {
    assert.deepEqual(placeholders(de[k]), placeholders(en[k]), k);
    assert.ok(de[k].trim() && en[k].trim(), `${k} is empty`);
  }
});

test('every key the workspace markup and code use exists', () => {
  const used = new Set();
  for (const m of html.matchAll(/data-i18n(?:-aria|-placeholder)?="([^"]+)"/g)) used.add(m[1]);
  for (const [, src] of sources) {
    for (const m of src.matchAll(/\bt\('([a-zA-Z.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/(?:title|body): '([a-zA-Z]+\.[a-zA-Z.]+)'/g)) used.add(m[1]);
  }
  for (const prefix of ['role', 'kind', 'status']) {
    for (const v of { role: ['admin', 'clinician', 'assistant'], kind: ['consultation', 'conference'], status: ['scheduled', 'done', 'cancelled'] }[prefix]) used.add(`${prefix}.${v}`);
  }
  assert.deepEqual([...used].filter((k) => !(k in en)), []);
});

test('workspace.html has no inline script, style or handler, and no third-party URL', () => {
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
  assert.doesNotMatch(html, /\sstyle="/);
  assert.doesNotMatch(html, /\son[a-z]+="/);
  assert.doesNotMatch(html, /https?:\/\//);
  for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
    assert.ok(m[1].startsWith('/app/') || m[1].startsWith('#'), m[1]);
  }
});

test('the workspace code never parses HTML (Trusted Types) and loads nothing from elsewhere', () => {
  for (const [f, src] of sources) {
    assert.doesNotMatch(src, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/, f);
    // XML namespace names are identifiers, never fetched.
    const code = src.replaceAll("'http://www.w3.org/2000/svg'", "'svg-ns'");
    assert.doesNotMatch(code, /https?:\/\/[a-z0-9]/i, f);
  }
});

test('every id main.js documents exists in the markup or is made by the code', () => {
  const main = sources.find(([f]) => f === 'main.js')[1];
  const header = main.slice(0, main.indexOf('import '));
  const ids = [...header.matchAll(/#([a-z][a-z0-9-]*)/g)].map((m) => m[1]).filter((id) => !/^appt-label-/.test(id));
  const made = sources.map(([, s]) => s).join('\n');
  for (const id of ids) {
    assert.ok(html.includes(`id="${id}"`) || made.includes(`'${id}'`) || made.includes(`\`${id}`), id);
  }
});
