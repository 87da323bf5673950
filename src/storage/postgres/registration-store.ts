/**
 * PostgreSQL RegistrationStore. Plain writes are single statements. An exclusive create cannot
 * be one: under READ COMMITTED two concurrent "insert unless the software_id exists" statements
 * both see no row. So it takes a transaction-scoped advisory lock on the software_id first, and
 * checks and inserts in later statements, whose fresh snapshots see the previous holder's commit.
 */
import { ConflictError } from '../ports.ts';
import type { RegistrationRecord, RegistrationStore } from '../ports.ts';
import type { Run, Transact, TxQuery } from './errors.ts';

// BIGINT columns arrive as strings (pg cannot know they fit a JS number; epoch seconds do).
interface RegistrationRow {
  client_id: string;
  software_id: string;
  org_id: string;
  environment: string;
  roles: string[];
  version: string;
  software_statement: string;
  certificate_subject: string | null;
  created_at: string;
  updated_at: string;
}

const COLUMNS = 'client_id, software_id, org_id, environment, roles, version, software_statement, certificate_subject, created_at, updated_at';

// First key of the two-int4 advisory lock form, which never overlaps the single-bigint key the
// migrations lock on. Different software_ids may share a hashtext value: they then merely queue.
const REGISTRATION_LOCK_CLASS = 0x0dc7_0001;

const SQL = {
  insert: `INSERT INTO registrations (${COLUMNS}) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)
    ON CONFLICT (client_id) DO NOTHING`,
  advisoryLock: 'SELECT pg_advisory_xact_lock($1, hashtext($2))',
  softwareTaken: 'SELECT 1 FROM registrations WHERE software_id = $1 LIMIT 1',
  get: `SELECT ${COLUMNS} FROM registrations WHERE client_id = $1`,
  lock: `SELECT ${COLUMNS} FROM registrations WHERE client_id = $1 FOR UPDATE`,
  // created_at is set once, at create; an update never moves it.
  update: `UPDATE registrations SET software_id = $1, org_id = $2, environment = $3, roles = $4::jsonb,
    version = $5, software_statement = $6, certificate_subject = $7, updated_at = $8 WHERE client_id = $9`,
  delete: 'DELETE FROM registrations WHERE client_id = $1',
  listBySoftware: `SELECT ${COLUMNS} FROM registrations WHERE software_id = $1 ORDER BY created_at, client_id`,
  page: `SELECT ${COLUMNS}, count(*) OVER () AS total FROM registrations
    WHERE ($1::text IS NULL OR client_id = $1 OR software_id = $1 OR org_id = $1)
    ORDER BY created_at DESC, client_id LIMIT $2 OFFSET $3`,
  count: `SELECT count(*) AS n FROM registrations WHERE ($1::text IS NULL OR client_id = $1 OR software_id = $1 OR org_id = $1)`,
} as const;

const toRegistration = (r: RegistrationRow): RegistrationRecord => ({
  clientId: r.client_id,
  softwareId: r.software_id,
  orgId: r.org_id,
  environment: r.environment,
  roles: r.roles,
  version: r.version,
  softwareStatement: r.software_statement,
  certificateSubject: r.certificate_subject,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const insertValues = (r: RegistrationRecord): unknown[] => [
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
];

const duplicateClient = (r: RegistrationRecord): ConflictError => new ConflictError(`registration "${r.clientId}" already exists`);

/** Open Banking registrations, keyed by client_id. */
export function createPostgresRegistrationStore(run: Run, transact: Transact): RegistrationStore {
  const createExclusive = async (query: TxQuery, r: RegistrationRecord): Promise<void> => {
    await query({ name: 'registrations_advisory_lock', text: SQL.advisoryLock, values: [REGISTRATION_LOCK_CLASS, r.softwareId] });
    const taken = await query({ name: 'registrations_software_taken', text: SQL.softwareTaken, values: [r.softwareId] });
    if ((taken.rowCount ?? 0) > 0) throw new ConflictError(`a registration for software_id "${r.softwareId}" already exists`);
    const res = await query({ name: 'registrations_insert', text: SQL.insert, values: insertValues(r) });
    if (res.rowCount === 0) throw duplicateClient(r);
  };

  return {
    async create(r, { exclusive }) {
      if (exclusive) return transact('registrations.create', (query) => createExclusive(query, r));
      const res = await run('registrations.create', { name: 'registrations_insert', text: SQL.insert, values: insertValues(r) });
      if (res.rowCount === 0) throw duplicateClient(r);
      return undefined;
    },
    async get(clientId) {
      const { rows } = await run<RegistrationRow>('registrations.get', { name: 'registrations_get', text: SQL.get, values: [clientId] });
      return rows[0] === undefined ? undefined : toRegistration(rows[0]);
    },
    // FOR UPDATE: inside a unit of work the row stays locked until it commits; a concurrent
    // lock of the same row waits, then reads what the first left (nothing, after a delete).
    async lock(clientId) {
      const { rows } = await run<RegistrationRow>('registrations.lock', { name: 'registrations_lock', text: SQL.lock, values: [clientId] });
      return rows[0] === undefined ? undefined : toRegistration(rows[0]);
    },
    async update(r) {
      const res = await run('registrations.update', {
        name: 'registrations_update',
        text: SQL.update,
        values: [
          r.softwareId,
          r.orgId,
          r.environment,
          JSON.stringify(r.roles),
          r.version,
          r.softwareStatement,
          r.certificateSubject ?? null,
          r.updatedAt,
          r.clientId,
        ],
      });
      return (res.rowCount ?? 0) > 0;
    },
    async delete(clientId) {
      const res = await run('registrations.delete', { name: 'registrations_delete', text: SQL.delete, values: [clientId] });
      return (res.rowCount ?? 0) > 0;
    },
    async list({ search, limit, offset }) {
      const { rows } = await run<RegistrationRow & { total: string }>('registrations.list', {
        name: 'registrations_page',
        text: SQL.page,
        values: [search ?? null, limit, offset],
      });
      // Past the last page the window function has no row to report the total on.
      const total = rows[0]
        ? Number(rows[0].total)
        : Number((await run<{ n: string }>('registrations.list', { name: 'registrations_count', text: SQL.count, values: [search ?? null] })).rows[0]!.n);
      return { total, items: rows.map(toRegistration) };
    },
    async listBySoftware(softwareId) {
      const { rows } = await run<RegistrationRow>('registrations.listBySoftware', {
        name: 'registrations_list_by_software',
        text: SQL.listBySoftware,
        values: [softwareId],
      });
      return rows.map(toRegistration);
    },
  };
}
