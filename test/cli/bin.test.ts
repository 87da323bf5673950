/**
 * `npx opendcr …` runs bin/opendcr.js through a symbolic link (node_modules/.bin/opendcr →
 * ../opendcr/bin/opendcr.js), so process.argv[1] is the link, never the file. These tests lay out
 * exactly what npm installs and run the command through the link, the way npx does: with the
 * link's folder and the pinned Node first on PATH, the shebang (`env node`) picking it up.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { STACK_LINE, type CliRun } from './run-cli.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let bin: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'opendcr-bin-'));
  // What `npm install`/`npx` leave behind: the package linked in, its bin linked relatively.
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(REPO, join(dir, 'node_modules', 'opendcr'), 'dir');
  bin = join(dir, 'node_modules', '.bin', 'opendcr');
  symlinkSync(join('..', 'opendcr', 'bin', 'opendcr.js'), bin);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the installed link itself (not `node file`), in `cwd`, as npx does. */
function runBin(args: string[], cwd = dir): Promise<CliRun> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENDCR_')));
  env['PATH'] = [dirname(bin), dirname(process.execPath), env['PATH'] ?? ''].join(delimiter);
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

test('the installed bin link prints the help and exits 0', async () => {
  const r = await runBin(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: opendcr /);
  assert.match(r.stdout, /start/);
});

test('the installed bin link runs a command: config check with no file uses the built-in defaults', async () => {
  const r = await runBin(['config', 'check']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^configuration OK \(built-in defaults, mode sandbox\)/);
});

test('the installed bin link reports failures with their exit status: 2 for usage and bad configuration', async () => {
  const usage = await runBin(['no-such-command']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /unknown command 'no-such-command'/);

  const cwd = mkdtempSync(join(dir, 'bad-config-'));
  writeFileSync(join(cwd, 'opendcr.toml'), '[server]\nport = "x"\n');
  const bad = await runBin(['config', 'check'], cwd);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^opendcr: .*opendcr\.toml: key "server\.port"/);
  assert.doesNotMatch(bad.stderr, STACK_LINE);
});

test('the bin link runs the CLI once, not twice', async () => {
  const r = await runBin(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1, r.stdout);
});
