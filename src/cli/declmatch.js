#!/usr/bin/env node
// The `declmatch` command: a plain-JS shim so that npm can link it before the TypeScript build
// (`npm ci` runs `prepare`, which compiles to dist/). Run `npm run build` if dist/ is missing.
import { existsSync } from 'node:fs';
const main = new URL('../../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('declmatch: the build output is missing; run `npm run build` (npm ci does it) first.\n');
  process.exit(70);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
