// Camera, microphone and speakers: getting tracks, naming what went
// wrong, listing devices.

/** Why local media failed, for the pre-call check's advice. */
export function mediaErrorKind(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return 'denied';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'notFound';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'inUse';
    case 'SecurityError':
      return 'insecure';
    default:
      return 'other';
  }
}

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function constraint(base, deviceId) {
  return deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
}

/**
 * Gets camera and microphone. When both fail together, tries each alone,
 * so a missing camera still leaves sound. Resolves to {stream, error}:
 * error is the first failure (or null), stream may have 0..2 tracks.
 */
export async function openMedia({ cameraId = '', micId = '' } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return { stream: new MediaStream(), error: Object.assign(new Error('no mediaDevices'), { name: 'SecurityError' }) };
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: constraint(VIDEO, cameraId), audio: constraint(AUDIO, micId) });
    return { stream, error: null };
  } catch (err) {
    if (mediaErrorKind(err) === 'denied' || mediaErrorKind(err) === 'insecure') return { stream: new MediaStream(), error: err };
    const stream = new MediaStream();
    let first = err;
    for (const kind of ['audio', 'video']) {
      try {
        const c = kind === 'audio' ? { audio: constraint(AUDIO, micId) } : { video: constraint(VIDEO, cameraId) };
        const s = await navigator.mediaDevices.getUserMedia(c);
        for (const tr of s.getTracks()) stream.addTrack(tr);
      } catch (e) {
        first = first || e;
      }
    }
    return { stream, error: first };
  }
}

/** Gets one new track of kind ("audio"/"video") from deviceId. */
export async function openTrack(kind, deviceId) {
  const c = kind === 'audio' ? { audio: constraint(AUDIO, deviceId) } : { video: constraint(VIDEO, deviceId) };
  const s = await navigator.mediaDevices.getUserMedia(c);
  return s.getTracks()[0];
}

/** Lists devices by kind: {videoinput, audioinput, audiooutput}. */
export async function listDevices() {
  const out = { videoinput: [], audioinput: [], audiooutput: [] };
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return out;
  for (const d of await navigator.mediaDevices.enumerateDevices()) {
    if (out[d.kind] && d.deviceId) out[d.kind].push(d);
  }
  return out;
}

/** Whether audio output can be chosen (HTMLMediaElement.setSinkId). */
export const canChooseSpeaker = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype;

/**
 * Fills a <select> with devices, keeping selected if still present.
 * label(i) names devices without a label (before permission).
 */
export function fillSelect(select, devices, selected, label, noneText) {
  select.replaceChildren();
  if (devices.length === 0) {
    select.append(new Option(noneText, ''));
    select.disabled = true;
    return;
  }
  select.disabled = false;
  devices.forEach((d, i) => {
    const o = new Option(d.label || label(i + 1), d.deviceId);
    if (d.deviceId === selected) o.selected = true;
    select.append(o);
  });
}

/**
 * Plays a short two-tone chime through the chosen speaker: WebAudio into
 * an <audio> element, so setSinkId picks the device.
 */
export async function playTestSound(sinkId) {
  const ctx = new AudioContext();
  const dest = ctx.createMediaStreamDestination();
  const gain = ctx.createGain();
  gain.connect(dest);
  const now = ctx.currentTime;
  gain.gain.setValueAtTime(0.0001, now);
  [[660, 0], [880, 0.35]].forEach(([f, at]) => {
    const osc = ctx.createOscillator();
    osc.frequency.value = f;
    osc.connect(gain);
    osc.start(now + at);
    osc.stop(now + at + 0.3);
  });
  gain.gain.exponentialRampToValueAtTime(0.25, now + 0.05);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.7);
  const audio = new Audio();
  audio.srcObject = dest.stream;
  if (sinkId && canChooseSpeaker) await audio.setSinkId(sinkId).catch(() => {});
  await audio.play().catch(() => {});
  setTimeout(() => {
    audio.srcObject = null;
    ctx.close();
  }, 1000);
}

/**
 * Drives a level meter from an audio track; returns a stop function.
 * onLevel gets 0..100 about 15 times a second.
 */
export function meterFor(track, onLevel) {
  if (!track) {
    onLevel(0);
    return () => {};
  }
  const ctx = new AudioContext();
  const src = ctx.createMediaStreamSource(new MediaStream([track]));
  const an = ctx.createAnalyser();
  an.fftSize = 512;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  const timer = setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    const rms = Math.sqrt(sum / buf.length);
    // dBFS from -60 (silence) to 0, shown as 0..100.
    const db = 20 * Math.log10(rms || 1e-6);
    onLevel(Math.max(0, Math.min(100, Math.round(((db + 60) / 60) * 100))));
  }, 66);
  return () => {
    clearInterval(timer);
    ctx.close();
  };
}
