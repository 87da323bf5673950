/**
 * The state every part reads: the database (registrations, catalogue, keys, audit) and the shared
 * state (one-time ids, revocation marks, counters and change notices of every worker and host,
 * README "Shared state"), both timed by the metrics when they are on.
 */
import { mkdirSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { instrumentSharedState, instrumentStorage } from '../observability/instrument-storage.ts';
import { type Metrics, processMetrics } from '../observability/metrics.ts';
import { describeSharedState, openSharedState, type SharedState } from '../shared-state/index.ts';
import { watchSharedState } from '../shared-state/watch.ts';
import { openStorage } from '../storage/index.ts';
import type { Storage } from '../storage/ports.ts';
import type { Scope } from './scope.ts';

export interface State {
  readonly storage: Storage;
  readonly shared: SharedState;
  /** This process's metrics; undefined when [metrics] enabled is false. */
  readonly metrics: Metrics | undefined;
  /** The clock every part reads, in epoch seconds (the system clock unless the root is handed one). */
  readonly now: () => number;
}

export async function openState(config: Config, logger: Logger, scope: Scope, now: () => number): Promise<State> {
  mkdirSync(config.derived.dataDir, { recursive: true, mode: 0o700 });
  const metrics = config.metrics.enabled ? processMetrics() : undefined;
  const rawStorage = await openStorage({ url: config.derived.databaseUrl, poolSize: config.database.pool_size, busyTimeoutMs: config.database.busy_timeout });
  scope.defer('storage', () => rawStorage.close());
  // Every storage operation timed and every replayed id counted, without the backends knowing.
  const storage = metrics ? instrumentStorage(rawStorage, metrics) : rawStorage;
  const opened = await openSharedState(config, { now });
  scope.defer('shared state', () => opened.close());
  const watched = watchSharedState(opened, logger, describeSharedState(config));
  return { storage, shared: metrics ? instrumentSharedState(watched, metrics) : watched, metrics, now };
}
