// Small DOM helpers shared by the screens.

/** The element with this id (throws when the markup lacks it). */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el;
}

/** Shows one screen (a <section class="screen">) and hides the others. */
export function showScreen(id) {
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== id;
  document.body.dataset.screen = id;
  const h = document.querySelector(`#${id} h1`);
  if (h) {
    h.tabIndex = -1;
    h.focus({ preventScroll: true });
  }
}

/** Initials of a display name for the avatar ("Erika Mustermann" → "EM"). */
export function initials(name) {
  const parts = String(name || '').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  const first = [...parts[0]][0] || '';
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] : '';
  return (first + last).toUpperCase();
}
