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
import { startJwksHost, type JwksHost } from './jwks-host.ts';

/** The bank-internal client configured in every test server (the API gateway). */
export const GATEWAY = { client_id: 'gateway', client_secret: 'gateway-secret-0123456789' } as const;

/** A client certificate and key for mutual TLS. */
export interface ClientTls { readonly certPem: string; readonly keyPem: string }

export interface TestServer {
  readonly server: RunningServer;
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
  close(): Promise<void>;
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
function readSandboxCa(dataDir: string): IssuedCertificate {
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
  prepare?: (ctx: PrepareContext) => Promise<Table | void>;
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
    const [port, jwksPort] = [await freePort(), await freePort()];
    const dataDir = join(dir, 'data');
    const base: Table = {
      server: { mode: 'sandbox', port, data_dir: dataDir },
      log: { level: 'silent' },
      oauth: { internal_clients: [{ ...GATEWAY, grant_types: ['client_credentials'], scope: 'accounts' }] },
    };
    let config = merge(base, typeof overrides === 'string' ? parseToml(overrides) as Table : overrides);
    if (hooks.prepare) {
      // The same folders and PKI the server finds on start (hostname: the harness default, localhost).
      const truststoreDir = join(dataDir, 'truststore');
      await ensureSandboxPki({ dataDir, truststoreDir, hostname: 'localhost' });
      const more = await hooks.prepare({ dataDir, truststoreDir, sandboxCa: readSandboxCa(dataDir) });
      if (more) config = merge(config, more);
    }
    const oauth = config['oauth'] as Table;
    oauth['allowed_outbound_hosts'] = [...((oauth['allowed_outbound_hosts'] as string[] | undefined) ?? []), `127.0.0.1:${jwksPort}`];
    const file = join(dir, 'opendcr.toml');
    writeFileSync(file, toToml(config));

    server = await startServer({ config: loadConfig({ path: file, env: {} }) });
    const ca = readSandboxCa(server.config.derived.dataDir);
    const caPem = ca.certPem;
    jwks = await startJwksHost(jwksPort, await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 }));

    const running = server;
    const host = jwks;
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
      server: running,
      url: running.url,
      caPem,
      jwks: host,
      issueClientCert: (subject) => issueClientCertificate(ca, { subject, validityDays: 1 }),
      mtlsAgent,
      fetch: async (path, init = {}) => {
        const { cert, ...rest } = init;
        const res = await undiciFetch(new URL(path, running.url), { redirect: 'manual', ...rest, dispatcher: mtlsAgent(cert) });
        return res as unknown as Response;
      },
      async close() {
        await running.close();
        await host.close();
        await Promise.all([...byCert.values()].map((a) => a.close()));
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
