/**
 * Closed-loop HTTPS load generator, run in its own process (`runLoad` forks this file): one
 * undici Client per connection (keep-alive, pipelining 1, the TPP's transport certificate for
 * mutual TLS), each sending its next request as soon as the previous answer has been read.
 * Latencies go into an HDR histogram (microseconds). Bodies that must be unique (signed client
 * assertions, registration requests) are signed before each phase by assertions.ts, so the timed
 * phase spends CPU on little more than TLS and HTTP framing.
 *
 * A warm-up phase runs first and is not counted; its rate sizes the batch signed for the timed
 * phase (twice that rate, capped by the caller's upper bound, e.g. the measured crypto limit).
 * Should that batch still run out, the timed phase ends at that moment and the result says so
 * (`exhausted`).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import * as hdr from 'hdr-histogram-js';
import { generateBodies, type BodySpec } from './assertions.ts';
import { treeCpuSeconds } from './proc.ts';
import type { Cleanup, TlsIdentity } from './setup.ts';

export interface LoadJob {
  label: string;
  /** The public port (the Host header, the issuer's). */
  port: number;
  /** Ports to connect to, connections spread over them in turn (several hosts of one cluster); default [port]. */
  ports?: number[];
  /** CA of the server certificate (checked, as `localhost`). */
  ca: string;
  /** Plain HTTP instead of HTTPS (a backend called directly); `ca` and `tls` are then not used. */
  plain?: boolean;
  tls: TlsIdentity;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  /** Unique signed bodies; none for a GET. */
  bodies?: BodySpec;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  /** An upper bound of the rate (requests/s): sizes the warm-up batch and caps the timed one. */
  rateHint: number;
  expectStatus: number;
  /** The server's top process; its tree's CPU time is read around the timed phase. */
  serverPid?: number;
  /** More server processes (the other hosts), their CPU time added to the server's. */
  serverPids?: number[];
}

export interface LoadResult {
  label: string;
  connections: number;
  /** Length of the timed phase, seconds (shorter than asked when the bodies ran out). */
  seconds: number;
  /** Answers with the expected status in the timed phase. */
  ok: number;
  /** Every other answer and every transport error, timed phase. */
  failed: number;
  /** Expected-status answers including the warm-up (e.g. registrations created). */
  okTotal: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
  errors: number;
  firstFailure?: string;
  exhausted: boolean;
  warmupRps: number;
  /** CPU the load generator used in the timed phase, in cores (1 = one core busy). */
  clientCores: number;
  /** CPU the server processes used in the timed phase, in cores (when `serverPid` was given). */
  serverCores?: number;
  /** Bodies signed for the timed phase and how long that took (both cores), seconds. */
  signed: number;
  signSeconds: number;
}

interface PhaseOut {
  ok: number;
  failed: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  exhausted: boolean;
  firstFailure?: string;
}

async function phase(clients: Client[], job: LoadJob, bodies: string[] | undefined, seconds: number, hist: hdr.Histogram | undefined): Promise<PhaseOut> {
  const start = performance.now();
  let stopAt = start + seconds * 1000;
  let next = 0;
  const out: PhaseOut = { ok: 0, failed: 0, errors: 0, statuses: {}, seconds: 0, exhausted: false };
  const headers = { host: `localhost:${job.port}`, ...job.headers };
  await Promise.all(
    clients.map(async (client) => {
      for (;;) {
        const t = performance.now();
        if (t >= stopAt) return;
        let body: string | undefined;
        if (bodies) {
          if (next >= bodies.length) {
            // Out of signed bodies: the phase ends now for everyone, so the rate stays honest.
            out.exhausted = true;
            stopAt = Math.min(stopAt, t);
            return;
          }
          body = bodies[next++];
        }
        try {
          const res = await client.request({ path: job.path, method: job.method, headers, body });
          const text = await res.body.text();
          const end = performance.now();
          if (end > stopAt) return; // finished after the bell: neither counted nor timed
          out.statuses[res.statusCode] = (out.statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode === job.expectStatus) {
            out.ok++;
            hist?.recordValue(Math.max(1, Math.round((end - t) * 1000)));
          } else {
            out.failed++;
            out.firstFailure ??= `HTTP ${res.statusCode}: ${text.slice(0, 300)}`;
          }
        } catch (err) {
          if (performance.now() > stopAt) return;
          out.errors++;
          out.failed++;
          out.firstFailure ??= `transport error: ${(err as Error).message}`;
          await sleep(10);
        }
      }
    }),
  );
  out.seconds = (Math.min(stopAt, performance.now()) - start) / 1000;
  return out;
}

