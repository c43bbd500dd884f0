/**
 * Test hook of the crash-safety tests. DECLMATCH_FAULT_INJECT=kill:<point> SIGKILLs this process
 * when it reaches <point>; DECLMATCH_FAULT_INJECT=pause:<point> blocks it there for 3 seconds (a
 * window in which a test acts on a run that is known to be mid-way). Points: `publish` (decided,
 * nothing published yet), `commit` (just before COMMIT), `committed` (just after it), and
 * `stage:<stage>` right after any stage's lap is recorded (src/util/timer.ts). Read at each point,
 * so a test sets it per child process; costs a string compare when unset.
 *
 * The same variable drives two other hooks: `corrupt:decisions` (src/cli/main.ts) duplicates a
 * decision row inside the publishing transaction so that the publish checks must fail (exit 2);
 * `throw|exit|hang:<part of a file name>` (workers/parse.ts) makes a parse worker fail that way on
 * the matching files.
 */
export function faultPoint(point: string): void {
  const inject = process.env.DECLMATCH_FAULT_INJECT;
  if (inject === undefined) return;
  if (inject === `kill:${point}`) process.kill(process.pid, 'SIGKILL');
  if (inject === `pause:${point}`) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
}
