/**
 * Which server the command line talks to, and where that answer came from (for messages): the
 * server running on this data folder ({data_dir}/server.json, written by the server when ready),
 * else the base URL the configuration names. The sandbox's key set URLs are built the same way,
 * so a TPP's software statement names the server that really publishes its keys.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { settingSource } from '../config/load.ts';
import { findRunningServer, runtimeFilePath, type RuntimeInfo } from '../runtime-file.ts';
import { SANDBOX_PREFIX } from '../sandbox/routes.ts';
import { CliError } from './shared.ts';

export interface ServerTarget {
  /** Base URL, no trailing slash. */
  readonly url: string;
  /** Where the URL came from, for messages: `the server running on /x/data (pid 123)`. */
  readonly from: string;
  /** The CA that signed the server's certificate, when known and present. */
  readonly caFile: string | undefined;
  /** The recorded running server, when the URL came from it. */
  readonly running: RuntimeInfo | undefined;
}

/** How the configuration arrives at its base URL: `[server] port 9443 in /etc/opendcr.toml`, `OPENDCR_PORT=9443`, `the built-in default port 8443`. */
export function describeConfiguredBase(config: Config): string {
  const from = (key: string, what: string, value: string | number): string => {
    const source = settingSource(config, key);
    if (source === undefined) return `the built-in default ${what} ${value}`;
    if (source.startsWith('OPENDCR_')) return `${source}=${value}`;
    if (source.startsWith('--')) return `${source} ${value}`;
    return `[server] ${key.slice('server.'.length)} ${typeof value === 'string' ? `"${value}"` : value} in ${source}`;
  };
  if (config.server.base_url) return from('server.base_url', 'base URL', config.server.base_url);
  return from('server.port', 'port', config.server.port);
}

/** The sandbox CA of this data folder, when the server generated one. */
const sandboxCaFile = (config: Config): string | undefined => {
  const file = join(config.derived.dataDir, 'pki', 'ca.pem');
  return existsSync(file) ? file : undefined;
};

/** The server of this configuration's data folder: the running one when recorded, else the configured base URL. */
export function localServer(config: Config): ServerTarget {
  const { dataDir } = config.derived;
  const running = findRunningServer(dataDir);
  if (running) {
    const ca = running.ca_file && existsSync(running.ca_file) ? running.ca_file : sandboxCaFile(config);
    return { url: running.url, from: `the server running on ${dataDir} (pid ${running.pid}, ${runtimeFilePath(dataDir)})`, caFile: ca, running };
  }
  return {
    url: config.derived.baseUrl,
    from: `the configured base URL: ${describeConfiguredBase(config)}; no server of ${dataDir} is running`,
    caFile: sandboxCaFile(config),
    running: undefined,
  };
}

/** `${server}/sandbox`: where this data folder's server publishes the sandbox key sets. */
export function sandboxBase(config: Config): { url: string; from: string; running: boolean } {
  const server = localServer(config);
  return { url: `${server.url}${SANDBOX_PREFIX}`, from: server.from, running: server.running !== undefined };
}

/** What to do when a server does not answer: one clause for the end of an error line. */
export const POINT_ELSEWHERE =
  'start the server (npm start), or point the command line at it with --server URL, or with the --config / --data-dir the server uses';

// OpenSSL's verification failures: the connection worked, the certificate is not trusted.
const TLS_TRUST = /^(UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_SELF_SIGNED|CERT_|ERR_TLS_CERT_ALTNAME_INVALID)/;

/** Why a request got no answer, and whether it was the server's certificate that was refused. */
export function networkFailure(err: unknown): { reason: string; tls: boolean } {
  const e = err as Error & { code?: string; errors?: Error[]; cause?: Error & { code?: string } };
  const inner = (e.errors?.[0] ?? e.cause) as (Error & { code?: string }) | undefined;
  const code = [e.code, inner?.code].find((c) => c !== undefined && TLS_TRUST.test(c));
  const message = e.message || inner?.message || '';
  return { reason: message || e.code || 'unknown network error', tls: code !== undefined };
}

/**
 * The error for a request to `url` that got no answer: the origin tried, where that URL came from
 * (`from`), the reason, and what to do (--ca FILE for an untrusted certificate, else POINT_ELSEWHERE).
 */
export function cannotReach(url: string, from: string, caFile: string | undefined, err: unknown): CliError {
  const failure = networkFailure(err);
  const hint = failure.tls
    ? `the server's certificate is not trusted${caFile ? ` by ${caFile}` : ''}: pass the CA that signed it with --ca FILE (a sandbox server's is {data_dir}/pki/ca.pem)`
    : POINT_ELSEWHERE;
  return new CliError(`cannot reach ${new URL(url).origin} (${from}): ${failure.reason}; ${hint}`);
}

/** The PEM of the CA file trusted for the server's certificate; CliError (exit 1) when it cannot be read. */
export function readCaFile(caFile: string): string {
  try {
    return readFileSync(caFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`--ca ${caFile}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`}`);
  }
}
