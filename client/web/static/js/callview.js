// The call screen: remote video (shown only once the fingerprint check
// passed), mirrored self view, controls, device switching, quality
// indicator, fullscreen and the compact window. Resolves run() with the
// reason the call ended.

import { $, initials, showScreen } from './dom.js';
import { t, onLanguageChange } from './i18n.js';
import { canChooseSpeaker, fillSelect, listDevices, openTrack } from './media.js';
import { QualityMonitor } from './quality.js';
import { ChatPanel } from './chat.js';

const STATS_EVERY_MS = 2000;

export class CallView {
  /** @param {import('./call.js').Call} call @param {object} prefs from the pre-call check */
  constructor(call, prefs) {
    this.call = call;
    this.prefs = prefs;
    this.muted = false;
    this.camOff = false;
    this.peerName = '';
    this.remoteCamOff = false;
    this.quality = null;
    this.compactWin = null;
    this.firstFrameAt = null;
    this.statsTimer = 0;
    this.monitorPc = null;
    this.monitor = null;
  }

  run() {
    showScreen('screen-call');
    const call = this.call;
    this.chat = new ChatPanel(call);
    $('self-video').srcObject = call.localStream;
    this.camOff = call.localStream.getVideoTracks().length === 0;
    this.renderSelf();
    this.renderToggles();
    this.setStatus('waiting');
    call.addEventListener('status', (ev) => this.setStatus(ev.detail.state));
    call.addEventListener('lobby', () => this.renderLobby(this.state));
    call.addEventListener('remote-stream', () => this.attachRemote());
    call.addEventListener('peer-name', (ev) => {
      this.peerName = ev.detail.name;
      this.renderPeer();
    });
    $('btn-mic').onclick = () => this.toggleMic();
    $('btn-cam').onclick = () => this.toggleCam();
    $('btn-devices').onclick = () => this.openDevices();
    $('devices-close').onclick = () => $('devices-dialog').close();
    $('call-camera').onchange = () => this.switchDevice('video', $('call-camera').value);
    $('call-mic').onchange = () => this.switchDevice('audio', $('call-mic').value);
    $('call-speaker').onchange = () => this.setSpeaker($('call-speaker').value);
    $('call-speaker-row').hidden = !canChooseSpeaker;
    $('btn-fullscreen').onclick = () => this.toggleFullscreen();
    $('btn-fullscreen').hidden = !document.fullscreenEnabled;
    document.addEventListener('fullscreenchange', () => this.renderToggles());
    $('btn-compact').onclick = () => this.openCompact();
    $('compact-back').onclick = () => window.konsilCompact.back();
    $('btn-leave').onclick = () => call.leave();
    $('quality').onclick = () => {
      const d = $('quality-details');
      d.hidden = !d.hidden;
      $('quality').setAttribute('aria-expanded', String(!d.hidden));
    };
    onLanguageChange(() => {
      this.renderToggles();
      this.setStatus(this.state);
      this.renderPeer();
      this.renderQuality();
    });
    if (this.prefs.speakerId) this.setSpeaker(this.prefs.speakerId);
    this.statsTimer = setInterval(() => this.sampleStats(), STATS_EVERY_MS);
    const v = $('remote-video');
    const markFirstFrame = () => {
      if (this.firstFrameAt === null) this.firstFrameAt = performance.now();
    };
    if (v.requestVideoFrameCallback) {
      const onFrame = () => {
        markFirstFrame();
      };
      v.addEventListener('loadeddata', () => v.requestVideoFrameCallback(onFrame));
    } else {
      v.addEventListener('loadeddata', markFirstFrame);
    }
    this.exposeForCompact();
    return new Promise((resolve) => {
      call.addEventListener('ended', (ev) => {
        clearInterval(this.statsTimer);
        if (this.compactWin && !this.compactWin.closed) this.compactWin.close();
        for (const tr of call.localStream.getTracks()) tr.stop();
        $('remote-video').srcObject = null;
        $('self-video').srcObject = null;
        if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
        resolve(ev.detail);
      });
    });
  }

  // --- status and remote side -------------------------------------------

  /**
   * The waiting room: whom the patient waits for and a calm word, until
   * the practice lets them in (status "lobby"). Announced politely.
   */
  renderLobby(state) {
    const box = $('waiting-room');
    const host = this.call.lobbyHost;
    box.hidden = state !== 'lobby' || !host;
    document.body.classList.toggle('in-lobby', !box.hidden);
    if (box.hidden) return;
    const name = host.name || t('lobby.thePractice');
    $('waiting-host').textContent = t(`lobby.status.${['online', 'in_call', 'away'].includes(host.status) ? host.status : 'away'}`, { name });
  }

