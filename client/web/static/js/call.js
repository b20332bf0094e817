// One peer-to-peer consultation: signaling session, RTCPeerConnection,
// the fingerprint check, encrypted names and chat. No DOM: the UI
// (callview.js) listens to its events.
//
// Negotiation follows docs/PROTOCOL.md exactly. Only the participant with
// the smaller id offers; the other only answers. The offerer offers when
// it finds the peer in welcome or hears peer-joined, and again when the
// peer returns or the connection fails: its unanswered offer once more,
// or an ICE restart. A changed DTLS fingerprint in the peer's offer or
// answer means the peer built a new RTCPeerConnection (a reloaded tab),
// so we build a new one too. Every signaling message and command runs on
// one promise queue, so negotiation steps never interleave.
//
// Events: "status" {state}, "remote-stream" {stream}, "peer-name" {name},
// "chat" {text, mine}, "chat-state" {ready}, "chat-error", "security"
// {reason}, "ended" {reason}.

import { Session } from './session.js';
import { fingerprintMAC, fingerprintOf, verifyFingerprintMAC } from './e2ee/fingerprint.js';
import { openChat, openName, sealChat, sealName } from './e2ee/seal.js';
import { decodeMeta, encodeMeta, META_FP, META_NAME } from './e2ee/meta.js';

const VERIFY_TIMEOUT_MS = 15000;
const MAX_PENDING_CANDIDATES = 256;
const KINDS = ['audio', 'video'];

export class Call extends Session {
  /**
   * @param {object} o
   * @param {{token?: string, code?: string}} o.credential what /join takes
   * @param {object} o.join the JoinResponse already fetched
   * @param {{chat: Uint8Array, names: Uint8Array, fingerprint: Uint8Array}} o.keys
   * @param {string} o.name our display name
   * @param {MediaStream} o.localStream camera and microphone (may lack either)
   */
  constructor(o) {
    super(o);
    this.peer = '';
    this.present = false;
    // The fingerprint check (docs/SECURITY.md): lastOffered is the
    // fingerprint of the latest SDP the peer sent, proven the ones its
    // MACs confirmed, remoteFp the one of the applied remote description.
    this.lastOffered = '';
    this.proven = new Set();
    this.remoteFp = '';
    this.verified = false;
    this.verifyTimer = 0;
    this.macCache = new Map();
  }

  /** The status while the peer is present, from ICE and the check. */
  presentStatus() {
    const ice = this.pc && this.pc.iceConnectionState;
    const up = ice === 'connected' || ice === 'completed';
    if (up) return this.verified ? 'connected' : 'verifying';
    return this.verified ? 'reconnecting' : 'connecting';
  }

  get offerer() {
    return this.peer !== '' && this.self < this.peer;
  }

  // --- signaling ---------------------------------------------------------

