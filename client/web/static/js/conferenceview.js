// The conference screen: a grid with one tile per other participant
// (video, decrypted name, microphone-off and camera-off icons from the
// participant's sealed mute state, active-speaker highlight, full screen
// per tile), the mirrored self view, and the same controls, device
// dialog and chat as a consultation (CallView).
//
// The SFU names the active speaker (conference.js "speaker" event, from
// the RFC 6464 levels in the publishers' RTP headers) and keeps it until
// someone else speaks up. The tile shows it with a coloured frame and an
// icon, and says it in the tile's accessible name; nothing is announced
// on its own (an aria-live region would talk over the conversation).
//
// Camera off is known two ways: the participant's sealed mute state says
// so at once, and a video that stops decoding for a whole stats interval
// counts too (a camera that failed, or a participant whose app sends no
// state).
//
// Each tile reports the size at which its video is shown to the SFU
// (conf.setView), so the SFU can choose a simulcast layer that fits:
// device pixels of the tile's box, 0 × 0 when the video is not visible
// (camera off, scrolled away, another tile in full screen, tab hidden).

import { $, initials } from './dom.js';
import { t } from './i18n.js';
import { canChooseSpeaker } from './media.js';
import { QualityMonitor } from './quality.js';
import { CallView } from './callview.js';
import { ownMuteState, tileLabel, viewSize } from './tiles.js';

// Window sizes change continuously while dragged: report once it settles.
const VIEW_SETTLE_MS = 300;
const SVG = 'http://www.w3.org/2000/svg';
const ICONS = {
  fullscreen: 'M4 4h6v2H6v4H4zm10 0h6v6h-2V6h-4zM4 14h2v4h4v2H4zm14 0h2v6h-6v-2h4z',
  exitFullscreen: 'M5 16h3v3h2v-5H5zm3-8H5v2h5V5H8zm6 11h2v-3h3v-2h-5zm2-11V5h-2v5h5V8z',
  micOff: 'M19 11h-1.7c0 .74-.16 1.43-.43 2.05l1.23 1.23c.56-.98.9-2.09.9-3.28zm-4.02.17c0-.06.02-.11.02-.17V5c0-1.66-1.34-3-3-3S9 3.34 9 5v.18zM4.27 3 3 4.27l6.01 6.01V11c0 1.66 1.33 3 2.99 3 .22 0 .44-.03.65-.08l1.66 1.66c-.71.33-1.5.52-2.31.52-2.76 0-5.3-2.1-5.3-5.1H5c0 3.41 2.72 6.23 6 6.72V21h2v-3.28c.91-.13 1.77-.45 2.54-.9L19.73 21 21 19.73z',
  camOff: 'M21 6.5l-4 4V7c0-.55-.45-1-1-1H9.82L21 17.18zM3.27 2 2 3.27 4.73 6H4c-.55 0-1 .45-1 1v10c0 .55.45 1 1 1h12c.21 0 .39-.08.54-.18L19.73 21 21 19.73z',
  speaking: 'M3 9v6h4l5 5V4L7 9zm13.5 3A4.5 4.5 0 0 0 14 7.97v8.05c1.48-.73 2.5-2.25 2.5-4.02zM14 3.23v2.06c2.89.86 5 3.54 5 6.71s-2.11 5.85-5 6.71v2.06c4.01-.91 7-4.49 7-8.77s-2.99-7.86-7-8.77z',
};

/** An inline SVG icon (DOM nodes, never markup from strings). */
function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

export class ConferenceView extends CallView {
  /** @param {import('./conference.js').Conference} conf */
  constructor(conf, prefs) {
    super(conf, prefs);
    this.tiles = new Map(); // participant id -> {el, video, name, ...}
    this.frames = new Map(); // participant id -> last framesDecoded
    this.camOffIds = new Set(); // video stalled for a stats interval
    this.undecryptable = new Set(); // ids whose frames fail to decrypt
    this.failedBefore = {};
    this.speaker = '';
    this.views = new Map(); // participant id -> last {w, h} told the SFU
    this.offscreen = new Set(); // ids whose tile is scrolled out of view
    this.viewTimer = 0;
  }

