/**
 * `npm start`: load config, start the server, stop gracefully on SIGTERM/SIGINT.
 * Bad configuration exits with status 2 and one line naming the file, key and problem.
 */
import { loadConfig, ConfigError } from './config/load.ts';
import { startServer } from './server.ts';

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const i = argv.indexOf('--config');
  const path = i !== -1 ? argv[i + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  let config;
  try {
    config = loadConfig({ path });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`opendcr: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  let server;
  try {
    server = await startServer({ config });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${config.server.port} is already in use`
      : e.code === 'EACCES' ? `no permission to listen on port ${config.server.port}`
        : e.message;
    process.stderr.write(`opendcr: could not start: ${why}\n`);
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
