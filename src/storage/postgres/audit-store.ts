/** PostgreSQL AuditStore: append-only rows, listed newest first through per-filter named queries. */
import { buildAuditList, buildRejectionCount, toAuditEvent as toEvent, toBucket, type AuditRow, type HistogramRow } from '../audit-query.ts';
import type { AuditStore } from '../ports.ts';
import type { Run } from './errors.ts';

/** Registration audit trail. */
export function createPostgresAuditStore(run: Run): AuditStore {
  return {
    async append(e) {
      await run('audit.append', {
        name: 'audit_append',
        text: `INSERT INTO audit_events (at, event, software_id, org_id, client_id, reason, code, version, method)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        values: [e.at, e.event, e.softwareId, e.orgId, e.clientId, e.reason, e.code, e.version, e.method],
      });
    },
    async list(filter) {
      const q = buildAuditList(filter, (n) => `$${n}`); // throws RangeError on a bad limit: a caller bug
      // One name per filter combination (at most 16), so each is planned once per connection.
      const { rows } = await run<AuditRow>('audit.list', { name: `audit_list_${q.key}`, text: q.text, values: q.values });
      return rows.map(toEvent);
    },
    async countRejections(filter) {
      const q = buildRejectionCount(filter, (n) => `$${n}`);
      const { rows } = await run<{ code: string | null; count: string }>('audit.countRejections', { name: `audit_${q.key}`, text: q.text, values: q.values });
      return rows.map((r) => ({ code: r.code, count: Number(r.count) }));
    },
    async histogram({ since, bucketSeconds }) {
      const { rows } = await run<HistogramRow>('audit.histogram', {
        name: 'audit_histogram',
        text: `SELECT at - (at % $1) AS bucket, event, code, count(*) AS count FROM audit_events
          WHERE at >= $2 GROUP BY 1, 2, 3 ORDER BY 1`,
        values: [bucketSeconds, since],
      });
      return rows.map(toBucket);
    },
  };
}
