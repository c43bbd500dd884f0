/**
 * Test hook of the crash-safety tests: DECLMATCH_FAULT_INJECT=kill:<point> SIGKILLs this process
 * when it reaches <point>. Points: `publish` (decided, nothing published yet), `commit` (just
 * before COMMIT), `committed` (just after it), and `stage:<stage>` right after any stage's lap is
 * recorded (src/util/timer.ts). Read at each point, so a test sets it per child process; costs a
 * string compare when unset.
 */
export function faultPoint(point: string): void {
  if (process.env.DECLMATCH_FAULT_INJECT === `kill:${point}`) process.kill(process.pid, 'SIGKILL');
}
