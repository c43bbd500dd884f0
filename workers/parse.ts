/**
 * The parse worker (piscina): one file in, one transferable buffer out (Arrow batches + the
 * quarantine rows + counts, see src/ingest/parse-file.ts). It imports only what parsing needs.
 */
import { move } from 'piscina';
import { packResult, parseFile, type ParseTask } from '../src/ingest/parse-file.js';

export default async function parse(task: ParseTask): Promise<ArrayBuffer> {
  return move(packResult(await parseFile(task))) as ArrayBuffer;
}
