// The JavaScript half of client/e2ee's TestCrossLanguage: reads the Go
// side's JSON on stdin, opens what Go sealed, seals the same texts itself
// and prints the result as JSON on stdout.
import { deriveKeys, parseSecret, senderBaseKey } from '../static/js/e2ee/keys.js';
import { openChat, openMute, openName, sealChat, sealMute, sealName } from '../static/js/e2ee/seal.js';
import { decodeMuteState, encodeMuteState } from '../static/js/e2ee/mutestate.js';
import { fingerprintMAC, verifyFingerprintMAC } from '../static/js/e2ee/fingerprint.js';
import * as b64 from '../static/js/e2ee/b64.js';

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const keys = await deriveKeys(parseSecret(input.secret));
  const out = { keys: {}, opened: [], sealed: [] };
  for (const [name, k] of Object.entries(keys)) out.keys[name] = hex(k);
  out.sender_key = hex(await senderBaseKey(keys.media, BigInt(input.kid)));
  for (const h of input.chat) {
    const text = await openChat(keys.chat, input.sender, unhex(h));
    out.opened.push(text);
    out.sealed.push(hex(await sealChat(keys.chat, 'js', text)));
  }
  out.opened_name = await openName(keys.names, input.sender, unhex(input.name));
  out.sealed_name = hex(await sealName(keys.names, 'js', 'Erika Mustermann'));
  const mute = decodeMuteState(await openMute(keys.names, input.sender, unhex(input.mute)));
  out.opened_mute = mute;
  out.sealed_mute = hex(await sealMute(keys.names, 'js', encodeMuteState(mute)));
  out.mac_verified = await verifyFingerprintMAC(keys.fingerprint, input.fingerprint, b64.decode(input.mac));
  out.mac = b64.encode(await fingerprintMAC(keys.fingerprint, input.fingerprint));
  return out;
}

main().then(
  (out) => process.stdout.write(JSON.stringify(out)),
  (err) => process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) })),
);
