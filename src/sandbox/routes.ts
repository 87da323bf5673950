/**
 * In sandbox mode the server is its own Open Banking directory keystore: it publishes the
 * sandbox directory's JWKS and every sandbox TPP's software and revoked key sets under /sandbox,
 * so SSAs minted by `opendcr sandbox tpp create` resolve to this server. Never in production.
 */
import type { FastifyInstance } from 'fastify';
import type { SandboxStore } from './store.ts';
import { sandboxJwksRoutes } from './host.ts';

export const SANDBOX_PREFIX = '/sandbox';

export function sandboxRoutes(store: SandboxStore) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get(`${SANDBOX_PREFIX}/*`, async (req, reply) => {
      const directory = store.directory();
      const path = req.url.slice(SANDBOX_PREFIX.length);
      const result = directory ? sandboxJwksRoutes(directory, store.tpps)(path) : undefined;
      if (!result) {
        return reply
          .code(404)
          .send({ error: 'not_found', error_description: directory ? 'no such sandbox key set' : 'no sandbox directory yet: run `opendcr sandbox init`' });
      }
      return reply.code(result.status).headers(result.headers).send(result.body);
    });
  };
}
