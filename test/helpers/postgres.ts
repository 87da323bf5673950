/** The local PostgreSQL the tests use (127.0.0.1:5432, trust authentication), as its admin. */
import pg from 'pg';

export const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement as the admin (CREATE DATABASE, DROP DATABASE …). */
export async function pgAdmin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}
