// Runs argon2id (kdf.js) off the main thread in a module worker, so the
// page keeps painting its "please wait" state. The page's CSP has
// "require-trusted-types-for 'script'" and allows one policy name,
// "konsil-worker" (the call app's transforms.js uses it for its own
// worker, but that module never loads here): the policy is made once and
// passes only this worker's URL. Where no worker can run, the
// derivation runs on the main thread, yielding now and then.

let policy = null;
let worker = null;
let nextId = 1;
const pending = new Map();

function workerURL() {
  const url = new URL('./kdf-worker.js', import.meta.url).href;
  if (typeof trustedTypes === 'undefined') return url;
  policy ||= trustedTypes.createPolicy('konsil-worker', {
    createScriptURL: (u) => {
      if (u !== url) throw new TypeError('konsil-worker: not the KDF worker');
      return u;
    },
  });
  return policy.createScriptURL(url);
}

function startWorker() {
  if (worker) return worker;
  const w = new Worker(workerURL(), { type: 'module', name: 'konsil-kdf' });
  w.onmessage = ({ data }) => settle(data);
  // A worker that cannot load (old browser, blocked) fails every pending
  // derivation over to the main thread.
  w.onerror = (ev) => {
    ev.preventDefault?.();
    console.warn('konsil: KDF worker failed, deriving on the main thread:', ev.message || ev.type);
    worker = null;
    w.terminate();
    for (const [id, p] of pending) {
      pending.delete(id);
      onMainThread(p.password, p.kdf).then(p.resolve, p.reject);
    }
  };
  worker = w;
  return w;
}

function settle({ id, master, error, message }) {
  const p = pending.get(id);
  if (!p) return;
  pending.delete(id);
  if (master) p.resolve(new Uint8Array(master));
  else p.reject(Object.assign(new Error(message || error), { name: error || 'Error' }));
}

async function onMainThread(password, kdf) {
  const { masterKeyAsync } = await import('./kdf.js');
  return masterKeyAsync(password, kdf);
}

/**
 * The argon2id master secret of a password (Promise<Uint8Array>).
 * @param {string} password @param {{salt: string, t: number, m: number}} kdf
 */
export function masterKey(password, kdf) {
  let w;
  try {
    w = startWorker();
  } catch {
    return onMainThread(password, kdf);
  }
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject, password, kdf });
    w.postMessage({ id, password, kdf });
  });
}
