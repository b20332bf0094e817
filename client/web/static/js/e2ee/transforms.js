// End-to-end encryption of conference media in the page: puts an SFrame
// transform on every sender and receiver of a PeerConnection, with one
// of two APIs:
//
//   - createEncodedStreams (Chromium): needs encodedInsertableStreams in
//     the PeerConnection's configuration; the transforms run in the page.
//   - RTCRtpScriptTransform (Firefox, Safari, Chromium too): the
//     transforms run in a worker (worker.js). The page's CSP has
//     "require-trusted-types-for 'script'", so the Worker's URL must come
//     from a Trusted Types policy: "konsil-worker", which the CSP's
//     trusted-types directive allows.
//
// Chromium takes createEncodedStreams first: with the worker path the
// receivers' transforms, attached when the SFU's offer adds them, were
// not applied in Chromium 156 (encrypted frames reached the decoder; see
// BROWSER-TESTING.md on receiver.transform set late), so the worker path
// serves browsers without createEncodedStreams (Firefox, Safari), where
// it is not tested yet. Without either API a conference cannot be
// end-to-end encrypted and the app does not join it.

import { MediaCrypto } from './frames.js';

export class FrameEncryption {
  /** Whether this browser can encrypt conference media at all. */
  static get supported() {
    return typeof RTCRtpScriptTransform !== 'undefined' || (typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype);
  }

  /** @param {Uint8Array} mediaKey */
  constructor(mediaKey) {
    const legacy = typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype;
    this.script = !legacy && typeof RTCRtpScriptTransform !== 'undefined';
    this.attached = new WeakSet();
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
      end.transform = new RTCRtpScriptTransform(this.worker, { role, kind });
      return;
    }
    // Every receiver must be piped, or it stalls (BROWSER-TESTING.md).
    const { readable, writable } = end.createEncodedStreams();
    readable.pipeThrough(this.local.transform(role, kind)).pipeTo(writable).catch(() => {});
  }

  /** Frame counters: {encrypted, decrypted, failed, unsent, failedByKid}. */
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

/** The worker's URL, through the Trusted Types policy where the page enforces them. */
function workerURL() {
  const url = new URL('./worker.js', import.meta.url).href;
  if (typeof trustedTypes === 'undefined') return url;
  const policy = trustedTypes.createPolicy('konsil-worker', {
    createScriptURL: (u) => {
      if (u !== url) throw new TypeError('konsil-worker: not the E2EE worker');
      return u;
    },
  });
  return policy.createScriptURL(url);
}
