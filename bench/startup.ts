/**
 * Start-to-ready time and idle RSS of the server exactly as `npm start` runs it.
 * Usage: node bench/startup.ts [runs=5]
 * Each run spawns a fresh server process on a free port; "first start" runs on an empty data
 * folder (generates the CA, server certificate and signing keys), "warm start" reuses it.
 * Ready = the first 200 from GET /ready; RSS of the primary and each worker is read from /proc
 * after 3 s idle.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

const runs = Number(process.argv[2] ?? 5);
// Exactly what `npm start` runs (its node flags included), so the figures are the real ones.
const startScript = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start;
const startArgs = startScript.split(/\s+/).slice(1);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/ready', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** The primary and its worker processes ([server] workers; one per core by default). */
function processTree(pid: number): number[] {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...kids];
}

async function once(dataDir: string): Promise<{ readyMs: number; rss: number; total: number; processes: number }> {
  const port = await freePort();
  const cfg = join(dataDir, 'opendcr.toml');
  writeFileSync(cfg, `[server]\nport = ${port}\ndata_dir = "${dataDir}"\n[log]\nlevel = "warn"\n`);
  const t0 = performance.now();
  const child = spawn(process.execPath, [...startArgs, '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; i < 2000; i++) {
      if (await ready(port)) break;
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      await sleep(5);
    }
    const readyMs = performance.now() - t0;
    await sleep(3000);
    const rss = processTree(child.pid!).map(rssMb);
    return { readyMs, rss: Math.max(...rss), total: rss.reduce((a, b) => a + b, 0), processes: rss.length };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const rows: string[] = [];
for (let r = 0; r < runs; r++) {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-bench-'));
  try {
    const first = await once(dir);
    const warm = await once(dir);
    rows.push(`| ${r + 1} | ${first.readyMs.toFixed(0)} | ${warm.readyMs.toFixed(0)} | ${first.processes} | ${first.rss.toFixed(0)} | ${warm.rss.toFixed(0)} | ${warm.total.toFixed(0)} |`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log('| run | first start to ready (ms) | warm start to ready (ms) | processes | idle RSS per process, max, first (MB) | same, warm (MB) | idle RSS all processes, warm (MB) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(rows.join('\n'));
