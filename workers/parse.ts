/**
 * The parse worker (piscina): one file in; its Arrow batches and quarantine rows streamed through
 * the task's port while it reads, and what is left (with the counts) as one transferable buffer at
 * the end (see src/ingest/parse-file.ts). It imports only what parsing needs.
 *
 * Fault injection for the worker-fault tests: DECLMATCH_FAULT_INJECT="<mode>:<file name part>"
 * with mode throw, exit or hang makes the worker fail that way on files whose name contains the
 * part. It is read from the environment the pool was started with; unset, it costs nothing.
 */
import { threadId } from 'node:worker_threads';
import { move } from 'piscina';
import { packResult, parseFile, type ParseTask } from '../src/ingest/parse-file.js';

const fault = /^(throw|exit|hang):(.+)$/.exec(process.env.DECLMATCH_FAULT_INJECT ?? '');

export default async function parse(task: ParseTask): Promise<ArrayBuffer> {
  if (fault && task.name.includes(fault[2] as string)) {
    if (fault[1] === 'throw') throw new Error(`injected fault on ${task.name}`);
    if (fault[1] === 'exit') process.exit(3);
    await new Promise(() => {}); // hang
  }
  const result = await parseFile(task);
  return move(packResult({ ...result, worker: threadId })) as ArrayBuffer;
}
