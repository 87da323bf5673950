/**
 * Where our server spends its time: starts it as `npm start` does, plus `--cpu-prof`, registers
 * the bench TPP, runs one load (token: client_credentials with a PS256 client assertion, 50
 * connections; dcr: POST /register, 10 connections), stops the server and prints the top
 * self-time functions and packages of the workers' profiles.
 * `stock` profiles stock oidc-provider (bench/lib/stock-server.ts) under the same token load.
 * Usage: node bench/profile.ts [token|dcr|stock] [seconds=10]
 * The .cpuprofile files are copied to bench/results/profiles/ (git-ignored) for Chrome DevTools.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DCR_PATH, privateJwk, registerTpp, registrationSpec, SCOPE } from './lib/clients.ts';
import { renderSummary, summarise } from './lib/cpuprofile.ts';
import { runLoad } from './lib/loadgen.ts';
import { REPO, createCleanup, httpsCall, prepareOurs, serverCa, startOurs, startStock } from './lib/setup.ts';

const what = process.argv[2] ?? 'token';
const seconds = Number(process.argv[3] ?? 10);
if (!['token', 'dcr', 'stock'].includes(what)) throw new Error('usage: node bench/profile.ts [token|dcr|stock] [seconds]');
const cleanup = createCleanup();
try {
  const root = cleanup.dir('opendcr-profile-');
  const setup = await prepareOurs(join(root, 'ours'), 2);
  const profDir = join(root, 'profiles');
  const flags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  let server = await startOurs(setup, cleanup, 2, what === 'stock' ? [] : flags);
  const ca = serverCa(setup);
  const clientId = await registerTpp(setup, ca);
  let port = setup.port;
  if (what === 'stock') {
    await server.stop();
    const stock = await startStock(setup, root, cleanup, 2, clientId, flags);
    ({ port } = stock);
    server = stock;
  }
  const discovery = JSON.parse((await httpsCall({ port, path: '/.well-known/openid-configuration', ca })).body) as { token_endpoint: string };
  const common = { port, ca, tls: setup.tppTls, method: 'POST' as const, warmupSeconds: 2, seconds, rateHint: 10_000 };
  const result = await runLoad(
    what !== 'dcr'
      ? {
          ...common,
          label: `token ${what === 'stock' ? 'stock' : 'ours'} 50c (profiled)`,
          path: new URL(discovery.token_endpoint).pathname,
          connections: 50,
          expectStatus: 200,
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          bodies: {
            kind: 'client-assertion',
            clientId,
            aud: discovery.token_endpoint,
            scope: SCOPE,
            kid: setup.tpp.signingKey.kid,
            privateJwk: privateJwk(setup.tpp),
          },
        }
      : {
          ...common,
          label: 'dcr 10c (profiled)',
          path: DCR_PATH,
          connections: 10,
          expectStatus: 201,
          headers: { 'content-type': 'application/jose', accept: 'application/json' },
          bodies: await registrationSpec(setup),
        },
    cleanup,
  );
  await server.stop();
  // The primary's profile is the smallest (it only forks and waits); the workers' are the load.
  const files = readdirSync(profDir).map((f) => join(profDir, f));
  const out = join(REPO, 'bench', 'results', 'profiles');
  mkdirSync(out, { recursive: true });
  for (const f of files) copyFileSync(f, join(out, f.split('/').pop()!));
  const sizes = files.map((f) => ({ f, n: summarise([f]).totalMs })).sort((a, b) => b.n - a.n);
  console.log(
    `${result.label}: ${Math.round(result.rps)}/s under the profiler (p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, ${result.failed} failed)\n`,
  );
  const summary = summarise(sizes.slice(0, 2).map((s) => s.f));
  // Over the whole profile (start-up and warm-up included), so only roughly comparable between runs.
  const busyMs = summary.totalMs * (1 - summary.idleShare);
  console.log(
    `worker main threads: ${(busyMs / Math.max(result.okTotal, 1)).toFixed(3)} ms busy per answered request (${result.okTotal} answered, start-up included)\n`,
  );
  console.log(renderSummary(summary));
  console.log(`\nprofiles: ${out}`);
} finally {
  await cleanup.run();
}
