/** PostgreSQL UsageStore: counts added by one multi-row upsert (one statement, atomic). */
import type { UsageCount, UsageStore } from '../ports.ts';
import type { Run } from './errors.ts';

interface Row {
  kind: string;
  bucket: string;
  key: string;
  count: string;
}
const toCount = (r: Row): UsageCount => ({ kind: r.kind, bucket: Number(r.bucket), key: r.key, count: Number(r.count) });

export function createPostgresUsageStore(run: Run): UsageStore {
  return {
    async add(counts) {
      if (counts.length === 0) return;
      // The same row twice in one statement would fail ON CONFLICT: sum duplicates first.
      const merged = new Map<string, UsageCount>();
      for (const c of counts) {
        const id = `${c.kind}\u0000${c.bucket}\u0000${c.key}`;
        const prior = merged.get(id);
        merged.set(id, prior ? { ...prior, count: prior.count + c.count } : { ...c });
      }
      const rows = [...merged.values()];
      await run('usage.add', {
        text: `INSERT INTO usage_counts (kind, bucket, key, count)
          SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[])
          ON CONFLICT (kind, bucket, key) DO UPDATE SET count = usage_counts.count + excluded.count`,
        values: [rows.map((r) => r.kind), rows.map((r) => r.bucket), rows.map((r) => r.key), rows.map((r) => r.count)],
      });
    },
    async series(kind, since) {
      const { rows } = await run<Row>('usage.series', {
        name: 'usage_series',
        text: 'SELECT kind, bucket, key, count FROM usage_counts WHERE kind = $1 AND bucket >= $2 AND bucket > 0 ORDER BY bucket, key',
        values: [kind, since],
      });
      return rows.map(toCount);
    },
    async total(kind, key) {
      const { rows } = await run<{ count: string }>('usage.total', {
        name: 'usage_total',
        text: 'SELECT count FROM usage_counts WHERE kind = $1 AND bucket = 0 AND key = $2',
        values: [kind, key],
      });
      return rows.length === 0 ? 0 : Number(rows[0]!.count);
    },
    async deleteBefore(before) {
      const { rowCount } = await run('usage.deleteBefore', { text: 'DELETE FROM usage_counts WHERE bucket > 0 AND bucket < $1', values: [before] });
      return rowCount ?? 0;
    },
  };
}
