/**
 * The operations API's console views, beside operations-routes.ts: the server's status
 * (storage, shared state, remote key sets, signing keys), the usage series the dashboard charts,
 * and one registration in full (SSA claims decoded, certificate subject, key set and its last
 * fetch, tokens issued) with its removal by an administrator. Admin credentials required.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { fail } from '../errors/app-error.ts';
import { meaningOf } from '../errors/codes.ts';
import { errorHandler } from '../http/error-handler.ts';
import type { Storage } from '../storage/ports.ts';
import type { SharedState } from '../shared-state/ports.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import type { KeyManager } from '../crypto/keys.ts';
import type { ClientService } from '../oauth/clients.ts';
import type { DcrService } from '../dcr/service.ts';
import { USAGE_KINDS, type UsageRecorder } from '../observability/usage.ts';
import type { Config } from '../config/schema.ts';
import type { ConsoleSession } from './sessions.ts';
import { iso, OPERATIONS_API } from './operations-routes.ts';
import type { RouteGuard } from '../http/guard.ts';

const isoMs = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** Client metadata an operator may see: never a secret or a registration access token. */
const HIDDEN = /secret|registration_access_token/i;

function boundedInt(value: string | undefined, fallback: number, max: number, what: string): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > max) throw fail('MALFORMED_REQUEST', `${what} is a whole number from 1 to ${max}`);
  return Number(value);
}

function decodeSsa(ssa: string): { header: Record<string, unknown>; claims: Record<string, unknown> } | null {
  try {
    // Verified when it was registered; decoded here to be shown.
    return { header: decodeProtectedHeader(ssa) as Record<string, unknown>, claims: decodeJwt(ssa) as Record<string, unknown> };
  } catch {
    return null;
  }
}

