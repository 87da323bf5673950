/**
 * The consent resources served by OpenDCR (docs/consents.md): create a consent from a TPP's
 * request, read it, delete it. The caller (the gateway) has checked the token, its scope, the TPP's
 * role, its subscription, the plan, the idempotency key and the request signature; this service
 * holds the consent to its definition and its rules, keeps it, and answers in the OB shape.
 */
import { randomUUID } from 'node:crypto';
import type { ConsentDayCount, ConsentEvent, ConsentQuery, ConsentRecord, ConsentStatus, EventNotice } from '../storage/consent-records.ts';
import type { ConsentStore } from '../storage/ports.ts';
import { type ConsentKindDef, type ConsentOperation, kindDef } from './kinds.ts';
import { ConsentRefusal, obErrorResponse } from './ob-errors.ts';
import { at, ruleProblems, timeOf } from './rules.ts';
import { problemsOf, requestAndSchemas, type DocumentSchemas } from './schemas.ts';
import { nextStatus, wireStatus } from './status.ts';
import type { AccessRefusal } from './access.ts';
import { apiFamily, type ConsentAnswer, type ConsentApi } from './api.ts';

export { apiFamily, type ConsentAnswer, type ConsentApi };
import { revocationNotice } from './notices.ts';
import { LEDGER_HORIZON, vrpLimitRefusal, type VrpInstruction } from './vrp.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One call of a consent operation. */
export interface ConsentCall {
  readonly operation: ConsentOperation;
  readonly api: ConsentApi;
  /** The ConsentId of the path (get, delete). */
  readonly consentId?: string;
  /** The request body as sent (create). */
  readonly body: Buffer;
  /** The application: the key manager that validated the token, and the client id. */
  readonly keyManager: string;
  readonly clientId: string;
  readonly interactionId: string;
}

export interface ConsentServiceDeps {
  readonly store: ConsentStore;
  /** The request validators of an API's current definition. */
  readonly schemas: (api: ConsentApi) => Promise<DocumentSchemas>;
  /** The public base URL (`https://bank.example`), for Links.Self. */
  readonly baseUrl: string;
  /** The issuer of the event notices (the key manager's issuer). */
  readonly issuer: string;
  /** Epoch milliseconds. */
  readonly now: () => number;
  readonly newId?: () => string;
  /**
   * Told when an authorised consent stops standing (revoked, expired, consumed, rejected, deleted):
   * its tokens are revoked there. Its status is stored first, and every token check reads it, so a
   * failure here leaves no token usable; it must not throw.
   */
  readonly onEnded?: (consent: ConsentRecord) => Promise<void>;
  /** Told every change that was stored (the audit log line). Must not throw. */
  readonly onChanged?: (event: ConsentEvent, consent: ConsentRecord) => void;
  /** Runs `work` as one transaction of the store (a VRP payment's limits checked and the payment counted together). */
  readonly transaction: <T>(op: string, work: (tx: { readonly consents: ConsentStore }) => Promise<T>) => Promise<T>;
}

