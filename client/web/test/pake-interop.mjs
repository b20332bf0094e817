// The JavaScript half of client/e2ee/pake's TestInterop: a SPAKE2 peer
// driven over stdin/stdout, one JSON request per line, one JSON answer per
// line, so Go can run an exchange step by step against the browser module.
//
//   {id, op: "start", role: "A"|"B", password, idA, idB, aad}  -> {id, msg}
//   {id, op: "finish", peer}                                   -> {id, confirm}
//   {id, op: "verify", confirm}                                -> {id, key}
//   any failure                                                -> {id, error: code}
//
// Bytes travel as hex (idA, idB, aad too; password is text). Without
// --stdio (as `node --test client/web/test/` runs every file here) it tests
// its own request handling, JS to JS.
import { createInterface } from 'node:readline';
import { createA, createB } from '../static/js/e2ee/pake.js';

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s ?? '', 'hex'));

/** A peer holding any number of exchanges by id. */
export function peer() {
  const exchanges = new Map();
  const ops = {
    async start(r) {
      const create = r.role === 'A' ? createA : createB;
      const ex = await create(r.password, unhex(r.idA), unhex(r.idB), unhex(r.aad));
      exchanges.set(r.id, ex);
      return { msg: hex(ex.start()) };
    },
    async finish(r) {
      return { confirm: hex(exchanges.get(r.id).finish(unhex(r.peer))) };
    },
    async verify(r) {
      return { key: hex(exchanges.get(r.id).verify(unhex(r.confirm))) };
    },
  };
  return async function handle(r) {
    try {
      if (!ops[r.op] || (r.op !== 'start' && !exchanges.has(r.id))) throw new Error(`bad request ${r.op} ${r.id}`);
      return { id: r.id, ...(await ops[r.op](r)) };
    } catch (e) {
      return { id: r.id, error: e.code ?? String(e) };
    }
  };
}

if (process.argv.includes('--stdio')) {
  const handle = peer();
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue;
    process.stdout.write(JSON.stringify(await handle(JSON.parse(line))) + '\n');
  }
} else {
  const { default: test } = await import('node:test');
  const assert = (await import('node:assert/strict')).default;
  test('interop request handling, JS to JS', async () => {
    const handle = peer();
    const ctx = { idA: hex(Buffer.from('host')), idB: hex(Buffer.from('guest')), aad: '' };
    const a = await handle({ id: 'a', op: 'start', role: 'A', password: '4821', ...ctx });
    const b = await handle({ id: 'b', op: 'start', role: 'B', password: '4821', ...ctx });
    const ca = await handle({ id: 'a', op: 'finish', peer: b.msg });
    const cb = await handle({ id: 'b', op: 'finish', peer: a.msg });
    const ka = await handle({ id: 'a', op: 'verify', confirm: cb.confirm });
    const kb = await handle({ id: 'b', op: 'verify', confirm: ca.confirm });
    assert.equal(ka.key.length, 32);
    assert.equal(ka.key, kb.key);
    assert.equal((await handle({ id: 'zz', op: 'finish', peer: a.msg })).error.startsWith('Error: bad request'), true);
  });
}
