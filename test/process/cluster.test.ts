/**
 * `[server] workers`: several processes share the listener; a crashed worker is replaced, and
 * SIGTERM stops them all cleanly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startChildServer, httpsGet } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';

const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

test('two workers serve one port; a killed worker is restarted; SIGTERM stops everything', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'opendcr-cluster-'));
  try {
    const port = await freePort();
    const s = await startChildServer({ cwd, port, env: { OPENDCR_WORKERS: '2' } });
    try {
      const primary = s.child.pid!;
      let workers: number[] = [];
      for (let i = 0; i < 100 && workers.length < 2; i++) {
        workers = childrenOf(primary);
        await sleep(50);
      }
      assert.equal(workers.length, 2, s.output());
      // /ready answers as soon as one worker is up; the primary announces once both are.
      for (let i = 0; i < 100 && !/"workers":2,.*"msg":"ready"/.test(s.output()); i++) await sleep(50);
      assert.match(s.output(), /"workers":2,.*"msg":"ready"/);

      process.kill(workers[0]!, 'SIGKILL');
      let replaced: number[] = [];
      for (let i = 0; i < 200; i++) {
        replaced = childrenOf(primary);
        if (replaced.length === 2 && !replaced.includes(workers[0]!)) break;
        await sleep(50);
      }
      assert.equal(replaced.length, 2, 'a new worker took the place of the killed one');
      assert.ok(!replaced.includes(workers[0]!));
      assert.match(s.output(), /worker exited unexpectedly; restarting/);
      for (let i = 0; i < 10; i++) assert.equal((await httpsGet(port, '/ready')).status, 200);

      // Every worker gone at once: the primary must stay up and bring them all back.
      for (const pid of replaced) process.kill(pid, 'SIGKILL');
      let again: number[] = [];
      for (let i = 0; i < 200; i++) {
        again = childrenOf(primary);
        if (again.length === 2 && again.every((pid) => !replaced.includes(pid))) break;
        await sleep(50);
      }
      assert.equal(s.child.exitCode, null, 'the primary is still running');
      assert.equal(again.length, 2, s.output());
      let ready = 0;
      for (let i = 0; i < 100 && ready === 0; i++) {
        ready = (await httpsGet(port, '/ready').catch(() => ({ status: 0 }))).status === 200 ? 1 : 0;
        if (!ready) await sleep(50);
      }
      assert.equal(ready, 1, 'serving again');
    } finally {
      const code = await s.stop();
      assert.equal(code, 0, s.output());
    }
    assert.match(s.output(), /"msg":"stopped"/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('workers that cannot start (port in use) make the primary exit 1 instead of restarting forever', async () => {
  const { createServer } = await import('node:net');
  const { spawn } = await import('node:child_process');
  const cwd = mkdtempSync(join(tmpdir(), 'opendcr-cluster-'));
  const blocker = createServer();
  try {
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const child = spawn(process.execPath, [new URL('../../src/main.ts', import.meta.url).pathname], {
      cwd,
      env: { ...process.env, OPENDCR_CONFIG: '', OPENDCR_PORT: String(port), OPENDCR_WORKERS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => {
      const bound = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 30_000);
      child.once('exit', (c) => {
        clearTimeout(bound);
        resolve(c);
      });
    });
    assert.equal(code, 1, out);
    assert.match(out, /opendcr: could not start: .*(already in use|EADDRINUSE)/);
  } finally {
    blocker.close();
    rmSync(cwd, { recursive: true, force: true });
  }
});
