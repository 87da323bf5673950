/**
 * Everything around the servers under test: temp folders, free ports, our server started exactly
 * as `npm start` starts it, the sandbox directory and TPP it trusts, registration through the real
 * DCR endpoint, and a cleanup list that kills every child and removes every folder, even on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandboxDirectory, type SandboxDirectory } from '../../src/sandbox/directory.ts';
import { createSandboxTpp, type SandboxTpp } from '../../src/sandbox/tpp.ts';
import { saveDirectory, saveTpp } from '../../src/sandbox/store.ts';
import { createTruststore } from '../../src/tls/truststore.ts';
import { processTree } from './proc.ts';
import type { StockConfig } from './stock-server.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** A positive number from the environment variable `name` (BENCH_*), else `fallback`. */
export function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
}

// Exactly what `npm start` runs, its node flags included, so the figures are the shipped ones.
const startScript = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
/** `npm start` without the leading `node`: node flags, then the entry script. */
export const START_ARGS = startScript.split(/\s+/).slice(1);
/** The node flags of `npm start` alone; the stock server runs with the same ones. */
export const NODE_FLAGS = START_ARGS.filter((a) => a.startsWith('-'));

/** Child processes and folders to remove, run in reverse order; also on exit and on signals. */
export interface Cleanup {
  dir(prefix: string): string;
  child(child: ChildProcess): void;
  run(): Promise<void>;
}

