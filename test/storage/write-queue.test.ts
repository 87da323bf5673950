import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { createWriteQueue } from '../../src/sqlite/write-queue.ts';
import { ConflictError } from '../../src/storage/ports.ts';

function db(): DatabaseSync {
  const d = new DatabaseSync(':memory:');
  d.exec('CREATE TABLE t (id TEXT PRIMARY KEY)');
  return d;
}
const count = (d: DatabaseSync) => Number((d.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n);

test('writes of one event-loop turn commit together; a failing one is undone alone', async () => {
  const d = db();
  const write = createWriteQueue(d, { busyTimeoutMs: 1000 });
  const insert = d.prepare('INSERT INTO t (id) VALUES (?)');
  let transactions = 0;
  const results = await Promise.allSettled([
    write('a', () => {
      transactions += d.isTransaction ? 1 : 0;
      insert.run('a');
      return 'A';
    }),
    write('dup', () => {
      insert.run('a');
    }),
    write('b', () => {
      insert.run('b');
      return 'B';
    }),
  ]);
  assert.equal(transactions, 1);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal((results[0] as PromiseFulfilledResult<string>).value, 'A');
  assert.ok((results[1] as PromiseRejectedResult).reason instanceof ConflictError);
  assert.equal(count(d), 2);
  assert.equal(d.isTransaction, false, 'committed');
});

test('a promise settles only after its commit; a thrown domain error is passed through', async () => {
  const d = db();
  const write = createWriteQueue(d, { busyTimeoutMs: 1000 });
  const p = write('x', () => {
    d.prepare('INSERT INTO t (id) VALUES (?)').run('x');
  });
  assert.equal(d.isTransaction, false, 'nothing runs before the batch');
  await p;
  assert.equal(count(d), 1);
  await assert.rejects(
    write('conflict', () => {
      throw new ConflictError('taken');
    }),
    ConflictError,
  );
  assert.equal(count(d), 1);
});

test("waiting for another process's write lock does not block the event loop, and gives up after busyTimeoutMs", async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { StorageUnavailableError } = await import('../../src/storage/ports.ts');
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-wq-'));
  try {
    const file = join(dir, 'x.db');
    const a = new DatabaseSync(file);
    a.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (id TEXT PRIMARY KEY)');
    const b = new DatabaseSync(file);
    b.exec('PRAGMA busy_timeout = 5000');
    const write = createWriteQueue(b, { busyTimeoutMs: 5000 });

    a.exec('BEGIN IMMEDIATE'); // "another process" holds the write lock
    let ticks = 0;
    const ticker = setInterval(() => {
      ticks++;
    }, 1);
    const pending = write('x', () => {
      b.prepare('INSERT INTO t (id) VALUES (?)').run('x');
    });
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(ticks > 0, 'the event loop kept running while the write waited for the lock');
    a.exec('COMMIT');
    await pending;
    clearInterval(ticker);
    assert.equal(count(b), 1);

    const quick = createWriteQueue(b, { busyTimeoutMs: 20 });
    a.exec('BEGIN IMMEDIATE');
    await assert.rejects(
      quick('y', () => {
        b.prepare('INSERT INTO t (id) VALUES (?)').run('y');
      }),
      StorageUnavailableError,
    );
    a.exec('ROLLBACK');
    assert.equal(count(b), 1, 'nothing written');
    a.close();
    b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
