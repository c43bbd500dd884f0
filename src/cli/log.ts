/** The one pino root logger: JSON lines on stderr (data and human summaries go to stdout). */
import { pino, type Logger } from 'pino';

export function makeLogger(opts: { quiet?: boolean; level?: string } = {}): Logger {
  const level = opts.level ?? process.env.DECLMATCH_LOG_LEVEL ?? (opts.quiet ? 'warn' : 'info');
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
