// The KDF worker: argon2id with 64 MiB would freeze the page for seconds,
// so it runs here. Message in: {id, password, kdf}; out: {id, master} or
// {id, error}.

import { masterKey } from './kdf.js';

self.onmessage = ({ data }) => {
  const { id, password, kdf } = data || {};
  try {
    const master = masterKey(password, kdf);
    self.postMessage({ id, master }, [master.buffer]);
  } catch (err) {
    self.postMessage({ id, error: String((err && err.name) || err), message: String((err && err.message) || err) });
  }
};
