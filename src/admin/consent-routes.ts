/**
 * The operator's REST API for Open Banking consents (docs/consents.md#bank-staff): find them by
 * consent id, TPP (client id, software id, organisation or name), PSU, type, status and creation
 * date; read one with its whole history and the tokens it has; stop one (bank staff revoke an
 * authorised consent, or reject one still awaiting authorisation), which revokes its tokens on
 * every host and tells its TPP (docs/events.md); and the figures of every day. Admin or customer
 * care credentials required; errors are `{code, message, traceId}` like every operations API; an
 * auditor of the console may read, not stop.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ConsentService } from '../consent/service.ts';
import type { OidcModelStore } from '../storage/ports.ts';
import type { TppLookup, TppSummary } from './tpp-lookup.ts';
import { fail } from '../errors/app-error.ts';
import { errorHandler } from '../http/error-handler.ts';
import type { RouteGuard } from '../http/guard.ts';
import { parseBody } from '../http/parse-body.ts';
import {
  CONSENT_KINDS,
  CONSENT_STATUSES,
  type ConsentDayCount,
  type ConsentEvent,
  type ConsentKind,
  type ConsentQuery,
  type ConsentRecord,
  type ConsentStatus,
} from '../storage/consent-records.ts';
import { CONSENT_CLIENT_IDS_MAX } from '../storage/consent-query.ts';
import { OPERATIONS_API } from './operations-routes.ts';
import type { ConsoleSession } from './sessions.ts';

const LIMIT_DEFAULT = 100;
const LIMIT_MAX = 500;
const stopBody = z.strictObject({ reason: z.string().min(1).max(200).optional() });

const isoMs = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A consent as the operations API shows it (`tpp`: its application, when this server registered it). */
export function consentDto(c: ConsentRecord, tpp?: TppSummary | null) {
  return {
    consentId: c.id,
    type: c.kind,
    status: c.status,
    apiVersion: c.apiVersion,
    keyManager: c.keyManager,
    clientId: c.clientId,
    ...(tpp === undefined ? {} : { tpp: tpp === null ? null : { name: tpp.name, softwareId: tpp.softwareId, orgId: tpp.orgId } }),
    psu: c.psu,
    accounts: c.accounts,
    createdAt: isoMs(c.createdAt),
    statusUpdatedAt: isoMs(c.statusUpdatedAt),
    expiresAt: isoMs(c.expiresAt),
    deletedAt: isoMs(c.deletedAt),
    data: c.data,
    risk: c.risk,
  };
}

const eventDto = (e: ConsentEvent) => ({ at: isoMs(e.at), from: e.from, to: e.to, actor: e.actor, actorId: e.actorId, reason: e.reason });

/** The page after `c` in a listing: its creation time and id, as one opaque token. */
const cursorOf = (c: ConsentRecord) => Buffer.from(`${c.createdAt}.${c.id}`).toString('base64url');
function parseCursor(token: string): { createdAt: number; id: string } {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const dot = text.indexOf('.');
  const createdAt = Number(text.slice(0, dot));
  if (dot < 1 || !Number.isSafeInteger(createdAt) || text.length > 200) throw fail('MALFORMED_REQUEST', 'before is the next token of an earlier page');
  return { createdAt, id: text.slice(dot + 1) };
}

/** Who acts: the console user, or the Basic user (the super administrator). */
function actingAdmin(req: FastifyRequest): string {
  const session = (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession;
  if (session) return session.user;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '');
  const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
  return decoded.slice(0, Math.max(0, decoded.indexOf(':'))) || 'admin';
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw fail('MALFORMED_REQUEST', `${what} is one of ${allowed.join(', ')}`);
  return value as T;
}

type ListQuery = {
  consent_id?: string;
  client_id?: string;
  tpp?: string;
  key_manager?: string;
  psu?: string;
  status?: string;
  type?: string;
  from?: string;
  to?: string;
  deleted?: string;
  limit?: string;
  before?: string;
};

