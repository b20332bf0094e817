// One case conference (a room in "sfu" mode): signaling session, one
// RTCPeerConnection to the server's SFU, SFrame on every sender and
// receiver, encrypted names and chat. No DOM: the UI (conferenceview.js)
// listens to its events.
//
// Negotiation follows docs/PROTOCOL.md, "Conference (SFU) flow": after
// each welcome we build a new RTCPeerConnection and make the first offer
// to the SFU ("sfu" in signaling): one send-only audio section, one
// send-only video section with three simulcast encodings ("q", "h", "f",
// smallest first; browsers send simulcast reliably only on sections they
// offer) and the chat channel. The SFU answers, and from then on makes
// every offer and we only answer, so offers never cross: every section it
// adds carries one track of another participant, whose id is the
// section's msid stream id. A new signaling session (a reconnect) has a
// new PeerConnection at the SFU, so it starts over with our offer.
//
// setView tells the SFU how large each participant's video is shown, so
// that it sends no bigger layer than the tile needs (none at 0×0).
//
// There is no fingerprint check as in a consultation: DTLS ends at the
// SFU. What the SFU cannot read is the media (SFrame, keys per sender
// KID), the names and the chat (sealed as in a consultation).
//
// Events: "status" {state}, "participants" (someone came, went, got a
// name or a track), "chat" {text, mine, name}, "chat-state" {ready},
// "chat-error", "ended" {reason}.

import { Session } from './session.js';
import { openChat, openMute, openName, sealChat, sealMute, sealName } from './e2ee/seal.js';
import { decodeMeta, encodeMeta, META_MUTE, META_NAME } from './e2ee/meta.js';
import { decodeMuteState, encodeMuteState, newerMuteState } from './e2ee/mutestate.js';
import { FrameEncryption } from './e2ee/transforms.js';

const SFU = 'sfu';
const MAX_PENDING_CANDIDATES = 256;
// Our camera as three simulcast layers, smallest first (PROTOCOL.md):
// the SFU forwards to each participant the one that fits its tile and
// its bandwidth. Chrome drops the top layers of a small camera picture.
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];
// View sizes settle this long before they go to the SFU: a window being
// resized must not run into the signaling rate limit.
const VIEW_SETTLE_MS = 300;
const MAX_VIEWS = 64;
const MAX_VIEW_PX = 16384;
const MUTE_SETTLE_MS = 250;
const KINDS = ['audio', 'video'];
// How long the first connection to the media server may take before we
// tell the user it cannot be reached (a firewall, or a server that
// offers no address this browser can reach); we keep trying after.
const UNREACHABLE_AFTER_MS = 20000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Splits a chat frame from the SFU: 1 byte N, the sender's participant
 * id (N ASCII bytes), then the sealed message. → {sender, sealed}
 */
export function parseRelayedChat(buf) {
  const b = new Uint8Array(buf);
  if (b.length < 1 || b.length < 1 + b[0] || b[0] === 0) throw new Error('chat frame: malformed');
  return { sender: utf8.decode(b.subarray(1, 1 + b[0])), sealed: b.subarray(1 + b[0]) };
}

export class Conference extends Session {
  /**
   * @param {object} o as for Call: credential, join, keys, name, localStream
   */
  constructor(o) {
    super(o);
    this.conference = true;
    this.selfKid = null;
    /** @type {Map<string, {id: string, kid: number|null, name: string, stream: MediaStream, receivers: Map<string, RTCRtpReceiver>}>} */
    this.people = new Map();
    this.mids = {};
    /** @type {Map<string, {width: number, height: number}>} tile sizes by participant, for the SFU */
    this.views = new Map();
    this.viewTimer = 0;
    this.e2ee = new FrameEncryption(o.keys.media);
    // DTLS ends at the SFU: nothing to verify with the others (see top).
    this.verified = true;
  }

