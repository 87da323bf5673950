/**
 * End-to-end harness: a real OpenDCR server over HTTPS on 127.0.0.1 (sandbox mode, SQLite in a
 * fresh temporary folder), plus the sandbox CA to issue TPP transport certificates and a JWKS
 * host for client jwks_uri documents.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { parse as parseToml, stringify as toToml } from 'smol-toml';
import { Agent, fetch as undiciFetch, type RequestInit } from 'undici';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { issueClientCertificate, issueServerCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { ensureSandboxPki } from '../../src/tls/sandbox-pki.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../src/config/schema.ts';
import { openStorage } from '../../src/storage/index.ts';
import type { Storage } from '../../src/storage/ports.ts';
import { startJwksHost, type JwksHost } from './jwks-host.ts';

/** The bank-internal client configured in every test server (the API gateway). */
export const GATEWAY = { client_id: 'gateway', client_secret: 'gateway-secret-0123456789' } as const;

/** A client certificate and key for mutual TLS. */
export interface ClientTls {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What every test server offers, in this process or as a cluster of worker processes. */
export interface TestServerBase {
  /** https://localhost:PORT, equal to the issuer. */
  readonly url: string;
  /** The sandbox CA, which signed the server certificate. */
  readonly caPem: string;
  readonly jwks: JwksHost;
  /** Issues a transport certificate from the sandbox CA (which is in the trust store). */
  issueClientCert(subject: string): Promise<IssuedCertificate>;
  /** An undici Agent (one per certificate) trusting the sandbox CA, presenting `cert` when given. Closed by close(). */
  mtlsAgent(cert?: ClientTls): Agent;
  /** fetch against the server (`path` relative to url) over mtlsAgent(cert); redirects are not followed. */
  fetch(path: string, init?: RequestInit & { cert?: ClientTls }): Promise<Response>;
  /** The server's database (for a cluster: opened separately on the same database, to check its tables). */
  readonly storage: Storage;
  close(): Promise<void>;
}

/** A server running in this process. */
export interface TestServer extends TestServerBase {
  readonly server: RunningServer;
}

/** A server started as `node src/main.ts` with worker processes, as `npm start` runs it. */
export interface ClusterTestServer extends TestServerBase {
  readonly config: Config;
  /** Everything the primary and its workers printed. */
  output(): string;
  /** The worker processes' ids (children of the primary). */
  workers(): number[];
  /** kill -9 of the worker processes only (the primary starts new ones). */
  killWorkers(): void;
  /** kill -9 of the primary and every worker; resolves once the primary is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same configuration and data; resolves once /ready answers. */
  restart(): Promise<void>;
}

/** The child processes of `pid` (Linux /proc). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

type Table = Record<string, unknown>;

/** Binds to port 0 and releases it: the server needs its port up front, because the issuer contains it. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Tables merge key by key; anything else (arrays included) in `over` replaces. */
function merge(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isTable(v) && isTable(out[k]) ? merge(out[k] as Table, v) : v;
  return out;
}

/** The sandbox CA in `{dataDir}/pki` (certificate and key), as ensureSandboxPki wrote it. */
export function readSandboxCa(dataDir: string): IssuedCertificate {
  const pki = join(dataDir, 'pki');
  const caPem = readFileSync(join(pki, 'ca.pem'), 'utf8');
  const caKey = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(readFileSync(join(pki, 'ca-key.pem'), 'utf8'))![0];
  return { certPem: caPem, keyPem: `${caKey}\n`, chainPem: caPem, x509: new X509Certificate(caPem) };
}

/** What {@link TestServerHooks.prepare} gets: the server's folders, before it starts. */
export interface PrepareContext {
  readonly dataDir: string;
  /** {data_dir}/truststore: CA certificates trusted for client (transport) certificates. */
  readonly truststoreDir: string;
  /** The sandbox CA the server will use (created early); outbound TLS trusts it, so hosts the server fetches from can use it. */
  readonly sandboxCa: IssuedCertificate;
}

export interface TestServerHooks {
  /**
   * Runs before the server starts (its sandbox PKI already exists); may return more config
   * overrides, merged over `overrides`. Whatever it starts, the caller closes.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a prepare step that only starts something returns nothing at all
  prepare?: (ctx: PrepareContext) => Promise<Table | void>;
  /** The server's one clock (epoch seconds), for a test that moves time (in-process servers only). */
  now?: () => number;
}

interface PreparedFiles {
  readonly dir: string;
  readonly file: string;
  readonly jwksPort: number;
}

/** The temporary folder and opendcr.toml of a test server (harness defaults, then `overrides`, then the hook's). */
async function prepareFiles(overrides: string | Table, hooks: TestServerHooks, dir: string, extra: Table = {}): Promise<PreparedFiles> {
  const [port, jwksPort] = [await freePort(), await freePort()];
  const dataDir = join(dir, 'data');
  const base: Table = {
    server: { mode: 'sandbox', port, data_dir: dataDir },
    log: { level: 'silent' },
    oauth: { internal_clients: [{ ...GATEWAY, grant_types: ['client_credentials'], scope: 'accounts' }] },
  };
  let config = merge(merge(base, extra), typeof overrides === 'string' ? (parseToml(overrides) as Table) : overrides);
  // The sandbox PKI exists before the server starts, so the hook and the harness know its CA.
  const truststoreDir = join(dataDir, 'truststore');
  await ensureSandboxPki({ dataDir, truststoreDir, hostname: 'localhost' });
  if (hooks.prepare) {
    const more = await hooks.prepare({ dataDir, truststoreDir, sandboxCa: readSandboxCa(dataDir) });
    if (more) config = merge(config, more);
  }
  const oauth = config['oauth'] as Table;
  oauth['allowed_outbound_hosts'] = [...((oauth['allowed_outbound_hosts'] as string[] | undefined) ?? []), `127.0.0.1:${jwksPort}`];
  const file = join(dir, 'opendcr.toml');
  writeFileSync(file, toToml(config));
  return { dir, file, jwksPort };
}

/** The client side every test server shares: agents per client certificate, fetch, the jwks host. */
function clientSide(url: string, caPem: string) {
  const byCert = new Map<string, Agent>();
  const mtlsAgent = (cert?: ClientTls) => {
    let agent = byCert.get(cert?.certPem ?? '');
    if (!agent) {
      agent = new Agent({ connect: { ca: caPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) } });
      byCert.set(cert?.certPem ?? '', agent);
    }
    return agent;
  };
  return {
    mtlsAgent,
    fetch: async (path: string, init: RequestInit & { cert?: ClientTls } = {}) => {
      const { cert, ...rest } = init;
      const res = await undiciFetch(new URL(path, url), { redirect: 'manual', ...rest, dispatcher: mtlsAgent(cert) });
      return res as unknown as Response;
    },
    closeAgents: () => Promise.all([...byCert.values()].map((a) => a.close())),
  };
}

