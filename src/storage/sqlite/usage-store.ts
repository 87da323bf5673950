/** SQLite UsageStore: counts added in one write-queue thunk (atomic across workers). */
import type { DatabaseSync } from 'node:sqlite';
import type { UsageCount, UsageStore } from '../ports.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';
import { rowsOf } from '../../sqlite/rows.ts';

export function createSqliteUsageStore(db: DatabaseSync, write: Write = guard): UsageStore {
  const add = db.prepare(`INSERT INTO usage_counts (kind, bucket, key, count) VALUES (?, ?, ?, ?)
    ON CONFLICT (kind, bucket, key) DO UPDATE SET count = usage_counts.count + excluded.count`);
  const series = rowsOf<UsageCount>(
    db.prepare('SELECT kind, bucket, key, count FROM usage_counts WHERE kind = ? AND bucket >= ? AND bucket > 0 ORDER BY bucket, key'),
  );
  const total = db.prepare('SELECT count FROM usage_counts WHERE kind = ? AND bucket = 0 AND key = ?');
  const prune = db.prepare('DELETE FROM usage_counts WHERE bucket > 0 AND bucket < ?');
  return {
    add: (counts) =>
      write('usage.add', () => {
        for (const c of counts) add.run(c.kind, c.bucket, c.key, c.count);
      }),
    series: async (kind, since) => guard('usage.series', () => series.all(kind, since).map((r) => ({ ...r }))),
    total: async (kind, key) => guard('usage.total', () => Number((total.get(kind, key) as { count?: number } | undefined)?.count ?? 0)),
    deleteBefore: (before) => write('usage.deleteBefore', () => Number(prune.run(before).changes)),
  };
}
