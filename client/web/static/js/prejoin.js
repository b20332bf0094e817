// The pre-call check: camera preview, microphone level, speaker test,
// device choice, network check, display name. Resolves with what the
// call needs once the user clicks "join".

import { $ } from './dom.js';
import { t, onLanguageChange } from './i18n.js';
import { canChooseSpeaker, fillSelect, listDevices, mediaErrorKind, meterFor, openMedia, playTestSound } from './media.js';
import { adviceFor, runNetworkCheck } from './netcheck.js';

const NAME_KEY = 'konsil.name';
const NET_IDS = { udp: 'net-udp', relayUdp: 'net-relay-udp', relayTcp: 'net-relay-tcp' };

export class Prejoin {
  /** @param {object} join the JoinResponse (role, ice_servers) */
  constructor(join) {
    this.join = join;
    this.stream = null;
    this.stopMeter = () => {};
    this.netResults = null;
    this.mediaError = null;
    this.devices = { videoinput: [], audioinput: [], audiooutput: [] };
    this.speakerId = '';
  }

  /** Sets the screen up and resolves when the user joins. */
  run() {
    $('pre-role').textContent = t(this.join.role === 'host' ? 'pre.roleHost' : 'pre.roleGuest');
    onLanguageChange(() => this.retranslate());
    let saved = '';
    try {
      saved = localStorage.getItem(NAME_KEY) || '';
    } catch { /* storage blocked */ }
    $('pre-name').value = saved;
    $('speaker-row').hidden = !canChooseSpeaker;
    $('speaker-row-nosel').hidden = canChooseSpeaker;
    const restart = () => { this.mediaReady = this.startMedia(); };
    $('pre-retry').onclick = restart;
    $('sel-camera').onchange = restart;
    $('sel-mic').onchange = restart;
    $('sel-speaker').onchange = () => { this.speakerId = $('sel-speaker').value; };
    $('pre-sound').onclick = () => playTestSound(this.speakerId);
    $('pre-sound-2').onclick = () => playTestSound('');
    $('net-rerun').onclick = () => this.checkNetwork();
    this.mediaReady = this.startMedia();
    this.checkNetwork();
    return new Promise((resolve) => {
      $('pre-form').onsubmit = async (ev) => {
        ev.preventDefault();
        const name = $('pre-name').value.trim();
        if (!name) {
          this.showError(t('pre.needName'));
          $('pre-name').focus();
          return;
        }
        this.showError('');
        try {
          localStorage.setItem(NAME_KEY, name);
        } catch { /* not remembered then */ }
        $('pre-join').disabled = true;
        $('pre-join').textContent = t('pre.joining');
        // A quick click must not join before the camera is up.
        await this.mediaReady;
        this.stopMeter();
        resolve({
          name,
          stream: this.stream || new MediaStream(),
          cameraId: $('sel-camera').value,
          micId: $('sel-mic').value,
          speakerId: this.speakerId,
          devices: this.devices,
        });
      };
    });
  }

  showError(msg) {
    $('pre-error').textContent = msg;
    $('pre-error').hidden = !msg;
  }

  async startMedia() {
    this.stopMeter();
    if (this.stream) for (const tr of this.stream.getTracks()) tr.stop();
    const { stream, error } = await openMedia({ cameraId: $('sel-camera').value, micId: $('sel-mic').value });
    this.stream = stream;
    this.mediaError = error;
    performance.mark('konsil:media');
    $('pre-video').srcObject = stream.getVideoTracks().length ? stream : null;
    $('pre-video-off').hidden = stream.getVideoTracks().length > 0;
    const audio = stream.getAudioTracks()[0];
    this.stopMeter = meterFor(audio, (level) => {
      $('pre-meter-fill').style.width = `${level}%`;
      $('pre-meter').setAttribute('aria-valuenow', String(level));
    });
    this.renderMediaError();
    await this.refreshDevices();
  }

  renderMediaError() {
    const err = this.mediaError;
    const box = $('pre-media-error');
    if (!err && this.stream.getAudioTracks().length > 0) {
      box.hidden = true;
      return;
    }
    const kind = err ? mediaErrorKind(err) : 'notFound';
    $('pre-media-error-title').textContent = t(`pre.err.${kind}.title`);
    let body = t(`pre.err.${kind}.body`);
    if (this.stream.getAudioTracks().length === 0 && kind !== 'denied') body += ' ' + t('pre.err.noAudio');
    $('pre-media-error-body').textContent = body;
    box.hidden = false;
  }

  async refreshDevices() {
    this.devices = await listDevices();
    const cur = (kind) => {
      const tr = this.stream && this.stream.getTracks().find((x) => x.kind === kind);
      return tr ? tr.getSettings().deviceId : '';
    };
    const name = (kind) => (i) => t('dev.unnamed', { kind: t(kind), n: i });
    fillSelect($('sel-camera'), this.devices.videoinput, cur('video'), name('dev.camera'), t('dev.none'));
    fillSelect($('sel-mic'), this.devices.audioinput, cur('audio'), name('dev.mic'), t('dev.none'));
    fillSelect($('sel-speaker'), this.devices.audiooutput, this.speakerId, name('dev.speaker'), t('dev.default'));
    this.speakerId = $('sel-speaker').value;
  }

  async checkNetwork() {
    $('net-rerun').disabled = true;
    $('net-advice').textContent = '';
    for (const id of Object.values(NET_IDS)) this.renderNet(id, 'run');
    try {
      this.netResults = await runNetworkCheck(this.join.ice_servers, (name, state) => this.renderNet(NET_IDS[name], state === 'running' ? 'run' : state));
      $('net-advice').textContent = t(adviceFor(this.netResults));
    } catch {
      $('net-advice').textContent = t('net.adviceUnknown');
    }
    $('net-rerun').disabled = false;
  }

  renderNet(id, state) {
    const li = $(id);
    li.className = `state-${state}`;
    li.dataset.state = state;
    const key = { run: 'net.running', ok: 'net.ok', fail: 'net.fail', skip: 'net.skip' }[state];
    li.querySelector('.net-result').textContent = t(key);
  }

  retranslate() {
    $('pre-role').textContent = t(this.join.role === 'host' ? 'pre.roleHost' : 'pre.roleGuest');
    if (this.stream) this.renderMediaError();
    for (const id of Object.values(NET_IDS)) {
      const st = $(id).dataset.state;
      if (st) this.renderNet(id, st);
    }
    if (this.netResults) $('net-advice').textContent = t(adviceFor(this.netResults));
    this.refreshDevices();
  }
}
