/**
 * `npm run test:unit`: the fast half of the suite, the test files that start nothing. A file is a
 * unit test when neither it nor a test helper it imports (followed to the end) imports a module
 * that opens a socket, spawns a process, drives a browser or talks to PostgreSQL or Redis, nor
 * one of the entry points that start a server. Everything else (real TLS, processes, services,
 * Chromium) runs in `npm test` with the rest. Each unit file runs with test/helpers/unit-guard.ts,
 * which fails a file that opens a socket or starts a process all the same, so a wrong choice here
 * shows. `--list` prints both halves instead of running.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

/** Modules whose import makes a test file an end-to-end one. */
const STARTS_SOMETHING = new Set([
  'node:child_process',
  'node:cluster',
  'node:net',
  'node:http',
  'node:https',
  'node:http2',
  'node:tls',
  'undici',
  'playwright-core',
  'pg',
  'ioredis',
]);
/** The modules of src that start servers or processes. */
const ENTRY_POINTS = [
  'src/server.ts',
  'src/start.ts',
  'src/cluster.ts',
  'src/main.ts',
  'src/sandbox/host.ts',
  'src/observability/metrics-routes.ts',
  'src/cli/index.ts',
  'src/cli/demo.ts',
  'src/cli/sample-aspsp.ts',
];

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const verdicts = new Map<string, boolean>();

/** True when the test file (or a test helper it imports) starts something. */
function startsSomething(path: string): boolean {
  const known = verdicts.get(path);
  if (known !== undefined) return known;
  verdicts.set(path, false); // a circle of helpers is decided by its other imports
  let verdict = false;
  for (const m of readFileSync(path, 'utf8').matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    const bare = spec.startsWith('node:') ? spec : spec.replace(/^node:/, '');
    if (STARTS_SOMETHING.has(bare) || STARTS_SOMETHING.has(`node:${bare}`)) verdict = true;
    else if (spec.startsWith('.')) {
      const target = resolve(dirname(path), spec);
      const rel = relative(ROOT, target);
      if (ENTRY_POINTS.includes(rel)) verdict = true;
      else if (rel.startsWith('test/') && startsSomething(target)) verdict = true;
    }
    if (verdict) break;
  }
  verdicts.set(path, verdict);
  return verdict;
}

const all = files(join(ROOT, 'test'))
  .filter((p) => p.endsWith('.test.ts'))
  .sort();
const unit = all.filter((p) => !startsSomething(p)).map((p) => relative(ROOT, p));

if (process.argv.includes('--list')) {
  const e2e = all.map((p) => relative(ROOT, p)).filter((p) => !unit.includes(p));
  process.stdout.write(`unit (${unit.length}):\n${unit.map((p) => `  ${p}\n`).join('')}the rest (${e2e.length}):\n${e2e.map((p) => `  ${p}\n`).join('')}`);
} else {
  const child = spawn(
    process.execPath,
    ['--import', join(ROOT, 'test/helpers/unit-guard.ts'), '--test', '--test-concurrency=2', '--test-reporter=spec', ...unit],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
