/** SQLite AuditStore: append-only rows, listed newest first through per-filter prepared statements. */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  buildAuditList,
  buildRejectionCount,
  toAuditEvent as toEvent,
  toBucket,
  type AuditListQuery,
  type AuditRow,
  type HistogramRow,
} from '../audit-query.ts';
import type { AuditStore } from '../ports.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';
import { rowsOf } from '../../sqlite/rows.ts';

/** Registration audit trail. */
export function createSqliteAuditStore(db: DatabaseSync, write: Write = guard): AuditStore {
  const append = db.prepare(`INSERT INTO audit_events (at, event, software_id, org_id, client_id, reason, code, version, method)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  // At most 32 filter combinations (and 4 counts), each prepared on first use.
  const statements = new Map<string, StatementSync>();
  // at - at % n: % works on integers whatever type the parameter was bound as (a JS number binds as REAL).
  const histogram = rowsOf<HistogramRow>(
    db.prepare(`SELECT at - (at % ?) AS bucket, event, code, count(*) AS count FROM audit_events
    WHERE at >= ? GROUP BY 1, 2, 3 ORDER BY 1`),
  );
  const prepared = (q: AuditListQuery): StatementSync => {
    let stmt = statements.get(q.key);
    if (stmt === undefined) {
      stmt = db.prepare(q.text);
      statements.set(q.key, stmt);
    }
    return stmt;
  };
  return {
    append: (e) =>
      write('audit.append', () => {
        append.run(e.at, e.event, e.softwareId, e.orgId, e.clientId, e.reason, e.code, e.version, e.method);
      }),
    list: async (filter) => {
      const q = buildAuditList(filter, () => '?'); // throws RangeError on a bad limit: a caller bug
      return guard('audit.list', () =>
        rowsOf<AuditRow>(prepared(q))
          .all(...q.values)
          .map(toEvent),
      );
    },
    countRejections: async (filter) => {
      const q = buildRejectionCount(filter, () => '?');
      return guard('audit.countRejections', () =>
        prepared(q)
          .all(...q.values)
          .map((r) => ({ code: (r as { code: string | null }).code, count: Number((r as { count: number }).count) })),
      );
    },
    histogram: async ({ since, bucketSeconds }) => guard('audit.histogram', () => histogram.all(bucketSeconds, since).map(toBucket)),
  };
}
