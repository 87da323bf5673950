/**
 * What both backends share for Storage.transaction: the stores handed to a unit of work stop
 * working the moment it ends, so a unit that kept a reference (or was cut off for waiting on I/O)
 * can never write outside its transaction, or into the next one.
 */
import { UnitOfWorkError, type UnitOfWork } from './ports.ts';

type AnyStore = Record<string, unknown>;

function scopeStore<S extends object>(store: S, name: string, isOpen: () => boolean): S {
  const scoped: AnyStore = {};
  for (const [key, value] of Object.entries(store as AnyStore)) {
    if (typeof value !== 'function') continue;
    scoped[key] = (...args: unknown[]) => {
      if (!isOpen()) return Promise.reject(new UnitOfWorkError(`storage: ${name}.${key}: the unit of work has already ended`));
      return (value as (...a: unknown[]) => unknown)(...args);
    };
  }
  return scoped as S;
}

/**
 * Runs `work` over `stores` made usable only until it settles. `run` provides the transaction:
 * it receives the work already wrapped, and `close` to end the unit early (when it abandons it).
 */
export async function runUnitOfWork<T>(
  stores: UnitOfWork,
  work: (tx: UnitOfWork) => Promise<T>,
  run: (scopedWork: () => Promise<T>, close: () => void) => Promise<T>,
): Promise<T> {
  let open = true;
  const isOpen = () => open;
  const tx: UnitOfWork = {
    oidc: scopeStore(stores.oidc, 'oidc', isOpen),
    replay: scopeStore(stores.replay, 'replay', isOpen),
    registrations: scopeStore(stores.registrations, 'registrations', isOpen),
    audit: scopeStore(stores.audit, 'audit', isOpen),
    gateway: scopeStore(stores.gateway, 'gateway', isOpen),
    consents: scopeStore(stores.consents, 'consents', isOpen),
  };
  const close = () => {
    open = false;
  };
  return run(async () => {
    try {
      return await work(tx);
    } finally {
      close();
    }
  }, close);
}
