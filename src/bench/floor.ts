/**
 * The floor reference (src/bench/refs.ts): reading the files and tokenising them, nothing else.
 * Kept apart from the other references so that a floor worker loads nothing but this.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';

/** The file's bytes, gunzipped when they start with the gzip magic. */
export function inflate(b: Uint8Array): Uint8Array {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b;
}

/**
 * Checks that the bytes are UTF-8 (what the fatal decoder checks) and finds every tag (`<` to the
 * next `>`) in them; returns the number of tags. Bytes, not a decoded string: decoding into a JS
 * string is already a choice of the parser (and costs more than this whole floor).
 */
export function tokenise(bytes: Uint8Array): number {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isUtf8(b)) throw new Error('floor: the file is not UTF-8');
  let n = 0;
  for (let i = b.indexOf(0x3c); i >= 0; i = b.indexOf(0x3c, i + 1)) {
    const end = b.indexOf(0x3e, i + 1);
    if (end < 0) break;
    n++;
    i = end;
  }
  return n;
}

/** The floor on one thread, from the files on disk: read + inflate + tokenise. */
export function floorFiles(paths: readonly string[]): FloorCount {
  let bytes = 0;
  let xmlBytes = 0;
  let tags = 0;
  for (const p of paths) {
    const b = readFileSync(p);
    bytes += b.length;
    const x = inflate(b);
    xmlBytes += x.length;
    tags += tokenise(x);
  }
  return { bytes, xmlBytes, tags };
}

export interface FloorCount {
  /** bytes read */
  bytes: number;
  /** bytes of XML (gzipped files inflated) */
  xmlBytes: number;
  tags: number;
}

const FLOOR_WORKER = new URL('../../workers/bench-floor.js', import.meta.url);

/** The floor on `threads` worker threads (files split by size). */
export async function floorThreads(files: readonly { path: string; bytes: number }[], threads: number): Promise<FloorCount> {
  const parts: { paths: string[]; bytes: number }[] = Array.from({ length: Math.max(1, threads) }, () => ({ paths: [], bytes: 0 }));
  for (const f of [...files].sort((a, b) => b.bytes - a.bytes)) {
    const least = parts.reduce((m, p) => (p.bytes < m.bytes ? p : m));
    least.paths.push(f.path);
    least.bytes += f.bytes;
  }
  const counts = await Promise.all(
    parts.map(
      (p) =>
        new Promise<FloorCount>((resolve, reject) => {
          const w = new Worker(FLOOR_WORKER, { workerData: { paths: p.paths } });
          w.once('message', (m: FloorCount) => resolve(m));
          w.once('error', reject);
          w.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`floor worker exited with ${code}`))));
        }),
    ),
  );
  return counts.reduce((s, c) => ({ bytes: s.bytes + c.bytes, xmlBytes: s.xmlBytes + c.xmlBytes, tags: s.tags + c.tags }), { bytes: 0, xmlBytes: 0, tags: 0 });
}
