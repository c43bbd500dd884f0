/**
 * The one pino root logger: JSON lines on stderr (data and human summaries go to stdout), and for a
 * run also a per-run log file holding every line at debug level, for the operator's records.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';

export function makeLogger(opts: { quiet?: boolean; level?: string; file?: string } = {}): Logger {
  const level = opts.level ?? process.env.DECLMATCH_LOG_LEVEL ?? (opts.quiet ? 'warn' : 'info');
  const stderr = pino.destination({ fd: 2, sync: true });
  if (!opts.file) return pino({ level, base: { pid: process.pid } }, stderr);
  mkdirSync(dirname(opts.file), { recursive: true });
  const file = pino.destination({ dest: opts.file, sync: true, mkdir: true });
  const fileLevel = pino.levels.values[level] !== undefined && pino.levels.values[level]! < pino.levels.values.debug! ? level : 'debug';
  return pino(
    { level: fileLevel, base: { pid: process.pid } },
    pino.multistream([
      { level: level as pino.Level, stream: stderr },
      { level: fileLevel as pino.Level, stream: file },
    ]),
  );
}

/** NO_COLOR (https://no-color.org) and a terminal decide whether the summary is coloured. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '') && process.env.TERM !== 'dumb';
}
