/** The machine a benchmark ran on: the suite's own record (src/bench/machine.ts), for the one-off scripts in bench/. */
export { machine } from '../src/bench/machine.js';
