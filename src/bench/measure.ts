/**
 * Timing: tinybench for everything that runs in this process (median of the samples, its relative
 * margin of error), single measurements for child processes, and the scope's machine-noise
 * estimate (a fixed CPU-bound task timed at the start of the scope, between its sections and at its end).
 */
import { Bench } from 'tinybench';
import type { BenchResult, Better, Ratios } from './types.js';

export interface Timed {
  /** median sample, ms */
  ms: number;
  samples: number;
  /** relative margin of error (fraction) */
  rme: number;
  error?: string;
}

export interface TimeOptions {
  /** at least this many timed samples */
  iterations: number;
  /** and keep sampling until this many ms have passed */
  time?: number;
  /** one untimed run first (default true) */
  warmup?: boolean;
  /** untimed, before/after every sample (warm-up included) */
  beforeEach?: () => unknown;
  afterEach?: () => unknown;
}

/** Times `fn` with tinybench; never throws (an error comes back in `error`). */
export async function timeIt(name: string, fn: () => unknown, o: TimeOptions): Promise<Timed> {
  const bench = new Bench({
    name,
    iterations: o.iterations,
    time: o.time ?? 0,
    warmup: o.warmup ?? true,
    warmupIterations: 1,
    warmupTime: 0,
    throws: false,
  });
  bench.add(
    name,
    async () => {
      await fn();
    },
    {
      async: true,
      ...(o.beforeEach ? { beforeEach: async () => void (await o.beforeEach?.()) } : {}),
      ...(o.afterEach ? { afterEach: async () => void (await o.afterEach?.()) } : {}),
    },
  );
  await bench.run();
  const r = bench.tasks[0]?.result;
  if (!r || r.state === 'errored') return { ms: NaN, samples: 0, rme: 0, error: r && 'error' in r ? errorText(r.error) : 'the task did not run' };
  if (r.state !== 'completed') return { ms: NaN, samples: 0, rme: 0, error: `the task ended ${r.state}` };
  const l = r.latency;
  return { ms: l.p50, samples: l.samplesCount, rme: Number.isFinite(l.rme) ? l.rme / 100 : 0 };
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] ?? e.name : String(e);
}

/** Builds results of one scope; `noise` is the scope's machine noise (fraction). */
export class Recorder {
  readonly results: BenchResult[] = [];
  noise = 0;
  constructor(
    readonly scope: string,
    private readonly log: (line: string) => void,
  ) {}

  add(
    name: string,
    value: number,
    unit: string,
    better: Better,
    t: { samples: number; rme: number; error?: string | undefined } = { samples: 1, rme: 0 },
    extra: { ratioTo?: Ratios; detail?: BenchResult['detail'] } = {},
  ): BenchResult {
    const r: BenchResult =
      t.error !== undefined || !Number.isFinite(value)
        ? { name, scope: this.scope, value: NaN, unit, better, samples: 0, rme: 0, noise: 0, state: 'errored', error: t.error ?? `no finite value (${value})`, ...(extra.detail ? { detail: extra.detail } : {}) }
        : {
            name,
            scope: this.scope,
            value: round(value),
            unit,
            better,
            samples: t.samples,
            rme: round(t.rme, 4),
            noise: round(Math.max(t.rme, this.noise), 4),
            state: 'completed',
            ...(extra.ratioTo && Object.keys(extra.ratioTo).length ? { ratioTo: roundRatios(extra.ratioTo) } : {}),
            ...(extra.detail ? { detail: extra.detail } : {}),
          };
    this.results.push(r);
    this.log(r.state === 'completed' ? `  ${name}: ${fmt(r.value)} ${unit}${r.rme ? ` ±${(r.rme * 100).toFixed(1)} %` : ''}` : `  ${name}: ERROR ${r.error}`);
    return r;
  }

  /** A throughput (units per second) from a timing of `units` of work. */
  rate(name: string, units: number, unit: string, t: Timed, extra: { ratioTo?: Ratios; detail?: BenchResult['detail'] } = {}): BenchResult {
    return this.add(name, units / (t.ms / 1000), unit, 'higher', t, extra);
  }

  /** Seconds, lower is better. */
  seconds(name: string, t: Timed, extra: { ratioTo?: Ratios; detail?: BenchResult['detail'] } = {}): BenchResult {
    return this.add(name, t.ms / 1000, 's', 'lower', t, extra);
  }

