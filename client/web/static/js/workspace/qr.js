// QR codes of invitation links, drawn in this page: the link carries the
// room secret in its fragment, so it goes to no QR service and no other
// request. The vendored encoder gives the modules; the SVG is built with
// createElementNS (Trusted Types allow no markup strings, so the
// encoder's own SVG string is not used).

import { encodeQR } from '../vendor/paulmillr-qr/index.js';

// The SVG namespace name (an identifier, never fetched).
const SVG = 'http://www.w3.org/2000/svg';

// ISO/IEC 18004 asks for a quiet zone of four modules around the symbol;
// printed letters get scanned off a table at an angle, so keep all four.
const QUIET = 4;

/**
 * The modules of text's QR code, quiet zone included: rows of booleans,
 * true for dark. Level 'medium' (15 % of the code can be lost) survives
 * a fold or a smudge on paper and keeps the symbol small.
 * @returns {boolean[][]}
 */
export function qrModules(text, ecc = 'medium') {
  return encodeQR(text, 'raw', { ecc, border: QUIET });
}

/**
 * The dark modules as one SVG path: a rectangle per horizontal run, so a
 * version-7 code is a few hundred segments rather than 1,500 elements.
 */
export function qrPath(modules) {
  let d = '';
  modules.forEach((row, y) => {
    for (let x = 0; x < row.length; x++) {
      if (!row[x]) continue;
      let end = x;
      while (end + 1 < row.length && row[end + 1]) end++;
      d += `M${x} ${y}h${end - x + 1}v1h${x - end - 1}z`;
      x = end;
    }
  });
  return d;
}

/**
 * An inline SVG of text's QR code, labelled for screen readers (role=img),
 * scaled by CSS; data-qr-size holds the module count.
 */
export function qrSVG(text, label) {
  const modules = qrModules(text);
  const n = modules.length;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('class', 'ws-qr');
  svg.dataset.qrSize = String(n);
  const bg = document.createElementNS(SVG, 'rect');
  bg.setAttribute('width', String(n));
  bg.setAttribute('height', String(n));
  bg.setAttribute('fill', '#fff');
  const dark = document.createElementNS(SVG, 'path');
  dark.setAttribute('d', qrPath(modules));
  dark.setAttribute('fill', '#000');
  svg.append(bg, dark);
  return svg;
}