/**
 * Starts a server from a temporary opendcr.toml. `overrides` (TOML text or an object shaped like
 * the file) is merged over the harness defaults.
 */
export async function startTestServer(overrides: string | Table = {}, hooks: TestServerHooks = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-e2e-'));
  let server: RunningServer | undefined;
  let jwks: JwksHost | undefined;
  try {
    const { file, jwksPort } = await prepareFiles(overrides, hooks, dir);
    server = await startServer({ config: loadConfig({ path: file, env: {} }), ...(hooks.now ? { now: hooks.now } : {}) });
    const ca = readSandboxCa(server.config.derived.dataDir);
    jwks = await startJwksHost(jwksPort, await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 }));

    const running = server;
    const host = jwks;
    const client = clientSide(running.url, ca.certPem);
    return {
      server: running,
      url: running.url,
      caPem: ca.certPem,
      jwks: host,
      storage: running.storage,
      issueClientCert: (subject) => issueClientCertificate(ca, { subject, validityDays: 1 }),
      mtlsAgent: client.mtlsAgent,
      fetch: client.fetch,
      async close() {
        await running.close();
        await host.close();
        await client.closeAgents();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.close().catch(() => undefined);
    await jwks?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Starts the server as `npm start` does, `node src/main.ts --config FILE`, with `workers` worker
 * processes sharing the listener (and the SQLite file), and waits until it answers /ready.
 */
export async function startTestCluster(overrides: string | Table = {}, hooks: TestServerHooks & { workers?: number } = {}): Promise<ClusterTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-cluster-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let jwks: JwksHost | undefined;
  let storage: Storage | undefined;
  let out = '';
  try {
    const { file, jwksPort } = await prepareFiles(overrides, hooks, dir, { server: { workers: hooks.workers ?? 2 }, log: { level: 'warn' } });
    const config = loadConfig({ path: file, env: {} });
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENDCR_')));
    const url = config.derived.baseUrl;
    let client: ReturnType<typeof clientSide> | undefined;
    const start = async (): Promise<void> => {
      const c = spawn(process.execPath, [new URL('../../src/main.ts', import.meta.url).pathname, '--config', file], {
        cwd: dir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      c.stderr!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      client ??= clientSide(url, readSandboxCa(config.derived.dataDir).certPem);
      let ready = false;
      for (let i = 0; i < 400 && !ready; i++) {
        if (c.exitCode !== null) throw new Error(`server exited with ${c.exitCode}: ${out}`);
        ready = await client.fetch('/ready').then(
          (r) => r.status === 200,
          () => false,
        );
        if (!ready) await sleep(50);
      }
      if (!ready) throw new Error(`server did not become ready: ${out}`);
    };
    await start();
    const ca = readSandboxCa(config.derived.dataDir);
    jwks = await startJwksHost(jwksPort, await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 }));
    storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 2, busyTimeoutMs: 5000 });
    const host = jwks;
    const db = storage;
    const side = client!;
    const workers = () => (child?.pid === undefined ? [] : childrenOf(child.pid));
    const killWorkers = () => {
      for (const pid of workers()) process.kill(pid, 'SIGKILL');
    };
    return {
      config,
      url,
      caPem: ca.certPem,
      jwks: host,
      storage: db,
      output: () => out,
      workers,
      killWorkers,
      async kill() {
        const all = workers();
        child?.kill('SIGKILL');
        for (const pid of all) process.kill(pid, 'SIGKILL');
        await exited;
      },
      restart: start,
      issueClientCert: (subject) => issueClientCertificate(ca, { subject, validityDays: 1 }),
      mtlsAgent: side.mtlsAgent,
      fetch: side.fetch,
      async close() {
        child?.kill('SIGTERM');
        await exited;
        await db.close();
        await host.close();
        await side.closeAgents();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child?.kill('SIGKILL');
    await jwks?.close().catch(() => undefined);
    await storage?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
