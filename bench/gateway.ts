/**
 * `npm run bench:gateway` (node bench/gateway.ts [--profile]): the gateway pass-through,
 * side by side on the same cores, in one run (see bench/README.md, "Gateway pass-through"):
 *
 * - direct: a tiny Node HTTP/1.1 backend (its own process, keep-alive) answering every GET with a
 *   fixed 1 KiB JSON body, called over plain HTTP: the floor;
 * - nginx: Debian's nginx as a plain mutual-TLS reverse proxy to that backend (TLS with our
 *   server certificate, client certificate required, upstream keep-alive pool);
 * - node: a bare Node.js mutual-TLS reverse proxy (bench/lib/node-proxy.ts: node:https, undici
 *   Pool, the same workers, no checks at all): how much of the gap to nginx is Node itself;
 * - ours: our server as `npm start` runs it, the OB Account and Transaction API imported with the
 *   backend's URL and published, offering first a custom plan with a huge limit (so the throttle
 *   counter is counted on every call), the bench TPP registered through DCR (which subscribes it on
 *   that plan), and its certificate-bound PS256 JWT access token sent on every call of
 *   `GET …/account-access-consents/{ConsentId}` (client credentials, scope accounts).
 *
 * - ours with a consent: the same file published again (its own context) with its consents served
 *   here, a PSU's token for an account access consent the sandbox PSU authorised (bench/lib/psu.ts),
 *   sent on every call of `GET …/accounts/{AccountId}/balances`: the consent step on top of the
 *   rest (the consent read from its cache, its type, permission and account checked, the consent
 *   put in the identity JWT).
 *
 * Every variant gets the same requests from the same load generator (bench/lib/loadgen.ts, 50
 * keep-alive connections; mutual TLS with the TPP's transport certificate for nginx and ours),
 * interleaved: direct, then nginx, node and ours BENCH_ROUNDS times, each with its own warm-up. Any
 * unexpected status or transport error stops the run. `--profile` then runs ours once more with
 * --cpu-prof under the same load and prints where its workers' time goes.
 *
 * Then each variant once more at 1 connection (BENCH_LATENCY_SECONDS): the latency one call adds,
 * without the queueing that 50 connections in a closed loop put in front of it.
 *
 * Knobs: BENCH_SECONDS (10), BENCH_WARMUP (3), BENCH_CONNECTIONS (50), BENCH_ROUNDS (2),
 * BENCH_LATENCY_SECONDS (5), BENCH_WORKERS (2), BENCH_TIMEOUT (300 s, the whole run, cleaned up
 * when it passes).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { bodyMaker, type BodySpec } from './lib/assertions.ts';
import { BODY_BYTES, httpGet, startBackend } from './lib/backend.ts';
import { SCOPE, privateJwk, registerTpp } from './lib/clients.ts';
import { renderSummary, summarise } from './lib/cpuprofile.ts';
import { stageShares, type Stage } from './lib/cpuprofile-stages.ts';
import { runLoad, type LoadJob, type LoadResult } from './lib/loadgen.ts';
import { watchOtherLoad } from './lib/machine.ts';
import { ensureNginx, startNginx } from './lib/nginx.ts';
import { startNodeProxy } from './lib/node-proxy.ts';
import { createReport, loadRow, rate, ratio } from './lib/report.ts';
import { runBenchmark } from './lib/harness.ts';
import { REPO, createCleanup, httpsCall, knob, prepareOurs, serverCa, serverTlsMaterial, startOurs, type OurSetup, type RunningChild } from './lib/setup.ts';
import { psuGrant } from './lib/psu.ts';

const SECONDS = knob('BENCH_SECONDS', 10);
const WARMUP = knob('BENCH_WARMUP', 3);
const CONNECTIONS = knob('BENCH_CONNECTIONS', 50);
const ROUNDS = knob('BENCH_ROUNDS', 2);
/** Length of the unloaded-latency phases (1 connection, each variant once). */
const LATENCY_SECONDS = knob('BENCH_LATENCY_SECONDS', 5);
const WORKERS = knob('BENCH_WORKERS', 2);
const TIMEOUT = knob('BENCH_TIMEOUT', 300);
const PROFILE = process.argv.includes('--profile');

