/**
 * The whole server on PostgreSQL ([database] url), not only the storage contract: registration,
 * tokens, management and revocation through the real HTTP stack, on a fresh database that the
 * test creates and drops. With CI=true a missing PostgreSQL fails this test; otherwise it skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startDcrEnvironment, jsonBody } from '../helpers/dcr.ts';
import { PG_ADMIN_URL as ADMIN_URL, pgAdmin as admin } from '../helpers/postgres.ts';

test('server on PostgreSQL: register → token → GET → DELETE → 401, opaque token revoked', async (t) => {
  const db = `opendcr_e2e_${randomBytes(6).toString('hex')}`;
  try {
    await admin(`CREATE DATABASE ${db}`);
  } catch (err) {
    if (process.env.CI === 'true') assert.fail(`PostgreSQL not reachable at ${ADMIN_URL} (required when CI=true): ${(err as Error).message}`);
    t.skip(`PostgreSQL not reachable at ${ADMIN_URL}`);
    return;
  }
  try {
    const env = await startDcrEnvironment({
      database: { url: `postgres://postgres@127.0.0.1:5432/${db}` },
      oauth: { token_generation: { access_token_type: 'opaque' } },
    });
    try {
      assert.equal(env.ts.server.storage.kind, 'postgres');
      const tpp = env.aispPisp;
      const created = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201);
      const clientId = String(created['client_id']);
      const token = await env.ccToken(tpp, clientId, 'private_key_jwt');
      assert.equal((await env.introspect(token))['active'], true);

      assert.deepEqual(await jsonBody(await env.manage('GET', clientId, { token, cert: tpp.transport }), 200), created);
      assert.equal((await env.manage('DELETE', clientId, { token, cert: tpp.transport })).status, 204);
      await jsonBody(await env.manage('GET', clientId, { token, cert: tpp.transport }), 401);
      assert.equal((await env.introspect(token))['active'], false, 'DELETE revoked the token');

      const events = await env.ts.server.storage.audit.list({ clientId, limit: 10 });
      assert.deepEqual(events.map((e) => e.event).sort(), ['created', 'deleted', 'rejected']);
    } finally {
      await env.close();
    }
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
});
