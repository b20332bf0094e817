// The conference screen: a grid with one tile per other participant
// (video, decrypted name, camera-off placeholder, active-speaker
// highlight, full screen per tile), the mirrored self view, and the same
// controls, device dialog and chat as a consultation (CallView).
//
// The SFU does not report who speaks yet, so the loudest receiver wins.
// Its level comes from the decoded audio (inbound-rtp audioLevel): the
// SFU does not forward the RTP audio-level extension either, so
// getSynchronizationSources() has no audioLevel here. A
// participant whose video stops decoding for a whole stats interval has
// turned the camera off (as in a consultation): the tile shows the name.

import { $, initials } from './dom.js';
import { t } from './i18n.js';
import { canChooseSpeaker } from './media.js';
import { QualityMonitor } from './quality.js';
import { CallView } from './callview.js';

const SPEAKER_EVERY_MS = 400;
// audioLevel is 0..1, linear; below this it is room noise.
const SPEAKING_LEVEL = 0.02;
// The highlight stays this long after someone falls silent, so it does
// not flicker between words.
const SPEAKER_HOLD_MS = 1200;

export class ConferenceView extends CallView {
  /** @param {import('./conference.js').Conference} conf */
  constructor(conf, prefs) {
    super(conf, prefs);
    this.tiles = new Map(); // participant id -> {el, video, name, ...}
    this.frames = new Map(); // participant id -> last framesDecoded
    this.camOffIds = new Set();
    this.undecryptable = new Set(); // ids whose frames fail to decrypt
    this.failedBefore = {};
    this.speaker = '';
    this.speakerSeen = 0;
    this.speakerTimer = 0;
  }

  run() {
    document.body.classList.add('conference');
    $('grid').hidden = false;
    $('btn-compact').hidden = true; // the small window shows one peer only
    const done = super.run();
    const conf = this.call;
    conf.addEventListener('participants', () => this.renderGrid());
    document.addEventListener('fullscreenchange', () => this.renderGrid());
    this.speakerTimer = setInterval(() => this.sampleSpeaker(), SPEAKER_EVERY_MS);
    conf.addEventListener('ended', () => {
      clearInterval(this.speakerTimer);
      for (const tile of this.tiles.values()) tile.video.srcObject = null;
    });
    this.renderGrid();
    return done;
  }

  // --- status -------------------------------------------------------------

