// End-to-end encryption of conference media in the page: puts an SFrame
// transform on every sender and receiver of a PeerConnection, with one
// of two APIs, chosen by feature detection:
//
//   - RTCRtpScriptTransform (Chromium 141+, Firefox, Safari): the
//     transforms run in a worker (worker.js), off the main thread. The
//     page's CSP has "require-trusted-types-for 'script'", so the
//     Worker's URL comes from a Trusted Types policy, "konsil-worker",
//     which the CSP's trusted-types directive allows.
//   - createEncodedStreams (older Chromium): the fallback; needs
//     encodedInsertableStreams in the PeerConnection's configuration
//     (which in Chromium forces the legacy API for the whole
//     PeerConnection, so the two never mix) and runs in the page.
//
// Either way every transform must be set in the task in which
// setRemoteDescription resolved, before any await (conference.js
// attach()): in Chromium 156 a sender's script transform set one task
// later was silently ignored and its frames went out in the clear, while
// the legacy API stalls a receiver whose streams were never created
// (BROWSER-TESTING.md). Without either API a conference cannot be end-to-end
// encrypted and the app does not join it.

import { MediaCrypto } from './frames.js';

export class FrameEncryption {
  /** Whether this browser can encrypt conference media at all. */
  static get supported() {
    return typeof RTCRtpScriptTransform !== 'undefined' || (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype);
  }

  /** @param {Uint8Array} mediaKey */
  constructor(mediaKey) {
    this.script = typeof RTCRtpScriptTransform !== 'undefined';
    this.attached = new WeakSet();
    this.serial = 0;
    this.senderSerials = new Map(); // kind -> serial of the latest sender's transform
    this.statsWaiters = new Map();
    this.nextStats = 0;
    if (this.script) {
      this.worker = new Worker(workerURL(), { type: 'module', name: 'konsil-e2ee' });
      this.worker.onmessage = ({ data }) => {
        const f = this.statsWaiters.get(data.id);
        this.statsWaiters.delete(data.id);
        if (f) f(data.stats);
      };
      this.worker.postMessage({ type: 'init', mediaKey });
    } else {
      this.local = new MediaCrypto(mediaKey);
    }
  }

  /** What RTCPeerConnection's configuration needs for this mode. */
  pcConfig() {
    return this.script ? {} : { encodedInsertableStreams: true };
  }

  setSendKid(kid) {
    if (this.script) this.worker.postMessage({ type: 'send-kid', kid });
    else this.local.setSendKid(kid).catch(() => {});
  }

  addKid(kid) {
    if (this.script) this.worker.postMessage({ type: 'add-kid', kid });
    else this.local.addKid(kid).catch(() => {});
  }

  /** Encrypts what sender sends (once per sender). */
  attachSender(sender, kind) {
    this.attach(sender, 'encrypt', kind);
  }

  /** Decrypts what receiver gets (once per receiver). */
  attachReceiver(receiver) {
    this.attach(receiver, 'decrypt', receiver.track.kind);
  }

  attach(end, role, kind) {
    if (this.attached.has(end)) return;
    this.attached.add(end);
    if (this.script) {
      const serial = ++this.serial;
      if (role === 'encrypt') this.senderSerials.set(kind, serial);
      end.transform = new RTCRtpScriptTransform(this.worker, { role, kind, serial });
      return;
    }
    // Every receiver must be piped, or it stalls (BROWSER-TESTING.md).
    const { readable, writable } = end.createEncodedStreams();
    readable.pipeThrough(this.local.transform(role, kind)).pipeTo(writable).catch(() => {});
  }

  /**
   * The kinds whose sender put media on the wire that never passed our
   * encrypt transform: a script transform the browser ignored (see the
   * top). The caller must stop those senders. Always empty with the
   * legacy API, where a sender without its streams piped sends nothing.
   */
  async unprotectedKinds(pc) {
    if (!this.script) return [];
    const sent = {};
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind) sent[s.kind] = (sent[s.kind] || 0) + (s.packetsSent || 0);
    });
    // Our senders are those of the latest PeerConnection: one per kind.
    const counts = (await this.stats()).entered || {};
    const entered = {};
    for (const [kind, serial] of this.senderSerials) entered[`encrypt ${kind}`] = counts[serial] || 0;
    return unprotected(sent, entered);
  }

  /** Frame counters: {encrypted, decrypted, failed, unsent, failedByKid, entered (worker only)}. */
  stats() {
    if (!this.script) return Promise.resolve(structuredClone(this.local.stats));
    const id = ++this.nextStats;
    return new Promise((resolve) => {
      this.statsWaiters.set(id, resolve);
      this.worker.postMessage({ type: 'stats', id });
    });
  }

  close() {
    if (this.worker) this.worker.terminate();
  }
}

// Enough packets that they cannot be padding or probing before the
// first frame: media went out without passing the transform.
const UNPROTECTED_AFTER_PACKETS = 100;

/**
 * Pure part of unprotectedKinds: sentPackets {kind: RTP packets sent},
 * entered {"encrypt <kind>": frames that reached the encrypt transform}.
 */
export function unprotected(sentPackets, entered) {
  return Object.keys(sentPackets).filter((kind) => sentPackets[kind] >= UNPROTECTED_AFTER_PACKETS && !(entered[`encrypt ${kind}`] > 0));
}

// The CSP names the policy once ("trusted-types konsil-worker", without
// 'allow-duplicates'): a second createPolicy would throw, so a second
// conference in the same page reuses it.
let workerPolicy = null;

/** The worker's URL, through the Trusted Types policy where the page enforces them. */
function workerURL() {
  const url = new URL('./worker.js', import.meta.url).href;
  if (typeof trustedTypes === 'undefined') return url;
  workerPolicy ||= trustedTypes.createPolicy('konsil-worker', {
    createScriptURL: (u) => {
      if (u !== new URL('./worker.js', import.meta.url).href) throw new TypeError('konsil-worker: not the E2EE worker');
      return u;
    },
  });
  return workerPolicy.createScriptURL(url);
}