const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;
/** A `from`/`to` of a listing: an ISO date (midnight UTC) or date-time with its offset, as epoch ms. */
function instant(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = DATE.test(value) ? Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value) : Number.NaN;
  if (!Number.isFinite(ms)) throw fail('MALFORMED_REQUEST', `${what} is an ISO 8601 date (2026-12-31) or date-time with its offset (2026-12-31T09:00:00Z)`);
  return ms;
}

const DAY_MS = 86_400_000;
const FIGURE_DAYS_MAX = 90;

/** The figures of each day from `since` (UTC midnight), zeros included, from the history's counts. */
export function dailyFigures(counts: readonly ConsentDayCount[], since: number, days: number) {
  const blank = () => ({ created: 0, authorised: 0, rejected: 0, revoked: { psu: 0, staff: 0, tpp: 0 }, expired: 0, consumed: 0 });
  const byDay = new Map<number, ReturnType<typeof blank>>();
  for (let i = 0; i < days; i++) byDay.set(since + i * DAY_MS, blank());
  for (const c of counts) {
    const f = byDay.get(c.day);
    if (!f) continue;
    if (c.from === null) f.created += c.count;
    else if (c.to === 'AUTH' && c.from === 'AWAU') f.authorised += c.count;
    else if (c.to === 'RJCT') f.rejected += c.count;
    else if (c.to === 'CANC' && c.from === 'AUTH' && (c.actor === 'psu' || c.actor === 'staff')) f.revoked[c.actor] += c.count;
    // The TPP's deletion of an authorised consent keeps its status: that is the TPP revoking it.
    else if (c.actor === 'tpp' && c.from === 'AUTH' && c.to === 'AUTH') f.revoked.tpp += c.count;
    else if (c.to === 'EXPD') f.expired += c.count;
    else if (c.to === 'COND') f.consumed += c.count;
  }
  return [...byDay].map(([day, f]) => ({ day: new Date(day).toISOString().slice(0, 10), ...f }));
}

