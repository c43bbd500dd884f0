/**
 * The parse workers' entry point, in CommonJS. piscina loads a worker file with require() first;
 * on Node 20 require() of an ES module (parse.js) goes through Node's require(esm), which once
 * aborted the whole process in the test suite (V8 fatal error "Module::IsGraphAsync must be used
 * on an instantiated module", a race inside Node, not an exception a run could catch). This file
 * is plain CommonJS, so require() takes no ESM path; it loads the worker with import(), once.
 */
const load = () => import('./parse.js').then((m) => m.default);
let parse: ReturnType<typeof load> | undefined;

export = async function entry(task: Parameters<Awaited<ReturnType<typeof load>>>[0]): Promise<ArrayBuffer> {
  parse ??= load();
  return (await parse)(task);
};