  setStatus(state) {
    this.state = state;
    this.renderLobby(state);
    const name = this.peerName || t('call.theOther');
    const text = {
      waiting: this.peerName ? t('call.waitingFor', { name }) : t('call.waiting'),
      connecting: t('call.connecting'),
      verifying: t('call.verifying'),
      reconnecting: t('call.reconnecting'),
      'peer-left': t('call.peerLeft', { name }),
      'peer-lost': t('call.peerLost', { name }),
      connected: '',
    }[state] ?? '';
    const banner = $('call-status');
    banner.textContent = text;
    banner.hidden = !text;
    banner.classList.toggle('warn', state === 'reconnecting' || state === 'peer-lost');
    document.body.dataset.callState = state;
    this.renderRemote();
    this.notifyCompact();
  }

  attachRemote() {
    const v = $('remote-video');
    const stream = this.call.remoteStream;
    // Nothing of the peer is shown or heard before the fingerprint check
    // passed: until then the media could come from a man in the middle.
    const want = this.call.verified && !this.compactOpen() ? stream : null;
    if (v.srcObject !== want) {
      v.srcObject = want;
      if (want) v.play().catch(() => {});
    }
    this.renderRemote();
    this.notifyCompact();
  }

  renderRemote() {
    const connected = this.state === 'connected' && this.call.verified;
    const showVideo = connected && !this.remoteCamOff;
    $('remote-video').classList.toggle('unverified', !showVideo);
    $('remote-placeholder').hidden = showVideo;
    $('remote-avatar').textContent = this.peerName ? initials(this.peerName) : '';
    $('remote-avatar').classList.toggle('anon', !this.peerName);
    $('remote-placeholder-text').textContent = connected && this.remoteCamOff ? t('call.cameraOff', { name: this.peerName || t('call.theOther') }) : '';
    $('quality').hidden = !connected || !this.quality;
  }

  renderPeer() {
    $('peer-name').textContent = this.peerName;
    $('peer-name').hidden = !this.peerName;
    this.renderRemote();
    if (this.state) {
      const keep = this.state;
      this.state = null;
      this.setStatus(keep);
    }
  }

  // --- local media --------------------------------------------------------

  renderSelf() {
    $('self-video').classList.toggle('off', this.camOff);
  }

  renderToggles() {
    const mic = $('btn-mic');
    mic.setAttribute('aria-pressed', String(this.muted));
    $('btn-mic-label').textContent = this.muted ? t('call.unmute') : t('call.mute');
    mic.setAttribute('aria-label', this.muted ? t('call.unmuteLabel') : t('call.muteLabel'));
    mic.disabled = this.call.localStream.getAudioTracks().length === 0 && !this.muted;
    const cam = $('btn-cam');
    cam.setAttribute('aria-pressed', String(this.camOff));
    $('btn-cam-label').textContent = this.camOff ? t('call.camOn') : t('call.camOff');
    cam.setAttribute('aria-label', this.camOff ? t('call.camOnLabel') : t('call.camOffLabel'));
    cam.disabled = !this.call.sends.video && this.camOff;
    const fs = $('btn-fullscreen').querySelector('.label');
    fs.textContent = document.fullscreenElement ? t('call.exitFullscreen') : t('call.fullscreen');
  }

  toggleMic() {
    this.muted = !this.muted;
    for (const tr of this.call.localStream.getAudioTracks()) tr.enabled = !this.muted;
    this.renderToggles();
    this.notifyCompact();
  }

  async toggleCam() {
    if (this.camOff) {
      try {
        const track = await openTrack('video', this.prefs.cameraId);
        await this.call.replaceTrack('video', track);
        $('self-video').srcObject = this.call.localStream;
        this.camOff = false;
      } catch {
        return;
      }
    } else {
      // Stopping the track (not just disabling it) turns the camera
      // light off, which patients can see and trust.
      await this.call.replaceTrack('video', null);
      this.camOff = true;
    }
    this.renderSelf();
    this.renderToggles();
    this.notifyCompact();
  }

  async openDevices() {
    const d = await listDevices();
    const cur = (kind) => {
      const tr = this.call.localStream.getTracks().find((x) => x.kind === kind);
      return tr ? tr.getSettings().deviceId : '';
    };
    const name = (kind) => (i) => t('dev.unnamed', { kind: t(kind), n: i });
    fillSelect($('call-camera'), d.videoinput, cur('video') || this.prefs.cameraId, name('dev.camera'), t('dev.none'));
    fillSelect($('call-mic'), d.audioinput, cur('audio') || this.prefs.micId, name('dev.mic'), t('dev.none'));
    fillSelect($('call-speaker'), d.audiooutput, this.prefs.speakerId, name('dev.speaker'), t('dev.default'));
    $('devices-error').hidden = true;
    $('devices-dialog').showModal();
  }

  async switchDevice(kind, deviceId) {
    try {
      if (kind === 'video' && this.camOff) {
        this.prefs.cameraId = deviceId;
        return;
      }
      const track = await openTrack(kind, deviceId);
      if (kind === 'audio') track.enabled = !this.muted;
      await this.call.replaceTrack(kind, track);
      $('self-video').srcObject = this.call.localStream;
      if (kind === 'video') this.prefs.cameraId = deviceId;
      else this.prefs.micId = deviceId;
    } catch (err) {
      $('devices-error').textContent = `${t('pre.err.other.title')} (${err.name || err})`;
      $('devices-error').hidden = false;
    }
  }

