/**
 * Start-to-ready time and idle RSS of the server exactly as `npm start` runs it.
 * Usage: node bench/startup.ts [runs=5]
 * Each run spawns a fresh server process on a free port; "first start" runs on an empty data
 * folder (generates the CA, server certificate and signing keys), "warm start" reuses it.
 * Ready = the first 200 from GET /ready; RSS of the primary and each worker is read from /proc
 * after 3 s idle. `npm run bench` measures the same things (bench/lib/setup.ts, bench/lib/proc.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTree, rssMb } from './lib/proc.ts';
import { NODE_FLAGS, START_ARGS, createCleanup, freePort, spawnServer, type Cleanup } from './lib/setup.ts';

const runs = Number(process.argv[2] ?? 5);
const script = START_ARGS.filter((a) => !a.startsWith('-'));

async function once(dataDir: string, cleanup: Cleanup): Promise<{ readyMs: number; rss: number; total: number; processes: number }> {
  const port = await freePort();
  const cfg = join(dataDir, 'opendcr.toml');
  writeFileSync(cfg, `[server]\nport = ${port}\ndata_dir = "${dataDir}"\n[log]\nlevel = "warn"\n`);
  const server = await spawnServer([...NODE_FLAGS, ...script, '--config', cfg], port, '/ready', cleanup);
  try {
    await sleep(3000);
    const rss = processTree(server.pid).map(rssMb);
    return { readyMs: server.readyMs, rss: Math.max(...rss), total: rss.reduce((a, b) => a + b, 0), processes: rss.length };
  } finally {
    await server.stop();
  }
}

const rows: string[] = [];
const cleanup = createCleanup();
try {
  for (let r = 0; r < runs; r++) {
    const dir = cleanup.dir('opendcr-bench-');
    const first = await once(dir, cleanup);
    const warm = await once(dir, cleanup);
    rows.push(
      `| ${r + 1} | ${first.readyMs.toFixed(0)} | ${warm.readyMs.toFixed(0)} | ${first.processes} | ${first.rss.toFixed(0)} | ${warm.rss.toFixed(0)} | ${warm.total.toFixed(0)} |`,
    );
  }
} finally {
  await cleanup.run();
}
console.log(
  '| run | first start to ready (ms) | warm start to ready (ms) | processes | idle RSS per process, max, first (MB) | same, warm (MB) | idle RSS all processes, warm (MB) |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
console.log(rows.join('\n'));
