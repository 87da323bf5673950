/**
 * Usage counts the admin console charts: tokens issued per minute by grant type (and
 * in all per client), gateway calls and 429s per minute by API. Metrics are counters of one
 * process since it started; these are durable series over every worker and host. Each process
 * counts in memory and adds its counts to storage every `flushMs` (and when it stops), so a
 * crash loses at most that interval of chart data (never anything a client was answered about).
 */
import type { Logger } from '../logger.ts';
import type { UsageCount, UsageStore } from '../storage/ports.ts';

export const USAGE_KINDS = {
  /** Tokens issued per minute, key = grant type. */
  tokens: 'tokens',
  /**
   * Tokens issued in all (bucket 0), key = client id: a resident client's (only the resident key
   * manager issues tokens here; an external key manager's client of the same id is not counted).
   */
  clientTokens: 'client_tokens',
  /** Gateway calls per minute, key = API name (the catalogue bounds it). */
  gatewayCalls: 'gateway_calls',
  /** Gateway calls refused 429 (GATEWAY_THROTTLED) per minute, key = API name. */
  gatewayThrottled: 'gateway_throttled',
} as const;

export interface UsageRecorder {
  token(grantType: string, clientId: string | undefined): void;
  gateway(api: string, code: string | null): void;
  /** Writes what was counted since the last flush. */
  flush(): Promise<void>;
  /** Stops the timer and flushes. */
  close(): Promise<void>;
}

export interface UsageRecorderOptions {
  store: UsageStore;
  logger: Logger;
  /** Between flushes, milliseconds. */
  flushMs: number;
  /** Per-minute rows older than this many seconds are removed (at most hourly). */
  retentionSeconds: number;
  /** Distinct rows held between flushes; counts for new rows beyond it are dropped (and logged). */
  maxPending?: number;
  now?: () => number;
}

const SEP = '\u0000';

export function createUsageRecorder(opts: UsageRecorderOptions): UsageRecorder {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const maxPending = opts.maxPending ?? 10_000;
  let pending = new Map<string, number>();
  let dropped = 0;
  let lastPrune = 0;
  let flushing: Promise<void> | undefined;

  const count = (kind: string, bucket: number, key: string) => {
    const id = `${kind}${SEP}${bucket}${SEP}${key}`;
    const prior = pending.get(id);
    if (prior === undefined && pending.size >= maxPending) {
      dropped += 1;
      return;
    }
    pending.set(id, (prior ?? 0) + 1);
  };
  const minute = () => {
    const t = now();
    return t - (t % 60);
  };

  const flushOnce = async (): Promise<void> => {
    if (dropped > 0) {
      opts.logger.warn({ dropped, max_pending: maxPending }, 'usage counts dropped: too many distinct series between flushes');
      dropped = 0;
    }
    if (pending.size > 0) {
      const batch = pending;
      pending = new Map();
      const counts: UsageCount[] = [...batch].map(([id, n]) => {
        const [kind, bucket, key] = id.split(SEP) as [string, string, string];
        return { kind, bucket: Number(bucket), key, count: n };
      });
      try {
        await opts.store.add(counts);
      } catch (err) {
        // Kept for the next flush (merged with what arrives meanwhile), within the bound.
        for (const [id, n] of batch) {
          if (pending.has(id) || pending.size < maxPending) pending.set(id, (pending.get(id) ?? 0) + n);
        }
        throw err;
      }
    }
    const t = now();
    if (t - lastPrune >= 3600) {
      lastPrune = t;
      await opts.store.deleteBefore(t - opts.retentionSeconds);
    }
  };
  const flush = (): Promise<void> => {
    flushing ??= flushOnce().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };
  const timer = setInterval(() => {
    flush().catch((err: unknown) => opts.logger.warn({ err }, 'could not write usage counts; kept for the next try'));
  }, opts.flushMs);
  timer.unref();

  return {
    token(grantType, clientId) {
      count(USAGE_KINDS.tokens, minute(), grantType.slice(0, 100));
      if (clientId) count(USAGE_KINDS.clientTokens, 0, clientId.slice(0, 255));
    },
    gateway(api, code) {
      const bucket = minute();
      count(USAGE_KINDS.gatewayCalls, bucket, api);
      if (code === 'GATEWAY_THROTTLED') count(USAGE_KINDS.gatewayThrottled, bucket, api);
    },
    flush,
    async close() {
      clearInterval(timer);
      await flushing?.catch(() => undefined);
      await flush();
    },
  };
}