const CONTEXT = '/open-banking/v3.1/aisp';
/** TPPOAuth2Security: client credentials, scope accounts. */
const CALL_PATH = `${CONTEXT}/account-access-consents/bench-consent-1`;
const ACCOUNTS_FILE = join(REPO, 'specs', 'ob-read-write-openapi', 'v3.1.11', 'account-info-openapi.yaml');
/** The same file again, its consents served here, for the PSU token's calls. */
const CONSENT_CONTEXT = '/open-banking/v3.1/aisc';
/** A custom plan: a limit, so every call counts in the shared state (the built-in Unlimited plan counts nothing). */
const PLAN = {
  policyName: 'BenchHuge',
  description: 'gateway benchmark: counted, never reached',
  defaultLimit: { requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 1_000_000_000 } },
  stopOnQuotaReach: true,
};
/** The shipped default [super_admin]. */
const ADMIN = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
/** WSO2 API-M's published pass-through figure (apim.docs.wso2.com, "Performance Test Results"). */
const WSO2 = { rps: 3800, p99: 76, what: 'WSO2 API-M published: pass-through (Echo API), 2 vCPU c5.large, JWT, 1 KiB, 100 users, 0 ms backend' };

const cleanup = createCleanup();
const report = createReport();
const extra: string[] = [];
const started = performance.now();
const step = (what: string) => process.stderr.write(`[gateway ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${what}\n`);
const completed: LoadResult[] = [];
const head: string[] = [];
/** The --profile section, added after the table. */
const profile: string[] = [];

type Variant = 'direct' | 'nginx' | 'node' | 'ours' | 'consent';
const VARIANT_LABEL: Record<Variant, string> = {
  direct: 'direct: backend, plain HTTP',
  nginx: 'nginx: mTLS reverse proxy',
  node: 'node: bare Node.js mTLS reverse proxy (undici, no checks)',
  ours: 'ours: gateway (token, plan, counter)',
  consent: 'ours: gateway, PSU token held to its consent (AIS balances)',
};

async function admin(
  t: { port: number; ca: string },
  method: string,
  path: string,
  expect: number,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const res = await httpsCall({
    port: t.port,
    method,
    path,
    ca: t.ca,
    headers: { ...ADMIN, accept: 'application/json', 'x-requested-with': 'opendcr-bench', ...headers },
    ...(body === undefined ? {} : { body }),
  });
  if (res.status !== expect) throw new Error(`${method} ${path}: HTTP ${res.status} (expected ${expect}): ${res.body.slice(0, 500)}`);
  return res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {};
}

/** multipart/form-data for the import: the OpenAPI file and additionalProperties. */
function importForm(document: string, props: Record<string, unknown>): { body: string; type: string } {
  const b = `----opendcr-bench-${randomBytes(8).toString('hex')}`;
  const body =
    `--${b}\r\nContent-Disposition: form-data; name="file"; filename="account-info-openapi.yaml"\r\nContent-Type: application/yaml\r\n\r\n${document}\r\n` +
    `--${b}\r\nContent-Disposition: form-data; name="additionalProperties"\r\n\r\n${JSON.stringify(props)}\r\n--${b}--\r\n`;
  return { body, type: `multipart/form-data; boundary=${b}` };
}

/** The plan (once), the API (imported with the backend's URL, the plan first) and its publication. */
async function publishApi(t: { port: number; ca: string }, backendPort: number, consents = false): Promise<string> {
  if (!consents) await admin(t, 'POST', '/api/am/admin/v4/throttling/policies/subscription', 201, JSON.stringify(PLAN), { 'content-type': 'application/json' });
  const form = importForm(readFileSync(ACCOUNTS_FILE, 'utf8'), {
    endpointConfig: { production_endpoints: { url: `http://127.0.0.1:${backendPort}/bank/aisp` } },
    policies: [PLAN.policyName, 'Unlimited'],
    ...(consents ? { serveConsents: true, context: CONSENT_CONTEXT, name: 'Accounts, consents served here' } : {}),
  });
  const api = await admin(t, 'POST', '/api/am/publisher/v4/apis/import-openapi', 201, form.body, {
    'content-type': form.type,
    'content-length': String(Buffer.byteLength(form.body)),
  });
  const context = consents ? CONSENT_CONTEXT : CONTEXT;
  if (api['context'] !== context) throw new Error(`the API was imported under ${String(api['context'])}, not ${context}`);
  const apiId = String(api['id']);
  await admin(t, 'POST', `/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId=${apiId}`, 200);
  return apiId;
}

