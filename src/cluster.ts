/**
 * Several worker processes share one listener (node:cluster), so every core serves requests.
 * Everything workers must agree on (tokens, replay records, keys, scopes, TLS ticket keys) lives
 * in storage, so the same holds across hosts. The primary prepares shared state once, forks the
 * workers, restarts a crashed one with backoff, and on SIGTERM stops them gracefully.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config/schema.ts';
import type { Logger } from './logger.ts';
import type { RunningServer } from './server.ts';
import { prepareSharedState } from './prepare.ts';

type Message = { type: 'ready'; url: string; startupMs: number } | { type: 'failed'; message: string; exitCode?: number };

/** A start failure as one line and an exit status (start.ts describes them). */
export type DescribeStartError = (err: unknown) => { line: string; code: number };
const plainMessage: DescribeStartError = (err) => ({ line: (err as Error).message, code: 1 });

/**
 * Runs the primary: resolves with the exit code when every worker has exited, after a shutdown
 * signal (0) or a start failure before the server was ever ready (1).
 */
export async function runPrimary(config: Config, workers: number, logger: Logger): Promise<number> {
  const started = performance.now();
  await prepareSharedState(config, logger);
  // Workers get the same node flags (e.g. --max-semi-space-size) as the primary.
  cluster.setupPrimary({ execArgv: process.execArgv });

  // Metrics: the primary aggregates every worker's for a scrape (whichever worker takes it), and
  // serves the separate metrics listener when one is configured.
  let metricsListener: { close(): Promise<void> } | undefined;
  if (config.metrics.enabled) {
    const { servePrimaryMetrics } = await import('./observability/metrics.ts');
    const aggregated = servePrimaryMetrics();
    if (config.metrics.port !== undefined) {
      const { startMetricsListener } = await import('./observability/metrics-routes.ts');
      metricsListener = await startMetricsListener({ config, logger, text: aggregated.text });
    }
  }

  let stopping = false;
  let readyCount = 0;
  let announced = false;
  const restarts: number[] = [];
  const live = new Set<Worker>();
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });

  /** Stops every worker (SIGTERM, then SIGKILL after the shutdown timeout) and resolves with `code`. */
  const shutdown = (code: number): void => {
    if (stopping) return;
    stopping = true;
    for (const w of live) w.process.kill('SIGTERM');
    const force = setTimeout(
      () => {
        for (const w of live) w.process.kill('SIGKILL');
      },
      (config.server.shutdown_timeout + 5) * 1000,
    );
    force.unref();
    const check = setInterval(() => {
      if (live.size === 0) {
        clearInterval(check);
        clearTimeout(force);
        void (metricsListener?.close() ?? Promise.resolve()).finally(() => {
          logger.info('stopped');
          finish(code);
        });
      }
    }, 50);
  };

  const fork = () => {
    const w = cluster.fork({ OPENDCR_WORKER: '1' });
    live.add(w);
    w.on('message', (m: Message) => {
      if (m?.type === 'ready' && !announced && ++readyCount === workers) {
        announced = true;
        logger.info({ url: m.url, workers, startup_ms: Math.round(performance.now() - started) }, 'ready');
      }
      if (m?.type === 'failed') {
        // Before the server ever came up, a start failure (port in use, bad certificate) will not
        // heal by restarting: give up, as a single process would, with one line for the failure
        // (every worker fails the same way; the first one's is enough).
        if (!announced) {
          if (!stopping) process.stderr.write(`opendcr: could not start: ${m.message}\n`);
          shutdown(m.exitCode ?? 1);
        } else {
          logger.error({ worker: w.process.pid, reason: m.message }, 'worker could not start');
        }
      }
    });
    w.on('exit', (code, signal) => {
      live.delete(w);
      if (stopping) return;
      // Restart with backoff: immediately at first, slower when crashes repeat within a minute.
      const now = Date.now();
      restarts.push(now);
      while (restarts.length && restarts[0]! < now - 60_000) restarts.shift();
      const delay = Math.min(30_000, restarts.length <= 1 ? 0 : 500 * 2 ** (restarts.length - 2));
      logger.error({ worker: w.process.pid, code, signal, restart_in_ms: delay }, 'worker exited unexpectedly; restarting');
      // Not unref'd: when every worker is gone, this timer is all that keeps the primary alive.
      setTimeout(() => {
        if (!stopping) fork();
      }, delay);
    });
  };
  for (let i = 0; i < workers; i++) fork();

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    logger.info({ signal }, 'shutting down workers');
    shutdown(0);
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  return done;
}

/** Runs one worker: a full server on the shared listener, reporting readiness to the primary. */
export async function runWorker(config: Config, describe: DescribeStartError = plainMessage): Promise<RunningServer> {
  let server: RunningServer;
  try {
    const { startServer } = await import('./server.ts');
    server = await startServer({ config });
  } catch (err) {
    const d = describe(err);
    // Delivered before the worker exits, so the primary can report it.
    await new Promise<void>((resolve) => {
      if (process.send) process.send({ type: 'failed', message: d.line, exitCode: d.code } satisfies Message, undefined, {}, () => resolve());
      else resolve();
    });
    throw err;
  }
  process.send?.({ type: 'ready', url: server.url, startupMs: 0 } satisfies Message);
  return server;
}

export const isWorker = () => cluster.isWorker;
