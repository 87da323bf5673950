/**
 * The README's commands do what it says, as a new user runs them: the quick start's curl line and
 * every `npm run cli -- …` line of "The same by hand", in one folder, against `npm start` running
 * there. The server listens on a free port given to it alone (OPENDCR_PORT in its environment),
 * as when a user picks another port in another terminal: the command lines carry no port and no
 * flags and must find it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';
import { CLI, runNode } from './run-cli.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The ```sh block that follows `marker`. */
function shAfter(marker: string): string[] {
  const at = README.indexOf(marker);
  assert.ok(at >= 0, `README has "${marker}"`);
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(block, `a sh block after "${marker}"`);
  return block[1]!.split('\n').filter((l) => l.trim() !== '');
}

/** Splits a shell line into words: double and single quotes, `# comment` dropped. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(#.*$)|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m[3] !== undefined) break;
    out.push(m[1] ?? m[2] ?? m[4]!);
  }
  return out;
}

let cwd: string;
let port: number;
let server: ChildServer;

before(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'opendcr-readme-'));
  port = await freePort();
  server = await startChildServer({ cwd, port, env: { OPENDCR_LOG_LEVEL: 'warn', OPENDCR_WORKERS: '1' } });
});
after(async () => {
  await server?.stop();
  rmSync(cwd, { recursive: true, force: true });
});

test("the quick start's curl line works (on the server's port) with the CA file it names", () => {
  const [line] = shAfter('reuses them afterwards.');
  assert.match(line!, /^curl --cacert data\/pki\/ca\.pem https:\/\/localhost:8443\//);
  const r = spawnSync('sh', ['-c', `${line!.replace(':8443/', `:${port}/`)} -s -w '\\n%{http_code}'`], { cwd, encoding: 'utf8' });
  assert.equal(r.error, undefined, "curl is needed to run the README's curl line");
  assert.equal(r.status, 0, r.stderr);
  const [body, status] = r.stdout.split('\n');
  assert.equal(status, '200');
  assert.equal((JSON.parse(body!) as { issuer: string }).issuer, `https://localhost:${port}`);
});

test('every command of "The same by hand" succeeds in the server\'s folder, without flags', async () => {
  const lines = shAfter('The same by hand');
  assert.ok(lines.length >= 8, lines.join('\n'));
  for (const line of lines) {
    const [npm, run, cli, dashes, ...args] = words(line);
    assert.deepEqual([npm, run, cli, dashes], ['npm', 'run', 'cli', '--'], line);
    const r = await runNode(CLI, args, { cwd });
    assert.equal(r.code, 0, `${line}\n${r.stderr}${r.stdout.slice(-1500)}\n${server.output().slice(-2000)}`);
  }
});