  async setSpeaker(id) {
    this.prefs.speakerId = id;
    if (canChooseSpeaker) await $('remote-video').setSinkId(id).catch(() => {});
  }

  // --- quality --------------------------------------------------------------

  async sampleStats() {
    const pc = this.call.pc;
    if (!pc) return;
    if (this.monitorPc !== pc) {
      this.monitorPc = pc;
      this.monitor = new QualityMonitor(pc);
    }
    let q;
    try {
      q = await this.monitor.sample();
    } catch {
      return;
    }
    if (!q) return;
    this.quality = q;
    // No decoded frames for a whole interval while connected: the peer
    // turned the camera off (or it failed). Show the name instead of a
    // frozen picture.
    const off = this.state === 'connected' && q.newFrames === 0;
    this.remoteCamOff = off;
    this.renderRemote();
    this.renderQuality();
  }

  renderQuality() {
    const q = this.quality;
    if (!q) return;
    const btn = $('quality');
    btn.className = `quality ${q.level}`;
    btn.dataset.level = q.level;
    $('quality-text').textContent = t(`q.${q.level}`);
    let detail = t('q.details', { rtt: q.rtt ?? '–', loss: q.loss, kbps: q.kbps });
    if (q.level !== 'good') detail += ' — ' + t(q.level === 'poor' ? 'q.poorHint' : 'q.reducedHint');
    $('quality-details').textContent = detail;
    btn.setAttribute('aria-label', `${t(`q.${q.level}`)}. ${detail}`);
  }

  // --- fullscreen and compact window ------------------------------------

  toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else $('stage').requestFullscreen().catch(() => {});
  }

  compactOpen() {
    return !!(this.compactWin && !this.compactWin.closed);
  }

  /**
   * Opens the call in a small window at the top centre of the screen,
   * where laptop webcams sit, so the clinician looks near the camera
   * while the practice software stays visible. The popup shows this
   * window's streams (same origin) through window.konsilCompact; this
   * window keeps the connection.
   */
  openCompact() {
    if (this.compactOpen()) {
      this.compactWin.focus();
      return;
    }
    const w = 420;
    const h = 300;
    const left = Math.round((screen.availLeft || 0) + (screen.availWidth - w) / 2);
    const top = screen.availTop || 0;
    const win = window.open('/app/compact.html', 'konsil-compact', `popup,width=${w},height=${h},left=${left},top=${top}`);
    if (!win) {
      $('call-status').textContent = t('call.popupBlocked');
      $('call-status').hidden = false;
      return;
    }
    this.compactWin = win;
    document.body.classList.add('compact-active');
    this.attachRemote();
    const poll = setInterval(() => {
      if (win.closed) {
        clearInterval(poll);
        this.compactWin = null;
        document.body.classList.remove('compact-active');
        this.attachRemote();
      }
    }, 500);
  }

  exposeForCompact() {
    const listeners = new Set();
    this.compactListeners = listeners;
    window.konsilCompact = {
      remoteStream: () => (this.call.verified ? this.call.remoteStream : null),
      localStream: () => this.call.localStream,
      state: () => ({ state: this.state, muted: this.muted, camOff: this.camOff, peerName: this.peerName, camAvailable: this.call.sends.video }),
      toggleMic: () => this.toggleMic(),
      toggleCam: () => this.toggleCam(),
      leave: () => this.call.leave(),
      back: () => {
        if (this.compactWin) this.compactWin.close();
        window.focus();
      },
      subscribe: (f) => {
        listeners.add(f);
        return () => listeners.delete(f);
      },
    };
    // For tests and support: read-only facts about the call.
    window.konsilCall = {
      stats: () => (this.call.pc ? this.call.pc.getStats() : null),
      firstFrameAt: () => this.firstFrameAt,
      verified: () => this.call.verified,
      state: () => this.state,
      remoteSDP: () => (this.call.pc && this.call.pc.remoteDescription ? this.call.pc.remoteDescription.sdp : ''),
      iceUfrag: () => {
        const d = this.call.pc && this.call.pc.localDescription;
        const m = d && d.sdp.match(/a=ice-ufrag:(\S+)/);
        return m ? m[1] : '';
      },
      transceivers: () => (this.call.pc ? this.call.pc.getTransceivers().map((x) => `${x.mid}:${x.receiver.track.kind}:${x.direction}/${x.currentDirection}:${x.sender.track ? x.sender.track.readyState : '-'}`).join(' ') : ''),
    };
  }

  notifyCompact() {
    for (const f of this.compactListeners || []) {
      try {
        f();
      } catch { /* the popup went away */ }
    }
  }
}