  /** Opens signaling; the rest follows from the peer's presence. */
  async openSignaling() {
    const welcome = await this.connectSignaling();
    if (!welcome) return;
    this.present = false;
    for (const p of welcome.peers || []) {
      if (this.setPeer(p.id)) this.present = true;
    }
    if (this.pc && this.join.ice_servers) {
      try {
        this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: this.join.ice_servers });
      } catch { /* keep the old servers */ }
    }
    this.enqueue(async () => {
      if (!this.present) {
        this.status(this.verified ? 'peer-lost' : 'waiting');
        return;
      }
      this.status(this.presentStatus());
      await this.negotiate(true);
      await this.sendName();
    });
  }

  send(m) {
    if (!this.peer || !this.sig) return false;
    return this.sig.send({ ...m, to: this.peer });
  }

  setPeer(id) {
    if (!id || id === this.self) return false;
    if (!this.peer) this.peer = id;
    return id === this.peer;
  }

  fromPeer(m) {
    if (this.setPeer(m.from)) {
      this.present = true;
      return true;
    }
    return false;
  }

  async handle(m) {
    switch (m.type) {
      case 'peer-joined':
        if (!m.peer || !this.setPeer(m.peer.id)) return;
        this.present = true;
        this.status(this.presentStatus());
        // The peer came (back): the offerer offers or restarts ICE.
        await this.negotiate(true);
        await this.sendName();
        return;
      case 'peer-left':
        if (!m.peer || m.peer.id !== this.peer) return;
        this.present = false;
        this.status(m.reason === 'bye' ? 'peer-left' : 'peer-lost');
        return;
      case 'offer':
        if (this.fromPeer(m)) await this.onOffer(m.sdp);
        return;
      case 'answer':
        if (this.fromPeer(m)) await this.onAnswer(m.sdp);
        return;
      case 'candidate':
        if (this.fromPeer(m)) await this.onCandidate(m.candidate);
        return;
      case 'meta':
        if (this.fromPeer(m)) await this.onMeta(m.data);
        return;
      case 'closing':
        if (m.reason === 'room_closed' || m.reason === 'room_deleted') this.end(m.reason);
        return;
      default:
    }
  }

  // --- the peer connection ----------------------------------------------

  buildPeerConnection(asOfferer) {
    const old = this.pc;
    const pc = new RTCPeerConnection({ iceServers: this.join.ice_servers || [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    // Chat is negotiated with a fixed id on both sides (PROTOCOL.md).
    const dc = pc.createDataChannel('chat', { negotiated: true, id: 0, ordered: true });
    dc.binaryType = 'arraybuffer';
    if (asOfferer) {
      // Only the offer decides which m-lines exist: receive both kinds
      // whatever we send, so the answerer's camera and microphone fit.
      for (const kind of KINDS) {
        const track = this.localTrack(kind);
        if (track) pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.localStream] });
        else pc.addTransceiver(kind, { direction: this.sends[kind] ? 'sendrecv' : 'recvonly' });
      }
    }
    this.pc = pc;
    this.dc = dc;
    this.pending = [];
    this.remoteFp = '';
    this.remoteStream = new MediaStream();
    this.setVerified(false);
    pc.ontrack = (ev) => {
      if (this.pc !== pc) return;
      this.remoteStream.addTrack(ev.track);
      this.emit('remote-stream', { stream: this.remoteStream });
    };
    pc.onicecandidate = (ev) => {
      if (this.pc !== pc) return;
      this.send({ type: 'candidate', candidate: ev.candidate ? ev.candidate.toJSON() : { candidate: '' } });
    };
    pc.oniceconnectionstatechange = () => this.onIceState(pc);
    dc.onopen = () => this.pc === pc && this.emit('chat-state', { ready: this.chatReady() });
    dc.onclose = () => this.pc === pc && this.emit('chat-state', { ready: false });
    dc.onmessage = (ev) => this.onChatMessage(ev.data);
    if (old) old.close();
    return pc;
  }

  localTrack(kind) {
    return this.localStream.getTracks().find((t) => t.kind === kind && t.readyState === 'live') || null;
  }

  onIceState(pc) {
    if (this.pc !== pc || this.ended) return;
    switch (pc.iceConnectionState) {
      case 'connected':
      case 'completed':
        performance.mark('konsil:ice-connected');
        if (this.present || !this.verified) this.status(this.presentStatus());
        return;
      case 'disconnected':
        // Often recovers by itself within seconds (a Wi-Fi hiccup).
        if (this.verified) this.status('reconnecting');
        return;
      case 'failed':
        this.status('reconnecting');
        this.enqueue(() => this.recover());
        return;
      default:
    }
  }

  /**
   * After a failure or a network change: the offerer restarts ICE; the
   * answerer cannot offer, so it opens a new signaling session, which
   * the offerer hears as peer-joined and answers with an ICE restart.
   */
  async recover() {
    if (this.offerer) {
      await this.negotiate(true);
    } else if (!this.reconnecting) {
      if (this.sig) this.sig.close();
      this.sig = null;
      this.reconnectSignaling(0);
    }
  }

  async networkChanged() {
    if (!this.sig || this.sig.closed) {
      this.reconnectSignaling(0);
      return;
    }
    if (this.pc && this.pc.currentRemoteDescription) await this.recover();
  }

  /** Offers if we are the offerer and the peer is there (see top). */
  async negotiate(restart) {
    if (!this.present || !this.offerer || this.ended) return;
    let pc = this.pc;
    if (!pc || pc.connectionState === 'closed') pc = this.buildPeerConnection(true);
    if (pc.signalingState === 'have-local-offer') {
      // The answer went to a session that is gone: the same offer again,
      // with the candidates gathered since.
      this.send({ type: 'offer', sdp: pc.localDescription.sdp });
      await this.sendFingerprint(pc);
      return;
    }
    if (pc.signalingState !== 'stable') return;
    const iceRestart = restart && !!pc.currentRemoteDescription;
    const offer = await pc.createOffer({ iceRestart });
    await pc.setLocalDescription(offer);
    this.send({ type: 'offer', sdp: pc.localDescription.sdp });
    await this.sendFingerprint(pc);
  }

  async onOffer(sdp) {
    if (this.offerer) return; // we offer, never answer (no glare possible)
    if (!this.noteOffered(sdp)) return;
    let pc = this.pc;
    const fp = fingerprintOf(sdp);
    if (!pc || pc.connectionState === 'closed' || (pc.currentRemoteDescription && this.remoteFp !== fp)) {
      pc = this.buildPeerConnection(false);
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await this.attachLocalTracks(pc);
    this.applied(fp);
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: 'answer', sdp: pc.localDescription.sdp });
    await this.sendFingerprint(pc);
    await this.addPending(pc);
  }

  /** The answerer puts its tracks on the offer's transceivers. */
  async attachLocalTracks(pc) {
    for (const tr of pc.getTransceivers()) {
      if (tr.stopped || !tr.receiver.track) continue;
      const kind = tr.receiver.track.kind;
      const track = this.localTrack(kind);
      if (track && tr.sender.track !== track) {
        await tr.sender.replaceTrack(track);
        if (tr.sender.setStreams) tr.sender.setStreams(this.localStream);
      }
      tr.direction = this.sends[kind] ? 'sendrecv' : 'recvonly';
    }
  }

  async onAnswer(sdp) {
    if (!this.offerer || !this.noteOffered(sdp)) return;
    const pc = this.pc;
    if (!pc) return;
    const fp = fingerprintOf(sdp);
    if (pc.connectionState === 'closed' || (pc.currentRemoteDescription && this.remoteFp !== fp)) {
      // The peer answered from a new PeerConnection: start over.
      this.buildPeerConnection(true);
      await this.negotiate(false);
      return;
    }
    if (pc.signalingState !== 'have-local-offer') return;
    await pc.setRemoteDescription({ type: 'answer', sdp });
    this.applied(fp);
    await this.addPending(pc);
  }

  async onCandidate(c) {
    if (!c) return;
    const pc = this.pc;
    if (!pc || !pc.remoteDescription) {
      if (this.pending.length < MAX_PENDING_CANDIDATES) this.pending.push(c);
      return;
    }
    await pc.addIceCandidate(c).catch(() => {});
  }

  async addPending(pc) {
    const list = this.pending;
    this.pending = [];
    for (const c of list) await pc.addIceCandidate(c).catch(() => {});
  }

  /** Replaces the outgoing track of a kind (device switch, camera on/off). */
  async replaceTrack(kind, track) {
    this.setLocalTrack(kind, track);
    const pc = this.pc;
    if (!pc) return;
    for (const tr of pc.getTransceivers()) {
      if (tr.stopped || !tr.receiver.track || tr.receiver.track.kind !== kind) continue;
      // replaceTrack needs no renegotiation: the other side sees the new
      // camera or microphone without a glitch in the session.
      await tr.sender.replaceTrack(track);
    }
  }

  // --- fingerprint check, names, chat -----------------------------------

  /** Records the fingerprint of an SDP the peer sent; false (and the call stops) if it has none. */
  noteOffered(sdp) {
    try {
      this.lastOffered = fingerprintOf(sdp);
      return true;
    } catch {
      this.securityFailure('fingerprint-missing');
      return false;
    }
  }

  /** A remote description with fingerprint fp is applied. */
  applied(fp) {
    this.remoteFp = fp;
    if (this.proven.has(fp)) {
      this.setVerified(true);
      return;
    }
    this.setVerified(false);
    clearTimeout(this.verifyTimer);
    // The MAC follows its SDP on the same ordered session; give it time
    // to arrive, but never connect without it.
    this.verifyTimer = setTimeout(() => {
      if (!this.verified && this.remoteFp === fp) this.securityFailure('fingerprint-timeout');
    }, VERIFY_TIMEOUT_MS);
  }

  setVerified(v) {
    if (this.verified === v) return;
    this.verified = v;
    if (v) {
      performance.mark('konsil:verified');
      clearTimeout(this.verifyTimer);
      this.status(this.presentStatus());
      if (this.remoteStream) this.emit('remote-stream', { stream: this.remoteStream });
    }
    this.emit('chat-state', { ready: this.chatReady() });
  }

  async macFor(fp) {
    if (!this.macCache.has(fp)) this.macCache.set(fp, await fingerprintMAC(this.keys.fingerprint, fp));
    return this.macCache.get(fp);
  }

  /** After each offer or answer: the MAC of our fingerprint, then our sealed name. */
  async sendFingerprint(pc) {
    const fp = fingerprintOf(pc.localDescription.sdp);
    this.send({ type: 'meta', data: encodeMeta(META_FP, await this.macFor(fp)) });
    await this.sendName();
  }

  async sendName() {
    if (!this.present || !this.name) return;
    this.send({ type: 'meta', data: encodeMeta(META_NAME, await sealName(this.keys.names, this.self, this.name)) });
  }

  async onMeta(data) {
    let meta;
    try {
      meta = decodeMeta(data);
    } catch {
      return;
    }
    if (meta.kind === META_FP) {
      // The MAC is for the latest SDP the peer sent before it.
      if (!this.lastOffered || !(await verifyFingerprintMAC(this.keys.fingerprint, this.lastOffered, meta.value))) {
        this.securityFailure('fingerprint-mismatch');
        return;
      }
      this.proven.add(this.lastOffered);
      if (this.remoteFp === this.lastOffered) this.setVerified(true);
    } else if (meta.kind === META_NAME) {
      try {
        this.peerName = await openName(this.keys.names, this.peer, meta.value);
        this.emit('peer-name', { name: this.peerName });
      } catch { /* a wrong key also fails the fingerprint check */ }
    }
  }

  securityFailure(reason) {
    if (this.ended) return;
    this.end('security', reason);
  }

  chatReady() {
    return this.verified && !!this.dc && this.dc.readyState === 'open';
  }

  async sendChat(text) {
    if (!this.chatReady()) throw new Error('chat not ready');
    const sealed = await sealChat(this.keys.chat, this.self, text);
    this.dc.send(sealed);
    this.emit('chat', { text, mine: true });
  }

  async onChatMessage(data) {
    try {
      const text = await openChat(this.keys.chat, this.peer, new Uint8Array(data));
      this.emit('chat', { text, mine: false });
    } catch {
      this.emit('chat-error');
    }
  }

  // --- ending -------------------------------------------------------------

  /** Leaves the room on purpose. */
  end(reason, detail = '') {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.verifyTimer);
    window.removeEventListener('online', this.onOnline);
    if (this.sig) this.sig.close(reason === 'left' || reason === 'security');
    if (this.pc) this.pc.close();
    if (reason === 'security') this.emit('security', { reason: detail });
    this.emit('ended', { reason, detail });
  }
}
