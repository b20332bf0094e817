// Pure rules of the conference grid's tiles (conferenceview.js), kept
// apart from the DOM so node --test can check them.

/**
 * What one tile's accessible name says: the name, then "speaking",
 * "microphone off", "camera off" as they apply. tr is i18n's t.
 */
export function tileLabel(name, { speaking, micOff, camOff }, tr) {
  const states = [];
  if (speaking) states.push(tr('conf.speaking'));
  if (micOff) states.push(tr('conf.micOff'));
  if (camOff) states.push(tr('conf.camOff'));
  return states.length ? `${name} – ${states.join(', ')}` : name;
}

/**
 * The size to report to the SFU for one tile's video: device pixels of
 * its box (the most the SFU needs to send), or 0 × 0 when it is not
 * seen. → {w, h}
 */
export function viewSize({ width, height, dpr, visible }) {
  if (!visible || !(width > 0) || !(height > 0)) return { w: 0, h: 0 };
  const r = dpr > 0 ? dpr : 1;
  return { w: Math.round(width * r), h: Math.round(height * r) };
}

/** Our own mute state as the others see it, from the controls' state. */
export function ownMuteState({ muted, camOff, hasAudio, hasVideo }) {
  return { micOff: muted || !hasAudio, camOff: camOff || !hasVideo };
}
