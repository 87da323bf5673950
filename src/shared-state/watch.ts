/**
 * Tells the operator when the shared state stops answering and when it answers again: one log
 * line per change (not one per refused request), naming the coded error requests then get.
 */
import type { Logger } from '../logger.ts';
import { SharedStateUnavailableError, type SharedState } from './ports.ts';

export function watchSharedState(shared: SharedState, logger: Logger, where: string): SharedState {
  let up = true;
  const seen = <T>(p: Promise<T>): Promise<T> =>
    p.then(
      (value) => {
        if (!up) {
          up = true;
          logger.warn({ shared_state: where }, 'shared state available again');
        }
        return value;
      },
      (err: unknown) => {
        if (up && err instanceof SharedStateUnavailableError) {
          up = false;
          const cause = err.cause instanceof Error ? err.cause.message : undefined;
          logger.error(
            { shared_state: where, code: 'SHARED_STATE_UNAVAILABLE', cause },
            'shared state unavailable: requests that need it answer 503 until it returns',
          );
        }
        throw err;
      },
    );
  return {
    kind: shared.kind,
    remember: (namespace, id, expiresAt) => seen(shared.remember(namespace, id, expiresAt)),
    mark: (namespace, id, expiresAt) => seen(shared.mark(namespace, id, expiresAt)),
    has: (namespace, id) => seen(shared.has(namespace, id)),
    count: (key, windowSeconds, by) => seen(shared.count(key, windowSeconds, by)),
    publish: (channel, message) => seen(shared.publish(channel, message)),
    subscribe: (channel, handler) => shared.subscribe(channel, handler),
    ping: () => seen(shared.ping()),
    close: () => shared.close(),
  };
}
