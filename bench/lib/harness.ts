/**
 * How every benchmark script ends, whatever ends it (the run, a failure, SIGINT/SIGTERM, the
 * time limit): clean up every child process and temp folder, note the load runs that finished
 * when it stopped early, print the report and write it to bench/results/, exit.
 */
import { join } from 'node:path';
import type { LoadResult } from './loadgen.ts';
import { rate, type Report } from './report.ts';

export interface HarnessOptions {
  /** The repository root (results go to bench/results/). */
  readonly repo: string;
  readonly cleanup: { run(): Promise<void> };
  readonly report: Report;
  /** Header lines of the report (read when it is rendered). */
  readonly head: () => string[];
  /** Load runs finished so far (listed when the run stops early). */
  readonly completed: readonly LoadResult[];
  readonly timeoutSeconds: number;
  /** Digits of p50/p99 in those notes. */
  readonly digits?: number;
  /** Text after the table (e.g. a profile). */
  readonly trailer?: () => string;
}

/** Runs `main` under the harness; never returns (the process exits with 0, or 1 on a failure, 130 on a signal). */
export async function runBenchmark(main: () => Promise<void>, opts: HarnessOptions): Promise<never> {
  let failure: string | undefined;
  let finishing: Promise<never> | undefined;
  const digits = opts.digits ?? 1;
  // Cleans up, prints and writes the report once, whoever calls first.
  const finish = (code: number): Promise<never> => {
    finishing ??= (async () => {
      await opts.cleanup.run().catch(() => undefined);
      if (failure) {
        for (const r of opts.completed) {
          opts.report.note(
            `finished before the stop: ${r.label}: ${rate(r.rps)}/s, p50 ${r.p50.toFixed(digits)} ms, p99 ${r.p99.toFixed(digits)} ms, ${r.failed} failed`,
          );
        }
      }
      const text = `${opts.report.render(opts.head(), failure)}${opts.trailer ? `\n${opts.trailer()}` : ''}`;
      const file = opts.report.write(join(opts.repo, 'bench', 'results'), text);
      process.stdout.write(`\n${text}\nwritten to ${file}\n`);
      return process.exit(code);
    })();
    return finishing;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      failure = `interrupted (${signal})`;
      void finish(130);
    });
  }
  setTimeout(() => {
    failure = `the run took longer than BENCH_TIMEOUT=${opts.timeoutSeconds} s`;
    void finish(1);
  }, opts.timeoutSeconds * 1000).unref();
  try {
    await main();
  } catch (err) {
    failure ??= (err as Error).stack ?? String(err);
  }
  return finish(failure ? 1 : 0);
}
