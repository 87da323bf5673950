/**
 * The operator's REST APIs behind the admin console (the console has no second code path: it
 * calls these) and what the CLI does by hand: the registration audit trail with its reason codes,
 * the trust store (CA certificates for transport certificates), and the signing keys with their
 * rotation. Admin credentials required; errors are `{code, message, traceId}`. Changes are
 * announced, so every worker and host applies them within a notice.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { fail } from '../errors/app-error.ts';
import { meaningOf } from '../errors/codes.ts';
import { errorHandler } from '../http/error-handler.ts';
import { parseBody } from '../http/parse-body.ts';
import type { AuditEventType, Storage } from '../storage/ports.ts';
import type { TrustAnchors } from '../tls/trust-anchors.ts';
import { TruststoreError } from '../tls/truststore.ts';
import type { KeyManager } from '../crypto/keys.ts';
import { ConflictError } from '../storage/ports.ts';
import type { RouteGuard } from '../http/guard.ts';

export const OPERATIONS_API = '/api/opendcr/v1';

const EVENTS: readonly AuditEventType[] = ['created', 'updated', 'deleted', 'rejected'];
const PEM = /^-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*$/;
const anchorBody = z.strictObject({
  pem: z
    .string()
    .min(1)
    .max(64 * 1024),
  name: z.string().min(1).max(100).optional(),
});

/** Epoch seconds as an ISO date-time (null stays null). */
export const iso = (epoch: number | null | undefined): string | null => (epoch === null || epoch === undefined ? null : new Date(epoch * 1000).toISOString());
const seconds = (value: string | undefined, what: string): number | undefined => {
  if (value === undefined || value === '') return undefined;
  const t = /^\d{1,12}$/.test(value) ? Number(value) : Date.parse(value) / 1000;
  if (!Number.isFinite(t)) throw fail('MALFORMED_REQUEST', `${what} is an ISO date-time or epoch seconds`);
  return Math.floor(t);
};

export function operationsRoutes(deps: {
  storage: Storage;
  anchors: TrustAnchors;
  keys: KeyManager;
  requireAdmin: RouteGuard;
  /** Tells every worker and host (trust store reload, key manager rebuild). */
  announce: (what: 'trust' | 'keys') => Promise<void>;
}) {
  const { storage, anchors } = deps;
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', deps.requireAdmin);
    app.setErrorHandler(errorHandler('admin'));

    // The registration audit trail: every outcome, each rejection with its code and what it means.
    app.get<{ Querystring: { event?: string; code?: string; software_id?: string; client_id?: string; since?: string; limit?: string } }>(
      `${OPERATIONS_API}/registrations/audit`,
      async (req) => {
        const q = req.query;
        if (q.event !== undefined && !(EVENTS as readonly string[]).includes(q.event)) throw fail('MALFORMED_REQUEST', `event is one of ${EVENTS.join(', ')}`);
        const limit = Math.min(Math.max(Number(q.limit ?? 100) || 100, 1), 1000);
        const since = seconds(q.since, 'since');
        const events = await storage.audit.list({
          ...(q.event ? { event: q.event as AuditEventType } : {}),
          ...(q.code ? { code: q.code.slice(0, 100) } : {}),
          ...(q.software_id ? { softwareId: q.software_id.slice(0, 255) } : {}),
          ...(q.client_id ? { clientId: q.client_id.slice(0, 255) } : {}),
          ...(since === undefined ? {} : { since }),
          limit,
        });
        return {
          count: events.length,
          list: events.map((e) => ({
            id: e.id,
            at: iso(e.at),
            event: e.event,
            softwareId: e.softwareId,
            orgId: e.orgId,
            clientId: e.clientId,
            version: e.version,
            method: e.method,
            code: e.code,
            reason: e.reason,
            meaning: meaningOf(e.code),
          })),
        };
      },
    );
    app.get<{ Querystring: { since?: string; software_id?: string } }>(`${OPERATIONS_API}/registrations/rejections`, async (req) => {
      const since = seconds(req.query.since, 'since');
      const rows = await storage.audit.countRejections({
        ...(since === undefined ? {} : { since }),
        ...(req.query.software_id ? { softwareId: req.query.software_id.slice(0, 255) } : {}),
      });
      return { list: rows.map((r) => ({ ...r, meaning: meaningOf(r.code) })) };
    });

    // The trust store: CA certificates trusted for transport certificates (the database's and this host's folder).
    app.get(`${OPERATIONS_API}/truststore`, async () => ({
      list: (await anchors.list()).map((c) => ({
        name: c.name,
        source: c.source,
        subject: c.subject,
        issuer: c.issuer,
        notAfter: c.notAfter.toISOString(),
        fingerprint256: c.fingerprint256,
      })),
    }));
    app.post(`${OPERATIONS_API}/truststore`, async (req, reply) => {
      const b = parseBody(anchorBody, req.body);
      // PEM text only: never a path the server would read.
      if (!PEM.test(b.pem)) throw fail('MALFORMED_REQUEST', 'pem is one PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)');
      let result;
      try {
        result = await anchors.add(b.pem, b.name);
      } catch (err) {
        if (err instanceof TruststoreError) throw fail('MALFORMED_REQUEST', err.message, { cause: err });
        if (err instanceof ConflictError) throw fail('MALFORMED_REQUEST', 'another certificate is trusted under that name', { cause: err });
        throw err;
      }
      if (result.added) await deps.announce('trust');
      const c = result.ca;
      return reply.code(result.added ? 201 : 200).send({
        name: c.name,
        source: 'database',
        subject: c.subject,
        issuer: c.issuer,
        notAfter: c.notAfter.toISOString(),
        fingerprint256: c.fingerprint256,
        added: result.added,
      });
    });
    app.delete<{ Params: { id: string } }>(`${OPERATIONS_API}/truststore/:id`, async (req, reply) => {
      const where = await anchors.remove(req.params.id.slice(0, 200));
      if (!where) throw fail('NOT_FOUND', 'no trusted CA of that name or fingerprint');
      await deps.announce('trust');
      return reply.code(200).send({ removed: true, source: where });
    });

    // Signing keys: active and retired (published until removeAfter), and rotation.
    app.get(`${OPERATIONS_API}/keys`, async () => ({
      list: (await deps.keys.list()).map((k) => ({
        kid: k.kid,
        alg: k.alg,
        state: k.retiredAt === null ? 'active' : 'retired',
        createdAt: iso(k.createdAt),
        retiredAt: iso(k.retiredAt),
        publishedUntil: iso(k.removeAfter),
      })),
    }));
    app.post(`${OPERATIONS_API}/keys/rotate`, async () => {
      const active = await deps.keys.rotate();
      await deps.announce('keys');
      return { active };
    });
  };
}
