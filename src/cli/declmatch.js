#!/usr/bin/env node
// The `declmatch` command: a plain-JS shim so that npm can link it before the TypeScript build
// (`npm ci` runs `prepare`, which compiles to dist/). Run `npm run build` if dist/ is missing.
//
// It also bounds the V8 heap: without a limit V8 lets garbage grow to about 4 GiB on a large
// machine before collecting, which breaks the tool's memory budgets although the live data is far
// smaller. Unless --max-old-space-size is already given (on the command line or in NODE_OPTIONS),
// the command re-runs itself once with DECLMATCH_HEAP_MB (default 1536) MiB. The two are tied by
// an IPC channel: when this first process dies, even by SIGKILL, the channel closes and the second
// one kills itself at once (SIGKILL, so the run stops exactly as a killed run does: the database
// keeps its last published state), instead of going on and publishing behind the operator's back.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const HEAP_FLAG = '--max-old-space-size';
const limited =
  process.execArgv.some((a) => a.startsWith(HEAP_FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(HEAP_FLAG);

if (!limited) {
  const mb = Number(process.env.DECLMATCH_HEAP_MB ?? 1536);
  const child = spawn(
    process.execPath,
    [...process.execArgv, `${HEAP_FLAG}=${mb}`, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...process.env, DECLMATCH_SHIM_CHILD: '1' } },
  );
  // forward the stop signals (a terminal's Ctrl-C reaches the child directly as well: the child
  // stops on the first one it gets)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
  });
} else {
  if (process.env.DECLMATCH_SHIM_CHILD === '1' && process.channel) {
    delete process.env.DECLMATCH_SHIM_CHILD; // not inherited by anything this run starts
    process.channel.unref(); // the channel alone does not keep the run alive
    process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  }
  const main = new URL('../../dist/src/cli/main.js', import.meta.url);
  if (!existsSync(main)) {
    process.stderr.write('declmatch: the build output is missing; run `npm run build` (npm ci does it) first.\n');
    process.exit(70);
  }
  const { main: run } = await import(main.href);
  process.exitCode = await run(process.argv.slice(2));
}
