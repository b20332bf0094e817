// The part of a call and a conference that is the same: the signaling
// session with its reconnects, the serial task queue, events and status.
// Call (peer-to-peer) and Conference (SFU) extend it with their media.

import { Signaling } from './signaling.js';
import { join, wsURL, JoinError } from './api.js';

export class Session extends EventTarget {
  /**
   * @param {object} o
   * @param {{token?: string, code?: string}} o.credential what /join takes
   * @param {object} o.join the JoinResponse already fetched
   * @param {object} o.keys the room's derived keys
   * @param {string} o.name our display name
   * @param {MediaStream} o.localStream camera and microphone (may lack either)
   */
  constructor({ credential, join: joined, keys, name, localStream }) {
    super();
    this.credential = credential;
    this.join = joined;
    this.keys = keys;
    this.name = name;
    this.localStream = localStream;
    // Kinds we send (or will send again after "camera off").
    this.sends = { audio: localStream.getAudioTracks().length > 0, video: localStream.getVideoTracks().length > 0 };
    this.self = '';
    this.pc = null;
    this.dc = null;
    this.pending = [];
    this.remoteStream = null;
    this.sig = null;
    this.queue = Promise.resolve();
    this.ended = false;
    this.reconnecting = false;
    this.retry = 0;
    this.onOnline = () => this.enqueue(() => this.networkChanged());
  }

  /** Opens signaling; the rest follows from the welcome. */
  async start() {
    window.addEventListener('online', this.onOnline);
    await this.openSignaling();
  }

  /** Runs f after every task queued before it, unless the session ended. */
  enqueue(f) {
    this.queue = this.queue.then(() => (this.ended ? undefined : f())).catch((err) => console.warn('konsil:', err));
    return this.queue;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  status(state) {
    this.state = state;
    this.emit('status', { state });
  }

  /**
   * Opens a new signaling session in place of the old one and returns
   * its welcome, or null when the session ended meanwhile. Messages go
   * to this.handle through the queue; listeners are attached before any
   * await, as the server's first messages follow the welcome at once.
   */
  async connectSignaling() {
    // A session token is good for 10 minutes; the pre-call check may
    // have taken longer, and a reconnect always needs a fresh one.
    if (!this.join || new Date(this.join.expires_at).getTime() - Date.now() < 30000) {
      this.join = await join(this.credential);
    }
    const sig = new Signaling(wsURL(this.join.ws_url), this.join.session_token);
    sig.addEventListener('lobby', (ev) => this.onLobby(sig, ev.detail));
    const welcome = await sig.connect();
    performance.mark('konsil:welcome');
    if (this.ended) {
      sig.close();
      return null;
    }
    const old = this.sig;
    this.sig = sig;
    if (old) old.close();
    sig.addEventListener('message', (ev) => this.enqueue(() => this.handle(ev.detail)));
    sig.addEventListener('closed', (ev) => this.onSignalClosed(sig, ev.detail));
    this.self = welcome.self.id;
    this.retry = 0;
    this.reconnecting = false;
    return welcome;
  }

  /**
   * The practice has not let us in yet (waiting room): the view shows
   * whom we wait for; the practice sees that our device check passed.
   */
  onLobby(sig, host) {
    if (this.ended) return;
    const first = !this.lobbyHost;
    this.lobbyHost = { name: String(host.name || '').slice(0, 100), status: String(host.status || 'away') };
    if (first || sig !== this.lobbySig) sig.send({ type: 'check', ok: this.sends.audio || this.sends.video });
    this.lobbySig = sig;
    this.status('lobby');
    this.emit('lobby', { host: this.lobbyHost });
  }

  onSignalClosed(sig, { reason }) {
    if (sig !== this.sig || this.ended) return;
    switch (reason) {
      case 'room_closed':
      case 'room_deleted':
      case 'replaced':
        this.end(reason);
        return;
      case 'sent_back':
        // Back to the waiting room: a new session waits there.
        this.lobbyHost = null;
        this.reconnectSignaling(0);
        return;
      default:
        this.reconnectSignaling(reason === 'server_shutdown' ? 1000 + Math.random() * 2000 : 0);
    }
  }

  /** Opens a new signaling session after a loss, with backoff. */
  reconnectSignaling(delay = 0) {
    if (this.reconnecting || this.ended) return;
    this.reconnecting = true;
    this.status('reconnecting');
    const attempt = async () => {
      if (this.ended) return;
      try {
        this.join = null;
        await this.openSignaling();
      } catch (err) {
        if (err && err.code === 'declined') {
          // The practice declined us in the waiting room: no new try.
          this.end('declined', err.text || '');
          return;
        }
        if (err instanceof JoinError && (err.code === 'room_closed' || err.code === 'not_found')) {
          this.end(err.code === 'room_closed' ? 'room_closed' : 'room_deleted');
          return;
        }
        this.retry++;
        setTimeout(attempt, Math.min(10000, 500 * 2 ** this.retry) * (0.75 + Math.random() / 2));
      }
    };
    setTimeout(attempt, delay);
  }

  /**
   * Makes track the local stream's only track of its kind (null: none),
   * stopping the one it replaces. The subclass then hands it to its
   * sender (replaceTrack).
   */
  setLocalTrack(kind, track) {
    for (const t of this.localStream.getTracks()) {
      if (t.kind === kind && t !== track) {
        this.localStream.removeTrack(t);
        t.stop();
      }
    }
    if (track) {
      this.localStream.addTrack(track);
      this.sends[kind] = true;
    }
  }

  leave() {
    this.end('left');
  }
}