/** The PSU's decision on a consent, taken on the bank's consent page. */
export interface PsuDecision {
  readonly psu: string;
  /** Approval: the accounts the PSU selected (AIS) or the account to pay from or check (the others). */
  readonly accounts?: readonly string[];
  /** Approval: the OAuth grant the authorisation creates. */
  readonly grantId?: string;
  /** Refusal: why (an OBExternalStatusReason1Code or a short word). */
  readonly reason?: string;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

export interface ConsentService {
  serve(call: ConsentCall): Promise<ConsentAnswer>;
  /** Reads a consent as the clock says it is now: an AUTH past its end is EXPD, an AWAU past its wait RJCT (stored so). */
  current(id: string): Promise<ConsentRecord | undefined>;
  /**
   * AWAU → AUTH with the PSU, the accounts and the grant, if `consent` (as read) is still that
   * version: of two approvals racing, one wins; the other gets undefined and must drop its grant.
   */
  authorise(consent: ConsentRecord, decision: PsuDecision): Promise<ConsentRecord | undefined>;
  /** AWAU → RJCT by the PSU (or the bank's rules), if still that version; undefined when another change won. */
  reject(consent: ConsentRecord, decision: PsuDecision, actor?: 'psu' | 'bank'): Promise<ConsentRecord | undefined>;
  /**
   * AUTH → COND: the payment consent's order was accepted (by the TPP `clientId`). Undefined when
   * the consent is no longer authorised (another order consumed it, or it ended).
   */
  consume(id: string, clientId: string): Promise<ConsentRecord | undefined>;
  /**
   * Bank staff stop a consent: an authorised long-lived one is revoked (CANC), one awaiting
   * authorisation rejected (RJCT). `refused` when its status allows neither (a payment consent
   * once authorised, or one already final or deleted); undefined when there is no such consent.
   */
  stopByStaff(id: string, staff: string, reason: string | undefined): Promise<ConsentRecord | { refused: string } | undefined>;
  /**
   * The PSU `psu` stops sharing: their own authorised long-lived consent is revoked (CANC) and its
   * TPP told by an event notice stored with the change. `refused` when it is not theirs to stop
   * (another PSU's and an unknown one are both undefined: a PSU learns nothing of others' consents).
   */
  revokeByPsu(id: string, psu: string): Promise<ConsentRecord | { refused: string } | undefined>;
  /** Consents as the listing filters say (newest first), each as it is now. */
  list(query: ConsentQuery): Promise<ConsentRecord[]>;
  /** History rows since `since` (epoch ms) counted by UTC day, change and actor. */
  dayCounts(since: number): Promise<ConsentDayCount[]>;
  history(id: string): Promise<ConsentEvent[]>;
  /**
   * Counts a VRP payment of `instruction` against the consent's control parameters, in one
   * transaction with the check (the consent's row locked): the payment's id when it fits, else
   * the refusal. Of payments racing on one consent, on any host, no two fit where one does.
   */
  reserveVrpPayment(consent: ConsentRecord, instruction: VrpInstruction): Promise<{ paymentId: string } | AccessRefusal>;
  /** Stops counting a payment the backend refused. */
  releaseVrpPayment(consentId: string, paymentId: string): Promise<void>;
}

export function createConsentService(deps: ConsentServiceDeps): ConsentService {
  const newId = deps.newId ?? randomUUID;
  /** Every change goes through here: stored with its event, then told (the audit line). */
  const transition = async (c: ConsentRecord, change: Parameters<ConsentServiceDeps['store']['transition']>[2], event: ConsentEvent, notice?: EventNotice) => {
    const changed = await deps.store.transition(c.id, c.version, change, event, notice);
    if (changed) deps.onChanged?.(event, changed);
    return changed;
  };

  /** Applies what time has done to the consent (expiry, an abandoned authorisation), stored with its history. */
  /** What the clock has done to `c` by `now`: its end passed (EXPD, TKXP) or its wait (RJCT, U036), else nothing. */
  function dueChange(c: ConsentRecord, now: number): { to: ConsentStatus; reason: string } | undefined {
    if (c.deletedAt !== null) return undefined;
    if (c.status === 'AUTH' && c.expiresAt !== null && now >= c.expiresAt) {
      const to = nextStatus(c.kind, c.status, 'expire');
      return to ? { to, reason: 'TKXP' } : undefined;
    }
    if (c.status === 'AWAU' && now >= c.createdAt + kindDef(c.kind).awaitingLifetime * 1000) {
      const to = nextStatus(c.kind, c.status, 'reject');
      return to ? { to, reason: 'U036' } : undefined;
    }
    return undefined;
  }

  async function current(id: string): Promise<ConsentRecord | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const c = await deps.store.get(id);
      if (!c) return c;
      const now = deps.now();
      const due = dueChange(c, now);
      if (!due) return c;
      const { to, reason } = due;
      const event: ConsentEvent = { consentId: c.id, at: now, from: c.status, to, actor: 'system', actorId: null, reason };
      const changed = await transition(c, { status: to, at: now }, event);
      if (changed) {
        await ended(changed);
        return changed;
      }
      // Another change won: read it again.
    }
    return deps.store.get(id);
  }

  /** Revokes the tokens of a consent that was authorised and no longer stands. */
  async function ended(c: ConsentRecord): Promise<void> {
    if (c.grantId !== null && (c.status !== 'AUTH' || c.deletedAt !== null)) await deps.onEnded?.(c);
  }

  function representation(c: ConsentRecord, api: ConsentApi, def: ConsentKindDef): Json {
    const family = apiFamily(api);
    return {
      Data: {
        ConsentId: c.id,
        CreationDateTime: iso(c.createdAt),
        Status: wireStatus(c.kind, c.status, family),
        StatusUpdateDateTime: iso(c.statusUpdatedAt),
        ...c.data,
      },
      ...(def.risk ? { Risk: c.risk ?? {} } : {}),
      Links: { Self: `${deps.baseUrl}${api.context}${def.resource}/${encodeURIComponent(c.id)}` },
      Meta: { TotalPages: 1 },
    };
  }

  const json = (status: number, value: Json): ConsentAnswer => ({
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: Buffer.from(JSON.stringify(value)),
  });

  /** The caller's own, live consent of this kind; another application's, a deleted or an unknown one are all "not found". */
  async function owned(call: ConsentCall, def: ConsentKindDef): Promise<ConsentRecord> {
    const id = call.consentId ?? '';
    const c = id.length > 0 && id.length <= 128 ? await current(id) : undefined;
    if (!c || c.deletedAt !== null || c.kind !== def.kind || c.keyManager !== call.keyManager || c.clientId !== call.clientId) {
      throw new ConsentRefusal('CONSENT_NOT_FOUND', 'no consent with this ConsentId exists for this application');
    }
    return c;
  }

  async function create(call: ConsentCall, def: ConsentKindDef): Promise<ConsentAnswer> {
    const { body, schemas } = await requestAndSchemas(call.body, 'CONSENT_INVALID', () => deps.schemas(call.api));
    const validate = schemas.requestValidator('POST', def.resource);
    if (!validate) throw new ConsentRefusal('CONSENT_METHOD_UNSUPPORTED', 'this API definition declares no request body for the consent');
    const problems = problemsOf(validate, body);
    const now = deps.now();
    if (problems.length === 0 && isObject(body) && isObject(body['Data'])) problems.push(...ruleProblems(def.kind, body['Data'] as Json, now));
    if (problems.length > 0 || !isObject(body) || !isObject(body['Data'])) {
      throw new ConsentRefusal('CONSENT_INVALID', 'the consent request is not valid', problems);
    }
    const data = body['Data'] as Json;
    const expiry = def.expiry ? timeOf(at(data, def.expiry)) : undefined;
    const record: ConsentRecord = {
      id: newId(),
      kind: def.kind,
      apiVersion: apiFamily(call.api),
      keyManager: call.keyManager,
      clientId: call.clientId,
      status: 'AWAU',
      data,
      risk: def.risk && isObject(body['Risk']) ? (body['Risk'] as Json) : null,
      psu: null,
      accounts: [],
      grantId: null,
      createdAt: now,
      statusUpdatedAt: now,
      expiresAt: expiry ?? null,
      deletedAt: null,
      apiContext: call.api.context,
      version: 1,
    };
    const created: ConsentEvent = { consentId: record.id, at: now, from: null, to: 'AWAU', actor: 'tpp', actorId: call.clientId, reason: null };
    await deps.store.create(record, created);
    deps.onChanged?.(created, record);
    return json(201, representation(record, call.api, def));
  }

  async function remove(call: ConsentCall, def: ConsentKindDef): Promise<ConsentAnswer> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const c = await owned(call, def);
      const now = deps.now();
      const event: ConsentEvent = { consentId: c.id, at: now, from: c.status, to: c.status, actor: 'tpp', actorId: call.clientId, reason: 'deleted' };
      const changed = await transition(c, { status: c.status, deletedAt: now, at: c.statusUpdatedAt }, event);
      if (changed) {
        await ended(changed);
        return { status: 204, headers: {}, body: Buffer.alloc(0) };
      }
    }
    throw new ConsentRefusal('CONSENT_NOT_FOUND', 'no consent with this ConsentId exists for this application');
  }

  async function decide(consent: ConsentRecord, to: 'authorise' | 'reject', decision: PsuDecision, actor: 'psu' | 'bank'): Promise<ConsentRecord | undefined> {
    const status = consent.status === 'AWAU' ? nextStatus(consent.kind, consent.status, to) : undefined;
    if (!status || consent.deletedAt !== null) return undefined;
    const now = deps.now();
    const event: ConsentEvent = {
      consentId: consent.id,
      at: now,
      from: consent.status,
      to: status,
      actor,
      actorId: decision.psu,
      reason: decision.reason ?? null,
    };
    const change =
      to === 'authorise'
        ? { status, at: now, psu: decision.psu, accounts: [...(decision.accounts ?? [])], grantId: decision.grantId ?? null }
        : { status, at: now, psu: decision.psu };
    return transition(consent, change, event);
  }

  async function consume(id: string, clientId: string): Promise<ConsentRecord | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const c = await current(id);
      const to = c && c.deletedAt === null ? nextStatus(c.kind, c.status, 'consume') : undefined;
      if (!c || !to) return undefined;
      const now = deps.now();
      const changed = await transition(
        c,
        { status: to, at: now },
        { consentId: c.id, at: now, from: c.status, to, actor: 'tpp', actorId: clientId, reason: 'order' },
      );
      if (changed) {
        await ended(changed);
        return changed;
      }
    }
    return undefined;
  }

  /**
   * Stops `c` for `actor` (staff or the PSU): an authorised long-lived consent is revoked (CANC)
   * with a notice for its TPP in the same write, one awaiting authorisation (staff only) rejected.
   */
  async function stop(
    id: string,
    actor: { kind: 'staff' | 'psu'; id: string; reason: string | null },
    mine: (c: ConsentRecord) => boolean,
  ): Promise<ConsentRecord | { refused: string } | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const c = await current(id);
      if (!c || !mine(c)) return undefined;
      const event = c.status === 'AWAU' && actor.kind === 'staff' ? 'reject' : 'revoke';
      const to = c.deletedAt === null && (c.status === 'AUTH' || actor.kind === 'staff') ? nextStatus(c.kind, c.status, event) : undefined;
      if (!to) {
        return { refused: c.deletedAt !== null ? 'the TPP has deleted this consent' : `a ${c.kind} consent in status ${c.status} cannot be stopped` };
      }
      const now = deps.now();
      const notice = to === 'CANC' ? revocationNotice(c, { issuer: deps.issuer, baseUrl: deps.baseUrl, at: now, jti: newId() }) : undefined;
      const changed = await transition(
        c,
        { status: to, at: now },
        { consentId: c.id, at: now, from: c.status, to, actor: actor.kind, actorId: actor.id, reason: actor.reason },
        notice,
      );
      if (changed) {
        await ended(changed);
        return changed;
      }
    }
    return { refused: 'the consent kept changing; try again' };
  }

  async function reserveVrpPayment(consent: ConsentRecord, instruction: VrpInstruction): Promise<{ paymentId: string } | AccessRefusal> {
    const paymentId = newId();
    return deps.transaction('consents.reserveVrpPayment', async (tx) => {
      const now = deps.now();
      const past = await tx.consents.vrpPayments(consent.id, now - LEDGER_HORIZON, true);
      const refused = vrpLimitRefusal(consent, instruction, now, past);
      if (refused) return refused;
      await tx.consents.addVrpPayment({ consentId: consent.id, paymentId, units: String(instruction.amount), currency: String(instruction.currency), at: now });
      return { paymentId };
    });
  }

  return {
    current,
    consume,
    stopByStaff: (id, staff, reason) => stop(id, { kind: 'staff', id: staff, reason: reason ?? null }, () => true),
    revokeByPsu: (id, psu) => stop(id, { kind: 'psu', id: psu, reason: 'psu' }, (c) => c.psu === psu && c.deletedAt === null),
    dayCounts: (since) => deps.store.dayCounts(since),
    reserveVrpPayment,
    releaseVrpPayment: async (consentId, paymentId) => {
      await deps.store.removeVrpPayment(consentId, paymentId);
    },
    // Only a consent the clock has changed is read again (and stored so); the rest are as listed.
    list: async (query) => Promise.all((await deps.store.list(query)).map(async (c) => (dueChange(c, deps.now()) ? ((await current(c.id)) ?? c) : c))),
    history: (id) => deps.store.history(id),
    authorise: (consent, decision) => decide(consent, 'authorise', decision, 'psu'),
    reject: (consent, decision, actor = 'psu') => decide(consent, 'reject', decision, actor),
    async serve(call) {
      const family = apiFamily(call.api);
      const { def } = call.operation;
      try {
        switch (call.operation.action) {
          case 'create':
            return await create(call, def);
          case 'get':
            return json(200, representation(await owned(call, def), call.api, def));
          case 'delete':
            return await remove(call, def);
        }
      } catch (err) {
        if (!(err instanceof ConsentRefusal)) throw err;
        return json(err.status, obErrorResponse(err, family, call.interactionId));
      }
    },
  };
}
