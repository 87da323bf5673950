/**
 * The consent step: a PSU token's call of an API whose consents OpenDCR serves is held to the
 * token's consent (docs/consents.md#the-gateway-holds-every-call-to-its-consent): it stands (this
 * application's, authorised, this PSU's, not past its end, read now), it is of the type the
 * operation needs, it grants the endpoint's permission, and a path's account is one the PSU chose.
 * What a body must repeat is checked by the forward step, which reads the body.
 *
 * The consents are kept in a small cache. That is sound because an authorised consent never changes
 * but by leaving AUTH, and every way out of AUTH revokes its tokens on every host at once (the
 * token step's revocation marks); the cache only saves a database read per call.
 */
import { tokenRefusal } from '../../consent/authorisation.ts';
import { accessRefusal, consentNeed, transactionQuery } from '../../consent/access.ts';
import type { ConsentService } from '../../consent/service.ts';
import { bearerError, fail } from '../../errors/app-error.ts';
import type { ConsentRecord } from '../../storage/consent-records.ts';
import type { Checked } from './call.ts';

export interface ConsentStepDeps {
  readonly consents: Pick<ConsentService, 'current'>;
  readonly cache: ConsentCache;
  /** Epoch milliseconds. */
  readonly now: () => number;
}

export interface ConsentCache {
  get(id: string, now: number): ConsentRecord | undefined;
  set(c: ConsentRecord, now: number): void;
}

/** At most `maxEntries` authorised consents, each for `maxAgeMs`. */
export function createConsentCache(opts: { maxEntries: number; maxAgeMs: number }): ConsentCache {
  const entries = new Map<string, { c: ConsentRecord; until: number }>();
  return {
    get(id, now) {
      const e = entries.get(id);
      if (!e) return undefined;
      if (e.until <= now) {
        entries.delete(id);
        return undefined;
      }
      return e.c;
    },
    set(c, now) {
      if (c.status !== 'AUTH' || c.deletedAt !== null) return;
      if (entries.size >= opts.maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(c.id, { c, until: now + opts.maxAgeMs });
    },
  };
}

/** The path's parameters by name: the operation's template laid over the path the route built. */
export function pathParams(template: string, rest: string): Record<string, string> {
  const names = template.split('/');
  const values = rest.split('/');
  const out: Record<string, string> = {};
  names.forEach((n, i) => {
    const m = /^\{([^}]+)\}$/.exec(n);
    if (m && values[i] !== undefined) out[m[1]!] = decodeURIComponent(values[i]!);
  });
  return out;
}

const REVOKED = 'the consent this token was issued for no longer stands';

/** Holds the call to its consent; passes calls the step does not concern (client credentials, APIs whose consents are elsewhere). */
export async function consent(deps: ConsentStepDeps, call: Checked): Promise<void> {
  const { match, caller } = call;
  const t = caller.token;
  if (!match.api.serveConsents || t.grant !== 'psu') return;
  if (t.consentId === undefined) throw fail('GATEWAY_CONSENT_MISMATCH', 'the PSU token names no consent of this bank');
  const now = deps.now();
  let c = deps.cache.get(t.consentId, now);
  if (!c || (c.expiresAt !== null && now >= c.expiresAt)) {
    c = await deps.consents.current(t.consentId); // its end applied now, and stored
    if (c) deps.cache.set(c, now);
  }
  if (!c || c.keyManager !== t.keyManager || tokenRefusal(c, { clientId: t.clientId, subject: t.subject }) !== undefined) {
    throw bearerError('GATEWAY_TOKEN_REVOKED', REVOKED);
  }
  const need = consentNeed(match.operation.method, match.operation.path);
  const refused = accessRefusal(c, { need, params: pathParams(match.operation.path, match.rest) });
  if (refused) throw fail(refused.code, refused.description);
  // Transactions only within the consent's window: the query the backend gets says so.
  if (need?.use === 'read' && need.transactions) {
    const q = transactionQuery(c, call.query);
    if (typeof q !== 'string') throw fail(q.code, q.description, q.path === undefined ? {} : { field: q.path });
    call.query = q;
  }
  call.consent = { record: c, need: need! };
}
