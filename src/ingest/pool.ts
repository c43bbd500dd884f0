/**
 * The parse pool: piscina workers with a fixed thread count, a time limit per file, bounded
 * in-flight work (back-pressure towards the loader) and recovery from worker faults. A worker that
 * throws, dies or runs out of time quarantines its file and the run goes on with a fresh worker;
 * after `maxConsecutiveFailures` failures in a row the pool stops with a PoolError.
 */
import { Piscina } from 'piscina';
import { unpackResult, type ParseResult, type ParseTask } from './parse-file.js';

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
}

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
    const p = pool
      .run(task, { signal: AbortSignal.timeout(limit) })
      .then(
        (buf: ArrayBuffer) => {
          consecutive = 0;
          return unpackResult(buf);
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
          return {
            file: task.name,
            status: 'malformed',
            detail,
            messageGuid: null,
            recordType: task.recordType ?? null,
            counts: {},
            batches: [],
            quarantine: [{ file: task.name, messageGuid: null, recordIndex: null, recordType: task.recordType ?? null, businessKey: null, field: null, code: 'MALFORMED_MESSAGE', detail }],
          };
        },
      )
      .then((r) => {
        loading = loading.then(() => o.onResult(r));
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
