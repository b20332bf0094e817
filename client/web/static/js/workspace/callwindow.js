// "Start": the host's call link opens in a compact window at the top of
// the screen, near the webcam, so the workspace stays in view. When that
// window closes after a real call (open longer than MIN_CALL_MS), the
// appointment is marked done.

import { callLink } from './mail.js';
import { withoutStoredKey } from './keystore.js';

const POLL_MS = 1000;
export const MIN_CALL_MS = 10000;

export class CallWindows {
  /** onClosed(id, openMs) runs when a call window closes. */
  constructor(onClosed) {
    this.onClosed = onClosed;
    this.open = new Map(); // appointment id → {win, opened, timer}
  }

  /**
   * Opens (or brings forward) the call window of appointment id. Returns
   * false when the browser blocked the window. Must run in the click's
   * task, or popup blockers refuse it.
   */
  start(id, hostToken, secret) {
    const known = this.open.get(id);
    if (known && !known.win.closed) {
      known.win.focus();
      return true;
    }
    const url = callLink(location.origin, hostToken, secret);
    const left = Math.max(0, (screen.availWidth || 1280) - 500);
    // A popup starts with a copy of its opener's sessionStorage (HTML,
    // "auxiliary browsing contexts"): the call page must not get one of
    // the practice key, so the key is out of storage while it opens.
    const win = withoutStoredKey(() => window.open(url, `konsil-call-${id}`, `popup,width=480,height=400,top=0,left=${left}`));
    if (!win) return false;
    const entry = { win, opened: Date.now(), timer: 0 };
    entry.timer = setInterval(() => this.check(id, entry), POLL_MS);
    this.open.set(id, entry);
    return true;
  }

  check(id, entry) {
    if (!entry.win.closed) return;
    clearInterval(entry.timer);
    if (this.open.get(id) === entry) this.open.delete(id);
    this.onClosed(id, Date.now() - entry.opened);
  }

  /** Whether appointment id has a call window open. */
  isOpen(id) {
    const e = this.open.get(id);
    return !!(e && !e.win.closed);
  }
}
