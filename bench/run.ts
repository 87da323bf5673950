/**
 * `npm run bench`: the whole benchmark in one run on this machine (see bench/README.md).
 * Our server as `npm start` runs it, stock oidc-provider configured equivalently, the crypto
 * limit, DCR, discovery and JWKS, TLS handshakes, start-up and memory, and the token rate with
 * 100 and with 100,000 registered clients. Prints a markdown table and writes it to
 * bench/results/<ISO timestamp>.md. Every child process and temp folder is removed at the end,
 * also when a step fails, the run is interrupted or the overall time limit passes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bodyMaker, type BodySpec } from './lib/assertions.ts';
import { DCR_PATH, SCOPE, fillClients, privateJwk, registerTpp, registrationSpec } from './lib/clients.ts';
import { measureCryptoLimit } from './lib/crypto-limit.ts';
import { measureHandshakes } from './lib/handshake.ts';
import { runLoad, type LoadJob, type LoadResult } from './lib/loadgen.ts';
import { processTree, rssMb, sampleRss } from './lib/proc.ts';
import { createReport, loadRow, rate, ratio } from './lib/report.ts';
import { runBenchmark } from './lib/harness.ts';
import { REPO, createCleanup, httpsCall, knob, prepareOurs, serverCa, startOurs, startStock, type OurSetup } from './lib/setup.ts';

const SECONDS = knob('BENCH_SECONDS', 10);
const WARMUP = knob('BENCH_WARMUP', 3);
const WORKERS = knob('BENCH_WORKERS', 2);
const MANY = knob('BENCH_CLIENTS', 100_000);
const HANDSHAKES = knob('BENCH_HANDSHAKES', 500);
const TIMEOUT = knob('BENCH_TIMEOUT', 1800);
const FEW = 100;

const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
const cleanup = createCleanup();
const report = createReport();
const mb = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
const started = performance.now();
/** Progress on stderr, so stdout stays the report. */
const step = (what: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${what}\n`);

interface Target {
  port: number;
  ca: string;
  setup: OurSetup;
  pid: number;
}

/** Load runs finished so far, reported as notes when the run stops before the table is built. */
const completed: LoadResult[] = [];

async function load(t: Target, label: string, connections: number, path: string, extra: Partial<LoadJob>): Promise<LoadResult> {
  const r = await runLoad(
    {
      label,
      port: t.port,
      ca: t.ca,
      tls: t.setup.tppTls,
      method: 'GET',
      path,
      connections,
      warmupSeconds: WARMUP,
      seconds: SECONDS,
      rateHint: 20_000,
      expectStatus: 200,
      serverPid: t.pid,
      ...extra,
    },
    cleanup,
  );
  completed.push(r);
  return r;
}

/** The token endpoint and a client assertion spec for it, after one request proves the set-up (200, PS256 JWT, cnf). */
async function tokenTarget(t: Target, clientId: string, who: string): Promise<{ path: string; spec: BodySpec }> {
  const discovery = await httpsCall({ port: t.port, path: '/.well-known/openid-configuration', ca: t.ca });
  if (discovery.status !== 200) throw new Error(`${who}: discovery answered ${discovery.status}`);
  const endpoint = String((JSON.parse(discovery.body) as { token_endpoint: string }).token_endpoint);
  const { tpp } = t.setup;
  const spec: BodySpec = { kind: 'client-assertion', clientId, aud: endpoint, scope: SCOPE, kid: tpp.signingKey.kid, privateJwk: privateJwk(tpp) };
  const path = new URL(endpoint).pathname;
  const res = await httpsCall({ port: t.port, method: 'POST', path, headers: FORM, body: bodyMaker(spec)(), ca: t.ca, tls: t.setup.tppTls });
  if (res.status !== 200) throw new Error(`${who}: token request answered ${res.status}: ${res.body}`);
  const token = String((JSON.parse(res.body) as { access_token: string }).access_token);
  const [header, payload] = token
    .split('.')
    .slice(0, 2)
    .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
  const cnf = payload!['cnf'] as Record<string, unknown> | undefined;
  if (header!['alg'] !== 'PS256' || !cnf?.['x5t#S256'])
    throw new Error(`${who}: the access token is not a certificate-bound PS256 JWT: ${JSON.stringify(header)}`);
  report.note(`${who} access token: header ${JSON.stringify(header)}, claims ${Object.keys(payload!).join(', ')}`);
  return { path, spec };
}

function tokenRun(t: Target, label: string, connections: number, token: { path: string; spec: BodySpec }, limit: number): Promise<LoadResult> {
  return load(t, label, connections, token.path, { method: 'POST', headers: FORM, bodies: token.spec, rateHint: limit });
}

function clientNote(r: LoadResult): void {
  const signed = r.signed > 0 ? `; ${r.signed} requests pre-signed in ${r.signSeconds.toFixed(1)} s` : '';
  report.note(
    `${r.label}: load generator used ${r.clientCores.toFixed(2)} cores${signed}; warm-up ${rate(r.warmupRps)}/s; statuses ${JSON.stringify(r.statuses)}${r.firstFailure ? `; first failure: ${r.firstFailure}` : ''}`,
  );
}

async function main(): Promise<void> {
  const root = cleanup.dir('opendcr-bench-');
  const setup = await prepareOurs(join(root, 'ours'), WORKERS);

  step('crypto limit');
  // 3. The crypto limit first, with nothing else running; it also caps the pre-signing batches.
  const limit = await measureCryptoLimit(privateJwk(setup.tpp), SECONDS);

  step('our server: first start, idle RSS, registration');
  // 6. First start on an empty data folder (sandbox CA, server certificate, signing keys), idle RSS.
  let ours = await startOurs(setup, cleanup, WORKERS);
  const firstReadyMs = ours.readyMs;
  await sleep(3000);
  const idleRss = processTree(ours.pid).map(rssMb);
  const t: Target = { port: setup.port, ca: serverCa(setup), setup, pid: ours.pid };
  const clientId = await registerTpp(setup, t.ca);
  await ours.stop();
  const few = await fillClients(setup, clientId, FEW);

  step(`token endpoint, ours (${few.after} clients), discovery, JWKS, handshakes, DCR`);
  // 1. Our token endpoint, then discovery, JWKS, handshakes and DCR on the same server.
  ours = await startOurs(setup, cleanup, WORKERS);
  t.pid = ours.pid;
  const warmReadyMs = ours.readyMs;
  const ourToken = await tokenTarget(t, clientId, 'ours');
  const ours10 = await tokenRun(t, 'token ours 10c', 10, ourToken, limit.opsPerSecond);
  const rss = sampleRss(ours.pid);
  const ours50 = await tokenRun(t, 'token ours 50c', 50, ourToken, limit.opsPerSecond);
  const loadRss = rss.stop();
  const discovery = await load(t, 'discovery 50c', 50, '/.well-known/openid-configuration', {});
  const jwks = await load(t, 'jwks 50c', 50, '/oauth2/jwks', {});
  const handshakes = await measureHandshakes({ port: t.port, ca: t.ca, tls: setup.tppTls, serverPid: ours.pid, count: HANDSHAKES });
  const dcrJob = {
    method: 'POST',
    headers: { 'content-type': 'application/jose', accept: 'application/json' },
    bodies: await registrationSpec(setup),
    rateHint: 3000,
    expectStatus: 201,
  } as const;
  const dcr = await load(t, 'dcr 10c', 10, DCR_PATH, dcrJob);
  const dcr50 = await load(t, 'dcr 50c', 50, DCR_PATH, dcrJob);
  await ours.stop();

  step('token endpoint, stock oidc-provider');
  // 2. Stock oidc-provider, same certificate, client key, process count and load.
  const stock = await startStock(setup, root, cleanup, WORKERS, clientId);
  const s: Target = { port: stock.port, ca: t.ca, setup, pid: stock.pid };
  const stockToken = await tokenTarget(s, clientId, 'stock');
  const stock10 = await tokenRun(s, 'token stock 10c', 10, stockToken, limit.opsPerSecond);
  const stock50 = await tokenRun(s, 'token stock 50c', 50, stockToken, limit.opsPerSecond);
  await stock.stop();

  step('token endpoint, ours with the shared state in Redis');
  // 1. The same token load with the shared state (replay ids, marks, notices) in the local Redis.
  let redis10: LoadResult | undefined;
  let redis50: LoadResult | undefined;
  const redisUrl = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';
  if (await redisAnswers(redisUrl)) {
    const redisConfig = join(root, 'ours', 'opendcr-redis.toml');
    writeFileSync(
      redisConfig,
      `${readFileSync(setup.configPath, 'utf8')}[redis]\nurl = ${JSON.stringify(redisUrl)}\nkey_prefix = "opendcr-bench-${randomBytes(4).toString('hex')}:"\n`,
    );
    ours = await startOurs(setup, cleanup, WORKERS, [], REPO, { configPath: redisConfig });
    t.pid = ours.pid;
    await tokenTarget(t, clientId, 'ours (Redis)');
    redis10 = await tokenRun(t, 'token ours+redis 10c', 10, ourToken, limit.opsPerSecond);
    redis50 = await tokenRun(t, 'token ours+redis 50c', 50, ourToken, limit.opsPerSecond);
    await ours.stop();
  } else {
    report.note(`Redis at ${redisUrl} did not answer: the Redis rows were not measured`);
  }

  step(`token endpoint, ours with ${rate(MANY)} clients`);
  // 6. The same token load with 100,000 registered clients.
  const many = await fillClients(setup, clientId, MANY);
  ours = await startOurs(setup, cleanup, WORKERS);
  t.pid = ours.pid;
  const manyReadyMs = ours.readyMs;
  await tokenTarget(t, clientId, 'ours (many clients)');
  const oursMany = await tokenRun(t, `token ours 50c, ${rate(many.after)} clients`, 50, ourToken, limit.opsPerSecond);
  await ours.stop();

  const tokenPass = (r: LoadResult, peer: LoadResult, p99: boolean) => r.rps >= 2000 && r.rps >= peer.rps && (!p99 || r.p99 < 50);
  report.add(
    loadRow('1', 'token, ours, 10 connections', ours10, 'tokens/s', {
      ratio: `${ratio(ours10.rps, stock10.rps)} stock`,
      target: '≥ 2,000/s, ≥ 1.0× stock',
      pass: tokenPass(ours10, stock10, false),
    }),
  );
  report.add(
    loadRow('1', 'token, ours, 50 connections', ours50, 'tokens/s', {
      ratio: `${ratio(ours50.rps, stock50.rps)} stock`,
      target: '≥ 2,000/s, ≥ 1.0× stock, p99 < 50 ms',
      pass: tokenPass(ours50, stock50, true),
    }),
  );
  if (redis10 && redis50) {
    report.add(
      loadRow('1', 'token, ours, shared state in Redis, 10 connections', redis10, 'tokens/s', {
        ratio: `${ratio(redis10.rps, stock10.rps)} stock`,
        target: '≥ 1.0× stock',
        pass: redis10.rps >= stock10.rps,
      }),
    );
    report.add(
      loadRow('1', 'token, ours, shared state in Redis, 50 connections', redis50, 'tokens/s', {
        ratio: `${ratio(redis50.rps, stock50.rps)} stock`,
        target: '≥ 1.0× stock',
        pass: redis50.rps >= stock50.rps,
      }),
    );
  }
  report.add(loadRow('2', 'token, stock oidc-provider, 10 connections', stock10, 'tokens/s'));
  report.add(loadRow('2', 'token, stock oidc-provider, 50 connections', stock50, 'tokens/s'));
  report.add({
    item: '3',
    what: `crypto limit: PS256 verify + sign, ${limit.threads} threads`,
    result: `${rate(limit.opsPerSecond)} pairs/s`,
    ratio: `ours 50c = ${ratio(ours50.rps, limit.opsPerSecond)}, stock 50c = ${ratio(stock50.rps, limit.opsPerSecond)}`,
  });
  report.add(
    loadRow('4', 'DCR POST /register (v3.3), 10 connections', dcr, 'registrations/s', {
      ratio: `${ratio(dcr.rps, limit.opsPerSecond)} crypto limit`,
      target: '≥ 1,500/s',
      pass: dcr.rps >= 1500,
    }),
  );
  report.add(
    loadRow('4', 'DCR POST /register (v3.3), 50 connections', dcr50, 'registrations/s', {
      ratio: `${ratio(dcr50.rps, limit.opsPerSecond)} crypto limit`,
      target: '≥ 1,500/s',
      pass: dcr50.rps >= 1500,
    }),
  );
  report.add(loadRow('5', 'discovery, 50 connections', discovery, 'requests/s'));
  report.add(loadRow('5', 'JWKS, 50 connections', jwks, 'requests/s'));
  report.add({
    item: '5',
    what: `mTLS handshake, full (${handshakes.protocol}, ${handshakes.count} sequential)`,
    result: `${handshakes.fullCpuMs.toFixed(2)} ms server CPU each`,
  });
  report.add({
    item: '5',
    what: `mTLS handshake, resumed (session ticket; ${(handshakes.resumedShare * 100).toFixed(0)}% resumed)`,
    result: `${handshakes.resumedCpuMs.toFixed(2)} ms server CPU each`,
    ratio: `${ratio(handshakes.resumedCpuMs, handshakes.fullCpuMs)} full`,
  });
  for (const [what, ms] of [
    ['first start (empty data folder)', firstReadyMs],
    [`warm start, ${few.after} clients`, warmReadyMs],
    [`warm start, ${rate(many.after)} clients`, manyReadyMs],
  ] as const) {
    report.add({
      item: '6',
      what: `start to ready, ${what}`,
      result: `${(ms / 1000).toFixed(2)} s`,
      target: what.startsWith('warm') ? '< 1.5 s' : '< 2 s',
      pass: ms < (what.startsWith('warm') ? 1500 : 2000),
    });
  }
  report.add({
    item: '6',
    what: 'idle RSS per process (primary / workers), 3 s after first start',
    result: `${mb(idleRss)} MB`,
    target: '< 150 MB each',
    pass: Math.max(...idleRss) < 150,
  });
  report.add({ item: '6', what: 'RSS under load per process, max during token 50c', result: `${mb(loadRss)} MB` });
  report.add(loadRow('6', `token, ours, 50 connections, ${few.after} clients (= row 1)`, ours50, 'tokens/s'));
  report.add(
    loadRow('6', `token, ours, 50 connections, ${rate(many.after)} clients`, oursMany, 'tokens/s', {
      ratio: `${ratio(oursMany.rps, ours50.rps)} of ${few.after} clients`,
      target: '≥ 0.90× (flat)',
      pass: oursMany.rps >= 0.9 * ours50.rps,
    }),
  );
  report.note(`handshake wall time (client side, median): full ${handshakes.fullWallMs.toFixed(2)} ms, resumed ${handshakes.resumedWallMs.toFixed(2)} ms`);
  report.note(`DCR created ${dcr.okTotal + dcr50.okTotal} clients (warm-up included) before the many-clients run; clients before it: ${rate(many.before)}`);
  for (const r of [ours10, ours50, ...(redis10 && redis50 ? [redis10, redis50] : []), stock10, stock50, oursMany, dcr, dcr50, discovery, jwks]) clientNote(r);
}

/** Whether Redis answers PING at `url` (within 2 s). */
async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

function header(): string[] {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    if (execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8' }).trim()) commit += ' + uncommitted changes';
  } catch {
    // not a git checkout
  }
  const knobs = `BENCH_SECONDS=${SECONDS} BENCH_WARMUP=${WARMUP} BENCH_WORKERS=${WORKERS} BENCH_CLIENTS=${MANY} BENCH_HANDSHAKES=${HANDSHAKES}`;
  return [
    `# OpenDCR benchmark, ${new Date().toISOString()}`,
    '',
    `- command: \`${knobs} npm run bench\``,
    `- machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GB; Node ${process.versions.node}; load average at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `- commit: ${commit}; servers: ${WORKERS} worker processes each; load generator: bench/lib/loadgen.ts (closed loop, keep-alive, mTLS), ${WARMUP} s warm-up + ${SECONDS} s per run`,
  ];
}

const head = header();
await runBenchmark(main, { repo: REPO, cleanup, report, head: () => head, completed, timeoutSeconds: TIMEOUT });