  currentStatus() {
    const s = this.pc && this.pc.connectionState;
    if (this.unreachable && s !== 'connected') return 'unreachable';
    if (s === 'connected') return this.people.size ? 'connected' : 'waiting';
    if (s === 'disconnected' || s === 'failed') return 'reconnecting';
    return 'connecting';
  }

  // --- signaling ---------------------------------------------------------

  async openSignaling() {
    const welcome = await this.connectSignaling();
    if (!welcome) return;
    // A new session has a new KID (never reuse a KID with a counter
    // that starts again at 0).
    this.selfKid = validKid(welcome.self.kid);
    if (this.selfKid !== null) this.e2ee.setSendKid(this.selfKid);
    else console.warn('konsil: the server gave this session no SFrame KID; sending no media');
    const seen = new Set();
    for (const p of welcome.peers || []) {
      seen.add(p.id);
      this.addPerson(p);
    }
    for (const id of this.people.keys()) if (!seen.has(id)) this.people.delete(id);
    this.emit('participants');
    // A new session has a new PeerConnection at the SFU: we build ours
    // and offer first; the SFU's candidates wait for its answer.
    this.freshSession = true;
    this.pending = [];
    this.enqueue(() => this.offerFirst());
    this.enqueue(async () => {
      this.status(this.currentStatus());
      for (const p of welcome.peers || []) await this.sendMeta(p.id);
    });
  }

  send(to, m) {
    if (!this.sig) return false;
    return this.sig.send({ ...m, to });
  }

  async handle(m) {
    switch (m.type) {
      case 'peer-joined':
        if (!m.peer || m.peer.id === this.self) return;
        this.addPerson(m.peer);
        this.emit('participants');
        this.status(this.currentStatus());
        await this.sendMeta(m.peer.id);
        return;
      case 'peer-left':
        if (!m.peer) return;
        this.people.delete(m.peer.id);
        this.emit('participants');
        this.status(this.currentStatus());
        return;
      case 'offer':
        if (m.from === SFU) await this.onOffer(m.sdp);
        return;
      case 'answer':
        if (m.from === SFU) await this.onAnswer(m.sdp);
        return;
      case 'candidate':
        if (m.from === SFU) await this.onCandidate(m.candidate);
        return;
      case 'meta':
        if (m.from && m.from !== SFU) await this.onMeta(m.from, m.data);
        return;
      case 'closing':
        if (m.reason === 'room_closed' || m.reason === 'room_deleted') this.end(m.reason);
        return;
      case 'speaker':
        // The SFU names the active speaker (from RFC 6464 audio levels).
        if (m.from === SFU && m.peer && m.peer.id) {
          this.speaker = m.peer.id;
          this.emit('speaker', { id: m.peer.id });
        }
        return;
      default:
    }
  }

  /** Records a participant from welcome or peer-joined, with its KID's key. */
  addPerson(p) {
    if (!p || !p.id || p.id === this.self || p.id === SFU) return;
    const kid = validKid(p.kid);
    let person = this.people.get(p.id);
    if (!person) {
      person = { id: p.id, kid, name: '', stream: new MediaStream(), receivers: new Map() };
      this.people.set(p.id, person);
    }
    // A returning participant has a new session, so a new KID; the old
    // key stays for frames still on their way.
    person.kid = kid;
    if (kid !== null) this.e2ee.addKid(kid);
  }

  // --- the peer connection ----------------------------------------------

