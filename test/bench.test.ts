/**
 * The benchmark suite: the smoke scope runs every benchmark and records what it measured with the
 * machine; `check` fails a budget miss and a regression beyond the noise, and nothing else. No
 * timing is asserted.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { allowedCpus } from '../src/bench/data.js';
import { check, runBench, type BenchResult, type BenchRun, type Budget } from '../src/bench/index.js';
import { probeSummary, type Timed } from '../src/bench/measure.js';

const tmp = mkdtempSync(join(tmpdir(), 'declmatch-bench-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('the smoke scope', () => {
  let outcome: Awaited<ReturnType<typeof runBench>>;
  const resultsDir = join(tmp, 'results');

  test('runs every benchmark and produces a completed result for each', { timeout: 180_000 }, async () => {
    outcome = await runBench({ scope: 'smoke', cache: join(tmp, 'cache'), resultsDir, record: true, print: false });
    const names = new Set(outcome.results.map((r) => r.name));
    const errored = outcome.results.filter((r) => r.state !== 'completed').map((r) => `${r.name}: ${r.error}`);
    assert.deepEqual(errored, []);
    for (const want of [
      'ref.floor.list',
      'ref.fxp.list',
      'ref.naive.list',
      'parse.fast.list',
      'parse.reference.list',
      'parsefile.list',
      'build.list_line',
      'load.list_line',
      'ref.appender.list_line',
      'parse.fast.per-core',
      'parse.fast.x-fxp',
      'ingest.xml',
      'ingest.parquet',
      'decide',
      'decide.checks',
      'publish',
      'report',
      'run.xml.wall',
      'run.xml.peak-rss',
      'run.xml.x-floor',
      'run.parquet.wall',
      'ref.store.day',
      'run.parquet.x-store',
      'run.night-3.wall',
      'run.night-3.stage.decide',
      'run.nightly.x-first',
      'run.nightly.decide.x-first',
      'machine.noise',
    ])
      assert.ok(names.has(want), `no ${want} among ${[...names].join(', ')}`);
    assert.equal(names.size, outcome.results.length, 'result names are unique within a scope');
    for (const r of outcome.results) {
      assert.equal(r.scope, 'smoke');
      assert.ok(Number.isFinite(r.value) && r.value >= 0, `${r.name} = ${r.value}`);
      assert.ok(r.samples >= 1 && r.rme >= 0 && r.noise >= r.rme, `${r.name}: samples ${r.samples}, rme ${r.rme}, noise ${r.noise}`);
      assert.ok(r.better === 'lower' || r.better === 'higher');
    }
    if ((allowedCpus()?.length ?? 0) >= 2) for (const want of ['run.xml.1c.wall', 'run.xml.scaling-cores']) assert.ok(names.has(want), `no ${want}`);
    const store = outcome.results.find((r) => r.name === 'ref.store.day');
    assert.ok(Number(store?.detail?.rows) > 300, 'the store reference keeps every row of the Parquet day');
    assert.ok(outcome.results.find((r) => r.name === 'run.parquet.wall')?.ratioTo?.store, 'the Parquet run is given against the store reference');
    const parse = outcome.results.find((r) => r.name === 'parse.fast.list');
    assert.ok(parse?.ratioTo?.floor && parse.ratioTo.fxp && parse.ratioTo.naive, 'a parse result is given as ratios to the three references');
    // the machine is sampled between the sections too, not only at the two ends of the scope
    const probe = outcome.results.find((r) => r.name === 'machine.probe');
    assert.ok(Number(probe?.detail?.samplings) > 4, `machine.probe sampled ${String(probe?.detail?.samplings)} times`);
  });

  test('writes the run as JSON with the machine into the results folder, and latest.json', () => {
    assert.equal(outcome.files.length, 1);
    const file = outcome.files[0]!;
    assert.ok(file.startsWith(resultsDir));
    assert.match(basename(file), /^smoke-\d+c-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.json$/);
    const run = JSON.parse(readFileSync(file, 'utf8')) as BenchRun;
    assert.equal(run.scope, 'smoke');
    assert.ok(run.machine.cores >= 1 && run.machine.memoryGiB > 0 && run.machine.cpuModel && run.machine.node.startsWith('v') && run.machine.duckdb.startsWith('v'));
    assert.equal(run.results.length, outcome.results.length);
    const latest = JSON.parse(readFileSync(join(resultsDir, 'latest.json'), 'utf8')) as Record<string, { file: string }>;
    assert.equal(latest[`smoke-${run.machine.cores}c`]?.file, basename(file));
    assert.deepEqual(readdirSync(resultsDir).sort(), ['latest.json', basename(file)].sort());
    // the scratch folder of the run is gone; the generated data stays in the cache
    assert.deepEqual(readdirSync(join(tmp, 'cache')).filter((n) => n.startsWith('work-')), []);
    assert.ok(existsSync(join(tmp, 'cache', 'xml-300-2d', 'manifest.json')));
  });
});

describe('the noise probe', () => {
  const t = (ms: number, rme = 0.01): Timed => ({ ms, samples: 20, rme });
  test('noise is the spread of the samplings (slowest over fastest) when it is larger than their margins of error', () => {
    const s = probeSummary([t(10), t(12), t(10.5), t(15)], 8_000_000);
    assert.equal(s.samplings, 4);
    assert.equal(s.samples, 80);
    assert.ok(Math.abs(s.noise - 0.5) < 1e-12, `noise ${s.noise}`);
    // the lower median of the four medians (10.5 ms): 8 MB in 10.5 ms
    assert.ok(Math.abs(s.mbPerSecond - 8 / 0.0105) < 1e-9, `speed ${s.mbPerSecond}`);
  });
  test('a steady machine is as noisy as its largest margin of error', () => {
    const s = probeSummary([t(10, 0.02), t(10, 0.05), t(10, 0.01)], 8_000_000);
    assert.equal(s.noise, 0.05);
    assert.equal(s.mbPerSecond, 800);
  });
});

describe('check', () => {
  const result = (name: string, value: number, o: Partial<BenchResult> = {}): BenchResult => ({
    name,
    scope: 'hot',
    value,
    unit: 's',
    better: 'lower',
    samples: 5,
    rme: 0.02,
    noise: 0.02,
    state: 'completed',
    ...o,
  });
  const budgets: Budget[] = [
    { id: 'b-max', result: 'decide', scopes: ['hot'], max: 30, unit: 's', meaning: 'decide in seconds' },
    { id: 'b-min', result: 'parse.fast.per-core', scopes: ['hot'], min: 100, unit: 'MB/s', meaning: 'parse per core' },
    { id: 'b-other-scope', result: 'decide', scopes: ['day1m'], max: 1, unit: 's', meaning: 'not this scope' },
  ];
  const fails = (lines: ReturnType<typeof check>) => lines.filter((l) => l.status === 'fail').map((l) => `${l.kind}:${l.name}`);

  test('fails a budget miss (max and min) and passes what is within its budget', () => {
    assert.deepEqual(fails(check([result('decide', 31), result('parse.fast.per-core', 99, { unit: 'MB/s', better: 'higher' })], budgets, null)), ['budget:decide', 'budget:parse.fast.per-core']);
    const ok = check([result('decide', 29), result('parse.fast.per-core', 120, { unit: 'MB/s', better: 'higher' })], budgets, null);
    assert.deepEqual(fails(ok), []);
    assert.equal(ok.filter((l) => l.kind === 'budget' && l.status === 'pass').length, 2, 'a budget of another scope does not apply');
  });

  test('fails a regression beyond 15 % against the previous result, either direction of better', () => {
    const previous = [result('ingest.xml', 10), result('parse.fast.list', 100, { unit: 'MB/s', better: 'higher' })];
    assert.deepEqual(fails(check([result('ingest.xml', 12), result('parse.fast.list', 80, { unit: 'MB/s', better: 'higher' })], [], previous)), ['regression:ingest.xml', 'regression:parse.fast.list']);
    assert.deepEqual(fails(check([result('ingest.xml', 11), result('parse.fast.list', 90, { unit: 'MB/s', better: 'higher' })], [], previous)), [], 'within 15 %');
    assert.deepEqual(fails(check([result('ingest.xml', 5)], [], previous)), [], 'faster is not a regression');
  });

  test('a regression must also exceed the measured noise, of this run or the previous one', () => {
    assert.deepEqual(fails(check([result('ingest.xml', 12.5, { noise: 0.3 })], [], [result('ingest.xml', 10)])), []);
    assert.deepEqual(fails(check([result('ingest.xml', 12.5)], [], [result('ingest.xml', 10, { noise: 0.3 })])), []);
    assert.deepEqual(fails(check([result('ingest.xml', 14, { noise: 0.3 })], [], [result('ingest.xml', 10)])), ['regression:ingest.xml']);
  });

  test('references, the machine probe and exit codes are not held to the previous run; errors always fail', () => {
    const previous = [result('ref.fxp.list', 10), result('machine.noise', 1, { unit: '%' }), result('run.parquet.exit', 0, { unit: 'code' })];
    assert.deepEqual(fails(check([result('ref.fxp.list', 20), result('machine.noise', 50, { unit: '%' }), result('run.parquet.exit', 1, { unit: 'code' })], [], previous)), []);
    assert.deepEqual(fails(check([result('publish', NaN, { state: 'errored', error: 'boom' })], [], null)), ['error:publish']);
  });

  test('a budgeted result that did not run is reported as skipped, not passed', () => {
    const lines = check([result('publish', 1)], budgets, null);
    assert.deepEqual(
      lines.filter((l) => l.kind === 'budget').map((l) => `${l.status}:${l.name}`),
      ['skip:decide', 'skip:parse.fast.per-core'],
    );
  });
});
