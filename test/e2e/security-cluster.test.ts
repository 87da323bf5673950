/**
 * The holes the first-contact attack found (issue 8, security items), each tried at the HTTP
 * level against the server as `npm start` runs it: a primary and two worker processes sharing
 * the listener and the SQLite file, over real TLS with mutual authentication. Tables are read
 * afterwards through a separate connection to the same database.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { jsonBody, startDcrEnvironment, type DcrEnvironment } from '../helpers/dcr.ts';
import type { ClusterTestServer } from '../helpers/server.ts';

let env: DcrEnvironment<ClusterTestServer>;
before(async () => {
  env = await startDcrEnvironment({}, { workers: 2 });
});
after(() => env?.close());

async function register(tpp: SandboxTpp): Promise<string> {
  const body = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201);
  return String(body['client_id']);
}

describe('PUT racing DELETE on one registration', () => {
  test('after every interleaving the client stays deleted, each loser gets 401, and exactly one "deleted" audit row exists', async () => {
    const tpp = env.aispPisp;
    for (let round = 0; round < 6; round += 1) {
      const clientId = await register(tpp);
      const token = await env.ccToken(tpp, clientId, 'private_key_jwt');
      const puts = await Promise.all(Array.from({ length: 6 }, async () => tpp.signRequest(await env.validRequestClaims(tpp))));
      const manage = (method: 'PUT' | 'DELETE', body?: string) =>
        env.manage(method, clientId, { token, cert: tpp.transport, ...(body === undefined ? {} : { body }) });
      // The DELETEs start a little later each round, so they land before, among and after the PUTs' writes.
      const responses = await Promise.all([
        ...puts.map((body) => manage('PUT', body)),
        sleep(round * 4).then(() => manage('DELETE')),
        sleep(round * 4).then(() => manage('DELETE')),
      ]);
      const statuses = responses.map((r) => r.status);
      const bodies = await Promise.all(responses.map((r) => r.text()));
      assert.ok(statuses.every((s) => s === 200 || s === 204 || s === 401), `round ${round}: only 200, 204 and 401: ${statuses.join(' ')} ${bodies.join(' ')}`);
      assert.equal(statuses.filter((s) => s === 204).length, 1, `round ${round}: exactly one DELETE succeeds: ${statuses.join(' ')}`);
      for (const [i, s] of statuses.entries()) {
        if (s === 401) assert.equal(JSON.parse(bodies[i]!).error, 'invalid_token', bodies[i]);
      }

      const { storage } = env.ts;
      assert.equal(await storage.registrations.get(clientId), undefined, `round ${round}: no registration row`);
      assert.equal(await storage.oidc.find('Client', clientId), undefined, `round ${round}: no client record`);
      const trail = await storage.audit.list({ clientId, limit: 100 });
      const deleted = trail.filter((e) => e.event === 'deleted');
      assert.equal(deleted.length, 1, `round ${round}: one "deleted" audit row`);
      assert.deepEqual(trail.filter((e) => e.event !== 'rejected' && e.id > deleted[0]!.id), [], `round ${round}: nothing written after the delete`);
      assert.equal(trail.filter((e) => e.event === 'updated').length, statuses.filter((s) => s === 200).length, `round ${round}: one "updated" row per 200`);
      const refused = await jsonBody(await env.tokenResponse(tpp, clientId, 'private_key_jwt'), 401);
      assert.equal(refused['error'], 'invalid_client', `round ${round}: the deleted client gets no token`);
    }
  });
});

describe('a revoked request-signing key', () => {
  test('is refused with or without a kid in the header, while the software key set is still cached', async () => {
    const tpp = await env.addTpp({ name: 'Revoked Key Cluster Ltd', roles: ['AISP'] });
    const claims = async () => env.validRequestClaims(tpp, { scope: 'openid accounts' });
    // Registrations before the revocation load the software key set into the workers' caches.
    for (let i = 0; i < 4; i += 1) await register(tpp);
    tpp.revokeKey(tpp.signingKey.kid);
    const withKid = await jsonBody(await env.register(tpp, await claims()), 400);
    assert.deepEqual(withKid, {
      error: 'unapproved_software_statement',
      error_description: `the key ${tpp.signingKey.kid} that signed the registration request has been revoked`,
    });
    for (let i = 0; i < 4; i += 1) {
      const withoutKid = await jsonBody(await env.register(tpp, await claims(), { sign: { kid: null } }), 400);
      assert.deepEqual(withoutKid, {
        error: 'invalid_client_metadata',
        error_description: 'the registration request JWS header must carry the kid of its signing key in the software statement\'s software_jwks_endpoint',
      });
    }
    const created = (await env.ts.storage.audit.list({ softwareId: tpp.softwareId, event: 'created', limit: 100 })).length;
    assert.equal(created, 4, 'nothing was registered after the revocation');
  });
});
