/**
 * The operator's REST API for Open Banking consents (docs/consents.md#bank-staff): list them by
 * TPP, PSU, type and status, read one with its whole history, and stop one (bank staff revoke an
 * authorised consent, or reject one still awaiting authorisation), which revokes its tokens on
 * every host. Admin credentials required; errors are `{code, message, traceId}` like every
 * operations API; an auditor of the console may read, not stop.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ConsentService } from '../consent/service.ts';
import { fail } from '../errors/app-error.ts';
import { errorHandler } from '../http/error-handler.ts';
import type { RouteGuard } from '../http/guard.ts';
import { parseBody } from '../http/parse-body.ts';
import {
  CONSENT_KINDS,
  CONSENT_STATUSES,
  type ConsentEvent,
  type ConsentKind,
  type ConsentQuery,
  type ConsentRecord,
  type ConsentStatus,
} from '../storage/consent-records.ts';
import { OPERATIONS_API } from './operations-routes.ts';
import type { ConsoleSession } from './sessions.ts';

const LIMIT_DEFAULT = 100;
const LIMIT_MAX = 500;
const stopBody = z.strictObject({ reason: z.string().min(1).max(200).optional() });

const isoMs = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A consent as the operations API shows it. */
export function consentDto(c: ConsentRecord) {
  return {
    consentId: c.id,
    type: c.kind,
    status: c.status,
    apiVersion: c.apiVersion,
    keyManager: c.keyManager,
    clientId: c.clientId,
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

type ListQuery = { client_id?: string; key_manager?: string; psu?: string; status?: string; type?: string; deleted?: string; limit?: string; before?: string };

export function consentRoutes(deps: { consents: Pick<ConsentService, 'list' | 'current' | 'history' | 'stopByStaff'>; requireAdmin: RouteGuard }) {
  const { consents } = deps;
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', deps.requireAdmin);
    app.setErrorHandler(errorHandler('admin'));

    app.get<{ Querystring: ListQuery }>(`${OPERATIONS_API}/consents`, async (req) => {
      const q = req.query;
      const limit = q.limit === undefined ? LIMIT_DEFAULT : Number(q.limit);
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIMIT_MAX) throw fail('MALFORMED_REQUEST', `limit is a whole number from 1 to ${LIMIT_MAX}`);
      if (q.deleted !== undefined && q.deleted !== 'true' && q.deleted !== 'false') throw fail('MALFORMED_REQUEST', 'deleted is true or false');
      for (const [name, v] of [
        ['client_id', q.client_id],
        ['key_manager', q.key_manager],
        ['psu', q.psu],
      ] as const) {
        if (v !== undefined && (v.length === 0 || v.length > 256)) throw fail('MALFORMED_REQUEST', `${name} is 1 to 256 characters`);
      }
      const status = oneOf<ConsentStatus>(q.status, CONSENT_STATUSES, 'status');
      const kind = oneOf<ConsentKind>(q.type, CONSENT_KINDS, 'type');
      const query: ConsentQuery = {
        limit: limit + 1,
        ...(q.client_id === undefined ? {} : { clientId: q.client_id }),
        ...(q.key_manager === undefined ? {} : { keyManager: q.key_manager }),
        ...(q.psu === undefined ? {} : { psu: q.psu }),
        ...(status ? { status } : {}),
        ...(kind ? { kind } : {}),
        ...(q.deleted === 'true' ? { deleted: true } : {}),
        ...(q.before === undefined ? {} : { before: parseCursor(q.before) }),
      };
      const found = await consents.list({ ...query, limit: Math.min(limit + 1, LIMIT_MAX) });
      const page = found.slice(0, limit);
      return { count: page.length, list: page.map(consentDto), ...(found.length > limit ? { next: cursorOf(page.at(-1)!) } : {}) };
    });

    app.get<{ Params: { id: string } }>(`${OPERATIONS_API}/consents/:id`, async (req) => {
      const c = req.params.id.length <= 128 ? await consents.current(req.params.id) : undefined;
      if (!c) throw fail('CONSENT_UNKNOWN', 'no consent with that id');
      return { ...consentDto(c), history: (await consents.history(c.id)).map(eventDto) };
    });

    app.post<{ Params: { id: string }; Body: unknown }>(`${OPERATIONS_API}/consents/:id/stop`, async (req) => {
      const body = parseBody(stopBody, req.body ?? {});
      const result = req.params.id.length <= 128 ? await consents.stopByStaff(req.params.id, actingAdmin(req), body.reason) : undefined;
      if (!result) throw fail('CONSENT_UNKNOWN', 'no consent with that id');
      if ('refused' in result) throw fail('CONSENT_NOT_STOPPABLE', result.refused);
      return { ...consentDto(result), history: (await consents.history(result.id)).map(eventDto) };
    });
  };
}
