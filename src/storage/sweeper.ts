/**
 * Periodic removal of expired oidc-provider records, replay ids and gateway idempotency records. Expired rows are already
 * invisible to reads; sweeping only keeps the tables (and their indexes) from growing forever.
 */
import type { GatewayStore, OidcModelStore, ReplayStore } from './ports.ts';

export interface ExpirySweeperOptions {
  /** Time between sweeps (milliseconds). */
  intervalMs: number;
  /** Clock in epoch seconds. */
  now: () => number;
  /** Receives a failed sweep's error; the sweeper keeps running. */
  onError: (err: unknown) => void;
  /** Called after each completed sweep with how many rows went (for logs and tests). */
  onSweep?: (removed: { oidc: number; replay: number; idempotency: number }) => void;
}

/** Starts sweeping every `intervalMs`; the timer is unref()'d so it never keeps the process alive. */
export function startExpirySweeper(
  store: { readonly oidc: OidcModelStore; readonly replay: ReplayStore; readonly gateway?: Pick<GatewayStore, 'deleteExpiredIdempotency'> },
  opts: ExpirySweeperOptions,
): { stop(): void } {
  if (!Number.isSafeInteger(opts.intervalMs) || opts.intervalMs < 1) {
    throw new RangeError(`intervalMs must be a positive integer, got ${opts.intervalMs}`);
  }
  let running = false;
  const sweep = async (): Promise<void> => {
    // A slow database must not pile up overlapping sweeps.
    if (running) return;
    running = true;
    try {
      const at = opts.now();
      const oidc = await store.oidc.deleteExpired(at);
      const replay = await store.replay.deleteExpired(at);
      const idempotency = (await store.gateway?.deleteExpiredIdempotency(at)) ?? 0;
      opts.onSweep?.({ oidc, replay, idempotency });
    } catch (err) {
      opts.onError(err);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => {
    void sweep();
  }, opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
