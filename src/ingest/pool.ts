/**
 * The parse pool: piscina workers with a fixed thread count, a time limit per file, bounded
 * in-flight work (back-pressure towards the loader) and recovery from worker faults. A worker that
 * throws, dies or runs out of time quarantines its file and the run goes on with a fresh worker;
 * after `maxConsecutiveFailures` failures in a row the pool stops with a PoolError.
 *
 * Each task gets a MessagePort through which its worker streams finished parts of the file
 * (`StreamedPart`: Arrow batches, quarantine rows) while it reads; they are loaded in arrival order
 * on the same chain as the results, and each is acknowledged once loaded, which is what lets the
 * worker read on (parse-file.ts: at most STREAM_WINDOW parts unacknowledged). The parts of a file
 * that ends malformed, of a worker that fails, or of an attempt the reader abandoned are dropped
 * again (`onDiscard`) before its result is loaded, so that a file is still staged all or nothing.
 *
 * Small XML files travel in groups (`groupTasks`, parse-file.ts `parseGroup`): one task, one set
 * of batches for all of them, each file's result as it would be alone. A group is not streamed; if
 * its worker fails, its files are queued again one by one and the fault handling above applies to
 * each. On a generated 100,000-list XML day (3,922 files of ~140 KB) this took the ingest from
 * 22.1 s to 17.4 s on 2 cores (CPU 35.4 s -> 28.2 s).
 */
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { unpackGroup, unpackResult, type ParseResult, type ParseTask, type StreamedPart } from './parse-file.js';

export class PoolError extends Error {
  readonly code = 'WORKERS_FAILING';
}

export interface PoolOptions {
  threads: number;
  /**
   * Per file: this, plus `timeoutMsPerMb` per MB of the file (a 50 MB Parquet file holds two
   * million rows and legitimately takes minutes to turn into records).
   */
  timeoutMs: number;
  timeoutMsPerMb?: number;
  maxConsecutiveFailures: number;
  /** V8 heap of one worker (MiB). */
  workerHeapMb: number;
  /** Called in completion order, one at a time; the pool waits for it (back-pressure). */
  onResult: (r: ParseResult) => Promise<void>;
  /** A part of `file` streamed by its worker before the result; called on the same chain as onResult. */
  onPart: (file: string, part: StreamedPart) => Promise<void>;
  /** Drops every part of `file` loaded so far (a malformed file, a failed worker, an abandoned attempt). */
  onDiscard: (file: string) => Promise<void>;
  /**
   * XML files of at most `groupFileBytes` go to the workers in groups of about `groupBytes`
   * (parse-file.ts `parseGroup`); 0 sends every file alone. A group whose worker fails is sent
   * again file by file, so that only the file at fault is quarantined.
   */
  groupBytes?: number;
  groupFileBytes?: number;
}

/** Defaults of PoolOptions.groupBytes / groupFileBytes (a generated day's messages are ~140 KB). */
export const GROUP_BYTES = 4_000_000;
export const GROUP_FILE_BYTES = 1_000_000;
/** Most files in one group. */
const GROUP_FILES = 64;

/** Consecutive small XML tasks as groups, the rest alone (in the order given). */
export function groupTasks(tasks: readonly ParseTask[], groupBytes: number, groupFileBytes: number): (ParseTask | ParseTask[])[] {
  const out: (ParseTask | ParseTask[])[] = [];
  let group: ParseTask[] = [];
  let bytes = 0;
  const close = () => {
    if (group.length === 1) out.push(group[0] as ParseTask);
    else if (group.length > 1) out.push(group);
    group = [];
    bytes = 0;
  };
  for (const t of tasks) {
    const b = t.bytes ?? Infinity;
    if (groupBytes <= 0 || t.kind !== 'xml' || b > groupFileBytes) {
      close();
      out.push(t);
      continue;
    }
    group.push(t);
    bytes += b;
    if (bytes >= groupBytes || group.length >= GROUP_FILES) close();
  }
  close();
  return out;
}

/** How long the parts a finished worker announced may take to arrive (they were sent before its result). */
const PARTS_GRACE_MS = 60_000;

/**
 * The workers' young generation (V8's new space: `maxYoungGenerationSizeMb` 192 gives two 64 MB
 * semi-spaces; V8's default is 48, with 16 MB ones). Parsing allocates a string per field and an array per
 * row, nearly all dead by the next batch: with larger semi-spaces fewer of them survive a scavenge
 * to be copied. Measured: half of a 100,000-list XML day parsed on one thread 3.94 → 3.68 s
 * (128 MB semi-spaces: no better); `declmatch ingest` of the 1,000,000-list XML day 88.2 → 83.0 /
 * 83.5 s (CPU 145 → 137 / 132 s), peak RSS 2.08 → 2.33 GB (2 cores). All workers together get at
 * most `WORKER_YOUNG_TOTAL_MB` (each at least V8's default): many threads get no more memory.
 */
const WORKER_YOUNG_MAX_MB = 192;
const WORKER_YOUNG_MIN_MB = 48;
const WORKER_YOUNG_TOTAL_MB = 384;
export function workerYoungMb(threads: number): number {
  return Math.max(WORKER_YOUNG_MIN_MB, Math.min(WORKER_YOUNG_MAX_MB, Math.floor(WORKER_YOUNG_TOTAL_MB / Math.max(1, threads))));
}

