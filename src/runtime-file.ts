/**
 * `{data_dir}/server.json`: where the server of a data folder is running, written when it is
 * ready and removed when it stops, so the command line finds it without flags (whatever port it
 * was started on) and names the right URLs in sandbox identities. A file left behind by a server
 * that was killed is recognised by its process id and ignored.
 */
import cluster from 'node:cluster';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Config } from './config/schema.ts';

export const RUNTIME_FILE = 'server.json';

/** What server.json holds. */
export interface RuntimeInfo {
  /** The URL the server announced when ready (its base URL, or the real port when started on port 0). */
  readonly url: string;
  readonly port: number;
  /** The process that owns the listener: the cluster primary when there are workers. */
  readonly pid: number;
  /** The host the process runs on (a pid means nothing elsewhere). */
  readonly host: string;
  /** The CA file that signed the server certificate (sandbox mode), for clients to trust. */
  readonly ca_file?: string;
  readonly mode: string;
  readonly started_at: string;
}

export const runtimeFilePath = (dataDir: string): string => join(dataDir, RUNTIME_FILE);

// Workers share the primary's listener: the primary is the server's process.
const serverPid = (): number => (cluster.isWorker ? process.ppid : process.pid);

/**
 * Records the running server (called when it is ready). Best effort: a data folder that cannot
 * take the file must not stop a server that is otherwise fine.
 */
export function writeRuntimeFile(config: Config, url: string, port: number, sandboxCa: boolean): void {
  const file = runtimeFilePath(config.derived.dataDir);
  const info: RuntimeInfo = {
    url,
    port,
    pid: serverPid(),
    host: hostname(),
    ...(sandboxCa ? { ca_file: join(config.derived.dataDir, 'pki', 'ca.pem') } : {}),
    mode: config.server.mode,
    started_at: new Date().toISOString(),
  };
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
  }
}

/** Removes the file when it describes this server (same process and port), not a later one of the same folder. */
export function removeRuntimeFile(config: Config, port: number): void {
  const file = runtimeFilePath(config.derived.dataDir);
  const info = readRuntimeFile(config.derived.dataDir);
  if (info && info.pid === serverPid() && info.port === port && info.host === hostname()) rmSync(file, { force: true });
}

/** The recorded server, or undefined when there is no readable file. */
export function readRuntimeFile(dataDir: string): RuntimeInfo | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(runtimeFilePath(dataDir), 'utf8'));
  } catch {
    return undefined;
  }
  const v = value as Partial<RuntimeInfo> | null;
  if (typeof v?.url !== 'string' || !URL.canParse(v.url) || typeof v.port !== 'number' || typeof v.pid !== 'number' || typeof v.host !== 'string')
    return undefined;
  return {
    url: v.url.replace(/\/+$/, ''),
    port: v.port,
    pid: v.pid,
    host: v.host,
    ...(typeof v.ca_file === 'string' ? { ca_file: v.ca_file } : {}),
    mode: typeof v.mode === 'string' ? v.mode : 'sandbox',
    started_at: typeof v.started_at === 'string' ? v.started_at : '',
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The server running on this data folder: the recorded one when its process is still alive (on
 * this host; a file written on another host is trusted as it is). Undefined when there is none.
 */
export function findRunningServer(dataDir: string): RuntimeInfo | undefined {
  const info = readRuntimeFile(dataDir);
  if (!info) return undefined;
  if (info.host === hostname() && !alive(info.pid)) return undefined;
  return info;
}
