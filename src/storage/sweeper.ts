/**
 * Periodic removal of expired oidc-provider records, replay ids and gateway idempotency records. Expired rows are already
 * invisible to reads; sweeping only keeps the tables (and their indexes) from growing forever. Event
 * notices a TPP never acknowledged are removed past their retention too.
 */
import type { ConsentStore, GatewayStore, OidcModelStore, ReplayStore } from './ports.ts';

export interface ExpirySweeperOptions {
  /** Time between sweeps (milliseconds). */
  intervalMs: number;
  /** Clock in epoch seconds. */
  now: () => number;
  /** Receives a failed sweep's error; the sweeper keeps running. */
  onError: (err: unknown) => void;
  /** Called after each completed sweep with how many rows went (for logs and tests). */
  onSweep?: (removed: { oidc: number; replay: number; idempotency: number; notices: number }) => void;
  /** How long an unacknowledged event notice is kept (seconds); unset keeps them. */
  noticeRetention?: number;
}

/** Starts sweeping every `intervalMs`; the timer is unref()'d so it never keeps the process alive. */
export function startExpirySweeper(
  store: {
    readonly oidc: OidcModelStore;
    readonly replay: ReplayStore;
    readonly gateway?: Pick<GatewayStore, 'deleteExpiredIdempotency'>;
    readonly consents?: Pick<ConsentStore, 'deleteNoticesBefore'>;
  },
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
      const notices = opts.noticeRetention === undefined ? 0 : ((await store.consents?.deleteNoticesBefore((at - opts.noticeRetention) * 1000)) ?? 0);
      opts.onSweep?.({ oidc, replay, idempotency, notices });
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