// a CommonJS entry that imports workers/parse.js (see workers/entry.cts for why)
const WORKER = new URL('../../workers/entry.cjs', import.meta.url);

export async function runPool(tasks: readonly ParseTask[], o: PoolOptions): Promise<void> {
  const pool = new Piscina({
    filename: WORKER.href,
    minThreads: o.threads,
    maxThreads: o.threads,
    idleTimeout: 1000,
    maxQueue: o.threads * 2,
    resourceLimits: { maxOldGenerationSizeMb: o.workerHeapMb, maxYoungGenerationSizeMb: workerYoungMb(o.threads) },
  });
  let consecutive = 0;
  let next = 0;
  let failure: Error | null = null;
  // loading happens on this thread in completion order; one result at a time
  let loading: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  /** The time limit of a task of `bytes` (a file, or a group's files together). */
  const limitFor = (bytes: number) => o.timeoutMs + Math.ceil((bytes / 1e6) * (o.timeoutMsPerMb ?? 0));
  const runOne = (task: ParseTask): Promise<void> => {
    const limit = limitFor(task.bytes ?? 0);
    const { port1, port2 } = new MessageChannel();
    // parts received, the attempt and whether anything of it has been loaded (as of the chain)
    let received = 0;
    let attempt = 0;
    let loaded = false;
    let closed = false;
    let awaited = -1;
    let arrived: (() => void) | null = null;
    const close = () => {
      closed = true;
      port1.close();
    };
    port1.on('message', (part: StreamedPart) => {
      if (closed) return; // a failed worker's late parts
      received++;
      loading = loading.then(async () => {
        if (part.attempt !== attempt) {
          if (loaded) await o.onDiscard(task.name);
          attempt = part.attempt;
          loaded = false;
        }
        loaded = true;
        await o.onPart(task.name, part);
        if (!closed) port1.postMessage(0); // acknowledged: the worker may read on
      });
      if (received === awaited) arrived?.();
    });
    const failed = (detail: string): ParseResult => ({
      file: task.name,
      status: 'malformed',
      detail,
      messageGuid: null,
      recordType: task.recordType ?? null,
      counts: {},
      batches: [],
      quarantine: [{ file: task.name, messageGuid: null, recordIndex: null, recordType: task.recordType ?? null, businessKey: null, field: null, code: 'MALFORMED_MESSAGE', detail }],
    });
    const p = pool
      .run({ ...task, port: port2 }, { signal: AbortSignal.timeout(limit), transferList: [port2] })
      .then(
        async (buf: ArrayBuffer) => {
          consecutive = 0;
          const r = unpackResult(buf);
          const n = r.streamed ?? 0;
          if (received < n) {
            // sent before the result, but on another port: wait for them
            const ok = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), PARTS_GRACE_MS);
              awaited = n;
              arrived = () => {
                clearTimeout(timer);
                resolve(true);
              };
            });
            if (!ok) return failed(`the parse worker's streamed results did not arrive (${received} of ${n})`);
          }
          return r;
        },
        (err: unknown): ParseResult => {
          consecutive++;
          const e = err as Error;
          const detail =
            e?.name === 'AbortError' || e?.name === 'TimeoutError'
              ? `the parse worker ran out of time (${limit} ms) on this file`
              : `the parse worker failed on this file: ${e?.message ?? String(err)}`;
          if (consecutive >= o.maxConsecutiveFailures && !failure)
            failure = new PoolError(`${consecutive} parse workers failed in a row (last: ${task.name}: ${detail}); stopping`);
          return failed(detail);
        },
      )
      .then((r) => {
        close();
        loading = loading.then(async () => {
          // what was streamed stands only for an ok file and the attempt its result belongs to
          if (loaded && (r.status !== 'ok' || r.attempt !== attempt)) await o.onDiscard(task.name);
          await o.onResult(r);
        });
        return loading;
      });
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    return tracked;
  };
  // a group: no streaming; its results (in file order) and batches come back together. If its
  // worker fails, its files go back in the queue one by one (a failed group does not count towards
  // maxConsecutiveFailures: the single files that fail again do).
  const runGroup = (group: ParseTask[]): Promise<void> => {
    const limit = limitFor(group.reduce((n, t) => n + (t.bytes ?? 0), 0));
    const p = pool.run({ group }, { signal: AbortSignal.timeout(limit) }).then(
      (buf: ArrayBuffer) => {
        consecutive = 0;
        const g = unpackGroup(buf);
        loading = loading.then(async () => {
          // the group's batches hold the rows of its ok files: loaded with the first result
          for (const [i, r] of g.results.entries()) await o.onResult(i === 0 ? { ...r, batches: g.batches } : r);
        });
        return loading;
      },
      () => {
        units.push(...group);
      },
    );
    const tracked = p.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    return tracked;
  };
  const units = groupTasks(tasks, o.groupBytes ?? GROUP_BYTES, o.groupFileBytes ?? GROUP_FILE_BYTES);
  try {
    while ((next < units.length || inFlight.size) && !failure) {
      while (inFlight.size < o.threads * 2 && next < units.length && !failure) {
        const u = units[next++] as ParseTask | ParseTask[];
        if (Array.isArray(u)) runGroup(u);
        else runOne(u);
      }
      if (inFlight.size) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await loading;
    if (failure) throw failure;
  } finally {
    await pool.destroy();
  }
}
