/**
 * `npm start` (through src/main.ts) / `opendcr start`: load config, check it, start the server
 * (one process, or a primary with worker processes), stop gracefully on SIGTERM/SIGINT.
 *
 * Options: `--config FILE`, `--port N`, `--data-dir DIR` (they win over the file and the
 * environment). Every configuration problem is one line naming the file, key and problem, all of
 * them at once, exit 2; a start failure is one line with its cause, exit 2 when the configuration
 * names something that is not there (database, user, certificate), else 1.
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { inspectConfig, type ConfigOverride, type LoadOptions } from './config/load.ts';
import { checkConfig } from './preflight.ts';
import type { Config } from './config/schema.ts';
import type { RunningServer } from './server.ts';
import { createLogger } from './logger.ts';
import { runPrimary, runWorker, isWorker } from './cluster.ts';
import { describePostgresFailure, describeSqliteFailure } from './storage/index.ts';
import { findRunningServer } from './runtime-file.ts';

export const START_USAGE = 'usage: npm start -- [--config FILE] [--port N] [--data-dir DIR]  (or: opendcr start [options])';

/** Thrown for bad `start` options; exit 2. */
export class StartUsageError extends Error {
  override readonly name = 'StartUsageError';
}

export interface StartOptions {
  readonly config?: string | undefined;
  readonly port?: string | number | undefined;
  readonly dataDir?: string | undefined;
}

/** `--port` and `--data-dir` as configuration overrides; a relative --data-dir is relative to the working directory. */
export function startOverrides(opts: StartOptions): ConfigOverride[] {
  const out: ConfigOverride[] = [];
  if (opts.port !== undefined) {
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535 || String(opts.port).trim() === '') {
      throw new StartUsageError(`--port must be a port number from 0 to 65535, got "${opts.port}"`);
    }
    out.push({ option: '--port', key: ['server', 'port'], value: port });
  }
  if (opts.dataDir !== undefined) {
    if (opts.dataDir === '') throw new StartUsageError('--data-dir needs a folder');
    out.push({ option: '--data-dir', key: ['server', 'data_dir'], value: resolve(opts.dataDir) });
  }
  return out;
}

const START_HELP = `${START_USAGE}

  -c, --config FILE   configuration file (default: ./opendcr.toml or $OPENDCR_CONFIG)
  --port N            HTTPS port, over [server] port and OPENDCR_PORT
  --data-dir DIR      data folder, over [server] data_dir and OPENDCR_DATA_DIR
`;

