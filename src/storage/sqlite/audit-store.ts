/** SQLite AuditStore: append-only rows, listed newest first through per-filter prepared statements. */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { buildAuditList, toAuditEvent as toEvent, type AuditRow } from '../audit-query.ts';
import type { AuditStore } from '../ports.ts';
import { guard } from './errors.ts';
import type { Write } from './write-queue.ts';

/** Registration audit trail. */
export function createSqliteAuditStore(db: DatabaseSync, write: Write = guard): AuditStore {
  const append = db.prepare(`INSERT INTO audit_events (at, event, software_id, org_id, client_id, reason, version, method)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
  // At most 16 filter combinations, each prepared on first use.
  const lists = new Map<string, StatementSync>();
  return {
    append: (e) => write('audit.append', () => {
      append.run(e.at, e.event, e.softwareId, e.orgId, e.clientId, e.reason, e.version, e.method);
    }),
    list: async (filter) => {
      const q = buildAuditList(filter, () => '?'); // throws RangeError on a bad limit: a caller bug
      return guard('audit.list', () => {
        let stmt = lists.get(q.key);
        if (stmt === undefined) {
          stmt = db.prepare(q.text);
          lists.set(q.key, stmt);
        }
        return stmt.all(...q.values).map((r) => toEvent(r as unknown as AuditRow));
      });
    },
  };
}