  get(name: string): BenchResult | undefined {
    return this.results.find((r) => r.name === name && r.state === 'completed');
  }
}

export function round(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const p = Math.max(0, digits - Math.floor(Math.log10(Math.abs(x))) - 1);
  const f = 10 ** Math.min(p, 9);
  return Math.round(x * f) / f;
}

function roundRatios(r: Ratios): Ratios {
  const out: Ratios = {};
  for (const k of Object.keys(r) as (keyof Ratios)[]) {
    const v = r[k];
    if (v !== undefined && Number.isFinite(v)) out[k] = round(v, 3);
  }
  return out;
}

export function fmt(x: number): string {
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(round(x, 3));
}

/**
 * The scan the noise probe times: the '<' bytes of `b`. A function of the module taking the buffer
 * as an argument, on purpose: V8 optimises the first closure made from a function with the
 * variables it captures as constants, and later closures of the same function without. A probe
 * written as a closure over its buffer measured ~1,300–1,450 MB/s in the first scope of a process,
 * then ~800 MB/s ever after, and reported that change as ~50–80 % machine noise in every run.
 */
function scanLt(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 0x3c) n++;
  return n;
}

/** Untimed scans before the first timed sample, so that every sample runs the optimised scan. */
const PROBE_WARMUP = 5;

/**
 * The machine's noise, measured: the same CPU-bound task (scanning 8 MB for '<') timed at the
 * start of a scope, between its sections (`sample`) and at its end. Noise = the largest margin of
 * error of a sampling and the relative spread of their medians ((slowest − fastest) / fastest).
 */
export class NoiseProbe {
  private readonly buf: Uint8Array;
  private readonly timed: Timed[] = [];
  private sink = 0;
  constructor(private readonly iterations: number) {
    this.buf = new Uint8Array(8 * 1024 * 1024);
    for (let i = 0; i < this.buf.length; i++) this.buf[i] = i % 37 === 0 ? 0x3c : 0x61;
    for (let k = 0; k < PROBE_WARMUP; k++) this.sink += scanLt(this.buf);
  }
  private async once(): Promise<Timed> {
    const t = await timeIt('noise-probe', () => (this.sink += scanLt(this.buf)), { iterations: this.iterations });
    if (Number.isFinite(t.ms)) this.timed.push(t);
    return t;
  }
  async start(): Promise<number> {
    return (await this.once()).rme;
  }
  /** One more sampling, between two sections of the scope. */
  async sample(): Promise<void> {
    await this.once();
  }
  async end(): Promise<ProbeSummary> {
    await this.once();
    if (this.timed.length < 2) await this.once();
    return probeSummary(this.timed, this.buf.length);
  }
}

export interface ProbeSummary {
  /** the largest margin of error of a sampling, or the spread of their medians if larger (fraction) */
  noise: number;
  /** the probe's speed at the median of the samplings' medians (the lower median of an even count) */
  mbPerSecond: number;
  samples: number;
  samplings: number;
}

/** What the samplings of a noise probe of `bytes` bytes say of the machine (NoiseProbe.end). */
export function probeSummary(timed: readonly Timed[], bytes: number): ProbeSummary {
  const ms = timed.map((t) => t.ms);
  if (ms.length === 0) return { noise: 0, mbPerSecond: NaN, samples: 0, samplings: 0 };
  const fastest = Math.min(...ms);
  const spread = (Math.max(...ms) - fastest) / fastest;
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return {
    noise: Math.max(spread, ...timed.map((t) => t.rme)),
    mbPerSecond: bytes / 1e6 / (median / 1000),
    samples: timed.reduce((n, t) => n + t.samples, 0),
    samplings: timed.length,
  };
}

/** Two-sided 95 % t critical values for 1…30 degrees of freedom (then 1.96). */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Median and relative margin of error of samples taken by hand (ms). */
export function fromSamples(ms: readonly number[]): Timed {
  const n = ms.length;
  if (n === 0) return { ms: NaN, samples: 0, rme: 0, error: 'no samples' };
  const sorted = [...ms].sort((a, b) => a - b);
  const median = n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  if (n === 1) return { ms: median, samples: 1, rme: 0 };
  const mean = ms.reduce((s, x) => s + x, 0) / n;
  const sd = Math.sqrt(ms.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const rme = mean > 0 ? ((T95[n - 2] ?? 1.96) * sd) / Math.sqrt(n) / mean : 0;
  return { ms: median, samples: n, rme };
}
