/**
 * A floor worker of the benchmark suite (src/bench/floor.ts): reads and tokenises the files it is
 * given, nothing else, and posts the number of tags found.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { floorFiles } from '../src/bench/floor.js';

const { paths } = workerData as { paths: string[] };
parentPort?.postMessage(floorFiles(paths));
