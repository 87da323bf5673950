/**
 * The OB Event Notification API's aggregated polling (docs/events.md). A revocation by the PSU or
 * the bank stores an event notice (./notices.ts) in the same write as the consent's new status;
 * the TPP polls `POST /events`, receives each
 * notice it has not acknowledged as a security event token (RFC 8417) signed with the server's
 * key, and acknowledges it (`ack`, or `setErrs` for one it could not use) in a later poll, which
 * forgets it. A notice is redelivered, identical but for `iat`, until it is acknowledged.
 * Real-time push (`/event-subscriptions` with a callback URL) is not offered.
 */
import type { ConsentStore } from '../storage/ports.ts';
import { NOTICES_MAX } from '../storage/consent-query.ts';
import { apiFamily, type ConsentAnswer, type ConsentApi } from './api.ts';
import { ConsentRefusal, obErrorResponse } from './ob-errors.ts';
import { problemsOf, requestAndSchemas, type DocumentSchemas } from './schemas.ts';

/** Most SETs one poll returns (a TPP's maxEvents above it gets this many, and moreAvailable). */
export const EVENTS_PER_POLL = 100;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One `POST /events` call, its token already checked by the gateway. */
export interface EventPollCall {
  readonly api: ConsentApi;
  readonly body: Buffer;
  readonly keyManager: string;
  readonly clientId: string;
  readonly interactionId: string;
}

export interface EventPollingDeps {
  readonly store: Pick<ConsentStore, 'notices' | 'removeNotices'>;
  readonly schemas: (api: ConsentApi) => Promise<DocumentSchemas>;
  /** Signs a SET's claims (the server's current key; `typ` secevent+jwt). */
  readonly sign: (claims: Json) => Promise<string>;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Told of each negative acknowledgement: the jti and the TPP's error code when it is a plain code. Must not throw. */
  readonly onSetError?: (clientId: string, jti: string, err: string | undefined) => void;
}

export interface EventPolling {
  poll(call: EventPollCall): Promise<ConsentAnswer>;
}

/** What an operation of the Events API is: aggregated polling, or an event subscription (push, not offered). */
export function eventOperation(method: string, template: string): 'poll' | 'subscription' | undefined {
  if (method === 'POST' && template === '/events') return 'poll';
  if (template === '/event-subscriptions' || template === '/event-subscriptions/{EventSubscriptionId}') return 'subscription';
  return undefined;
}

/** The answer to an event subscription operation: 405, poll instead. */
export function pushUnsupported(api: ConsentApi, interactionId: string): ConsentAnswer {
  const refusal = new ConsentRefusal('EVENTS_PUSH_UNSUPPORTED', 'event subscriptions are not offered here: poll POST /events for event notifications');
  return json(refusal.status, obErrorResponse(refusal, apiFamily(api), interactionId));
}

const json = (status: number, value: Json): ConsentAnswer => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: Buffer.from(JSON.stringify(value)),
});

export function createEventPolling(deps: EventPollingDeps): EventPolling {
  async function request(call: EventPollCall): Promise<Json> {
    const { body, schemas } = await requestAndSchemas(call.body, 'EVENTS_POLL_INVALID', () => deps.schemas(call.api), {});
    const validate = schemas.requestValidator('POST', '/events');
    const problems = validate ? problemsOf(validate, body, ['/setErrs']) : [];
    if (problems.length > 0 || !isObject(body)) throw new ConsentRefusal('EVENTS_POLL_INVALID', 'the polling request is not valid', problems);
    const acks = Array.isArray(body['ack']) ? body['ack'].length : 0;
    const errs = isObject(body['setErrs']) ? Object.keys(body['setErrs']).length : 0;
    if (acks + errs > NOTICES_MAX) {
      throw new ConsentRefusal('EVENTS_POLL_INVALID', `at most ${NOTICES_MAX} acknowledgements in one poll`, [
        { name: 'UK.OBIE.Field.Invalid', message: `at most ${NOTICES_MAX} acknowledgements in one poll`, path: 'ack' },
      ]);
    }
    const max = body['maxEvents'];
    if (max !== undefined && (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0)) {
      throw new ConsentRefusal('EVENTS_POLL_INVALID', 'maxEvents is a whole number, 0 or more', [
        { name: 'UK.OBIE.Field.Invalid', message: 'maxEvents is a whole number, 0 or more', path: 'maxEvents' },
      ]);
    }
    return body;
  }

  return {
    async poll(call) {
      const family = apiFamily(call.api);
      try {
        const body = await request(call);
        const acked = (body['ack'] as string[] | undefined) ?? [];
        const errs = (body['setErrs'] as Record<string, { err?: unknown }> | undefined) ?? {};
        for (const [jti, e] of Object.entries(errs)) {
          const err = typeof e.err === 'string' && /^[a-z_]{1,40}$/.test(e.err) ? e.err : undefined;
          deps.onSetError?.(call.clientId, jti, err);
        }
        // Acknowledged first, so nothing acknowledged is delivered again; another TPP's jtis touch nothing.
        await deps.store.removeNotices(call.keyManager, call.clientId, [...new Set([...acked, ...Object.keys(errs)])]);
        const wanted = Math.min(typeof body['maxEvents'] === 'number' ? body['maxEvents'] : EVENTS_PER_POLL, EVENTS_PER_POLL);
        // One more than returned tells whether more are waiting (maxEvents 0: only whether any are).
        const pending = await deps.store.notices(call.keyManager, call.clientId, wanted + 1);
        const iat = Math.floor(deps.now() / 1000);
        const sets: Record<string, string> = {};
        for (const n of pending.slice(0, wanted)) sets[n.jti] = await deps.sign({ ...n.claims, iat });
        return json(200, { moreAvailable: pending.length > wanted, sets });
      } catch (err) {
        if (!(err instanceof ConsentRefusal)) throw err;
        return json(err.status, obErrorResponse(err, family, call.interactionId));
      }
    },
  };
}
