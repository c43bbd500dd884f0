import { faultPoint } from './fault.js';

/** Stage timings: each call of the returned function appends { stage, seconds since the last call }. */
export interface StageTiming {
  stage: string;
  seconds: number;
  rows?: number | null;
}

export function timer(stages: StageTiming[]): (stage: string, rows?: number | null) => void {
  let t = process.hrtime.bigint();
  return (stage, rows) => {
    const now = process.hrtime.bigint();
    stages.push({ stage, seconds: Number(now - t) / 1e9, ...(rows === undefined ? {} : { rows }) });
    t = now;
    faultPoint(`stage:${stage}`);
  };
}
