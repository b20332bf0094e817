// The encoded-transform worker (RTCRtpScriptTransform): encrypts what our
// senders send and decrypts what our receivers get, off the main thread.
// A real file, not a blob: the CSP allows workers from 'self' only.
//
// Messages from the page: {type: "init", mediaKey}, {type: "send-kid",
// kid}, {type: "add-kid", kid}, {type: "stats", id} (answered with
// {type: "stats", id, stats}). Each transform's options are {role, kind, serial}.
// Keys need no per-transform message: the SFrame header names the
// sender's KID, and "add-kid" installs the key of every participant that
// joins in the one context all transforms share.
//
// stats.entered counts the frames that reached each transform, by the
// serial in its options: the page compares a sender's count with what
// that sender put on the wire, to catch a transform the browser silently
// ignored (transforms.js).

import { MediaCrypto } from './frames.js';

let media = null;
const early = []; // transformers that came before init
const entered = {};

function run(transformer) {
  const { role, kind, serial } = transformer.options;
  const key = String(serial);
  entered[key] = entered[key] || 0;
  const count = new TransformStream({
    transform(frame, controller) {
      entered[key]++;
      controller.enqueue(frame);
    },
  });
  transformer.readable.pipeThrough(count).pipeThrough(media.transform(role, kind)).pipeTo(transformer.writable).catch(() => {});
}

self.onmessage = ({ data }) => {
  switch (data.type) {
    case 'init':
      media = new MediaCrypto(data.mediaKey);
      for (const t of early.splice(0)) run(t);
      return;
    case 'send-kid':
      media.setSendKid(data.kid).catch(() => {});
      return;
    case 'add-kid':
      media.addKid(data.kid).catch(() => {});
      return;
    case 'stats':
      self.postMessage({ type: 'stats', id: data.id, stats: media ? { ...structuredClone(media.stats), entered: { ...entered } } : {} });
      return;
    default:
  }
};

self.onrtctransform = (ev) => {
  if (media) run(ev.transformer);
  else early.push(ev.transformer);
};