export function consoleApiRoutes(deps: {
  config: Config;
  storage: Storage;
  shared: SharedState | undefined;
  keySets: JwksCache;
  keys: KeyManager;
  clients: ClientService;
  dcr: DcrService;
  usage: UsageRecorder;
  requireAdmin: RouteGuard;
}) {
  const { storage } = deps;
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', deps.requireAdmin);
    app.setErrorHandler(errorHandler('admin'));
    app.addHook('onSend', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
    });

    app.get(`${OPERATIONS_API}/status`, async () => {
      const [db, shared, keys] = await Promise.all([
        storage.ping().then(
          () => true,
          () => false,
        ),
        deps.shared
          ? deps.shared.ping().then(
              () => true,
              () => false,
            )
          : Promise.resolve(true),
        deps.keys.list(),
      ]);
      return {
        mode: deps.config.server.mode,
        roles: deps.config.server.roles,
        storage: { kind: storage.kind, ok: db },
        sharedState: { kind: deps.shared?.kind ?? 'memory', ok: shared },
        // What this process holds; each worker and host fetches its own.
        keySets: deps.keySets.status().map((k) => ({
          url: k.url,
          fetches: k.fetches,
          keys: k.keys,
          fetchedAt: isoMs(k.fetchedAt),
          lastError: k.lastError ? { at: isoMs(k.lastError.at), message: k.lastError.message } : null,
        })),
        signingKeys: keys.filter((k) => k.retiredAt === null).map((k) => ({ kid: k.kid, alg: k.alg, createdAt: iso(k.createdAt) })),
      };
    });

    // The dashboard's series: registrations per hour (audit trail) and the usage counts per minute.
    app.get<{ Querystring: { hours?: string; minutes?: string } }>(`${OPERATIONS_API}/usage`, async (req) => {
      const hours = boundedInt(req.query.hours, 24, 168, 'hours');
      const minutes = boundedInt(req.query.minutes, 60, 1440, 'minutes');
      // This worker's latest counts first, so what was just done shows (other workers within 10 s).
      await deps.usage.flush().catch(() => undefined);
      const now = Math.floor(Date.now() / 1000);
      const hourSince = now - (now % 3600) - (hours - 1) * 3600;
      const minuteSince = now - (now % 60) - (minutes - 1) * 60;
      const [registrations, tokens, calls, throttled] = await Promise.all([
        storage.audit.histogram({ since: hourSince, bucketSeconds: 3600 }),
        storage.usage.series(USAGE_KINDS.tokens, minuteSince),
        storage.usage.series(USAGE_KINDS.gatewayCalls, minuteSince),
        storage.usage.series(USAGE_KINDS.gatewayThrottled, minuteSince),
      ]);
      const rows = (list: { bucket: number; key: string; count: number }[]) => list.map((r) => ({ at: iso(r.bucket), key: r.key, count: r.count }));
      return {
        registrations: {
          bucketSeconds: 3600,
          since: iso(hourSince),
          rows: registrations.map((r) => ({ at: iso(r.bucket), event: r.event, code: r.code, meaning: meaningOf(r.code), count: r.count })),
        },
        tokens: { bucketSeconds: 60, since: iso(minuteSince), rows: rows(tokens) },
        gateway: { bucketSeconds: 60, since: iso(minuteSince), calls: rows(calls), throttled: rows(throttled) },
      };
    });

    app.get<{ Params: { clientId: string } }>(`${OPERATIONS_API}/registrations/:clientId`, async (req) => {
      const clientId = req.params.clientId.slice(0, 255);
      const r = await storage.registrations.get(clientId);
      if (!r) throw fail('APPLICATION_NOT_FOUND', 'no registration with that client id');
      const [client, tokensIssued] = await Promise.all([deps.clients.find(clientId), storage.usage.total(USAGE_KINDS.clientTokens, clientId)]);
      const ssa = decodeSsa(r.softwareStatement);
      const metadata = Object.fromEntries(Object.entries(client ?? {}).filter(([k]) => !HIDDEN.test(k)));
      const keySetUrl =
        typeof metadata['jwks_uri'] === 'string'
          ? metadata['jwks_uri']
          : typeof ssa?.claims['software_jwks_endpoint'] === 'string'
            ? ssa.claims['software_jwks_endpoint']
            : null;
      const fetched = keySetUrl ? deps.keySets.status(keySetUrl)[0] : undefined;
      return {
        clientId: r.clientId,
        softwareId: r.softwareId,
        orgId: r.orgId,
        roles: r.roles,
        environment: r.environment,
        dcrVersion: r.version,
        createdAt: iso(r.createdAt),
        updatedAt: iso(r.updatedAt),
        softwareName: typeof ssa?.claims['software_client_name'] === 'string' ? ssa.claims['software_client_name'] : null,
        orgName: typeof ssa?.claims['org_name'] === 'string' ? ssa.claims['org_name'] : null,
        ssa,
        metadata,
        // The transport certificate the TPP registered (or last updated) over.
        certificateSubject: r.certificateSubject ?? null,
        keySet:
          keySetUrl === null
            ? null
            : {
                url: keySetUrl,
                // This process's cache: a key set is fetched when a request signed with it is checked.
                fetchedAt: isoMs(fetched?.fetchedAt),
                fetches: fetched?.fetches ?? 0,
                keys: fetched?.keys ?? null,
                lastError: fetched?.lastError ? { at: isoMs(fetched.lastError.at), message: fetched.lastError.message } : null,
              },
        tokensIssued,
      };
    });

    app.delete<{ Params: { clientId: string } }>(`${OPERATIONS_API}/registrations/:clientId`, async (req, reply) => {
      const session = (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession;
      const by = session?.user ?? deps.config.super_admin.username;
      if (!(await deps.dcr.removeAsAdministrator(req.params.clientId.slice(0, 255), by)))
        throw fail('APPLICATION_NOT_FOUND', 'no registration with that client id');
      return reply.code(200).send({ deleted: true });
    });
  };
}
