/**
 * `node_modules/.bin/node bench/cluster.ts`: the cluster figures, in one run on this
 * machine, with PostgreSQL (a fresh database, dropped at the end) and the local Redis:
 *
 * - token rate, two hosts against one: the same 50-connection token load (private_key_jwt PS256,
 *   certificate-bound PS256 JWTs) on one instance with 2 worker processes, then on two instances
 *   (hosts) with 1 worker each behind the same public name, the connections spread over both;
 *   the same cores either way, so the ratio is what sharing the state across hosts costs;
 *   `BENCH_ROUNDS` rounds, interleaved;
 * - change notices: a key rotation written to the database and announced on Redis, timed until
 *   the other host serves the new key in its JWKS (`BENCH_NOTICES` times).
 *
 * Knobs: BENCH_SECONDS (10), BENCH_WARMUP (3), BENCH_ROUNDS (2), BENCH_NOTICES (20),
 * BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test, to create the database),
 * BENCH_REDIS_URL (redis://127.0.0.1:6379/0).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { loadConfig } from '../src/config/load.ts';
import { createKeyManager } from '../src/crypto/keys.ts';
import { retireGrace } from '../src/oauth/state.ts';
import { CHANNELS, openSharedState } from '../src/shared-state/index.ts';
import { openStorage } from '../src/storage/index.ts';
import { bodyMaker, type BodySpec } from './lib/assertions.ts';
import { SCOPE, privateJwk, registerTpp } from './lib/clients.ts';
import { runLoad, type LoadResult } from './lib/loadgen.ts';
import { rate, ratio } from './lib/report.ts';
import { createCleanup, knob, freePort, httpsCall, prepareOurs, serverCa, startOurs, type RunningChild } from './lib/setup.ts';

const SECONDS = knob('BENCH_SECONDS', 10);
const WARMUP = knob('BENCH_WARMUP', 3);
const ROUNDS = knob('BENCH_ROUNDS', 2);
const NOTICES = knob('BENCH_NOTICES', 20);
const PG_ADMIN = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';
const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };

const cleanup = createCleanup();
const log = (what: string) => process.stderr.write(`[cluster] ${what}\n`);

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const db = `opendcr_bench_${randomBytes(4).toString('hex')}`;
const dbUrl = new URL(PG_ADMIN);
dbUrl.pathname = `/${db}`;

async function main(): Promise<void> {
  await admin(`CREATE DATABASE ${db}`);
  const root = cleanup.dir('opendcr-cluster-bench-');
  // One configuration for every host; the public name (the issuer) is the first host's port.
  const setup = await prepareOurs(join(root, 'ours'), 2, 'info', {
    tables: ['[database]', `url = ${JSON.stringify(dbUrl.href)}`, '[redis]', `url = ${JSON.stringify(REDIS_URL)}`, `key_prefix = "opendcr-bench-${db}:"`],
  });
  const port = setup.port;
  const otherPort = await freePort();
  const text = readFileSync(setup.configPath, 'utf8').replace('[server]\n', `[server]\nbase_url = "https://localhost:${port}"\n`);
  writeFileSync(setup.configPath, text);
  const oneWorker = join(root, 'ours', 'opendcr-1-worker.toml');
  writeFileSync(oneWorker, text.replace(/^workers = \d+$/m, 'workers = 1'));

  // First start: sandbox PKI, schema, signing keys; then the bench TPP registers.
  let one: RunningChild | undefined = await startOurs(setup, cleanup, 2);
  const ca = serverCa(setup);
  const clientId = await registerTpp(setup, ca);
  const discovery = await httpsCall({ port, path: '/.well-known/openid-configuration', ca });
  const endpoint = String((JSON.parse(discovery.body) as { token_endpoint: string }).token_endpoint);
  const { tpp } = setup;
  const spec: BodySpec = { kind: 'client-assertion', clientId, aud: endpoint, scope: SCOPE, kid: tpp.signingKey.kid, privateJwk: privateJwk(tpp) };
  const path = new URL(endpoint).pathname;
  const probe = async (p: number) => {
    const res = await httpsCall({
      port: p,
      method: 'POST',
      path,
      headers: { ...FORM, host: `localhost:${port}` },
      body: bodyMaker(spec)(),
      ca,
      tls: setup.tppTls,
    });
    if (res.status !== 200) throw new Error(`token probe on port ${p}: ${res.status} ${res.body}`);
  };
  await one.stop();
  one = undefined;

  const load = (label: string, ports: number[], pids: number[]): Promise<LoadResult> =>
    runLoad(
      {
        label,
        port,
        ports,
        ca,
        tls: setup.tppTls,
        method: 'POST',
        path,
        headers: FORM,
        bodies: spec,
        connections: 50,
        warmupSeconds: WARMUP,
        seconds: SECONDS,
        rateHint: 5000,
        expectStatus: 200,
        serverPid: pids[0]!,
        serverPids: pids.slice(1),
      },
      cleanup,
    );

  const rows: Array<{ round: number; variant: string; r: LoadResult }> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}: one host, 2 workers`);
    const single = await startOurs(setup, cleanup, 2);
    await probe(port);
    rows.push({ round, variant: 'one host (2 workers)', r: await load(`one host r${round}`, [port], [single.pid]) });
    await single.stop();

    log(`round ${round}: two hosts, 1 worker each`);
    const a = await startOurs(setup, cleanup, 1, [], undefined, { configPath: oneWorker });
    const b = await startOurs(setup, cleanup, 1, [], undefined, { configPath: oneWorker, port: otherPort });
    await probe(port);
    await probe(otherPort);
    rows.push({ round, variant: 'two hosts (1 worker each)', r: await load(`two hosts r${round}`, [port, otherPort], [a.pid, b.pid]) });
    if (round === ROUNDS) await notices(setup.configPath, otherPort, ca);
    await a.stop();
    await b.stop();
  }

  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)]!;
  const cpuMs = (r: LoadResult) => ((r.serverCores ?? 0) * r.seconds * 1000) / Math.max(r.ok, 1);
  const out = ['| round | variant | tokens/s | server CPU per token (ms) | p50 ms | p99 ms | failed |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const { round, variant, r } of rows)
    out.push(`| ${round} | ${variant} | ${rate(r.rps)} | ${cpuMs(r).toFixed(2)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.failed} |`);
  const one1 = median(rows.filter((x) => x.variant.startsWith('one')).map((x) => x.r.rps));
  const two = median(rows.filter((x) => x.variant.startsWith('two')).map((x) => x.r.rps));
  out.push('', `Median tokens/s: two hosts ${rate(two)}, one host ${rate(one1)}: ${ratio(two, one1)}.`);
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Rotates the signing keys in the database, announces it, and times until the other host serves the new key. */
async function notices(configPath: string, otherPort: number, ca: string): Promise<void> {
  const config = loadConfig({ path: configPath, env: {} });
  const storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 2, busyTimeoutMs: 5000 });
  const shared = await openSharedState(config);
  const km = createKeyManager({ keys: storage.keys, meta: storage.meta, now: () => Math.floor(Date.now() / 1000), retireGrace: retireGrace(config) });
  const times: number[] = [];
  try {
    for (let i = 0; i < NOTICES; i++) {
      const kids = await km.rotate();
      const t0 = performance.now();
      await shared.publish(CHANNELS.keyManager, 'rotated');
      for (;;) {
        const res = await httpsCall({ port: otherPort, path: '/oauth2/jwks', ca });
        const served = (JSON.parse(res.body) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
        if (kids.every((k) => served.includes(k))) break;
        if (performance.now() - t0 > 30_000) throw new Error('the other host never served the rotated key');
        await sleep(2);
      }
      times.push(performance.now() - t0);
      await sleep(200);
    }
  } finally {
    await shared.close();
    await storage.close();
  }
  times.sort((x, y) => x - y);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(0);
  process.stdout.write(
    `Key rotation announced → served by the other host (${times.length} times): median ${q(0.5)} ms, max ${times.at(-1)!.toFixed(0)} ms (the notice, the host's key manager rebuild, and a JWKS request polled every 2 ms).\n\n`,
  );
}

try {
  await main();
} finally {
  await cleanup.run().catch(() => undefined);
  await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
}
