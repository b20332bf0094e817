import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import de from '../static/js/i18n/de.js';
import en from '../static/js/i18n/en.js';

const placeholders = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
const staticDir = new URL('../static/', import.meta.url);

test('German and English have the same keys and placeholders', () => {
  assert.deepEqual(Object.keys(de).sort(), Object.keys(en).sort());
  for (const k of Object.keys(en)) {
    assert.deepEqual(placeholders(de[k]), placeholders(en[k]), k);
    assert.ok(de[k].trim() && en[k].trim(), `${k} is empty`);
  }
});

test('every key the markup and the code use exists', () => {
  const used = new Set();
  for (const page of ['index.html', 'compact.html']) {
    const html = readFileSync(new URL(page, staticDir), 'utf8');
    for (const m of html.matchAll(/data-i18n(?:-aria|-placeholder)?="([^"]+)"/g)) used.add(m[1]);
  }
  const jsDir = new URL('js/', staticDir);
  for (const f of readdirSync(jsDir).filter((f) => f.endsWith('.js'))) {
    const src = readFileSync(new URL(f, jsDir), 'utf8');
    for (const m of src.matchAll(/\bt\('([a-zA-Z.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/(?:title|body|detail|label): '([a-zA-Z]+\.[a-zA-Z.]+)'/g)) used.add(m[1]);
  }
  const missing = [...used].filter((k) => !(k in en));
  assert.deepEqual(missing, []);
});

test('the markup has no inline script or style (the CSP forbids them)', () => {
  for (const page of ['index.html', 'compact.html']) {
    const html = readFileSync(new URL(page, staticDir), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, `${page}: inline script`);
    assert.doesNotMatch(html, /\sstyle="/, `${page}: style attribute`);
    assert.doesNotMatch(html, /\son[a-z]+="/, `${page}: inline event handler`);
    assert.doesNotMatch(html, /https?:\/\//, `${page}: third-party URL`);
  }
});

test('index.html preloads every module the app imports', () => {
  const html = readFileSync(new URL('index.html', staticDir), 'utf8');
  const preloaded = new Set([...html.matchAll(/rel="modulepreload" href="\/app\/js\/([^"]+)"/g)].map((m) => m[1]));
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    const src = readFileSync(new URL(`js/${path}`, staticDir), 'utf8');
    for (const m of src.matchAll(/^import .* from '(\.\.?\/[^']+)';$/gm)) {
      const next = new URL(m[1], new URL(`js/${path}`, staticDir)).pathname.split('/static/js/')[1];
      visit(next);
    }
  };
  visit('app.js');
  assert.deepEqual([...seen].filter((m) => !preloaded.has(m)), []);
});
