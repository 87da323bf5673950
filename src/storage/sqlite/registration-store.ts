/**
 * SQLite RegistrationStore. Plain writes are single statements; an exclusive create is a check
 * and an insert inside BEGIN IMMEDIATE, which takes the file's write lock before the check, so
 * no other process can insert the same software_id in between.
 */
import type { DatabaseSync } from 'node:sqlite';
import { ConflictError } from '../ports.ts';
import type { RegistrationRecord, RegistrationStore } from '../ports.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';
import { rowsOf } from '../../sqlite/rows.ts';

interface RegistrationRow {
  client_id: string;
  software_id: string;
  org_id: string;
  environment: string;
  roles: string;
  version: string;
  software_statement: string;
  certificate_subject: string | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS = 'client_id, software_id, org_id, environment, roles, version, software_statement, certificate_subject, created_at, updated_at';

const toRegistration = (r: RegistrationRow): RegistrationRecord => ({
  clientId: r.client_id,
  softwareId: r.software_id,
  orgId: r.org_id,
  environment: r.environment,
  roles: JSON.parse(r.roles) as string[],
  version: r.version,
  softwareStatement: r.software_statement,
  certificateSubject: r.certificate_subject,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Open Banking registrations, keyed by client_id. */
export function createSqliteRegistrationStore(db: DatabaseSync, write: Write = guard): RegistrationStore {
  const insert = db.prepare(`INSERT INTO registrations (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (client_id) DO NOTHING`);
  const softwareTaken = db.prepare('SELECT 1 FROM registrations WHERE software_id = ? LIMIT 1');
  const get = rowsOf<RegistrationRow>(db.prepare(`SELECT ${COLUMNS} FROM registrations WHERE client_id = ?`));
  // created_at is set once, at create; an update never moves it.
  const update = db.prepare(`UPDATE registrations SET software_id = ?, org_id = ?, environment = ?, roles = ?,
    version = ?, software_statement = ?, certificate_subject = ?, updated_at = ? WHERE client_id = ?`);
  const remove = db.prepare('DELETE FROM registrations WHERE client_id = ?');
  const listBySoftware = rowsOf<RegistrationRow>(
    db.prepare(`SELECT ${COLUMNS} FROM registrations WHERE software_id = ?
    ORDER BY created_at, client_id`),
  );
  const MATCH = '(?1 IS NULL OR client_id = ?1 OR software_id = ?1 OR org_id = ?1)';
  const page = rowsOf<RegistrationRow>(
    db.prepare(`SELECT ${COLUMNS} FROM registrations WHERE ${MATCH} ORDER BY created_at DESC, client_id LIMIT ?2 OFFSET ?3`),
  );
  const total = db.prepare(`SELECT count(*) AS n FROM registrations WHERE ${MATCH}`);

  const insertRow = (r: RegistrationRecord): void => {
    const { changes } = insert.run(
      r.clientId,
      r.softwareId,
      r.orgId,
      r.environment,
      JSON.stringify(r.roles),
      r.version,
      r.softwareStatement,
      r.certificateSubject ?? null,
      r.createdAt,
      r.updatedAt,
    );
    if (Number(changes) === 0) throw new ConflictError(`registration "${r.clientId}" already exists`);
  };

  return {
    create: (r, { exclusive }) =>
      write('registrations.create', () => {
        if (!exclusive) return insertRow(r);
        // Inside a group commit the write lock is already held: check and insert are atomic as they are.
        if (db.isTransaction) {
          if (softwareTaken.get(r.softwareId) !== undefined) {
            throw new ConflictError(`a registration for software_id "${r.softwareId}" already exists`);
          }
          return insertRow(r);
        }
        db.exec('BEGIN IMMEDIATE');
        try {
          if (softwareTaken.get(r.softwareId) !== undefined) {
            throw new ConflictError(`a registration for software_id "${r.softwareId}" already exists`);
          }
          insertRow(r);
          db.exec('COMMIT');
        } catch (err) {
          if (db.isTransaction) db.exec('ROLLBACK');
          throw err;
        }
        return undefined;
      }),
    get: (clientId) =>
      guard('registrations.get', () => {
        const row = get.get(clientId);
        return row === undefined ? undefined : toRegistration(row);
      }),
    // A unit of work holds the file's write lock from its first statement to its commit: the
    // row is as locked as it can be; outside one this is a plain read.
    lock: (clientId) =>
      guard('registrations.lock', () => {
        const row = get.get(clientId);
        return row === undefined ? undefined : toRegistration(row);
      }),
    update: (r) =>
      write(
        'registrations.update',
        () =>
          Number(
            update.run(
              r.softwareId,
              r.orgId,
              r.environment,
              JSON.stringify(r.roles),
              r.version,
              r.softwareStatement,
              r.certificateSubject ?? null,
              r.updatedAt,
              r.clientId,
            ).changes,
          ) > 0,
      ),
    delete: (clientId) => write('registrations.delete', () => Number(remove.run(clientId).changes) > 0),
    listBySoftware: (softwareId) => guard('registrations.listBySoftware', () => listBySoftware.all(softwareId).map(toRegistration)),
    list: ({ search, limit, offset }) =>
      guard('registrations.list', () => ({
        total: Number((total.get(search ?? null) as { n: number }).n),
        items: page.all(search ?? null, limit, offset).map(toRegistration),
      })),
  };
}
