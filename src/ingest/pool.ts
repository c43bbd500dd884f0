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
 */
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { unpackResult, type ParseResult, type ParseTask, type StreamedPart } from './parse-file.js';

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
}

/** How long the parts a finished worker announced may take to arrive (they were sent before its result). */
const PARTS_GRACE_MS = 60_000;

const WORKER = new URL('../../workers/parse.js', import.meta.url);

export async function runPool(tasks: readonly ParseTask[], o: PoolOptions): Promise<void> {
  const pool = new Piscina({
    filename: WORKER.href,
    minThreads: o.threads,
    maxThreads: o.threads,
    idleTimeout: 1000,
    maxQueue: o.threads * 2,
    resourceLimits: { maxOldGenerationSizeMb: o.workerHeapMb },
  });
  let consecutive = 0;
  let next = 0;
  let failure: Error | null = null;
  // loading happens on this thread in completion order; one result at a time
  let loading: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  const runOne = (task: ParseTask): Promise<void> => {
    const limit = o.timeoutMs + Math.ceil(((task.bytes ?? 0) / 1e6) * (o.timeoutMsPerMb ?? 0));
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
  try {
    while (next < tasks.length && !failure) {
      while (inFlight.size < o.threads * 2 && next < tasks.length && !failure) runOne(tasks[next++] as ParseTask);
      if (inFlight.size) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await loading;
    if (failure) throw failure;
  } finally {
    await pool.destroy();
  }
}