  run() {
    document.body.classList.add('conference');
    $('grid').hidden = false;
    $('btn-compact').hidden = true; // the small window shows one peer only
    const done = super.run();
    const conf = this.call;
    conf.addEventListener('participants', () => this.renderGrid());
    conf.addEventListener('speaker', (ev) => this.setActiveSpeaker(ev.detail.id));
    document.addEventListener('fullscreenchange', () => {
      this.renderGrid();
      this.scheduleViews();
    });
    document.addEventListener('visibilitychange', () => this.scheduleViews());
    this.resizer = new ResizeObserver(() => this.scheduleViews());
    this.visibility = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const id = e.target.dataset.id;
        if (e.isIntersecting) this.offscreen.delete(id);
        else this.offscreen.add(id);
      }
      this.scheduleViews();
    });
    conf.addEventListener('ended', () => {
      clearTimeout(this.viewTimer);
      this.resizer.disconnect();
      this.visibility.disconnect();
      for (const tile of this.tiles.values()) tile.video.srcObject = null;
    });
    this.publishMuteState();
    this.renderGrid();
    return done;
  }

  // --- status -------------------------------------------------------------

  setStatus(state) {
    this.state = state;
    this.renderLobby(state);
    const text = {
      waiting: t('conf.waiting'),
      connecting: t('call.connecting'),
      reconnecting: t('call.reconnecting'),
      unreachable: t('conf.unreachable'),
    }[state] ?? '';
    const noKid = this.call.selfKid === null && state === 'connected';
    const banner = $('call-status');
    banner.textContent = noKid ? t('conf.noKid') : text;
    banner.hidden = !banner.textContent;
    banner.classList.toggle('warn', state === 'reconnecting' || state === 'unreachable' || noKid);
    document.body.dataset.callState = state;
    this.renderGrid();
  }

  attachRemote() {}

  renderRemote() {
    this.renderGrid();
  }

  renderPeer() {
    this.renderGrid();
  }

  // --- our own microphone and camera -------------------------------------

  toggleMic() {
    super.toggleMic();
    this.publishMuteState();
  }

  async toggleCam() {
    await super.toggleCam();
    this.publishMuteState();
  }

  /** Tells the others (sealed, conference.js) what our controls show. */
  publishMuteState() {
    const s = this.call.localStream;
    this.call.setMuteState?.(ownMuteState({
      muted: this.muted,
      camOff: this.camOff,
      hasAudio: s.getAudioTracks().length > 0,
      hasVideo: s.getVideoTracks().length > 0,
    }));
  }

  // --- the grid ----------------------------------------------------------

  renderGrid() {
    if (!this.tiles) return; // CallView's constructor and run() call in early
    const people = this.call.people;
    for (const [id, tile] of this.tiles) {
      if (!people.has(id)) this.removeTile(id, tile);
    }
    for (const person of people.values()) this.renderTile(person);
    $('grid').dataset.count = String(this.tiles.size);
    $('self-video').classList.toggle('speaking', !!this.speaker && this.speaker === this.call.self);
  }

  removeTile(id, tile) {
    tile.video.srcObject = null;
    this.resizer?.unobserve(tile.el);
    this.visibility?.unobserve(tile.el);
    tile.el.remove();
    this.tiles.delete(id);
    this.views.delete(id);
    this.offscreen.delete(id);
  }

  renderTile(person) {
    let tile = this.tiles.get(person.id);
    if (!tile) {
      tile = this.newTile(person.id);
      this.tiles.set(person.id, tile);
      $('grid').append(tile.el);
      this.resizer?.observe(tile.el);
      this.visibility?.observe(tile.el);
    }
    const name = person.name || t('conf.someone');
    if (tile.video.srcObject !== person.stream) {
      tile.video.srcObject = person.stream;
      tile.video.play().catch(() => {});
      if (canChooseSpeaker && this.prefs.speakerId) tile.video.setSinkId(this.prefs.speakerId).catch(() => {});
    }
    const mute = person.mute || { micOff: false, camOff: false };
    const hasVideo = person.stream.getVideoTracks().length > 0;
    const camOff = mute.camOff || (hasVideo && this.camOffIds.has(person.id));
    const showVideo = hasVideo && !camOff;
    if (tile.el.dataset.remoteCamOff !== String(mute.camOff)) this.scheduleViews();
    tile.video.classList.toggle('off', !showVideo);
    tile.video.setAttribute('aria-label', t('conf.video', { name }));
    tile.placeholder.hidden = showVideo;
    tile.avatar.textContent = person.name ? initials(person.name) : '';
    tile.avatar.classList.toggle('anon', !person.name);
    let note = '';
    if (this.undecryptable.has(person.id)) note = t('conf.undecryptable', { name });
    else if (camOff) note = t('call.cameraOff', { name });
    tile.placeholderText.textContent = note;
    tile.el.dataset.undecryptable = String(this.undecryptable.has(person.id));
    tile.name.textContent = name;
    tile.micOff.hidden = !mute.micOff;
    tile.camOff.hidden = !camOff;
    tile.micOff.setAttribute('aria-label', t('conf.micOff'));
    tile.camOff.setAttribute('aria-label', t('conf.camOff'));
    tile.speakingIcon.setAttribute('aria-label', t('conf.speaking'));
    const full = document.fullscreenElement === tile.el;
    tile.fullscreen.setAttribute('aria-label', t(full ? 'conf.exitFullscreen' : 'conf.fullscreen', { name }));
    tile.fullscreen.setAttribute('aria-pressed', String(full));
    tile.fullscreen.querySelector('path').setAttribute('d', ICONS[full ? 'exitFullscreen' : 'fullscreen']);
    tile.fullscreen.hidden = !document.fullscreenEnabled;
    const speaking = this.speaker === person.id;
    tile.el.classList.toggle('speaking', speaking);
    tile.speakingIcon.hidden = !speaking;
    // The states are part of the tile's name, read when a screen reader
    // reaches the tile; a change is not announced by itself.
    tile.el.setAttribute('aria-label', tileLabel(name, { speaking, micOff: mute.micOff, camOff }, t));
    tile.el.dataset.speaking = String(speaking);
    tile.el.dataset.name = person.name;
    tile.el.dataset.camOff = String(!showVideo);
    tile.el.dataset.micOff = String(mute.micOff);
    tile.el.dataset.remoteCamOff = String(mute.camOff);
  }

  newTile(id) {
    const el = document.createElement('figure');
    el.className = 'tile';
    el.dataset.id = id;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    const placeholder = document.createElement('div');
    placeholder.className = 'remote-placeholder';
    const avatar = document.createElement('div');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    const placeholderText = document.createElement('p');
    placeholder.append(avatar, placeholderText);
    // Name and state icons in one bar; the icons have names of their own
    // for a screen reader that walks into the tile.
    const bar = document.createElement('div');
    bar.className = 'tile-bar';
    const badge = (cls, name) => {
      const b = document.createElement('span');
      b.className = `tile-state ${cls}`;
      b.setAttribute('role', 'img');
      b.append(icon(name));
      b.hidden = true;
      return b;
    };
    const speakingIcon = badge('is-speaking', 'speaking');
    const name = document.createElement('figcaption');
    name.className = 'tile-name';
    const micOff = badge('mic-off', 'micOff');
    const camOff = badge('cam-off', 'camOff');
    bar.append(speakingIcon, name, micOff, camOff);
    const fullscreen = document.createElement('button');
    fullscreen.type = 'button';
    fullscreen.className = 'icon-button tile-fullscreen';
    fullscreen.append(icon('fullscreen'));
    // A button: Enter and Space work; the browser leaves full screen on
    // Escape by itself.
    fullscreen.onclick = () => {
      if (document.fullscreenElement === el) document.exitFullscreen().catch(() => {});
      else el.requestFullscreen().catch(() => {});
    };
    el.append(video, placeholder, bar, fullscreen);
    return { el, video, placeholder, avatar, placeholderText, name, fullscreen, micOff, camOff, speakingIcon };
  }

  // --- display sizes for the SFU -----------------------------------------

  scheduleViews() {
    if (!this.resizer) return;
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.reportViews(), VIEW_SETTLE_MS);
  }

  /** Tells the SFU each tile's displayed size where it changed. */
  reportViews() {
    const full = document.fullscreenElement;
    for (const [id, tile] of this.tiles) {
      const box = tile.el.getBoundingClientRect();
      // Only a camera the participant turned off counts as not shown:
      // a video that merely stalled must keep its size, or the SFU
      // would stop sending it and it could never come back.
      const person = this.call.people.get(id);
      const camOff = !!(person && person.mute && person.mute.camOff);
      const visible = !document.hidden && !this.offscreen.has(id) && !camOff && (!full || full === tile.el);
      const size = viewSize({ width: box.width, height: box.height, dpr: window.devicePixelRatio, visible });
      const last = this.views.get(id);
      if (last && last.w === size.w && last.h === size.h) continue;
      this.views.set(id, size);
      try {
        this.call.setView?.(id, size.w, size.h);
      } catch (err) {
        console.warn('konsil: setView', err);
      }
    }
  }

  // --- active speaker ------------------------------------------------------

  /** The SFU named the speaker: ours or a tile (kept until the next one). */
  setActiveSpeaker(id) {
    if (id === this.speaker) return;
    this.speaker = id;
    this.renderGrid();
  }

  // --- camera off, decryption, quality -----------------------------------

  async sampleStats() {
    const pc = this.call.pc;
    if (!pc) return;
    if (this.monitorPc !== pc) {
      this.monitorPc = pc;
      this.monitor = new QualityMonitor(pc);
      // A new PeerConnection is a new session at the SFU: it knows no
      // display sizes yet.
      this.views.clear();
      this.scheduleViews();
    }
    try {
      const q = await this.monitor.sample();
      if (q) this.quality = q;
    } catch { /* keep the last sample */ }
    const off = new Set();
    for (const person of this.call.people.values()) {
      const r = person.receivers.get('video');
      if (!r) continue;
      let decoded = 0;
      try {
        (await r.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp') decoded = s.framesDecoded || 0;
        });
      } catch {
        continue;
      }
      const key = `${person.id} ${r.track.id}`;
      const before = this.frames.get(key);
      this.frames.set(key, decoded);
      if (this.state === 'connected' && before !== undefined && decoded === before) off.add(person.id);
    }
    this.camOffIds = off;
    await this.checkEncryption(pc);
    await this.sampleDecryption();
    this.renderGrid();
    this.renderQuality();
    $('quality').hidden = this.state !== 'connected' || !this.quality;
  }

  /**
   * Stops the conference when one of our senders put media on the wire
   * that never passed the SFrame transform (transforms.js): never go on
   * unencrypted, even for a moment longer.
   */
  async checkEncryption(pc) {
    let kinds;
    try {
      kinds = await this.call.e2ee.unprotectedKinds(pc);
    } catch {
      return;
    }
    if (!kinds.length || this.call.ended) return;
    console.warn('konsil: media sent without end-to-end encryption, stopping:', kinds.join(', '));
    for (const kind of kinds) await this.call.replaceTrack(kind, null).catch(() => {});
    this.call.end('security');
  }

  /**
   * A participant whose frames keep failing to decrypt while none of its
   * video decodes has another room secret (a wrong or old link): say so
   * on its tile instead of "camera off".
   */
  async sampleDecryption() {
    let failed;
    try {
      failed = (await this.call.e2ee.stats()).failedByKid || {};
    } catch {
      return;
    }
    const bad = new Set();
    for (const person of this.call.people.values()) {
      const k = String(person.kid);
      if ((failed[k] || 0) > (this.failedBefore[k] || 0) && this.camOffIds.has(person.id)) bad.add(person.id);
    }
    this.failedBefore = failed;
    this.undecryptable = bad;
  }

  async setSpeaker(id) {
    this.prefs.speakerId = id;
    if (!canChooseSpeaker) return;
    for (const tile of this.tiles?.values() || []) await tile.video.setSinkId(id).catch(() => {});
  }

  // --- for tests and support ----------------------------------------------

  exposeForCompact() {
    const conf = this.call;
    window.konsilCall = {
      conference: true,
      stats: () => (conf.pc ? conf.pc.getStats() : null),
      state: () => this.state,
      verified: () => true,
      firstFrameAt: () => this.firstFrameAt,
      // Per participant: name and video frames decoded, by the tile.
      participants: async () => {
        const out = [];
        for (const p of conf.people.values()) {
          let framesDecoded = 0;
          let framesReceived = 0;
          const r = p.receivers.get('video');
          if (r) {
            (await r.getStats()).forEach((s) => {
              if (s.type === 'inbound-rtp') {
                framesDecoded = s.framesDecoded || 0;
                framesReceived = s.framesReceived || 0;
              }
            });
          }
          const tile = this.tiles.get(p.id);
          const mute = p.mute || {};
          out.push({
            id: p.id, kid: p.kid, name: p.name, framesDecoded, framesReceived,
            videoWidth: tile ? tile.video.videoWidth : 0,
            micOff: !!mute.micOff, camOff: !!mute.camOff, speaking: this.speaker === p.id,
            view: this.views.get(p.id) || null,
          });
        }
        return out;
      },
      e2ee: () => conf.e2ee.stats(),
      e2eeMode: () => (conf.e2ee.script ? 'script-transform' : 'encoded-streams'),
      selfKid: () => conf.selfKid,
      speaker: () => this.speaker,
      transceivers: () => (conf.pc ? conf.pc.getTransceivers().map((x) => `${x.mid}:${x.receiver.track.kind}:${x.direction}/${x.currentDirection}:${x.sender.track ? x.sender.track.readyState : '-'}`).join(' ') : ''),
    };
  }

  notifyCompact() {}
}
