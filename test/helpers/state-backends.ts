/**
 * Where a test server keeps its one-time ids (jti replay records): the embedded SQLite files, a
 * fresh PostgreSQL database (storage and shared state), or Redis for the shared state. They store
 * times differently (PostgreSQL BIGINT, Redis PX milliseconds), so what one takes another may not:
 * tests of values that end up there run on each. PostgreSQL and Redis run for real on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { pgAdmin } from './postgres.ts';

type Table = Record<string, unknown>;

export interface StateBackend {
  readonly name: 'embedded' | 'postgres' | 'redis';
  /** Config overrides for a server on this backend (creates its database first). */
  open(): Promise<Table>;
  /** Drops what open() created. */
  close(): Promise<void>;
}

function postgres(): StateBackend {
  const db = `opendcr_tc_${randomBytes(6).toString('hex')}`;
  return {
    name: 'postgres',
    async open() {
      await pgAdmin(`CREATE DATABASE ${db}`);
      return { database: { url: `postgres://postgres@127.0.0.1:5432/${db}` } };
    },
    close: () => pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`),
  };
}

/** A fresh instance of each backend. */
export function stateBackends(): StateBackend[] {
  return [
    { name: 'embedded', open: async () => ({}), close: async () => undefined },
    postgres(),
    { name: 'redis', open: async () => ({ redis: { url: 'redis://127.0.0.1:6379/0' } }), close: async () => undefined },
  ];
}
