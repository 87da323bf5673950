/**
 * The client records the request guard read for a request, handed on to the provider's adapter
 * while the provider handles that same request: a token request reads its client from storage
 * once, not twice (the guard needs it first, to check the transport certificate). The records live
 * exactly as long as the request; any other read goes to storage.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';

type Records = ReadonlyMap<string, Record<string, unknown>>;

const byRequest = new WeakMap<IncomingMessage, Records>();
const als = new AsyncLocalStorage<Records>();

/** Keeps the records the guard read for the request it hands on. */
export function keepClientRecords(req: IncomingMessage, records: Records): void {
  if (records.size > 0) byRequest.set(req, records);
}

/** Runs `handle` (the provider) with the records kept for `req`, if any. */
export function withClientRecords<T>(req: IncomingMessage, handle: () => T): T {
  const records = byRequest.get(req);
  return records ? als.run(records, handle) : handle();
}

/** The record the guard read for `clientId` during the request being handled, if any. */
export function clientRecordOfRequest(clientId: string): Record<string, unknown> | undefined {
  return als.getStore()?.get(clientId);
}
