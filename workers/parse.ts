/**
 * The parse worker (piscina): one file in; its Arrow batches and quarantine rows streamed through
 * the task's port while it reads, and what is left (with the counts) as one transferable buffer at
 * the end (see src/ingest/parse-file.ts). Or a group of small files in (`{ group }`, see pool.ts),
 * and their results with the group's batches out as one buffer. It imports only what parsing needs.
 *
 * Fault injection for the worker-fault tests: DECLMATCH_FAULT_INJECT="<mode>:<file name part>"
 * with mode throw, exit or hang makes the worker fail that way on files whose name contains the
 * part (a group fails when any of its files does). It is read from the environment the pool was
 * started with; unset, it costs nothing.
 */
import { threadId } from 'node:worker_threads';
import { move } from 'piscina';
import { packGroup, packResult, parseFile, parseGroup, type ParseTask } from '../src/ingest/parse-file.js';

const fault = /^(throw|exit|hang):(.+)$/.exec(process.env.DECLMATCH_FAULT_INJECT ?? '');

async function injected(name: string): Promise<void> {
  if (fault && name.includes(fault[2] as string)) {
    if (fault[1] === 'throw') throw new Error(`injected fault on ${name}`);
    if (fault[1] === 'exit') process.exit(3);
    await new Promise(() => {}); // hang
  }
}

export default async function parse(task: ParseTask | { group: ParseTask[] }): Promise<ArrayBuffer> {
  if ('group' in task) {
    for (const t of task.group) await injected(t.name);
    const g = await parseGroup(task.group);
    return move(packGroup({ ...g, results: g.results.map((r) => ({ ...r, worker: threadId })) })) as ArrayBuffer;
  }
  await injected(task.name);
  const result = await parseFile(task);
  return move(packResult({ ...result, worker: threadId })) as ArrayBuffer;
}