/** `npm start` arguments: --config FILE, --port N, --data-dir DIR (also as --name=value); --help. */
export function parseStartArgs(argv: string[]): StartOptions & { help?: boolean } {
  let values: { config?: string | undefined; port?: string | undefined; 'data-dir'?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { config: { type: 'string', short: 'c' }, port: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw new StartUsageError((err as Error).message.split('\n')[0]!);
  }
  return { config: values.config, port: values.port, dataDir: values['data-dir'], ...(values.help ? { help: true } : {}) };
}

/** A start failure as one line, and its exit status: 2 when the configuration is wrong, else 1. */
export function describeStartError(err: unknown, config: Config): { line: string; code: number } {
  const e = err as NodeJS.ErrnoException;
  const { port, bind_address: bind } = config.server;
  if (e.code === 'EADDRINUSE') {
    const running = findRunningServer(config.derived.dataDir);
    const who =
      running && running.port === port
        ? `an OpenDCR server of this data folder already runs at ${running.url} (pid ${running.pid})`
        : 'another program listens there';
    return {
      line: `port ${port} on ${bind} is already in use: ${who}; stop it, or choose another port with --port N (or [server] port, OPENDCR_PORT)`,
      code: 1,
    };
  }
  if (e.code === 'EACCES' && /listen/.test(e.syscall ?? e.message ?? '')) {
    return {
      line: `no permission to listen on port ${port}${port < 1024 ? ' (ports below 1024 need privileges)' : ''}; choose another port with --port N (or [server] port)`,
      code: 2,
    };
  }
  if (e.code === 'EADDRNOTAVAIL') {
    return { line: `cannot listen on ${bind}: no such address on this host; check [server] bind_address`, code: 2 };
  }
  const message = e instanceof Error ? e.message : String(err);
  const url = config.derived.databaseUrl;
  if (message.startsWith('storage: ')) {
    const f = url.startsWith('sqlite:') ? describeSqliteFailure(err, url.slice('sqlite:'.length)) : describePostgresFailure(err, url);
    const where = url.startsWith('sqlite:') ? `cannot open the ${f.target}` : `cannot use the ${f.target}`;
    const hint = f.configuration ? (url.startsWith('sqlite:') ? '' : '; check [database] url (or OPENDCR_DATABASE_URL)') : '';
    return { line: `${where}: ${f.reason}${hint}`, code: f.configuration ? 2 : 1 };
  }
  const code = (e as { code?: unknown }).code;
  const configuration = code === 'ERR_TRUSTSTORE_IO' || e.code === 'EACCES' || e.code === 'ENOENT' || e.code === 'ENOTDIR';
  return { line: mask(message.split('\n')[0] ?? 'unknown error'), code: configuration ? 2 : 1 };
}

/** Never a password: user:password@ in any URL becomes user:***@. */
const mask = (text: string): string => text.replace(/\/\/([^:@/\s]+):[^@/\s]+@/g, '//$1:***@');

/**
 * Loads and checks the configuration the way `opendcr config check` does (no database
 * connection): the configuration, or every problem.
 */
export async function loadCheckedConfig(
  opts: LoadOptions,
): Promise<{ config: Config; problems?: undefined } | { config?: undefined; problems: readonly string[] }> {
  const { config, problems } = inspectConfig(opts);
  const all = [...problems];
  if (config) all.push(...(await checkConfig(config)).problems);
  return config && all.length === 0 ? { config } : { problems: all };
}

function fail(lines: readonly string[], code: number): never {
  for (const line of lines) process.stderr.write(`opendcr: ${line}\n`);
  process.exit(code);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  let loadOptions: LoadOptions;
  try {
    const opts = parseStartArgs(argv);
    if (opts.help) {
      process.stdout.write(START_HELP);
      return;
    }
    loadOptions = { path: opts.config, overrides: startOverrides(opts) };
  } catch (err) {
    if (err instanceof StartUsageError) fail([`${err.message}; ${START_USAGE}`], 2);
    throw err;
  }
  await start(loadOptions);
}

/** Starts the server with these load options; never returns on failure (exits 1 or 2 with the cause). */
export async function start(loadOptions: LoadOptions): Promise<void> {
  let config: Config;
  if (isWorker()) {
    // The primary checked everything before forking; a worker only loads.
    const { config: c, problems } = inspectConfig(loadOptions);
    if (!c || problems.length > 0) process.exit(2);
    config = c;
  } else {
    const checked = await loadCheckedConfig(loadOptions);
    if (checked.problems) fail(checked.problems, 2);
    config = checked.config;
  }
  const describe = (err: unknown) => describeStartError(err, config);

  const workers = config.server.workers === 0 ? availableParallelism() : config.server.workers;
  if (workers > 1 && !isWorker()) {
    let code: number;
    try {
      code = await runPrimary(config, workers, createLogger(config.log.level));
    } catch (err) {
      const d = describe(err);
      fail([`could not start: ${d.line}`], d.code);
    }
    process.exit(code);
  }

  let server: RunningServer;
  try {
    // Loaded here, not at the top: a cluster primary never needs the HTTP stack.
    server = isWorker() ? await runWorker(config, describe) : await (await import('./server.ts')).startServer({ config });
  } catch (err) {
    const d = describe(err);
    // A worker's failure is reported once, by the primary.
    if (isWorker()) process.exit(d.code);
    fail([`could not start: ${d.line}`], d.code);
  }

  const stop = (signal: string) => {
    server.logger.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