async function run(job: LoadJob): Promise<LoadResult> {
  const ports = job.ports ?? [job.port];
  const clients = Array.from(
    { length: job.connections },
    (_, i) =>
      new Client(`${job.plain ? 'http' : 'https'}://127.0.0.1:${ports[i % ports.length]}`, {
        ...(job.plain ? {} : { connect: { ca: job.ca, cert: job.tls.cert, key: job.tls.key, servername: 'localhost' } }),
        pipelining: 1,
        keepAliveTimeout: 600_000,
        keepAliveMaxTimeout: 600_000,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      }),
  );
  try {
    const warmBodies = job.bodies ? await generateBodies(job.bodies, Math.ceil(job.rateHint * job.warmupSeconds * 1.2) + job.connections) : undefined;
    const warm = await phase(clients, job, warmBodies, job.warmupSeconds, undefined);
    const warmupRps = warm.ok / Math.max(warm.seconds, 1e-3);
    const signStart = performance.now();
    // Twice the warm-up rate (still warming up: the JIT, the first handshakes), never above the hint.
    const rate = Math.min(job.rateHint * 1.1, Math.max(warmupRps * 2, 100));
    const bodies = job.bodies ? await generateBodies(job.bodies, Math.ceil(rate * job.seconds) + job.connections) : undefined;
    const signSeconds = (performance.now() - signStart) / 1000;

    const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
    const pids = [...(job.serverPid ? [job.serverPid] : []), ...(job.serverPids ?? [])];
    const serverSeconds = () => pids.reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
    const server0 = serverSeconds();
    const cpu0 = process.cpuUsage();
    const timed = await phase(clients, job, bodies, job.seconds, hist);
    const cpu = process.cpuUsage(cpu0);
    const serverCpu = serverSeconds() - server0;
    const ms = (q: number) => hist.getValueAtPercentile(q) / 1000;
    return {
      label: job.label,
      connections: job.connections,
      seconds: timed.seconds,
      ok: timed.ok,
      failed: timed.failed,
      okTotal: warm.ok + timed.ok,
      rps: timed.ok / Math.max(timed.seconds, 1e-3),
      p50: ms(50),
      p99: ms(99),
      max: hist.maxValue / 1000,
      statuses: timed.statuses,
      errors: timed.errors,
      ...((timed.firstFailure ?? warm.firstFailure) ? { firstFailure: timed.firstFailure ?? warm.firstFailure } : {}),
      exhausted: timed.exhausted,
      warmupRps,
      clientCores: (cpu.user + cpu.system) / 1e6 / Math.max(timed.seconds, 1e-3),
      ...(pids.length ? { serverCores: serverCpu / Math.max(timed.seconds, 1e-3) } : {}),
      signed: bodies?.length ?? 0,
      signSeconds,
    };
  } finally {
    await Promise.all(clients.map((c) => c.destroy().catch(() => undefined)));
  }
}

/** Runs `job` in a separate load generator process; rejects when it fails or overruns. */
export function runLoad(job: LoadJob, cleanup: Cleanup): Promise<LoadResult> {
  // Budget: warm-up, signing (~1 ms of CPU per body on a modest core), the timed phase, slack.
  const timeoutMs = (job.warmupSeconds + job.seconds) * 1000 * 4 + 60_000;
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanup.child(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`load generator (${job.label}) overran ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('message', (m: { result?: LoadResult; error?: string }) => {
      clearTimeout(timer);
      if (m.result) resolve(m.result);
      else reject(new Error(`load generator (${job.label}): ${m.error}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`load generator (${job.label}) exited with ${code}`));
    });
    child.send(job);
  });
}

if (import.meta.main) {
  process.once('message', (job: LoadJob) => {
    run(job).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err: Error) => process.send!({ error: err.stack ?? err.message }, () => process.exit(1)),
    );
  });
}
