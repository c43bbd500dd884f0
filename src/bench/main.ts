/**
 * `npm run bench:smoke` / `npm run bench:check` until `declmatch bench` is wired:
 *
 *   node dist/src/bench/main.js [--scope s[,s…]] [--json] [--check] [--cache DIR] [--results DIR] [--record|--no-record] [--threads N]
 *
 * Without --check the exit code is 0 whenever the suite ran; with it, 1 when a check failed (a
 * budget missed, a regression beyond the noise, a benchmark that did not complete).
 */
import { runBench } from './runner.js';

const args = process.argv.slice(2);
const value = (name: string): string | undefined => {
  const i = args.lastIndexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const record = args.includes('--no-record') ? false : args.includes('--record') ? true : undefined;
try {
  const threads = value('--threads');
  const r = await runBench({
    scope: value('--scope') ?? 'smoke',
    json: args.includes('--json'),
    ...(value('--cache') ? { cache: value('--cache') } : {}),
    ...(value('--results') ? { resultsDir: value('--results') } : {}),
    ...(record !== undefined ? { record } : {}),
    ...(threads ? { threads: Number(threads) } : {}),
  });
  process.exitCode = args.includes('--check') && !r.ok ? 1 : 0;
} catch (e) {
  process.stderr.write(`declmatch bench: ${(e as Error).message}\n`);
  process.exitCode = e instanceof RangeError ? 64 : 70;
}