  setStatus(state) {
    this.state = state;
    const text = {
      waiting: t('conf.waiting'),
      connecting: t('call.connecting'),
      reconnecting: t('call.reconnecting'),
    }[state] ?? '';
    const noKid = this.call.selfKid === null && state === 'connected';
    const banner = $('call-status');
    banner.textContent = noKid ? t('conf.noKid') : text;
    banner.hidden = !banner.textContent;
    banner.classList.toggle('warn', state === 'reconnecting' || noKid);
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

  // --- the grid ----------------------------------------------------------

  renderGrid() {
    if (!this.tiles) return; // CallView's constructor and run() call in early
    const people = this.call.people;
    for (const [id, tile] of this.tiles) {
      if (!people.has(id)) {
        tile.video.srcObject = null;
        tile.el.remove();
        this.tiles.delete(id);
      }
    }
    for (const person of people.values()) this.renderTile(person);
    $('grid').dataset.count = String(this.tiles.size);
  }

  renderTile(person) {
    let tile = this.tiles.get(person.id);
    if (!tile) {
      tile = this.newTile(person.id);
      this.tiles.set(person.id, tile);
      $('grid').append(tile.el);
    }
    const name = person.name || t('conf.someone');
    if (tile.video.srcObject !== person.stream) {
      tile.video.srcObject = person.stream;
      tile.video.play().catch(() => {});
      if (canChooseSpeaker && this.prefs.speakerId) tile.video.setSinkId(this.prefs.speakerId).catch(() => {});
    }
    const hasVideo = person.stream.getVideoTracks().length > 0;
    const showVideo = hasVideo && !this.camOffIds.has(person.id);
    tile.video.classList.toggle('off', !showVideo);
    tile.video.setAttribute('aria-label', t('conf.video', { name }));
    tile.placeholder.hidden = showVideo;
    tile.avatar.textContent = person.name ? initials(person.name) : '';
    tile.avatar.classList.toggle('anon', !person.name);
    let note = '';
    if (this.undecryptable.has(person.id)) note = t('conf.undecryptable', { name });
    else if (hasVideo && this.camOffIds.has(person.id)) note = t('call.cameraOff', { name });
    tile.placeholderText.textContent = note;
    tile.el.dataset.undecryptable = String(this.undecryptable.has(person.id));
    tile.name.textContent = name;
    const full = document.fullscreenElement === tile.el;
    tile.fullscreen.setAttribute('aria-label', t(full ? 'conf.exitFullscreen' : 'conf.fullscreen', { name }));
    tile.fullscreen.setAttribute('aria-pressed', String(full));
    tile.fullscreen.hidden = !document.fullscreenEnabled;
    const speaking = this.speaker === person.id;
    tile.el.classList.toggle('speaking', speaking);
    tile.el.dataset.speaking = String(speaking);
    tile.el.dataset.name = person.name;
    tile.el.dataset.camOff = String(!showVideo);
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
    const name = document.createElement('figcaption');
    name.className = 'tile-name';
    const fullscreen = document.createElement('button');
    fullscreen.type = 'button';
    fullscreen.className = 'icon-button tile-fullscreen';
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M4 4h6v2H6v4H4zm10 0h6v6h-2V6h-4zM4 14h2v4h4v2H4zm14 0h2v6h-6v-2h4z');
    svg.append(path);
    fullscreen.append(svg);
    fullscreen.onclick = () => {
      if (document.fullscreenElement === el) document.exitFullscreen().catch(() => {});
      else el.requestFullscreen().catch(() => {});
    };
    el.append(video, placeholder, name, fullscreen);
    return { el, video, placeholder, avatar, placeholderText, name, fullscreen };
  }

  // --- active speaker, camera off, quality ------------------------------

  async sampleSpeaker() {
    if (this.sampling) return;
    this.sampling = true;
    let best = '';
    let level = SPEAKING_LEVEL;
    try {
      for (const person of this.call.people.values()) {
        const l = await audioLevel(person.receivers.get('audio'));
        if (l > level) {
          level = l;
          best = person.id;
        }
      }
    } finally {
      this.sampling = false;
    }
    const now = performance.now();
    if (best) this.speakerSeen = now;
    const next = best || (now - this.speakerSeen < SPEAKER_HOLD_MS ? this.speaker : '');
    if (next !== this.speaker) {
      this.speaker = next;
      this.renderGrid();
    }
  }

  async sampleStats() {
    const pc = this.call.pc;
    if (!pc) return;
    if (this.monitorPc !== pc) {
      this.monitorPc = pc;
      this.monitor = new QualityMonitor(pc);
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
    await this.sampleDecryption();
    this.renderGrid();
    this.renderQuality();
    $('quality').hidden = this.state !== 'connected' || !this.quality;
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
          out.push({ id: p.id, kid: p.kid, name: p.name, framesDecoded, framesReceived, videoWidth: tile ? tile.video.videoWidth : 0 });
        }
        return out;
      },
      e2ee: () => conf.e2ee.stats(),
      e2eeMode: () => (conf.e2ee.script ? 'script-transform' : 'encoded-streams'),
      selfKid: () => conf.selfKid,
      transceivers: () => (conf.pc ? conf.pc.getTransceivers().map((x) => `${x.mid}:${x.receiver.track.kind}:${x.direction}/${x.currentDirection}:${x.sender.track ? x.sender.track.readyState : '-'}`).join(' ') : ''),
    };
  }

  notifyCompact() {}
}

/** The current level (0..1) of what a receiver plays, or 0. */
async function audioLevel(receiver) {
  if (!receiver) return 0;
  let level = 0;
  try {
    (await receiver.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') level = s.audioLevel || 0;
    });
  } catch { /* closed */ }
  if (level === 0 && receiver.getSynchronizationSources) {
    for (const s of receiver.getSynchronizationSources()) level = Math.max(level, s.audioLevel || 0);
  }
  return level;
}
