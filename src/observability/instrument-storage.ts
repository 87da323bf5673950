/**
 * Times every storage and shared-state operation (opendcr_storage_operation_duration_seconds;
 * shared-state operations are named `shared.*`) and counts replayed one-time identifiers
 * (opendcr_replay_rejections_total), by wrapping the ports: the backends stay unaware of metrics.
 * Units of work are timed whole and their stores like the others.
 */
import type { SharedState } from '../shared-state/index.ts';
import type { Storage, UnitOfWork } from '../storage/ports.ts';
import type { Metrics } from './metrics.ts';

/** Bounded replay kinds: the namespaces carry software ids and issuers. */
export function replayKind(namespace: string): string {
  if (namespace === 'oidc') return 'client_assertion';
  if (namespace.startsWith('dcr:')) return 'dcr_request';
  if (namespace.startsWith('jwt-bearer:')) return 'jwt_bearer_assertion';
  return 'other';
}

type Store = Record<string, unknown>;

function timed<S extends object>(store: S, name: string, metrics: Metrics): S {
  const out: Store = {};
  for (const [key, value] of Object.entries(store as Store)) {
    if (typeof value !== 'function') continue;
    const op = `${name}.${key}`;
    const fn = value as (...a: unknown[]) => Promise<unknown>;
    out[key] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        const result = await fn(...args);
        if ((op === 'replay.remember' || op === 'shared.remember') && result === false) metrics.replayRejected(replayKind(String(args[0])));
        return result;
      } finally {
        metrics.storage(op, (performance.now() - t) / 1000);
      }
    };
  }
  return out as S;
}

const STORES = ['oidc', 'replay', 'keys', 'scopes', 'meta', 'registrations', 'audit', 'trustAnchors', 'gateway', 'usage', 'consents'] as const;

export function instrumentStorage(storage: Storage, metrics: Metrics): Storage {
  const unit = (tx: UnitOfWork): UnitOfWork => ({
    oidc: timed(tx.oidc, 'oidc', metrics),
    replay: timed(tx.replay, 'replay', metrics),
    registrations: timed(tx.registrations, 'registrations', metrics),
    audit: timed(tx.audit, 'audit', metrics),
    gateway: timed(tx.gateway, 'gateway', metrics),
    consents: timed(tx.consents, 'consents', metrics),
  });
  const wrapped = Object.fromEntries(STORES.map((name) => [name, timed(storage[name], name, metrics)])) as Pick<Storage, (typeof STORES)[number]>;
  return {
    ...wrapped,
    kind: storage.kind,
    async transaction(op, work) {
      const t = performance.now();
      try {
        return await storage.transaction(op, (tx) => work(unit(tx)));
      } finally {
        metrics.storage(`transaction:${op}`, (performance.now() - t) / 1000);
      }
    },
    ping: () => storage.ping(),
    close: () => storage.close(),
  };
}

/** The shared state with its operations timed and its replays counted; subscribe and close pass through. */
export function instrumentSharedState(shared: SharedState, metrics: Metrics): SharedState {
  const ops = timed({ remember: shared.remember, mark: shared.mark, has: shared.has, count: shared.count, publish: shared.publish }, 'shared', metrics);
  return {
    ...ops,
    kind: shared.kind,
    subscribe: (channel, handler) => shared.subscribe(channel, handler),
    ping: () => shared.ping(),
    close: () => shared.close(),
  };
}