  buildPeerConnection() {
    const old = this.pc;
    const pc = new RTCPeerConnection({
      iceServers: this.join.ice_servers || [],
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      ...this.e2ee.pcConfig(),
    });
    const dc = pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    dc.binaryType = 'arraybuffer';
    this.pc = pc;
    this.dc = dc;
    this.mids = {};
    for (const person of this.people.values()) {
      person.stream = new MediaStream();
      person.receivers.clear();
    }
    pc.ontrack = (ev) => this.pc === pc && this.onTrack(ev);
    pc.onicecandidate = (ev) => {
      // The SFU flow has no end-of-candidates marker.
      if (this.pc === pc && ev.candidate && ev.candidate.candidate) this.send(SFU, { type: 'candidate', candidate: ev.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => this.onConnectionState(pc);
    dc.onopen = () => this.pc === pc && this.emit('chat-state', { ready: true });
    dc.onclose = () => this.pc === pc && this.emit('chat-state', { ready: false });
    dc.onmessage = (ev) => this.onChatMessage(ev.data);
    if (old) old.close();
    this.emit('participants');
    return pc;
  }

  onConnectionState(pc) {
    if (this.pc !== pc || this.ended) return;
    if (pc.connectionState === 'connected') {
      performance.mark('konsil:ice-connected');
      this.unreachable = false;
      clearTimeout(this.unreachableTimer);
    }
    this.status(this.currentStatus());
    // Only the SFU offers, so we cannot restart ICE: a new session
    // brings a new PeerConnection (PROTOCOL.md, Reconnect).
    if (pc.connectionState === 'failed') this.enqueue(() => this.restartSession());
  }

  async restartSession() {
    if (this.reconnecting) return;
    if (this.sig) this.sig.close();
    this.sig = null;
    this.reconnectSignaling(0);
  }

  async networkChanged() {
    if (!this.sig || this.sig.closed || (this.pc && this.pc.connectionState !== 'connected')) await this.restartSession();
  }

  onTrack(ev) {
    const publisher = ev.streams[0] ? ev.streams[0].id : '';
    const person = this.people.get(publisher);
    if (!person) return;
    const track = ev.track;
    for (const t of person.stream.getTracks()) if (t.kind === track.kind) person.stream.removeTrack(t);
    person.stream.addTrack(track);
    person.receivers.set(track.kind, ev.receiver);
    // A track whose section turned inactive (the publisher left or
    // stopped it) ends here.
    track.addEventListener('ended', () => {
      person.stream.removeTrack(track);
      if (person.receivers.get(track.kind) === ev.receiver) person.receivers.delete(track.kind);
      this.emit('participants');
    });
    this.emit('participants');
  }

  /**
   * Our first offer on a new PeerConnection: audio, video as simulcast
   * and the chat channel (made by buildPeerConnection). Both sections
   * send even without a track, so that a microphone or camera turned on
   * later needs no renegotiation (only the SFU offers after this one).
   */
  async offerFirst() {
    const pc = this.buildPeerConnection();
    this.freshSession = false;
    const streams = [this.localStream];
    const audio = pc.addTransceiver(this.localTrack('audio') || 'audio', { direction: 'sendonly', streams });
    const video = pc.addTransceiver(this.localTrack('video') || 'video', { direction: 'sendonly', streams, sendEncodings: SIMULCAST });
    // The encrypt transforms at once, before any await (see attach):
    // no frame may leave unencrypted.
    this.e2ee.attachSender(audio.sender, 'audio');
    this.e2ee.attachSender(video.sender, 'video');
    await pc.setLocalDescription(await pc.createOffer());
    this.unreachable = false;
    clearTimeout(this.unreachableTimer);
    this.unreachableTimer = setTimeout(() => {
      if (this.pc !== pc || this.ended || pc.connectionState === 'connected') return;
      this.unreachable = true;
      this.status(this.currentStatus());
    }, UNREACHABLE_AFTER_MS);
    this.mids = { audio: audio.mid, video: video.mid };
    this.send(SFU, { type: 'offer', sdp: pc.localDescription.sdp });
    // The new session's SFU knows nothing of our tiles yet.
    if (this.views.size) this.scheduleViews();
  }

  /** The SFU's answer to our first offer. */
  async onAnswer(sdp) {
    const pc = this.pc;
    if (!pc || pc.signalingState !== 'have-local-offer') return;
    await pc.setRemoteDescription({ type: 'answer', sdp });
    const list = this.pending;
    this.pending = [];
    for (const c of list) await pc.addIceCandidate(c).catch(() => {});
  }

  /** Every later offer is the SFU's: sections for the others' tracks. */
  async onOffer(sdp) {
    const pc = this.pc;
    // The SFU offers only once it has answered ours, on the same session.
    if (!pc || pc.connectionState === 'closed' || this.freshSession || !pc.currentRemoteDescription) return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await this.attach(pc);
    await pc.setLocalDescription(await pc.createAnswer());
    this.send(SFU, { type: 'answer', sdp: pc.localDescription.sdp });
    const list = this.pending;
    this.pending = [];
    for (const c of list) await pc.addIceCandidate(c).catch(() => {});
  }

  // --- view sizes -----------------------------------------------------------

  /**
   * How large we show a participant's video, in CSS pixels (0×0: not
   * shown, the SFU may pause it). Calls are coalesced: the SFU gets every
   * tile's size in one view message once they settle.
   */
  setView(peerId, width, height) {
    if (!peerId || peerId === this.self) return;
    const w = viewPx(width);
    const h = viewPx(height);
    const old = this.views.get(peerId);
    if (old && old.width === w && old.height === h) return;
    this.views.set(peerId, { width: w, height: h });
    this.scheduleViews();
  }

  scheduleViews() {
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.sendViews(), VIEW_SETTLE_MS);
  }

  /** Every known tile in one message: each view message replaces the last. */
  sendViews() {
    if (this.ended) return;
    const views = [];
    for (const [peer, v] of this.views) {
      if (!this.people.has(peer)) this.views.delete(peer);
      else if (views.length < MAX_VIEWS) views.push({ peer, width: v.width, height: v.height });
    }
    this.send(SFU, { type: 'view', views });
  }

  /**
   * Before answering: our tracks on our sections, and a transform on
   * every sender and receiver. The transforms are set here, right after
   * setRemoteDescription created the transceivers (BROWSER-TESTING.md:
   * set later they can be ignored, and a frame would reach the decoder
   * or the network unencrypted).
   */
  async attach(pc) {
    // Every transform first, in the task in which setRemoteDescription
    // resolved, before any await: Chromium ignores a sender's script
    // transform set a task later (its frames went out unencrypted).
    for (const tr of pc.getTransceivers()) {
      if (tr.stopped || tr.mid === null) continue;
      const kind = KINDS.find((k) => this.mids[k] === tr.mid);
      if (kind) this.e2ee.attachSender(tr.sender, kind);
      else this.e2ee.attachReceiver(tr.receiver);
    }
    for (const tr of pc.getTransceivers()) {
      if (tr.stopped || tr.mid === null) continue;
      const kind = KINDS.find((k) => this.mids[k] === tr.mid);
      if (kind) {
        const track = this.localTrack(kind);
        if (tr.sender.track !== track) await tr.sender.replaceTrack(track);
        if (tr.sender.setStreams) tr.sender.setStreams(this.localStream);
        // Sending even without a track keeps the section ready for a
        // camera turned on later; we cannot renegotiate ourselves.
        tr.direction = 'sendonly';
      } else if (tr.direction !== 'recvonly' && tr.direction !== 'inactive') {
        tr.direction = 'recvonly';
      }
    }
  }

  localTrack(kind) {
    return this.localStream.getTracks().find((t) => t.kind === kind && t.readyState === 'live') || null;
  }

  async onCandidate(c) {
    if (!c || !c.candidate) return;
    const pc = this.pc;
    if (!pc || !pc.remoteDescription || this.freshSession) {
      if (this.pending.length < MAX_PENDING_CANDIDATES) this.pending.push(c);
      return;
    }
    await pc.addIceCandidate(c).catch(() => {});
  }

  /** Replaces the outgoing track of a kind (device switch, camera on/off). */
  async replaceTrack(kind, track) {
    this.setLocalTrack(kind, track);
    const pc = this.pc;
    if (!pc) return;
    const tr = pc.getTransceivers().find((x) => !x.stopped && x.mid === this.mids[kind]);
    if (tr) await tr.sender.replaceTrack(track);
  }

  // --- names and chat ----------------------------------------------------

  /** What a participant that (re)appears needs from us: name and mute state. */
  async sendMeta(id) {
    await this.sendName(id);
    await this.sendMute(id);
  }

  /** Our sealed name to one participant, as in a consultation. */
  async sendName(id) {
    if (!this.name || !this.people.has(id)) return;
    this.send(id, { type: 'meta', data: encodeMeta(META_NAME, await sealName(this.keys.names, this.self, this.name)) });
  }

  async onMeta(from, data) {
    let meta;
    try {
      meta = decodeMeta(data);
    } catch {
      return;
    }
    const person = this.people.get(from);
    if (!person) return;
    try {
      if (meta.kind === META_NAME) {
        person.name = await openName(this.keys.names, from, meta.value);
      } else if (meta.kind === META_MUTE) {
        const state = decodeMuteState(await openMute(this.keys.names, from, meta.value));
        if (!newerMuteState(person.mute, state)) return;
        person.mute = state;
      } else {
        return;
      }
      this.emit('participants');
    } catch { /* another room secret: name and state stay unknown */ }
  }

  /**
   * Our microphone and camera state, for the others' tiles ({micOff,
   * camOff}). Sealed, so the server cannot tell who is muted. Changes
   * within MUTE_SETTLE_MS go out as one message per participant: a
   * burst of toggles in a large room must not run into the signaling
   * rate limit (PROTOCOL.md, Limits).
   */
  setMuteState({ micOff, camOff }) {
    const held = this.mute;
    if (held && held.micOff === !!micOff && held.camOff === !!camOff) return;
    // Strictly increasing, so a receiver never takes an older state for newer.
    this.mute = { micOff: !!micOff, camOff: !!camOff, at: Math.max(Date.now(), held ? held.at + 1 : 0) };
    clearTimeout(this.muteTimer);
    this.muteTimer = setTimeout(() => this.enqueue(async () => {
      for (const id of this.people.keys()) await this.sendMute(id);
    }), MUTE_SETTLE_MS);
  }

  /** Our sealed mute state to one participant. */
  async sendMute(id) {
    if (!this.mute || !this.people.has(id)) return;
    this.send(id, { type: 'meta', data: encodeMeta(META_MUTE, await sealMute(this.keys.names, this.self, encodeMuteState(this.mute))) });
  }

  nameOf(id) {
    const p = this.people.get(id);
    return p ? p.name : '';
  }

  chatReady() {
    return !!this.dc && this.dc.readyState === 'open';
  }

  /** To the SFU: the sealed message exactly as in a consultation. */
  async sendChat(text) {
    if (!this.chatReady()) throw new Error('chat not ready');
    this.dc.send(await sealChat(this.keys.chat, this.self, text));
    this.emit('chat', { text, mine: true });
  }

  /** From the SFU: the sender's id, then its sealed message (see parseRelayedChat). */
  async onChatMessage(data) {
    try {
      const { sender, sealed } = parseRelayedChat(data);
      const text = await openChat(this.keys.chat, sender, sealed);
      this.emit('chat', { text, mine: false, name: this.nameOf(sender) });
    } catch {
      this.emit('chat-error');
    }
  }

  // --- ending -------------------------------------------------------------

  end(reason, detail = '') {
    if (this.ended) return;
    this.ended = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.viewTimer);
    clearTimeout(this.unreachableTimer);
    if (this.sig) this.sig.close(reason === 'left');
    if (this.pc) this.pc.close();
    this.e2ee.close();
    this.emit('ended', { reason, detail });
  }
}

/** A tile size as the protocol takes it: a whole number of pixels, 0..16384. */
function viewPx(v) {
  const n = Math.round(Number(v));
  return Number.isFinite(n) ? Math.min(MAX_VIEW_PX, Math.max(0, n)) : 0;
}

/** A KID as the server sends it: a positive integer, else null. */
function validKid(kid) {
  return Number.isSafeInteger(kid) && kid > 0 ? kid : null;
}
