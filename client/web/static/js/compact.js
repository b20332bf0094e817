// The compact window: a small popup near the webcam that shows the call
// running in the main window (its opener). It holds no connection of its
// own; it borrows the opener's streams and controls through
// window.opener.konsilCompact (same origin).

import { initials } from './dom.js';
import { t, translate } from './i18n.js';

const $ = (id) => document.getElementById(id);

function main() {
  translate();
  const api = window.opener && !window.opener.closed ? window.opener.konsilCompact : null;
  if (!api) {
    window.close();
    return;
  }
  const render = () => {
    const s = api.state();
    const remote = api.remoteStream();
    const v = $('remote-video');
    if (v.srcObject !== remote) {
      v.srcObject = remote;
      if (remote) v.play().catch(() => {});
    }
    $('self-video').srcObject = api.localStream();
    $('self-video').classList.toggle('off', s.camOff);
    const live = s.state === 'connected' && remote;
    $('remote-placeholder').hidden = !!live;
    $('remote-avatar').textContent = s.peerName ? initials(s.peerName) : '';
    $('remote-avatar').classList.toggle('anon', !s.peerName);
    $('remote-placeholder-text').textContent = live ? '' : s.peerName || t('call.waiting');
    $('btn-mic').setAttribute('aria-pressed', String(s.muted));
    $('btn-mic').setAttribute('aria-label', s.muted ? t('call.unmuteLabel') : t('call.muteLabel'));
    $('btn-cam').setAttribute('aria-pressed', String(s.camOff));
    $('btn-cam').setAttribute('aria-label', s.camOff ? t('call.camOnLabel') : t('call.camOffLabel'));
    $('btn-cam').disabled = !s.camAvailable && s.camOff;
    document.title = s.peerName ? `${s.peerName} – Konsil` : 'Konsil';
  };
  const unsubscribe = api.subscribe(render);
  $('btn-mic').onclick = () => api.toggleMic();
  $('btn-cam').onclick = () => api.toggleCam();
  $('btn-back').onclick = () => api.back();
  $('btn-leave').onclick = () => api.leave();
  window.addEventListener('pagehide', () => unsubscribe());
  // The opener closing or navigating ends the popup too.
  setInterval(() => {
    if (!window.opener || window.opener.closed) window.close();
  }, 1000);
  render();
}

main();