/** A client-credentials token (private_key_jwt, scope accounts); checks that it is a certificate-bound PS256 JWT. */
async function accessToken(setup: OurSetup, ca: string, clientId: string): Promise<string> {
  const discovery = await httpsCall({ port: setup.port, path: '/.well-known/openid-configuration', ca });
  const endpoint = String((JSON.parse(discovery.body) as { token_endpoint: string }).token_endpoint);
  const spec: BodySpec = { kind: 'client-assertion', clientId, aud: endpoint, scope: SCOPE, kid: setup.tpp.signingKey.kid, privateJwk: privateJwk(setup.tpp) };
  const res = await httpsCall({
    port: setup.port,
    method: 'POST',
    path: new URL(endpoint).pathname,
    headers: FORM,
    body: bodyMaker(spec)(),
    ca,
    tls: setup.tppTls,
  });
  if (res.status !== 200) throw new Error(`token request: HTTP ${res.status}: ${res.body}`);
  const token = String((JSON.parse(res.body) as { access_token: string }).access_token);
  const [header, payload] = token
    .split('.')
    .slice(0, 2)
    .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
  if (header!['alg'] !== 'PS256' || !(payload!['cnf'] as Record<string, unknown> | undefined)?.['x5t#S256']) {
    throw new Error(`the access token is not a certificate-bound PS256 JWT: ${JSON.stringify(header)}`);
  }
  extra.push(`access token: header ${JSON.stringify(header)}, claims ${Object.keys(payload!).join(', ')}, ${token.length} bytes`);
  return token;
}

/** The TLS version and cipher a mutual-TLS client gets from `port`. */
function tlsOf(port: number, ca: string, setup: OurSetup): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, cert: setup.tppTls.cert, key: setup.tppTls.key }, () => {
      const what = `${s.getProtocol() ?? '?'} ${s.getCipher().name}`;
      s.end();
      resolve(what);
    });
    s.once('error', reject);
  });
}

interface Targets {
  direct: number;
  nginx: number;
  node: number;
  ours: number;
  consent: number;
  pids: Record<Variant, number>;
  /** The call of the consent variant: its path and the PSU's token. */
  psu: { path: string; token: string };
}

function job(variant: Variant, t: Targets, setup: OurSetup, ca: string, token: string, label: string, connections = CONNECTIONS, seconds = SECONDS): LoadJob {
  return {
    label,
    port: t[variant],
    ca,
    tls: setup.tppTls,
    plain: variant === 'direct',
    method: 'GET',
    path: variant === 'consent' ? t.psu.path : CALL_PATH,
    // The same request bytes everywhere but for the consent variant; only ours reads the token.
    headers: { authorization: `Bearer ${variant === 'consent' ? t.psu.token : token}`, accept: 'application/json' },
    connections,
    warmupSeconds: WARMUP,
    seconds,
    rateHint: 100_000,
    expectStatus: 200,
    serverPid: t.pids[variant],
  };
}

/** Cores used outside the benchmark during each phase (warm-up included), by label. */
const otherLoad = new Map<string, number>();

