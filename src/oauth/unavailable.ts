/**
 * Inside oidc-provider, an error that is not one of its own becomes 500 server_error. The
 * database or the shared state being unreachable is not a server bug but an outage a client may
 * retry: it must answer 503 temporarily_unavailable, and never let a request pass unchecked.
 */
import { errors as oidcErrors } from 'oidc-provider';
import { StorageUnavailableError } from '../storage/ports.ts';
import { SharedStateUnavailableError } from '../shared-state/ports.ts';

export const UNAVAILABLE_DESCRIPTION = 'the service is temporarily unavailable; try again shortly';

export function isUnavailable(err: unknown): boolean {
  return err instanceof StorageUnavailableError || err instanceof SharedStateUnavailableError;
}

/** The error oidc-provider should answer with for `err`: a 503 for an outage, else `err` itself. */
export function forProvider(err: unknown): unknown {
  if (!isUnavailable(err)) return err;
  const e = new oidcErrors.TemporarilyUnavailable(UNAVAILABLE_DESCRIPTION, { cause: err } as never) as unknown as Record<string, unknown>;
  e['status'] = 503;
  e['statusCode'] = 503;
  e['expose'] = true;
  return e;
}

/** Runs `fn` and rethrows an outage as oidc-provider's 503. */
export async function providerCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw forProvider(err);
  }
}
