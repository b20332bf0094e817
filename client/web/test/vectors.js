// Loads the known answers shared with client/e2ee (Go writes them with
// `go test ./client/e2ee -run TestKeyVectors -update-key-vectors`).
import { readFileSync } from 'node:fs';

export const vectors = JSON.parse(readFileSync(new URL('./testdata/key-schedule.json', import.meta.url), 'utf8'));
export const hex = (b) => Buffer.from(b).toString('hex');
export const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
