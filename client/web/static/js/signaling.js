// One signaling session over WebSocket (docs/PROTOCOL.md): hello,
// welcome (after "lobby" messages in a waiting room), then relayed
// messages. Emits "message" events with the parsed
// message and one "closed" event with {code, reason, error} when the
// session ends for whatever reason.

const HELLO_TIMEOUT_MS = 10000;
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 60000;

/** A refused hello or a session that ended: code and reason of the close. */
export class SignalError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'SignalError';
    this.code = code;
  }
}

export class Signaling extends EventTarget {
  /** @param {string} url ws(s):// URL @param {string} token session token */
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    this.ws = null;
    this.welcome = null;
    this.closed = false;
    this.lastError = null;
    this.lastHeard = Date.now();
    this.pinger = 0;
    /** In the waiting room: lobby came, welcome not yet. */
    this.waiting = false;
    this.closingText = '';
  }

  /** Opens the socket and sends hello; resolves to welcome. */
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try { ws.close(); } catch { /* ignore */ }
        reject(err);
      };
      const timer = setTimeout(() => fail(new SignalError('timeout', 'no welcome in time')), HELLO_TIMEOUT_MS);
      ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, token: this.token }));
      ws.onmessage = (ev) => {
        this.lastHeard = Date.now();
        let m;
        try {
          m = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (!settled) {
          if (m.type === 'lobby') {
            // A waiting room: no welcome until the practice admits us,
            // however long that takes; keep the session alive meanwhile.
            clearTimeout(timer);
            if (!this.waiting) this.startPinging();
            this.waiting = true;
            this.dispatchEvent(new CustomEvent('lobby', { detail: m.host || {} }));
            return;
          }
          if (m.type === 'closing') {
            this.lastError = m.reason;
            this.closingText = typeof m.text === 'string' ? m.text.slice(0, 500) : '';
            return;
          }
          if (m.type === 'welcome') {
            settled = true;
            clearTimeout(timer);
            this.welcome = m;
            if (!this.waiting) this.startPinging();
            this.waiting = false;
            resolve(m);
          } else if (m.type === 'error' && m.error) {
            this.lastError = m.error.code;
            fail(new SignalError(m.error.code, m.error.message));
          }
          return;
        }
        if (m.type === 'error' && m.error) this.lastError = m.error.code;
        if (m.type === 'closing') this.lastError = m.reason;
        if (m.type === 'pong') return;
        this.dispatchEvent(new CustomEvent('message', { detail: m }));
      };
      ws.onclose = (ev) => {
        this.stopPinging();
        if (!settled) {
          const err = new SignalError(ev.reason || this.lastError || 'network', `closed ${ev.code}`);
          err.text = this.closingText || '';
          fail(err);
          return;
        }
        if (this.closed) return;
        this.closed = true;
        this.dispatchEvent(new CustomEvent('closed', { detail: { code: ev.code, reason: ev.reason || this.lastError || '' } }));
      };
      ws.onerror = () => { /* onclose follows */ };
    });
  }

  startPinging() {
    // Browsers hide WebSocket ping frames, so the app pings to notice a
    // server that went silent (a dead Wi-Fi, a laptop lid).
    this.pinger = setInterval(() => {
      if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        this.ws.close(4000, 'silent');
        return;
      }
      this.send({ type: 'ping' });
    }, PING_EVERY_MS);
  }

  stopPinging() {
    clearInterval(this.pinger);
  }

  /** Sends one message; false if the socket is not open. */
  send(m) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /** Leaves (bye) or just closes; no "closed" event follows. */
  close(bye = false) {
    this.closed = true;
    this.stopPinging();
    if (!this.ws) return;
    if (bye) this.send({ type: 'bye' });
    try {
      this.ws.close(1000);
    } catch { /* ignore */ }
  }
}
