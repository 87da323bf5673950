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
      for (let i = 0; i < 100 && workers.length < 2; i++) { workers = childrenOf(primary); await sleep(50); }
      assert.equal(workers.length, 2, s.output());
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
