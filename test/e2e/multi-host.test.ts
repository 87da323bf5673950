/**
 * A cluster of two hosts, as a bank runs it: two server processes (production mode, one TLS
 * certificate, the same public base URL), each in a network namespace of its own joined by a veth
 * pair (test/helpers/netns.ts; separate loopback addresses where namespaces cannot be made),
 * sharing a fresh PostgreSQL database and the local Redis, reached across that network through
 * links the test can cut.
 * What the hosts share must hold across them: a registration, a one-time client assertion, a key
 * rotation, a trust anchor, a published API and a plan's limit; a host killed under load loses
 * nothing it acknowledged and leaves no registration without its subscription; a Redis or
 * PostgreSQL outage is a coded 503 and a not-ready host, healed without a restart.
 *
 * PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) run for real: with CI=true a missing one
 * fails this test; otherwise it skips. No assertion is on time: change notices are waited for
 * (bounded), with the timed checks turned off (check_interval one hour) so only a notice can
 * deliver the change; bench/README.md has the propagation figures.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader, SignJWT } from 'jose';
import pg from 'pg';
import { Redis } from 'ioredis';
import { stringify as toToml } from 'smol-toml';
import { Agent, fetch as undiciFetch, type RequestInit } from 'undici';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';
import { createSandboxDirectory, type SandboxDirectory } from '../../src/sandbox/directory.ts';
import { startSandboxHost, type SandboxHost } from '../../src/sandbox/host.ts';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { dcrClient, jsonBody, tlsOf, type DcrClient } from '../helpers/dcr.ts';
import { freePort, GATEWAY, type ClientTls } from '../helpers/server.ts';
import { startTcpLink, type TcpLink } from '../helpers/tcp-link.ts';
import { makeTopology, type Topology } from '../helpers/netns.ts';
import { PG_ADMIN_URL as PG_ADMIN, pgAdmin as admin } from '../helpers/postgres.ts';
import { runCli, json } from '../cli/run-cli.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { addPlan, basicAuth, OB_FILES, publishApi, subscriptionsOf, type ServerFetch } from '../gateway/support.ts';

const REDIS = { host: '127.0.0.1', port: 6379 };
const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
/** How long a change notice, a restart of a link or a host start may take before the test gives up. */
const PATIENCE_MS = 15_000;

