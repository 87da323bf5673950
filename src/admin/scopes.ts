/**
 * Scope management API, shaped like WSO2 Identity Server's `/api/identity/oauth2/v1.0/scopes`:
 * list, create, read, update, delete; admin credentials required. A change takes effect in the
 * key manager at once in this worker and on the next check in the others.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Storage, ScopeRecord } from '../storage/ports.ts';
import { ConflictError } from '../storage/ports.ts';
import { PROVIDER_VERSION_KEY } from '../crypto/keys.ts';
import { fail } from '../errors/app-error.ts';
import { setScopeRetired } from '../oauth/state.ts';
import { errorHandler } from '../http/error-handler.ts';
import { parseBody } from '../http/parse-body.ts';
import type { RouteGuard } from '../http/guard.ts';

export const SCOPES_PATH = '/api/identity/oauth2/v1.0/scopes';

// RFC 6749 §3.3 scope-token characters.
const scopeName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a single RFC 6749 scope token');
const createBody = z.strictObject({
  name: scopeName,
  displayName: z.string().max(255).optional(),
  description: z.string().max(1024).optional(),
  bindings: z.array(z.string().max(255)).max(100).optional(),
});
const updateBody = z.strictObject({
  displayName: z.string().max(255).optional(),
  description: z.string().max(1024).optional(),
  bindings: z.array(z.string().max(255)).max(100).optional(),
});

/** Scopes the key manager cannot work without. */
const PROTECTED = new Set(['openid']);

export function scopeRoutes(deps: { storage: Storage; requireAdmin: RouteGuard; onChange: () => Promise<unknown> }) {
  const { storage } = deps;
  const changed = async () => {
    await storage.meta.increment(PROVIDER_VERSION_KEY);
    await deps.onChange();
  };

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', deps.requireAdmin);
    // The admin APIs answer errors in our JSON: { code, message, traceId }.
    app.setErrorHandler(errorHandler('admin'));

    app.get(SCOPES_PATH, async () => storage.scopes.list());

    app.post(SCOPES_PATH, async (req, reply) => {
      const b = parseBody(createBody, req.body);
      const scope: ScopeRecord = { name: b.name, displayName: b.displayName ?? b.name, description: b.description ?? '', bindings: b.bindings ?? [] };
      try {
        await storage.scopes.create(scope);
      } catch (err) {
        if (err instanceof ConflictError) throw fail('SCOPE_EXISTS', 'a scope of that name already exists');
        throw err;
      }
      await setScopeRetired(storage, b.name, false);
      await changed();
      return reply
        .code(201)
        .header('location', `${SCOPES_PATH}/name/${encodeURIComponent(b.name)}`)
        .send(scope);
    });

    app.get<{ Params: { name: string } }>(`${SCOPES_PATH}/name/:name`, async (req) => {
      const s = await storage.scopes.get(req.params.name);
      if (!s) throw fail('SCOPE_NOT_FOUND', 'no scope of that name');
      return s;
    });

    app.put<{ Params: { name: string } }>(`${SCOPES_PATH}/name/:name`, async (req) => {
      const b = parseBody(updateBody, req.body);
      const current = await storage.scopes.get(req.params.name);
      if (!current) throw fail('SCOPE_NOT_FOUND', 'no scope of that name');
      const next: ScopeRecord = { ...current, ...Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) };
      await storage.scopes.update(next);
      await changed();
      return next;
    });

    app.delete<{ Params: { name: string } }>(`${SCOPES_PATH}/name/:name`, async (req, reply) => {
      if (PROTECTED.has(req.params.name)) throw fail('SCOPE_PROTECTED', 'this scope is required by OpenID Connect and cannot be deleted');
      if (!(await storage.scopes.delete(req.params.name))) throw fail('SCOPE_NOT_FOUND', 'no scope of that name');
      // Clients registered with it keep working; it is simply no longer granted.
      await setScopeRetired(storage, req.params.name, true);
      await changed();
      return reply.code(204).send();
    });
  };
}
