/**
 * The throttling step: every limit that applies to the call (the subscription's plan, its burst
 * limit, the operation's own limit), counted in the shared state so that all workers and hosts
 * count together; the tightest decides. 429 with Retry-After once a stopping limit is passed.
 */
import { fail } from '../../errors/app-error.ts';
import type { SharedState } from '../../shared-state/ports.ts';
import { type PlanRecord, type RateLimit, TIME_UNIT_SECONDS } from '../../storage/catalogue-records.ts';
import type { RouteMatch } from '../snapshot.ts';
import type { Subscribed } from './call.ts';

export interface ThrottleDeps {
  readonly shared: Pick<SharedState, 'count'>;
}

/** One counter: its shared-state key, its limit, and whether passing it refuses the call (else it is only counted). */
export interface Limit {
  readonly key: string;
  readonly limit: RateLimit;
  readonly stop: boolean;
}

/** A limit's window, in seconds. */
const windowOf = (limit: RateLimit): number => limit.unitTime * TIME_UNIT_SECONDS[limit.timeUnit];

/**
 * The limits of a call on `match` under `plan`, counted per `throttleKey` (a subscription, or the
 * DCR API's certificate). A counter's key ends with its window: a subscription moved from a
 * per-minute plan to a per-hour one starts a new count, even in the minute both windows begin.
 */
export function limitsFor(match: RouteMatch, plan: PlanRecord | undefined, throttleKey: string): Limit[] {
  const out: Limit[] = [];
  const counter = (key: string, limit: RateLimit, stop: boolean) => out.push({ key: `${key}:${windowOf(limit)}`, limit, stop });
  if (plan?.limit) counter(`gw:p:${throttleKey}`, plan.limit, plan.stopOnQuotaReach);
  if (plan?.burst) counter(`gw:b:${throttleKey}`, { requestCount: plan.burst.requestCount, unitTime: 1, timeUnit: plan.burst.timeUnit }, true);
  if (match.operation.limit) counter(`gw:o:${match.api.id}:${match.operation.method}:${match.operation.path}`, match.operation.limit, true);
  return out;
}

/** Counts the call against every limit; throws 429 when a stopping one is passed, Retry-After its window's end. */
export async function checkLimits(deps: ThrottleDeps, limits: readonly Limit[]): Promise<void> {
  if (limits.length === 0) return;
  const counts = await Promise.all(limits.map((l) => deps.shared.count(l.key, windowOf(l.limit))));
  const now = Date.now() / 1000;
  let retryAfter = 0;
  let over = false;
  counts.forEach((c, i) => {
    const l = limits[i]!;
    if (!l.stop || c.count <= l.limit.requestCount) return;
    // Counted past the limit: refused, even when its window ends while this call is answered (Retry-After: 1).
    over = true;
    retryAfter = Math.max(retryAfter, Math.ceil(c.resetAt - now));
  });
  if (over) {
    throw fail('GATEWAY_THROTTLED', 'the request limit is reached; retry after the time in Retry-After', {
      headers: { 'retry-after': String(Math.max(1, retryAfter)) },
    });
  }
}

/** Passes while the subscription's plan and the operation's limit allow the call. */
export function throttle(deps: ThrottleDeps, call: Subscribed): Promise<void> {
  const sub = call.subscription;
  return checkLimits(deps, limitsFor(call.match, call.snapshot.plans.get(sub.plan), sub.id));
}