/** Whether PostgreSQL and Redis answer; with CI=true a missing one fails, else the suite skips. */
async function servicesAvailable(): Promise<string | undefined> {
  const problems: string[] = [];
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (err) {
    problems.push(`PostgreSQL at ${PG_ADMIN}: ${(err as Error).message}`);
  } finally {
    await c.end().catch(() => undefined);
  }
  const r = new Redis({ ...REDIS, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    problems.push(`Redis at ${REDIS.host}:${REDIS.port}: ${(err as Error).message}`);
  } finally {
    r.disconnect();
  }
  return problems.length ? problems.join('; ') : undefined;
}

/** Polls `attempt` until it returns a value (bounded by PATIENCE_MS); the last failure is in the message. */
async function eventually<T>(what: string, attempt: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  let last = '';
  while (performance.now() - started < PATIENCE_MS) {
    try {
      const value = await attempt();
      if (value !== undefined) return { value, ms: Math.round(performance.now() - started) };
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  assert.fail(`${what}: not within ${PATIENCE_MS / 1000} s${last ? ` (last: ${last})` : ''}`);
}

/** One host of the cluster: its process, and a client that reaches this host only (as if the load balancer chose it). */
interface Host {
  readonly name: string;
  readonly address: string;
  readonly configFile: string;
  child: ChildProcess;
  readonly dcr: DcrClient;
  fetch(path: string, init?: RequestInit & { cert?: ClientTls; fresh?: boolean }): Promise<Response>;
  output(): string;
  start(): Promise<void>;
  /** kill -9 of every process of the host. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

describe('two hosts sharing PostgreSQL and Redis', () => {
  const run = randomBytes(4).toString('hex');
  const db = `opendcr_hosts_${run}`;
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-hosts-'));
  let skipped: string | undefined;
  let pgLink: TcpLink | undefined;
  let redisLink: TcpLink | undefined;
  let directory: SandboxDirectory;
  let keySetHost: SandboxHost | undefined;
  const tpps: SandboxTpp[] = [];
  const hosts: Host[] = [];
  let a: Host;
  let b: Host;
  let rootCaFile: string;
  let topology: Topology | undefined;
  let backend: TestBackend | undefined;
  const adminPassword = randomBytes(16).toString('hex');
  const adminAuth = basicAuth('admin', adminPassword);
  /** The gateway API published by the gateway tests (the kill test checks its subscriptions). */
  let accountsApiId: string | undefined;

  before(async () => {
    const missing = await servicesAvailable();
    if (missing) {
      if (process.env['CI'] === 'true') assert.fail(`PostgreSQL and Redis are required when CI=true: ${missing}`);
      skipped = missing;
      return;
    }
    await admin(`CREATE DATABASE ${db}`);
    topology = makeTopology(2, run);
    const net = topology;
    pgLink = await startTcpLink({ host: '127.0.0.1', port: 5432 }, net.services);
    redisLink = await startTcpLink(REDIS, net.services);

    // The bank's TLS certificate, the same on every host (the name is the load balancer's).
    const bankCa = await createCertificateAuthority({ subject: 'C=GB, O=Test Bank, CN=Test Bank Server CA', validityDays: 2 });
    const serverCert = await issueServerCertificate(bankCa, { dnsNames: ['localhost'], ipAddresses: net.hosts.map((h) => h.address), validityDays: 2 });
    mkdirSync(join(dir, 'tls'));
    writeFileSync(join(dir, 'tls', 'server.pem'), serverCert.chainPem);
    writeFileSync(join(dir, 'tls', 'server-key.pem'), serverCert.keyPem, { mode: 0o600 });

    // The directory (SSAs, key sets), its key set host, and its root CA (not trusted yet).
    directory = await createSandboxDirectory();
    keySetHost = await startSandboxHost({ directory, tpps: () => tpps, address: net.services });
    rootCaFile = join(dir, 'directory-root.pem');
    writeFileSync(rootCaFile, directory.rootCa.certPem);
    // The bank's backend for the gateway, on the services side of the network.
    backend = await startTestBackend(net.services);

    const port = await freePort();
    const baseUrl = `https://localhost:${port}`;
    const config = (name: string, address: string) => ({
      server: { mode: 'production', hostname: 'localhost', base_url: baseUrl, bind_address: address, port, workers: 1, data_dir: join(dir, name) },
      database: { url: `postgres://postgres@${net.services}:${pgLink!.port}/${db}` },
      redis: { url: `redis://${net.services}:${redisLink!.port}/0`, key_prefix: `opendcr-hosts-${run}:` },
      keystore: { tls: { cert_file: join(dir, 'tls', 'server.pem'), key_file: join(dir, 'tls', 'server-key.pem') } },
      super_admin: { password: adminPassword },
      gateway: { allowed_backend_hosts: [net.services], check_interval: 3600 },
      log: { level: 'warn' },
      oauth: {
        internal_clients: [{ ...GATEWAY, grant_types: ['client_credentials'], scope: 'accounts' }],
        allowed_outbound_hosts: [keySetHost!.host],
        // Only a change notice can tell the other host in time.
        key_rotation: { check_interval: 3600 },
      },
      open_banking: { dcr: { jwks_url_sandbox: keySetHost!.directoryJwksUrl, regulatory_issuers: [directory.issuer] } },
    });

    for (const [i, name] of ['host-a', 'host-b'].entries()) {
      const { address, prefix } = net.hosts[i]!;
      const configFile = join(dir, `${name}.toml`);
      writeFileSync(configFile, toToml(config(name, address)));
      hosts.push(makeHost(name, address, prefix, configFile, baseUrl, bankCa.certPem));
    }
    [a, b] = hosts as [Host, Host];
    // Both at once: the second host meets the first one's migrations.
    await Promise.all(hosts.map((h) => h.start()));
  });

  /** A host's process and a client pinned to its address (the URL keeps the public name). */
  function makeHost(name: string, address: string, prefix: readonly string[], configFile: string, baseUrl: string, caPem: string): Host {
    const lookup = ((_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
      if (opts?.all) cb(null, [{ address, family: 4 }]);
      else cb(null, address, 4);
    }) as unknown as LookupFunction;
    const agents = new Map<string, Agent>();
    const agentFor = (cert?: ClientTls, fresh = false) => {
      const make = () => new Agent({ connect: { ca: caPem, lookup, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) } });
      if (fresh) return make();
      let agent = agents.get(cert?.certPem ?? '');
      if (!agent) {
        agent = make();
        agents.set(cert?.certPem ?? '', agent);
      }
      return agent;
    };
    const fetch = async (path: string, init: RequestInit & { cert?: ClientTls; fresh?: boolean } = {}) => {
      const { cert, fresh, ...rest } = init;
      // A fresh connection when the server's TLS context matters (trust changes apply to new handshakes).
      const dispatcher = agentFor(cert, fresh);
      try {
        return (await undiciFetch(new URL(path, baseUrl), { redirect: 'manual', ...rest, dispatcher })) as unknown as Response;
      } finally {
        if (fresh) void dispatcher.close();
      }
    };
    let out = '';
    let exited: Promise<void> = Promise.resolve();
    const host: Host = {
      name,
      address,
      configFile,
      child: undefined as unknown as ChildProcess,
      dcr: dcrClient({ url: baseUrl, fetch }, directory, keySetHost!, tpps),
      fetch,
      output: () => out,
      async start() {
        const env = {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENDCR_'))),
          // The key set host's certificate comes from the directory's CA: the bank trusts it system-wide.
          NODE_EXTRA_CA_CERTS: rootCaFile,
        };
        // Inside the host's namespace (`ip netns exec` execs node: the pid is the server's).
        const [command, ...args] = [...prefix, process.execPath, MAIN, '--config', configFile];
        const child = spawn(command!, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        host.child = child;
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
        });
        child.stderr!.on('data', (c: Buffer) => {
          out += c.toString();
        });
        exited = new Promise((resolve) => child.once('exit', () => resolve()));
        await eventually(`${name} ready`, async () => {
          if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${out}`);
          return (await fetch('/health/ready')).status === 200 ? true : undefined;
        });
      },
      async kill() {
        if (host.child.exitCode === null) process.kill(-host.child.pid!, 'SIGKILL');
        await exited;
        for (const agent of agents.values()) await agent.destroy();
        agents.clear();
      },
      async stop() {
        if (host.child && host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGTERM');
        await exited;
        for (const agent of agents.values()) await agent.close();
        agents.clear();
      },
    };
    return host;
  }

  after(async () => {
    for (const h of hosts) await h.stop().catch(() => undefined);
    await keySetHost?.close().catch(() => undefined);
    await backend?.close().catch(() => undefined);
    await pgLink?.close();
    await redisLink?.close();
    topology?.close();
    if (!skipped) await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const skipIfMissing = (t: TestContext): boolean => {
    if (skipped) t.skip(`PostgreSQL or Redis not reachable: ${skipped}`);
    return skipped !== undefined;
  };

  /** A PS256 client assertion for `clientId`, aud the token endpoint. */
  const assertion = (tpp: SandboxTpp, clientId: string, baseUrl: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'PS256', kid: tpp.signingKey.kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${baseUrl}/oauth2/token`)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(tpp.signingKey.key);

  const tokenForm = async (tpp: SandboxTpp, clientId: string) =>
    new URLSearchParams({
      grant_type: 'client_credentials',
      scope: 'accounts',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(tpp, clientId, a.dcr.url),
    }).toString();

  const postToken = (host: Host, tpp: SandboxTpp, body: string) =>
    host.fetch('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      cert: tlsOf(tpp.transport),
    });

  /** Registers `tpp` through `host`; the client id. */
  const registerOn = async (host: Host, tpp: SandboxTpp): Promise<string> => {
    const created = await jsonBody(await host.dcr.register(tpp, await host.dcr.validRequestClaims(tpp)), 201);
    return String(created['client_id']);
  };

  test('a CA added with `opendcr truststore add` on host A is trusted by host B, told by a change notice', async (t) => {
    if (skipIfMissing(t)) return;
    t.diagnostic(
      topology!.kind === 'netns'
        ? `hosts in network namespaces at ${hosts.map((h) => h.address).join(', ')}`
        : `hosts on loopback addresses (no network namespaces: ${topology!.reason})`,
    );
    const tpp = await a.dcr.addTpp({ roles: ['AISP', 'PISP'] });
    const before = await b.fetch('/open-banking/v3.3/register', {
      method: 'POST',
      headers: { 'content-type': 'application/jose', accept: 'application/json' },
      body: Buffer.from(await tpp.signRequest(await b.dcr.validRequestClaims(tpp))),
      cert: tlsOf(tpp.transport),
      fresh: true,
    });
    assert.equal(before.status, 401, 'the transport certificate chains to no trusted CA yet');
    assert.match(b.output(), /"msg":"no CA is trusted for client certificates yet/, 'the operator was warned at start');

    const added = await runCli(a.configFile, 'truststore', 'add', rootCaFile, '--name', 'ob-directory-root');
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^Trusted /);
    assert.equal(added.stderr, '', 'the running servers were notified');
    const listed = json<Array<{ name: string; source: string }>>(await runCli(b.configFile, 'truststore', 'list', '--json'));
    assert.deepEqual(
      listed.map((c) => [c.name, c.source]),
      [['ob-directory-root.pem', 'database']],
      'host B reads what host A wrote',
    );

    const { ms } = await eventually('host B accepts the new CA', async () => {
      const res = await b.fetch('/open-banking/v3.3/register', {
        method: 'POST',
        headers: { 'content-type': 'application/jose', accept: 'application/json' },
        body: Buffer.from(await tpp.signRequest(await b.dcr.validRequestClaims(tpp))),
        cert: tlsOf(tpp.transport),
        fresh: true,
      });
      if (res.status === 201) return true;
      assert.equal(res.status, 401, await res.text());
      return undefined;
    });
    t.diagnostic(`trust anchor reached host B after ${ms} ms`);
  });

  test('registered on host A, tokens from host B, introspected on either', async (t) => {
    if (skipIfMissing(t)) return;
    const tpp = await a.dcr.addTpp({ roles: ['AISP', 'PISP'] });
    const created = await jsonBody(await a.dcr.register(tpp, await a.dcr.validRequestClaims(tpp)), 201);
    const clientId = String(created['client_id']);
    const token = await b.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
    assert.equal((await a.dcr.introspect(token))['client_id'], clientId);
    assert.equal((await b.dcr.introspect(token))['active'], true);
    assert.deepEqual(await jsonBody(await b.dcr.manage('GET', clientId, { token, cert: tpp.transport }), 200), created);
  });

  test('one client assertion raced to host A and host B: exactly one token, the other is a replay', async (t) => {
    if (skipIfMissing(t)) return;
    const tpp = await a.dcr.addTpp({ roles: ['AISP'] });
    const clientId = await registerOn(a, tpp);
    for (let round = 0; round < 12; round++) {
      const body = await tokenForm(tpp, clientId);
      // Alternate who goes first, and sometimes send twice to each.
      const targets = round % 3 === 2 ? [a, b, a, b] : round % 2 ? [b, a] : [a, b];
      const responses = await Promise.all(targets.map((h) => postToken(h, tpp, body)));
      const statuses = responses.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 1, `round ${round}: ${statuses}`);
      for (const r of responses.filter((x) => x.status !== 200)) {
        assert.equal(r.status, 401);
        assert.equal(((await r.json()) as { error: string }).error, 'invalid_client');
      }
    }
  });

  test('`opendcr keys rotate` on host A: host B signs with the new key, told by a change notice', async (t) => {
    if (skipIfMissing(t)) return;
    const tpp = await a.dcr.addTpp({ roles: ['AISP'] });
    const clientId = await registerOn(a, tpp);
    const old = await b.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
    const rotated = json<{ active: string[]; servers_notified: boolean }>(await runCli(a.configFile, 'keys', 'rotate', '--json'));
    assert.equal(rotated.servers_notified, true);
    const { ms } = await eventually('host B signs with the rotated key', async () => {
      const token = await b.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
      return rotated.active.includes(decodeProtectedHeader(token).kid!) ? token : undefined;
    });
    t.diagnostic(`key rotation reached host B after ${ms} ms`);
    const now = await a.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
    assert.ok(rotated.active.includes(decodeProtectedHeader(now).kid!), 'and host A too');
    // A token signed before the rotation stays valid on both hosts until it expires.
    assert.equal((await a.dcr.introspect(old))['active'], true);
    assert.equal((await b.dcr.introspect(old))['active'], true);
  });

  test('gateway: an API published on host A is served by host B, told by a change notice', async (t) => {
    if (skipIfMissing(t)) return;
    const onA: ServerFetch = (path, init) => a.fetch(path, init as never);
    const tpp = await a.dcr.addTpp({ roles: ['AISP', 'PISP'] });
    const api = await publishApi(onA, OB_FILES.accounts, backend!.url, {}, adminAuth);
    accountsApiId = String(api['id']);
    const clientId = await registerOn(a, tpp);
    const [sub] = await subscriptionsOf(onA, clientId, adminAuth);
    assert.equal(sub!['apiId'], accountsApiId, 'subscribed at registration');
    const token = await b.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
    const { ms } = await eventually('host B serves the API', async () => {
      const res = await b.fetch('/open-banking/v3.1/aisp/account-access-consents', {
        method: 'POST',
        body: '{}',
        cert: tlsOf(tpp.transport),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
      });
      const text = await res.text();
      if (res.status === 200) return text;
      assert.equal(res.status, 404, text);
      return undefined;
    });
    t.diagnostic(`a published API reached host B after ${ms} ms`);
    assert.equal(backend!.calls.at(-1)!.url, '/account-access-consents', 'the backend is called below its own base path');
  });

  test('gateway: a plan of 40 calls an hour lets exactly 40 through across both hosts (the limit does not double)', async (t) => {
    if (skipIfMissing(t)) return;
    const onA: ServerFetch = (path, init) => a.fetch(path, init as never);
    await addPlan(onA, 'Forty', 40, 'hour', adminAuth);
    await publishApi(onA, OB_FILES.funds, backend!.url, { policies: ['Forty'] }, adminAuth);
    const tpp = await a.dcr.addTpp({ roles: ['CBPII'] });
    const clientId = await registerOn(a, tpp);
    const token = await a.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'fundsconfirmations' });
    const call = (host: Host) =>
      host
        .fetch('/open-banking/v3.1/cbpii/funds-confirmation-consents', {
          method: 'POST',
          body: '{}',
          cert: tlsOf(tpp.transport),
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
        })
        .then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
    // Both hosts serve it before the count starts (host B learns of the API by a notice).
    await eventually('host B serves the funds API', async () => ((await call(b)) === 200 ? true : undefined));
    const hourOf = (ms: number) => Math.floor(ms / 3_600_000);
    const firstCallHour = hourOf(Date.now());
    // The 80 calls run inside one hour: near its end, wait for the next.
    const intoHour = (Date.now() / 1000) % 3600;
    if (intoHour > 3540) await sleep((3600 - intoHour + 1) * 1000);
    // The call that found host B serving counted in its hour (refused 404s are not counted); when
    // the wait above crossed into a new hour, the 80 calls start a fresh count of 40.
    const passed = hourOf(Date.now()) === firstCallHour ? 39 : 40;
    const statuses = await Promise.all(Array.from({ length: 80 }, (_, i) => call(i % 2 ? b : a)));
    t.diagnostic(
      `host A let ${statuses.filter((s, i) => s === 200 && i % 2 === 0).length} through, host B ${statuses.filter((s, i) => s === 200 && i % 2 === 1).length}`,
    );
    assert.equal(statuses.filter((s) => s === 200).length, passed, statuses.join(' '));
    assert.equal(statuses.filter((s) => s === 429).length, 80 - passed);
  });

  test('kill -9 of host A under registration load: every registration it acknowledged is readable on host B', async (t) => {
    if (skipIfMissing(t)) return;
    const tpp = await a.dcr.addTpp({ roles: ['AISP', 'PISP'] });
    const acknowledged = new Map<string, Record<string, unknown>>();
    let killed = false;
    const load = async () => {
      while (!killed) {
        try {
          const res = await a.dcr.register(tpp, await a.dcr.validRequestClaims(tpp));
          if (res.status === 201) {
            const body = (await res.json()) as Record<string, unknown>;
            acknowledged.set(String(body['client_id']), body);
          }
        } catch {
          // The connection died with the host: wait for the kill to be noticed (and never spin).
          await sleep(20);
        }
      }
    };
    const loops = Array.from({ length: 4 }, load);
    try {
      await eventually('host A acknowledges registrations', async () => (acknowledged.size >= 20 ? true : undefined));
      await a.kill();
    } finally {
      killed = true;
      await Promise.all(loops);
    }
    const acked = [...acknowledged];
    t.diagnostic(`${acked.length} registrations acknowledged before kill -9`);
    // Registration and subscription commit together: every registration of this software has its
    // subscription to the published accounts API, and no subscription outlived its registration.
    if (accountsApiId) {
      const c = new pg.Client({ connectionString: PG_ADMIN.replace(/\/[^/]*$/, `/${db}`) });
      await c.connect();
      try {
        const unsubscribed = await c.query(
          `SELECT r.client_id FROM registrations r WHERE r.software_id = $1
          AND NOT EXISTS (SELECT 1 FROM gateway_subscriptions s WHERE s.client_id = r.client_id AND s.api_id = $2)`,
          [tpp.softwareId, accountsApiId],
        );
        assert.deepEqual(unsubscribed.rows, [], 'a registration without its subscription');
        const orphans = await c.query(
          'SELECT s.client_id FROM gateway_subscriptions s WHERE NOT EXISTS (SELECT 1 FROM registrations r WHERE r.client_id = s.client_id)',
        );
        assert.deepEqual(orphans.rows, [], 'a subscription without its registration');
        const subscribed = await c.query(
          'SELECT count(*)::int AS n FROM gateway_subscriptions s JOIN registrations r USING (client_id) WHERE r.software_id = $1',
          [tpp.softwareId],
        );
        assert.ok(subscribed.rows[0].n >= acked.length, `${subscribed.rows[0].n} subscriptions for ${acked.length} acknowledged registrations`);
      } finally {
        await c.end();
      }
    }
    for (const [clientId, created] of acked) {
      const token = await b.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
      assert.deepEqual(await jsonBody(await b.dcr.manage('GET', clientId, { token, cert: tpp.transport }), 200), created);
    }
  });

  test('Redis cut off: coded 503 where a one-time id must be checked, never a pass; not ready; healed without a restart', async (t) => {
    if (skipIfMissing(t)) return;
    const tpp = await b.dcr.addTpp({ roles: ['AISP'] });
    const clientId = await registerOn(b, tpp);
    await redisLink!.cut();
    try {
      const body = await tokenForm(tpp, clientId);
      const res = await postToken(b, tpp, body);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' });
      const ready = await b.fetch('/health/ready');
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { status: 'unavailable', storage: 'postgres', shared_state: 'redis', unavailable: ['shared_state'] });
      assert.equal((await b.fetch('/health/live')).status, 200, 'alive: the host needs no restart');
      // Registration needs only the database (its request jti is stored with the registration).
      await registerOn(b, tpp);

      await redisLink!.restore();
      await eventually('host B ready again', async () => ((await b.fetch('/health/ready')).status === 200 ? true : undefined));
      // The assertion refused during the outage was never recorded: it is good once, and only once.
      assert.equal((await postToken(b, tpp, body)).status, 200);
      assert.equal((await postToken(b, tpp, body)).status, 401);
    } finally {
      await redisLink!.restore();
    }
    assert.match(
      b.output(),
      /"code":"SHARED_STATE_UNAVAILABLE".*"msg":"shared state unavailable: requests that need it answer 503 until it returns"/,
      'the log names the outage',
    );
    assert.match(b.output(), /"msg":"shared state available again"/, 'and the recovery');
  });

  test('PostgreSQL cut off: coded 503, not ready, nothing half-written; healed without a restart', async (t) => {
    if (skipIfMissing(t)) return;
    const tpp = await b.dcr.addTpp({ roles: ['AISP'] });
    const clientId = await registerOn(b, tpp);
    await pgLink!.cut();
    try {
      const reg = await b.dcr.register(tpp, await b.dcr.validRequestClaims(tpp));
      assert.equal(reg.status, 503);
      const regBody = (await reg.json()) as Record<string, unknown>;
      assert.equal(regBody['error'], 'temporarily_unavailable');
      const token = await postToken(b, tpp, await tokenForm(tpp, clientId));
      assert.equal(token.status, 503);
      assert.equal(((await token.json()) as { error: string }).error, 'temporarily_unavailable');
      const ready = await b.fetch('/health/ready');
      assert.equal(ready.status, 503);
      assert.deepEqual(((await ready.json()) as { unavailable: string[] }).unavailable, ['storage']);
    } finally {
      await pgLink!.restore();
    }
    await eventually('host B ready again', async () => ((await b.fetch('/health/ready')).status === 200 ? true : undefined));
    const again = await eventually('registration works again', async () => {
      const res = await b.dcr.register(tpp, await b.dcr.validRequestClaims(tpp));
      return res.status === 201 ? ((await res.json()) as Record<string, unknown>) : undefined;
    });
    assert.equal(typeof again.value['client_id'], 'string');
    await b.dcr.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
    assert.match(b.output(), /"code":"STORAGE_UNAVAILABLE"/, 'the log names the outage');
  });
});
