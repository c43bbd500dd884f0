/**
 * Progress for long commands: a bar on a terminal (cli-progress), plain periodic lines otherwise,
 * nothing with --quiet. Always on stderr, so stdout stays data.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label: string): void;
  stop(): void;
}

export function makeProgress(opts: { quiet?: boolean; unit: string }): Progress {
  if (opts.quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `{label} [{bar}] {percentage}% | {value}/{total} ${opts.unit} | {rate}/s | ETA {eta_formatted}`,
        hideCursor: true,
        noTTYOutput: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    let label = '';
    const t0 = Date.now();
    return {
      update(done, total, l) {
        if (!started || l !== label) {
          if (started) bar.stop();
          bar.start(total, done, { label: l, rate: 0 });
          started = true;
          label = l;
        }
        const rate = Math.round(done / Math.max(0.001, (Date.now() - t0) / 1000));
        bar.setTotal(total);
        bar.update(done, { label: l, rate });
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let lastLine = 0;
  let finished = false;
  const t0 = Date.now();
  return {
    update(done, total, label) {
      const now = Date.now();
      // a line every 5 s, and one when the work is complete
      if (done >= total) {
        if (finished) return;
        finished = true;
      } else if (now - lastLine < 5000) return;
      lastLine = now;
      const secs = (now - t0) / 1000;
      process.stderr.write(`${label}: ${done}/${total} ${opts.unit} (${Math.round(done / Math.max(secs, 0.001))}/s, ${secs.toFixed(1)} s)\n`);
    },
    stop() {},
  };
}
