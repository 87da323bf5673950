/**
 * `npm start`: load config, start the server (one process, or a primary with worker processes),
 * stop gracefully on SIGTERM/SIGINT. Bad configuration exits with status 2 and one line naming
 * the file, key and problem.
 */
import { availableParallelism } from 'node:os';
import { loadConfig, ConfigError } from './config/load.ts';
import type { Config } from './config/schema.ts';
import type { RunningServer } from './server.ts';
import { createLogger } from './logger.ts';
import { runPrimary, runWorker, isWorker } from './cluster.ts';

function describeStartError(err: unknown, config: Config): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'EADDRINUSE' ? `port ${config.server.port} is already in use`
    : e.code === 'EACCES' ? `no permission to listen on port ${config.server.port}`
      : e.message;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const i = argv.indexOf('--config');
  const path = i !== -1 ? argv[i + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  let config: Config;
  try {
    config = loadConfig({ path });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`opendcr: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const workers = config.server.workers === 0 ? availableParallelism() : config.server.workers;
  if (workers > 1 && !isWorker()) {
    try {
      process.exit(await runPrimary(config, workers, createLogger(config.log.level)));
    } catch (err) {
      process.stderr.write(`opendcr: could not start: ${describeStartError(err, config)}\n`);
      process.exit(1);
    }
  }

  let server: RunningServer;
  try {
    // Loaded here, not at the top: a cluster primary never needs the HTTP stack.
    server = isWorker() ? await runWorker(config) : await (await import('./server.ts')).startServer({ config });
  } catch (err) {
    process.stderr.write(`opendcr: could not start: ${describeStartError(err, config)}\n`);
    process.exit(1);
  }

  const stop = (signal: string) => {
    server.logger.info({ signal }, 'shutting down');
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (import.meta.main) {
  await main();
}
