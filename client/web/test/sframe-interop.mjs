// The JavaScript half of client/e2ee's TestSFrameInterop. With --stdio it
// reads the Go side's request as JSON on stdin, decrypts the frames Go
// encrypted (checking them against what Go says they hold), encrypts the
// frames Go asks for, and prints the result as JSON on stdout; it exits 1
// when a check failed.
//
//   request:  { open: [{ suite, kid, base_key, codec, frame, want?, want_error? }],
//               seal: [{ suite, kid, base_key, codec, frames: [hex] }] }
//   response: { opened: [{ kid, frame } | { error }], sealed: [[hex]], failures: [string] }
//
// KIDs travel as decimal strings (JSON numbers lose bits above 2^53),
// bytes as hex. Without --stdio (as `node --test client/web/test/` runs
// every file here) it tests its own request handling, JS to JS.
import { SFrameContext } from '../static/js/e2ee/sframe.js';

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));

async function context(c) {
  const ctx = new SFrameContext(c.suite);
  await ctx.addKey(BigInt(c.kid), unhex(c.base_key));
  return ctx;
}

export async function handle(req) {
  const out = { opened: [], sealed: [], failures: [] };
  for (const [i, c] of (req.open ?? []).entries()) {
    const what = `open[${i}] suite ${c.suite} KID ${c.kid} ${c.codec}`;
    try {
      const { kid, frame } = await (await context(c)).decryptFrame(c.codec, unhex(c.frame));
      out.opened.push({ kid: kid.toString(), frame: hex(frame) });
      if (c.want_error) out.failures.push(`${what}: decrypted, want error ${c.want_error}`);
      else if (c.want !== undefined && hex(frame) !== c.want) out.failures.push(`${what}: frame ${hex(frame)}, want ${c.want}`);
      else if (kid.toString() !== c.kid) out.failures.push(`${what}: KID ${kid}`);
    } catch (e) {
      if (!e.code) throw e;
      out.opened.push({ error: e.code });
      if (e.code !== c.want_error) out.failures.push(`${what}: ${e.message}`);
    }
  }
  for (const c of req.seal ?? []) {
    const ctx = await context(c);
    const frames = [];
    for (const f of c.frames) frames.push(hex(await ctx.encryptFrame(BigInt(c.kid), c.codec, unhex(f))));
    out.sealed.push(frames);
  }
  return out;
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

if (process.argv.includes('--stdio')) {
  const res = await handle(await readStdin());
  process.stdout.write(JSON.stringify(res));
  if (res.failures.length > 0) process.exitCode = 1;
} else {
  const { default: test } = await import('node:test');
  const assert = (await import('node:assert/strict')).default;
  test('interop request handling, JS to JS', async () => {
    const key = { suite: 4, kid: '18446744073709551615', base_key: '000102030405060708090a0b0c0d0e0f' };
    const frames = ['502d019d012a8002e001aabbcc', '310c00ddee', '78ff'];
    const codecs = ['vp8', 'vp8', 'opus'];
    const sealed = [];
    for (const [i, f] of frames.entries()) {
      const res = await handle({ seal: [{ ...key, codec: codecs[i], frames: [f] }] });
      sealed.push(res.sealed[0][0]);
    }
    const res = await handle({
      open: [
        ...sealed.map((frame, i) => ({ ...key, codec: codecs[i], frame, want: frames[i] })),
        { ...key, base_key: 'ff'.repeat(16), codec: 'vp8', frame: sealed[0], want_error: 'auth' },
      ],
    });
    assert.deepEqual(res.failures, []);
    assert.deepEqual(res.opened.slice(0, 3).map((o) => o.frame), frames);
  });
}