export function consentRoutes(deps: {
  consents: Pick<ConsentService, 'list' | 'current' | 'history' | 'stopByStaff' | 'dayCounts'>;
  tpps: TppLookup;
  oidc: Pick<OidcModelStore, 'grantRecords'>;
  /** Epoch milliseconds. */
  now: () => number;
  requireAdmin: RouteGuard;
}) {
  const { consents } = deps;
  /** Each consent with its application, each application read once. */
  async function withTpps(list: readonly ConsentRecord[]) {
    const tpps = new Map<string, Promise<TppSummary | undefined>>();
    return Promise.all(
      list.map(async (c) => {
        const t = tpps.get(c.clientId) ?? deps.tpps.describe(c.clientId);
        tpps.set(c.clientId, t);
        return consentDto(c, (await t) ?? null);
      }),
    );
  }
  async function detail(c: ConsentRecord) {
    const [tpp, history, tokens] = await Promise.all([
      deps.tpps.describe(c.clientId),
      consents.history(c.id),
      c.grantId ? deps.oidc.grantRecords(c.grantId) : [],
    ]);
    return {
      ...consentDto(c, tpp ?? null),
      history: history.map(eventDto),
      // What the consent's grant holds now (JWT access tokens are not stored; they stop with the consent all the same).
      tokens: tokens.map((t) => ({
        kind: t.model,
        issuedAt: t.issuedAt === null ? null : isoMs(t.issuedAt * 1000),
        expiresAt: t.expiresAt === null ? null : isoMs(t.expiresAt * 1000),
      })),
    };
  }
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', deps.requireAdmin);
    app.setErrorHandler(errorHandler('admin'));

    app.get<{ Querystring: ListQuery }>(`${OPERATIONS_API}/consents`, async (req) => {
      const q = req.query;
      const limit = q.limit === undefined ? LIMIT_DEFAULT : Number(q.limit);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIMIT_MAX) throw fail('MALFORMED_REQUEST', `limit is a whole number from 1 to ${LIMIT_MAX}`);
      if (q.deleted !== undefined && q.deleted !== 'true' && q.deleted !== 'false') throw fail('MALFORMED_REQUEST', 'deleted is true or false');
      for (const [name, v] of [
        ['consent_id', q.consent_id],
        ['client_id', q.client_id],
        ['tpp', q.tpp],
        ['key_manager', q.key_manager],
        ['psu', q.psu],
      ] as const) {
        if (v !== undefined && (v.length === 0 || v.length > 256)) throw fail('MALFORMED_REQUEST', `${name} is 1 to 256 characters`);
      }
      const from = instant(q.from, 'from');
      const to = instant(q.to, 'to');
      const tpp = q.tpp === undefined ? undefined : await deps.tpps.find(q.tpp, CONSENT_CLIENT_IDS_MAX);
      const status = oneOf<ConsentStatus>(q.status, CONSENT_STATUSES, 'status');
      const kind = oneOf<ConsentKind>(q.type, CONSENT_KINDS, 'type');
      const query: ConsentQuery = {
        limit: limit + 1,
        ...(q.consent_id === undefined ? {} : { id: q.consent_id }),
        ...(q.client_id === undefined ? {} : { clientId: q.client_id }),
        ...(tpp === undefined ? {} : { clientIds: tpp.clientIds }),
        ...(from === undefined ? {} : { createdFrom: from }),
        ...(to === undefined ? {} : { createdTo: to }),
        ...(q.key_manager === undefined ? {} : { keyManager: q.key_manager }),
        ...(q.psu === undefined ? {} : { psu: q.psu }),
        ...(status ? { status } : {}),
        ...(kind ? { kind } : {}),
        ...(q.deleted === 'true' ? { deleted: true } : {}),
        ...(q.before === undefined ? {} : { before: parseCursor(q.before) }),
      };
      const found = await consents.list({ ...query, limit: Math.min(limit + 1, LIMIT_MAX) });
      const page = found.slice(0, limit);
      return {
        count: page.length,
        list: await withTpps(page),
        ...(found.length > limit ? { next: cursorOf(page.at(-1)!) } : {}),
        // The name search read as many registrations as it may: a narrower one (a client or software id) finds the rest.
        ...(tpp?.truncated ? { tppSearchTruncated: true } : {}),
      };
    });

    // The dashboard's figures: what happened to consents on each of the last `days` days (UTC), from the stored history.
    app.get<{ Querystring: { days?: string } }>(`${OPERATIONS_API}/consent-figures`, async (req) => {
      const raw = req.query.days ?? '30';
      const days = /^\d{1,2}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(days >= 1 && days <= FIGURE_DAYS_MAX)) throw fail('MALFORMED_REQUEST', `days is a whole number from 1 to ${FIGURE_DAYS_MAX}`);
      const today = Math.floor(deps.now() / DAY_MS) * DAY_MS;
      const since = today - (days - 1) * DAY_MS;
      return { since: new Date(since).toISOString(), days: dailyFigures(await consents.dayCounts(since), since, days) };
    });

    app.get<{ Params: { id: string } }>(`${OPERATIONS_API}/consents/:id`, async (req) => {
      const c = req.params.id.length <= 128 ? await consents.current(req.params.id) : undefined;
      if (!c) throw fail('CONSENT_UNKNOWN', 'no consent with that id');
      return detail(c);
    });

    app.post<{ Params: { id: string }; Body: unknown }>(`${OPERATIONS_API}/consents/:id/stop`, async (req) => {
      const body = parseBody(stopBody, req.body ?? {});
      const result = req.params.id.length <= 128 ? await consents.stopByStaff(req.params.id, actingAdmin(req), body.reason) : undefined;
      if (!result) throw fail('CONSENT_UNKNOWN', 'no consent with that id');
      if ('refused' in result) throw fail('CONSENT_NOT_STOPPABLE', result.refused);
      return detail(result);
    });
  };
}
