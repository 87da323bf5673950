/**
 * Opens the shared state a configuration names: Redis when [redis] url is set; else the
 * configured PostgreSQL (hosts sharing the database share it); else the embedded file beside the
 * SQLite database (one host).
 */
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { SharedState } from './ports.ts';

export type { SharedState, WindowCount } from './ports.ts';
export { CHANNELS, SharedStateUnavailableError } from './ports.ts';

export async function openSharedState(config: Config, opts: { now?: () => number } = {}): Promise<SharedState> {
  const clock = opts.now === undefined ? {} : { now: opts.now };
  // Each backend (and its client library) is loaded only when configured.
  if (config.redis.url) {
    const { createRedisSharedState } = await import('./redis.ts');
    return createRedisSharedState({ url: config.redis.url, keyPrefix: config.redis.key_prefix, commandTimeoutMs: config.redis.command_timeout, ...clock });
  }
  const db = config.derived.databaseUrl;
  if (/^postgres(ql)?:\/\//.test(db)) {
    const { createPostgresSharedState } = await import('./postgres.ts');
    return createPostgresSharedState({ url: db, poolSize: Math.max(2, Math.ceil(config.database.pool_size / 2)), ...clock });
  }
  const path = db === 'sqlite::memory:' ? ':memory:' : join(config.derived.dataDir, 'shared-state.db');
  const { createEmbeddedSharedState } = await import('./embedded.ts');
  return createEmbeddedSharedState({ path, busyTimeoutMs: config.database.busy_timeout, ...clock });
}

/**
 * Tells every running server of this configuration that `channel`'s data changed (for the CLI,
 * which opens the shared state only for this). A server that misses it finds the change on its
 * next timed check.
 */
export async function announceChange(config: Config, channel: string): Promise<void> {
  const shared = await openSharedState(config);
  try {
    await shared.publish(channel, 'changed');
  } finally {
    await shared.close();
  }
}

/** Where the shared state lives, for logs and readiness: never a password. */
export function describeSharedState(config: Config): string {
  if (config.redis.url) return `redis ${new URL(config.redis.url).host}`;
  return /^postgres(ql)?:\/\//.test(config.derived.databaseUrl) ? 'postgres (the database)' : 'embedded (data folder)';
}
