/**
 * What the request front costs on the token endpoint: the same token load against two checkouts,
 * in one run, interleaved (base, head, base, head, ...), so that the machine's drift hits both.
 * `base` is the commit before the front (override with BENCH_BASE=<rev>); `head` is this working
 * tree. Both run as `npm start` does, with 2 workers and log level info (the shipped default, so
 * the access-log line is part of the cost), 50 connections, private_key_jwt PS256 client
 * assertions, certificate-bound PS256 JWT access tokens. Reports tokens/s and server CPU per token
 * (primary and workers, from /proc) per round, their medians, and the front's share of a token's
 * server CPU: (head − base) / head.
 *
 * Usage: node_modules/.bin/node bench/front.ts   (BENCH_ROUNDS=3, BENCH_SECONDS=10, BENCH_WARMUP=3)
 */
import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { bodyMaker, type BodySpec } from './lib/assertions.ts';
import { SCOPE, privateJwk, registerTpp } from './lib/clients.ts';
import { runLoad, type LoadResult } from './lib/loadgen.ts';
import { REPO, createCleanup, knob, httpsCall, prepareOurs, serverCa, startOurs } from './lib/setup.ts';

const ROUNDS = knob('BENCH_ROUNDS', 3);
const SECONDS = knob('BENCH_SECONDS', 10);
const WARMUP = knob('BENCH_WARMUP', 3);
const CONNECTIONS = 50;
const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
const frontCommit = git('log', '--format=%H', '-1', '--grep=^One request front');
const base = process.env['BENCH_BASE'] ?? `${frontCommit}~1`;
const baseLabel = git('rev-parse', '--short', base);
const headLabel = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? ' + changes' : ''}`;

const cleanup = createCleanup();
process.once('SIGINT', () => {
  void cleanup.run().then(() => process.exit(130));
});

interface Sample {
  variant: 'base' | 'head';
  rps: number;
  cpuMs: number;
  p99: number;
  failed: number;
}

async function measure(variant: 'base' | 'head', root: string, dir: string): Promise<Sample> {
  const setup = await prepareOurs(dir, 2, 'info');
  const server = await startOurs(setup, cleanup, 2, [], root);
  try {
    const ca = serverCa(setup);
    const clientId = await registerTpp(setup, ca);
    const discovery = await httpsCall({ port: setup.port, path: '/.well-known/openid-configuration', ca });
    const endpoint = String((JSON.parse(discovery.body) as { token_endpoint: string }).token_endpoint);
    const spec: BodySpec = {
      kind: 'client-assertion',
      clientId,
      aud: endpoint,
      scope: SCOPE,
      kid: setup.tpp.signingKey.kid,
      privateJwk: privateJwk(setup.tpp),
    };
    const path = new URL(endpoint).pathname;
    const probe = await httpsCall({ port: setup.port, method: 'POST', path, headers: FORM, body: bodyMaker(spec)(), ca, tls: setup.tppTls });
    if (probe.status !== 200) throw new Error(`${variant}: token request answered ${probe.status}: ${probe.body}`);
    const r: LoadResult = await runLoad(
      {
        label: `token ${variant} ${CONNECTIONS}c`,
        port: setup.port,
        ca,
        tls: setup.tppTls,
        method: 'POST',
        path,
        headers: FORM,
        bodies: spec,
        connections: CONNECTIONS,
        warmupSeconds: WARMUP,
        seconds: SECONDS,
        rateHint: 5000,
        expectStatus: 200,
        serverPid: server.pid,
      },
      cleanup,
    );
    return { variant, rps: r.rps, cpuMs: ((r.serverCores ?? 0) * 1000) / Math.max(r.rps, 1e-9), p99: r.p99, failed: r.failed };
  } finally {
    await server.stop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  const work = cleanup.dir('opendcr-front-bench-');
  const baseRoot = join(work, 'base');
  execFileSync('git', ['worktree', 'add', '--detach', '--quiet', baseRoot, base], { cwd: REPO });
  try {
    // The same installed dependencies (the front's prom-client is simply unused by the base).
    symlinkSync(join(REPO, 'node_modules'), join(baseRoot, 'node_modules'));
    const samples: Sample[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const variant of ['base', 'head'] as const) {
        process.stderr.write(`[front bench] round ${round}/${ROUNDS}: ${variant}\n`);
        samples.push(await measure(variant, variant === 'base' ? baseRoot : REPO, join(work, `${variant}-${round}`)));
      }
    }
    const of = (v: 'base' | 'head') => samples.filter((s) => s.variant === v);
    const lines = [
      `# Request front cost on the token endpoint, ${new Date().toISOString()}`,
      '',
      `- command: \`BENCH_ROUNDS=${ROUNDS} BENCH_SECONDS=${SECONDS} BENCH_WARMUP=${WARMUP} node_modules/.bin/node bench/front.ts\``,
      `- base ${baseLabel} (before the front), head ${headLabel}; 2 workers each, log level info, ${CONNECTIONS} connections, interleaved rounds`,
      '',
      '| round | variant | tokens/s | server CPU per token (ms) | p99 ms | failed |',
      '| ---: | --- | ---: | ---: | ---: | ---: |',
      ...samples.map((s, i) => `| ${Math.floor(i / 2) + 1} | ${s.variant} | ${s.rps.toFixed(0)} | ${s.cpuMs.toFixed(3)} | ${s.p99.toFixed(1)} | ${s.failed} |`),
      '',
    ];
    const [b, h] = [of('base'), of('head')];
    const [bCpu, hCpu] = [median(b.map((s) => s.cpuMs)), median(h.map((s) => s.cpuMs))];
    const [bRps, hRps] = [median(b.map((s) => s.rps)), median(h.map((s) => s.rps))];
    lines.push(
      `Medians: base ${bRps.toFixed(0)} tokens/s, ${bCpu.toFixed(3)} ms CPU per token; head ${hRps.toFixed(0)} tokens/s, ${hCpu.toFixed(3)} ms CPU per token.`,
      `Front's share of a token's server CPU: ${(((hCpu - bCpu) / hCpu) * 100).toFixed(1)} % (target < 3 %); throughput ratio head/base ${(hRps / bRps).toFixed(3)}×.`,
      '',
    );
    process.stdout.write(lines.join('\n'));
  } finally {
    execFileSync('git', ['worktree', 'remove', '--force', baseRoot], { cwd: REPO });
  }
} finally {
  await cleanup.run();
}