export function createCleanup(): Cleanup {
  const dirs: string[] = [];
  const children = new Set<ChildProcess>();
  const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
  // Last resort when the orchestrator dies without running the async cleanup.
  process.once('exit', () => {
    for (const c of children) if (alive(c)) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return {
    dir(prefix) {
      const d = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(d);
      return d;
    },
    child(c) {
      children.add(c);
      c.once('exit', () => children.delete(c));
    },
    async run() {
      await Promise.all([...children].map((c) => stopChild(c, 10_000)));
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface TlsIdentity {
  /** Leaf plus issuing CA, so the server can build the chain to the directory root. */
  cert: string;
  key: string;
}

export interface HttpsCall {
  port: number;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  tls?: TlsIdentity;
  /** Server CA; without it the server certificate is not checked (only while waiting for /ready). */
  ca?: string;
  timeoutMs?: number;
}

/** One request over a fresh connection to 127.0.0.1, as `localhost` (the issuer's host name). */
export function httpsCall(c: HttpsCall): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: c.port,
        path: c.path,
        method: c.method ?? 'GET',
        servername: 'localhost',
        agent: false,
        headers: { host: `localhost:${c.port}`, ...c.headers },
        ...(c.ca ? { ca: c.ca } : { rejectUnauthorized: false }),
        ...(c.tls ? { cert: c.tls.cert, key: c.tls.key } : {}),
        timeout: c.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${c.method ?? 'GET'} ${c.path} timed out`)));
    req.on('error', reject);
    req.end(c.body);
  });
}

/** Polls `path` until it answers 200; milliseconds from `t0`. Throws when the child exits or time runs out. */
export async function waitForOk(child: ChildProcess, port: number, path: string, t0: number, output: () => string, timeoutMs = 30_000): Promise<number> {
  while (performance.now() - t0 < timeoutMs) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    try {
      if ((await httpsCall({ port, path, timeoutMs: 1000 })).status === 200) return performance.now() - t0;
    } catch {
      // not listening yet
    }
    await sleep(5);
  }
  throw new Error(`server not ready after ${timeoutMs} ms:\n${output()}`);
}

/**
 * Spawns a helper process of a benchmark (the backend, nginx, the bare Node proxy), keeps the
 * last 5,000 characters of its output, and polls `ready` (true: ready; a string: why not yet)
 * until it is, the process exits, or 15 s pass.
 */
export async function spawnReady(name: string, command: string, args: string[], ready: () => Promise<true | string>, cleanup: Cleanup): Promise<RunningChild> {
  const t0 = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.child(child);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-5000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let last = '';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}): ${out}`);
    if (performance.now() - t0 > 15_000) throw new Error(`${name} not ready after 15 s (${last}): ${out}`);
    try {
      const r = await ready();
      if (r === true) break;
      last = r;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(20);
  }
  return { child, pid: child.pid!, readyMs: performance.now() - t0, output: () => out, stop: () => stopChild(child, 5000) };
}

/** Our test bed: a data folder with a sandbox directory and one TPP, and the opendcr.toml pointing at it. */
export interface OurSetup {
  port: number;
  /** https://localhost:<port>, the issuer. */
  baseUrl: string;
  dataDir: string;
  configPath: string;
  directory: SandboxDirectory;
  tpp: SandboxTpp;
  tppTls: TlsIdentity;
}

/**
 * Writes opendcr.toml (sandbox mode, `workers`, log level info, `more` lines in [server] and
 * more tables after the others) and, before the server ever
 * starts, a sandbox directory and one AISP TPP in its data folder with the directory CAs in the
 * trust store, as `opendcr sandbox init` and `sandbox tpp create` would.
 */
export async function prepareOurs(root: string, workers: number, logLevel = 'info', more: { server?: string[]; tables?: string[] } = {}): Promise<OurSetup> {
  const port = await freePort();
  const baseUrl = `https://localhost:${port}`;
  const dataDir = join(root, 'data');
  const configPath = join(root, 'opendcr.toml');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  writeFileSync(
    configPath,
    [
      '[server]',
      'mode = "sandbox"',
      'bind_address = "127.0.0.1"',
      `port = ${port}`,
      `workers = ${workers}`,
      `data_dir = ${JSON.stringify(dataDir)}`,
      ...(more.server ?? []),
      // The shipped default (info): the access log line of every request is part of what is measured.
      '[log]',
      `level = "${logLevel}"`,
      ...(more.tables ?? []),
      '',
    ].join('\n'),
  );
  const directory = await createSandboxDirectory({ name: 'OpenDCR Bench Directory' });
  const tpp = await createSandboxTpp(directory, {
    name: 'Bench TPP Ltd',
    roles: ['AISP'],
    redirectUris: ['https://tpp.example.com/cb'],
    jwksBaseUrl: `${baseUrl}/sandbox`,
  });
  saveDirectory(dataDir, directory);
  saveTpp(dataDir, tpp);
  const truststore = createTruststore(join(dataDir, 'truststore'));
  truststore.add(directory.rootCa.certPem, 'bench-directory-root-ca');
  truststore.add(directory.issuingCa.certPem, 'bench-directory-issuing-ca');
  return { port, baseUrl, dataDir, configPath, directory, tpp, tppTls: { cert: tpp.transport.chainPem, key: tpp.transport.keyPem } };
}

export interface RunningChild {
  child: ChildProcess;
  pid: number;
  /** Spawn to the first 200 from the readiness path, milliseconds. */
  readyMs: number;
  output(): string;
  stop(): Promise<void>;
}

/** The environment without OPENDCR_* variables, so the caller's shell cannot change the set-up. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENDCR_')));
}

/** Spawns a node process, records it for cleanup and waits for 200 on `readyPath`. */
export async function spawnServer(args: string[], port: number, readyPath: string, cleanup: Cleanup, settleWorkers = 0, cwd = REPO): Promise<RunningChild> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.child(child);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const output = () => out;
  const readyMs = await waitForOk(child, port, readyPath, t0, output);
  // The first 200 can come from the first worker; wait (bounded) until every worker exists.
  for (let i = 0; i < 200 && processTree(child.pid!).length < settleWorkers + 1; i++) await sleep(25);
  return { child, pid: child.pid!, readyMs, output, stop: () => stopChild(child, 15_000) };
}

/**
 * Our server, started as `npm start` starts it (`extraFlags` e.g. --cpu-prof go before the script);
 * `root` is another checkout of the project (bench/front.ts compares two).
 */
export function startOurs(
  setup: OurSetup,
  cleanup: Cleanup,
  workers: number,
  extraFlags: string[] = [],
  root = REPO,
  opts: { configPath?: string; port?: number } = {},
): Promise<RunningChild> {
  const [flags, script] = [NODE_FLAGS, START_ARGS.filter((a) => !a.startsWith('-'))];
  const port = opts.port ?? setup.port;
  const portArgs = opts.port === undefined ? [] : ['--port', String(port)];
  return spawnServer(
    [...flags, ...extraFlags, ...script, '--config', opts.configPath ?? setup.configPath, ...portArgs],
    port,
    '/ready',
    cleanup,
    workers,
    root,
  );
}

/** The sandbox CA that signed our server certificate (written at first start). */
export function serverCa(setup: OurSetup): string {
  return readFileSync(join(setup.dataDir, 'pki', 'ca.pem'), 'utf8');
}

/** Our server's certificate (the leaf, as our server presents it) and key, for the stock server. */
export function serverTlsMaterial(setup: OurSetup): { cert: string; key: string } {
  const chain = readFileSync(join(setup.dataDir, 'pki', 'server.pem'), 'utf8');
  return {
    cert: /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(chain)![0],
    key: readFileSync(join(setup.dataDir, 'pki', 'server-key.pem'), 'utf8'),
  };
}

/**
 * Starts stock oidc-provider (bench/lib/stock-server.ts) with the same node flags, certificate and
 * process count as ours, and one static client equivalent to the registered bench TPP.
 */
export async function startStock(
  setup: OurSetup,
  root: string,
  cleanup: Cleanup,
  workers: number,
  clientId: string,
  extraFlags: string[] = [],
): Promise<RunningChild & { port: number }> {
  const port = await freePort();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const config: StockConfig = {
    port,
    workers,
    issuer: `https://localhost:${port}`,
    resource: `https://localhost:${port}/open-banking`,
    scope: 'accounts',
    ...serverTlsMaterial(setup),
    ca: [setup.directory.rootCa.certPem, setup.directory.issuingCa.certPem],
    signingJwk: { ...privateKey.export({ format: 'jwk' }), kid: 'stock-ps256', alg: 'PS256', use: 'sig' },
    client: {
      client_id: clientId,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'PS256',
      id_token_signed_response_alg: 'PS256',
      jwks: { keys: [setup.tpp.signingKey.publicJwk] },
      tls_client_certificate_bound_access_tokens: true,
      scope: 'accounts',
    },
  };
  const configPath = join(root, 'stock.json');
  writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
  const script = fileURLToPath(new URL('./stock-server.ts', import.meta.url));
  const server = await spawnServer([...NODE_FLAGS, ...extraFlags, script, configPath], port, '/.well-known/openid-configuration', cleanup, workers);
  return { ...server, port };
}