async function load(j: LoadJob): Promise<LoadResult> {
  const others = watchOtherLoad();
  const r = await runLoad(j, cleanup);
  otherLoad.set(j.label, others.stop());
  completed.push(r);
  step(
    `${j.label}: ${rate(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.failed} failed; other processes ${otherLoad.get(j.label)!.toFixed(2)} cores`,
  );
  // Errors or non-2xx answers make every figure meaningless: stop loudly.
  if (r.failed > 0)
    throw new Error(`${j.label}: ${r.failed} failed (${r.errors} transport errors; statuses ${JSON.stringify(r.statuses)}); first: ${r.firstFailure}`);
  return r;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const cpuMs = (r: LoadResult) => (r.serverCores !== undefined && r.rps > 0 ? (r.serverCores * 1000) / r.rps : NaN);

/** What each sample of the workers' main threads was doing, innermost specific stage first. */
const STAGES: Stage[] = [
  { name: 'identity JWT for the backend (src/gateway/identity.ts, cached per token)', test: (f) => f.url.includes('/src/gateway/identity.ts') },
  // On this path the only write is the throttle counter; it runs in the group commit (write-queue.ts), not under count().
  {
    name: 'throttle counter write (shared state count, group commit)',
    test: (f) => f.url.includes('/src/sqlite/write-queue.ts') || (f.url.includes('/src/shared-state/') && f.functionName === 'count'),
  },
  { name: 'revocation mark read (shared state has)', test: (f) => f.url.includes('/src/shared-state/') && f.functionName === 'has' },
  { name: 'JWT verify (jose: parse, claims, WebCrypto RSA-PSS verify)', test: (f) => f.url.includes('/node_modules/jose/') },
  {
    name: 'client lookup in storage (SQLite read, JSON.parse of the client record)',
    test: (f) => f.url.includes('/src/storage/') || f.url.includes('instrument-storage'),
  },
  { name: 'token verifier, rest (src/oauth/token-verifier.ts)', test: (f) => f.url.includes('/src/oauth/token-verifier.ts') },
  {
    name: 'proxying to the backend (undici, src/gateway/proxy.ts, its stream pipeline)',
    test: (f) => f.url.includes('/node_modules/undici/') || f.url.includes('/src/gateway/proxy.ts') || f.url === 'node:internal/streams/pipeline',
  },
  { name: 'gateway checks, rest (src/gateway/)', test: (f) => f.url.includes('/src/gateway/') },
  { name: 'access log line, sync write (pino, sonic-boom)', test: (f) => /\/node_modules\/(pino|sonic-boom|fast-redact|thread-stream)\//.test(f.url) },
  {
    name: 'request front, metrics (front.ts, prom-client)',
    test: (f) => /\/src\/http\/front\.ts|\/src\/observability\/|\/node_modules\/prom-client\//.test(f.url),
  },
  { name: 'server dispatch (src/app.ts, client certificate)', test: (f) => /\/src\/(app|server)\.ts|\/src\/http\//.test(f.url) },
  {
    name: 'node HTTP server: parser, response writes (TLS records + writev)',
    test: (f) => f.url.startsWith('node:_http') || f.functionName === 'parserOnHeadersComplete',
  },
  {
    name: 'TLS socket reads and other stream work',
    test: (f) => f.url.startsWith('node:_tls') || f.url.startsWith('node:internal/stream_base') || f.url.startsWith('node:net'),
  },
  { name: '(garbage collector)', test: (f) => f.functionName === '(garbage collector)' },
  { name: '(program): native work without a JS frame', test: (f) => f.functionName === '(program)' },
];

async function profileOurs(setup: OurSetup, root: string, t: Targets, ca: string, token: string): Promise<string[]> {
  const profDir = join(root, 'profiles');
  const server = await startOurs(setup, cleanup, WORKERS, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  const r = await load(job('ours', { ...t, pids: { ...t.pids, ours: server.pid } }, setup, ca, token, 'ours (profiled)'));
  const stopStart = performance.now();
  await server.stop();
  const stopMs = performance.now() - stopStart;
  const files = readdirSync(profDir).map((f) => join(profDir, f));
  const out = join(REPO, 'bench', 'results', 'profiles');
  mkdirSync(out, { recursive: true });
  for (const f of files) copyFileSync(f, join(out, `gateway-${f.split('/').pop()!}`));
  // Only the timed phase: it ended just before the stop (the profiles end at exit); 0.3 s margins.
  const window = { skipEndMs: stopMs + 300, lengthMs: r.seconds * 1000 - 600 };
  // The workers are the profiles busiest in that window (the primary only forks and waits).
  const busy = (f: string) => {
    const s = summarise([f], 1, window);
    return s.totalMs * (1 - s.idleShare);
  };
  const workers = files
    .map((f) => ({ f, busy: busy(f) }))
    .sort((a, b) => b.busy - a.busy)
    .slice(0, WORKERS)
    .map((x) => x.f);
  const stages = stageShares(workers, STAGES, window);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  // Calls answered in the window, from the timed phase's rate.
  const calls = r.rps * (window.lengthMs / 1000);
  const perCall = (ms: number) => (ms / Math.max(calls, 1)).toFixed(3);
  const windowed = summarise(workers, 20, window);
  return [
    '## Profile of ours (--profile)',
    '',
    `Under the profiler: ${rate(r.rps)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.failed} failed. ` +
      `Server CPU (primary and workers, all threads, /proc): ${cpuMs(r).toFixed(3)} ms per call. ` +
      `Workers' main threads in the timed phase (${(window.lengthMs / 1000).toFixed(1)} s of it): ${perCall(stages.busyMs)} ms busy per call, ` +
      `${pct(stages.idleMs / Math.max(stages.idleMs + stages.busyMs, 1e-9))} idle; the rest of the CPU is off the main threads (libuv thread pool: WebCrypto; GC helpers; the primary).`,
    '',
    'Inclusive main-thread time by stage (each sample goes to the first stage found anywhere on its stack, in this order; shares of the busy time):',
    '',
    '| share | ms per call | stage |',
    '| ---: | ---: | --- |',
    ...stages.stages.map((s) => `| ${pct(s.share)} | ${perCall(s.ms)} | ${s.name} |`),
    '',
    'Self time, same window:',
    '',
    renderSummary(windowed),
    '',
    `profiles: ${out}/gateway-*.cpuprofile`,
    '',
  ];
}

async function main(): Promise<void> {
  step('nginx');
  const nginxBin = await ensureNginx(step);
  head.push(`- ${nginxBin.version} (${nginxBin.bin})`);
  const root = cleanup.dir('opendcr-gateway-bench-');
  const setup = await prepareOurs(join(root, 'ours'), WORKERS);

  step('backend');
  const backend = await startBackend(cleanup);
  const probe = await httpGet(backend.port, CALL_PATH);
  if (probe.status !== 200 || probe.bytes !== BODY_BYTES) throw new Error(`backend probe: HTTP ${probe.status}, ${probe.bytes} bytes`);

  step('our server: start, plan, API, registration, token');
  const ours: RunningChild = await startOurs(setup, cleanup, WORKERS);
  const ca = serverCa(setup);
  const t0 = { port: setup.port, ca };
  const apiId = await publishApi(t0, backend.port);
  const consentApiId = await publishApi(t0, backend.port, true);
  // DCR subscribes the application to the published APIs on each API's first plan.
  const clientId = await registerTpp(setup, ca, true);
  const subs = await admin(t0, 'GET', `/api/am/devportal/v3/subscriptions?applicationId=${clientId}`, 200);
  const sub = (subs['list'] as Array<Record<string, unknown>>).find((s) => s['apiId'] === apiId);
  if (sub?.['throttlingPolicy'] !== PLAN.policyName)
    throw new Error(`the registration did not subscribe to the API on ${PLAN.policyName}: ${JSON.stringify(subs)}`);
  if (!(subs['list'] as Array<Record<string, unknown>>).some((s) => s['apiId'] === consentApiId && s['throttlingPolicy'] === PLAN.policyName))
    throw new Error(`the registration did not subscribe to the consent-serving API: ${JSON.stringify(subs)}`);
  const token = await accessToken(setup, ca, clientId);
  const grant = await psuGrant(setup, ca, clientId, token, CONSENT_CONTEXT);
  const psu = { path: `${CONSENT_CONTEXT}/accounts/${grant.accounts[0]!}/balances`, token: grant.accessToken };
  extra.push(
    `PSU token: consent ${grant.consentId} (ReadAccountsDetail, ReadBalances), accounts ${grant.accounts.join(', ')}, ${grant.accessToken.length} bytes`,
  );

  step('nginx: start');
  const nginxDir = cleanup.dir('opendcr-gateway-nginx-');
  const tls = serverTlsMaterial(setup);
  writeFileSync(join(nginxDir, 'server.pem'), tls.cert);
  writeFileSync(join(nginxDir, 'server-key.pem'), tls.key, { mode: 0o600 });
  writeFileSync(join(nginxDir, 'client-ca.pem'), `${setup.directory.rootCa.certPem.trim()}\n${setup.directory.issuingCa.certPem.trim()}\n`);
  // Both proxies: our server's certificate, the directory's CAs for client certificates, the same backend and workers.
  const proxied = {
    backendPort: backend.port,
    certFile: join(nginxDir, 'server.pem'),
    keyFile: join(nginxDir, 'server-key.pem'),
    clientCaFile: join(nginxDir, 'client-ca.pem'),
    workers: WORKERS,
    ca,
    tls: setup.tppTls,
  };
  const nginx = await startNginx({ ...proxied, bin: nginxBin.bin, dir: nginxDir }, cleanup);

  step('node proxy: start');
  const nodeProxy = await startNodeProxy({ ...proxied, probePath: CALL_PATH }, cleanup);

  // One call each through nginx, the node proxy and ours: 200 and the backend's 1 KiB.
  const auth = { authorization: `Bearer ${token}`, accept: 'application/json' };
  for (const [name, port, path, headers] of [
    ['nginx', nginx.port, CALL_PATH, auth],
    ['node', nodeProxy.port, CALL_PATH, auth],
    ['ours', setup.port, CALL_PATH, auth],
    ['ours with a consent', setup.port, psu.path, { ...auth, authorization: `Bearer ${psu.token}` }],
  ] as const) {
    const r = await httpsCall({ port, path, headers, ca, tls: setup.tppTls });
    if (r.status !== 200 || Buffer.byteLength(r.body) !== BODY_BYTES)
      throw new Error(`${name} probe: HTTP ${r.status}, ${Buffer.byteLength(r.body)} bytes: ${r.body.slice(0, 300)}`);
  }
  head.push(
    `- TLS as the load generator gets it: nginx ${await tlsOf(nginx.port, ca, setup)}, node ${await tlsOf(nodeProxy.port, ca, setup)}, ours ${await tlsOf(setup.port, ca, setup)}`,
  );

  const t: Targets = {
    direct: backend.port,
    nginx: nginx.port,
    node: nodeProxy.port,
    ours: setup.port,
    consent: setup.port,
    pids: { direct: backend.pid, nginx: nginx.pid, node: nodeProxy.pid, ours: ours.pid, consent: ours.pid },
    psu,
  };
  const results: Record<Variant, LoadResult[]> = { direct: [], nginx: [], node: [], ours: [], consent: [] };
  const order: Variant[] = ['direct', ...Array.from({ length: ROUNDS }, () => ['nginx', 'node', 'ours', 'consent'] as Variant[]).flat()];
  let n = 0;
  for (const v of order) {
    n += 1;
    const round = results[v].length + 1;
    const r = await load(job(v, t, setup, ca, token, `${v} ${round}`));
    results[v].push(r);
    report.add(loadRow(String(n), `${VARIANT_LABEL[v]}, round ${round}`, r, 'req/s'));
  }

  // Unloaded latency: one connection, so p50 is one call's time through each path, no queueing.
  const single: Partial<Record<Variant, LoadResult>> = {};
  for (const v of ['direct', 'nginx', 'node', 'ours', 'consent'] as const) {
    n += 1;
    const r = await load(job(v, t, setup, ca, token, `${v} 1c`, 1, LATENCY_SECONDS));
    single[v] = r;
    report.add(loadRow(String(n), `${VARIANT_LABEL[v]}, 1 connection`, r, 'req/s'));
  }

  // Medians over the rounds (the mean of two with the default 2 rounds).
  const med = (v: Variant, f: (r: LoadResult) => number) => median(results[v].map(f));
  const all = ['direct', 'nginx', 'node', 'ours', 'consent'] as const;
  const per = (f: (r: LoadResult) => number) => Object.fromEntries(all.map((v) => [v, med(v, f)])) as Record<Variant, number>;
  const rps = per((r) => r.rps);
  const p50 = per((r) => r.p50);
  const p99 = per((r) => r.p99);
  const failed = completed.reduce((s, r) => s + r.failed, 0);
  for (const v of all) {
    report.add({
      item: 'M',
      what: `${VARIANT_LABEL[v]}, median of ${results[v].length}`,
      result: `${rate(rps[v])} req/s, ${med(v, cpuMs).toFixed(3)} ms CPU each (${v === 'direct' ? 'backend' : v === 'nginx' ? 'nginx master + workers' : v === 'node' ? 'node primary + workers' : 'our primary + workers'})`,
      p50: p50[v],
      p99: p99[v],
      failed: results[v].reduce((s, r) => s + r.failed, 0),
    });
  }
  const added = p50.ours - p50.direct;
  report.add({ item: 'R', what: 'ours / nginx', result: ratio(rps.ours, rps.nginx), target: '≥ 0.5× nginx', pass: rps.ours >= 0.5 * rps.nginx });
  report.add({
    item: 'R',
    what: 'node (bare Node.js proxy) / nginx: the part of the gap that is Node itself',
    result: ratio(rps.node, rps.nginx),
    ratio: `ours / node ${ratio(rps.ours, rps.node)}; CPU per call ours / node ${(med('ours', cpuMs) / med('node', cpuMs)).toFixed(2)}×`,
  });
  report.add({ item: 'R', what: 'ours / direct', result: ratio(rps.ours, rps.direct), ratio: `nginx / direct ${ratio(rps.nginx, rps.direct)}` });
  report.add({
    item: 'R',
    what: `p50 added over direct, ${CONNECTIONS} connections: ours (nginx)`,
    result: `${added.toFixed(2)} ms (nginx ${(p50.nginx - p50.direct).toFixed(2)} ms)`,
    target: '< 1 ms',
    pass: added < 1,
  });
  const added1 = single.ours!.p50 - single.direct!.p50;
  report.add({
    item: 'R',
    what: 'p50 added over direct, 1 connection (unloaded): ours (nginx)',
    result: `${added1.toFixed(2)} ms (nginx ${(single.nginx!.p50 - single.direct!.p50).toFixed(2)} ms)`,
    target: '< 1 ms',
    pass: added1 < 1,
  });
  const consentCost = med('consent', cpuMs) / med('ours', cpuMs);
  report.add({
    item: 'R',
    what: 'server CPU per call: PSU token held to its consent / token only',
    result: `${consentCost.toFixed(2)}× (${med('consent', cpuMs).toFixed(3)} vs ${med('ours', cpuMs).toFixed(3)} ms)`,
    target: '≤ 1.10×',
    pass: consentCost <= 1.1,
  });
  report.add({ item: 'R', what: 'errors and non-2xx answers, all phases', result: String(failed), target: '0', pass: failed === 0 });
  report.add({
    item: 'ref',
    what: WSO2.what,
    result: `~${rate(WSO2.rps)} req/s (ours here: ${rate(rps.ours)} req/s)`,
    p99: WSO2.p99,
    ratio: 'different machine: not a ratio',
  });
  for (const r of completed) {
    report.note(
      `${r.label}: load generator ${r.clientCores.toFixed(2)} cores; process under test ${(r.serverCores ?? 0).toFixed(2)} cores; processes outside the benchmark ${(otherLoad.get(r.label) ?? 0).toFixed(2)} cores; warm-up ${rate(r.warmupRps)}/s; statuses ${JSON.stringify(r.statuses)}; max ${r.max.toFixed(1)} ms`,
    );
  }
  const noisiest = Math.max(...otherLoad.values());
  head.push(
    `- other processes on the machine during the phases: at most ${noisiest.toFixed(2)} cores${noisiest > 0.15 ? ' (NOT a quiet machine: compare ratios with care)' : ' (quiet)'}`,
  );
  for (const line of extra) report.note(line);

  if (PROFILE) {
    step('profile of ours');
    await nginx.stop();
    await nodeProxy.stop();
    await ours.stop();
    profile.push(...(await profileOurs(setup, root, t, ca, token)));
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
  const knobs = `BENCH_SECONDS=${SECONDS} BENCH_WARMUP=${WARMUP} BENCH_CONNECTIONS=${CONNECTIONS} BENCH_ROUNDS=${ROUNDS} BENCH_LATENCY_SECONDS=${LATENCY_SECONDS} BENCH_WORKERS=${WORKERS}`;
  return [
    `# OpenDCR gateway pass-through benchmark, ${new Date().toISOString()}`,
    '',
    `- command: \`${knobs} node_modules/.bin/node bench/gateway.ts${PROFILE ? ' --profile' : ''}\``,
    `- machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GB; Node ${process.versions.node}; load average at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `- commit: ${commit}; ours: ${WORKERS} worker processes, log level info (one access-log line per call); nginx: ${WORKERS} workers, access_log off; backend: one Node process, ${BODY_BYTES} B JSON`,
    `- load: bench/lib/loadgen.ts, ${CONNECTIONS} keep-alive connections, closed loop, ${WARMUP} s warm-up + ${SECONDS} s per phase, order: direct, then (nginx, node, ours, ours with a consent) × ${ROUNDS}, then each at 1 connection for ${LATENCY_SECONDS} s (after its own ${WARMUP} s warm-up); \`GET ${CALL_PATH}\` with the bearer token and accept: application/json (ours with a consent: \`GET ${CONSENT_CONTEXT}/accounts/{AccountId}/balances\` with the PSU's token)`,
    '- "CPU each": CPU time (user + system, all threads, /proc) of the process under test per answered call in the timed phase: the backend for direct, the proxy alone for nginx, node and ours',
  ];
}

const headLines = header();
await runBenchmark(main, {
  repo: REPO,
  cleanup,
  report,
  head: () => [...headLines, ...head],
  completed,
  timeoutSeconds: TIMEOUT,
  digits: 2,
  trailer: () => profile.join('\n'),
});
