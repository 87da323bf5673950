/**
 * An API context can never take a path the server serves itself. An API published with context
 * `/oauth2` or `/admin` broke the token endpoint, the key set and the console on every worker
 * until it was deleted. Every such context (each reserved path, in several casings, equal to it,
 * under it or above it; the DCR paths unless the API is the internal DCR one) is refused at
 * import, re-import, change and publish, nothing is saved, and the server's own endpoints keep
 * answering; a record saved before the rule existed is not routed either.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { reservedOverlap } from '../../src/gateway/reserved-paths.ts';
import { DCR_VERSIONS } from '../../src/config/schema.ts';
import { OAUTH_ROUTES, DISCOVERY_PATH } from '../../src/oauth/routes.ts';
import { startDcrEnvironment, type DcrEnvironment } from '../helpers/dcr.ts';
import { ADMIN, importForm, jsonOf, OB_FILES, SPEC, publishApi } from './support.ts';

let env: DcrEnvironment;
const BACKEND = 'http://127.0.0.1:9/api';
/** The smallest API: one open operation (what is refused is its context, not its document). */
const TINY = JSON.stringify({
  openapi: '3.0.3',
  info: { title: 'Tiny', version: '1' },
  paths: { '/x': { get: { responses: { 200: { description: 'ok' } } } } },
});
const importTiny = (context: string) =>
  fetchAdmin('/api/am/publisher/v4/apis/import-openapi', {
    method: 'POST',
    body: importForm('file', TINY, { context, name: `t-${randomUUID().slice(0, 8)}`, endpointConfig: { production_endpoints: { url: BACKEND } } }),
  });
const fetchAdmin = (path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }) =>
  env.ts.fetch(path, { ...init, headers: { authorization: ADMIN, 'x-requested-with': 'test', ...init?.headers } } as never);

/** Each reserved path, equal, under and above it, in several casings. */
const RESERVED = ['/oauth2', '/.well-known', '/admin', '/api', '/api-docs', '/health', '/ready', '/live', '/metrics', '/sandbox', '/gateway'];
/** Above the DCR paths, or on or under them (`/open-banking/{version}/register` of each version DCR serves, and its `.0` form). */
const DCR = [
  '/open-banking',
  '/Open-Banking',
  '/OPEN-BANKING/v3.3',
  '/open-banking/v3.3',
  '/open-banking/v3.2',
  '/open-banking/V3.1',
  '/open-banking/v3.3.0',
  '/open-banking/v3.2.0/register',
  '/open-banking/v3.1/register',
  '/open-banking/v3.1/REGISTER',
  '/open-banking/v3.3/register/abc',
  '/open-banking/v3.3/register/x/y',
];
const variants = (p: string) => [p, p.toUpperCase(), p.replace(/\/(\w)/g, (_m, c: string) => `/${c.toUpperCase()}`), `${p}/x`, `${p}/x/y`];
const REFUSED = [
  ...RESERVED.flatMap(variants),
  ...DCR,
  '/oauth2/token',
  '/oauth2/jwks',
  '/.well-known/openid-configuration',
  '/api/am/publisher/v4',
  '/admin/assets',
  '/gateway/jwks.json',
  '/.',
  '/..',
  '/x/..',
  '/x/./y',
  '/../oauth2',
];
/** Near the reserved paths, not on them: served. */
const ALLOWED = [
  '/oauth',
  '/oauth2x',
  '/administration',
  '/apis',
  '/healthz',
  '/open-banking/v3.1/aisp',
  '/x/oauth2',
  '/x/admin',
  '/open-banking/v3.1/pisp/register',
  '/open-banking/x/y',
  // Another version family: DCR serves nothing there (the OB Events API's context is /open-banking/v4.0).
  '/open-banking/v4.0',
  '/open-banking/v4.0/events',
  '/open-banking/v3.4',
];

before(async () => {
  env = await startDcrEnvironment();
});
after(async () => {
  await env?.close();
});

test("the list covers every route the server registers, and the provider's and gateway's own paths", () => {
  const top = env.ts.server.fastify
    .printRoutes({ commonPrefix: false })
    .split('\n')
    .map((line) => /^[├└]── (\/\S*)/.exec(line)?.[1])
    .filter((p): p is string => p !== undefined);
  assert.ok(top.length >= 10, top.join(' '));
  // DCR's route takes any version segment, and serves the versions it knows (any other is its 404, which an API may shadow).
  const served = (path: string) => (path.includes('/:version/') ? DCR_VERSIONS.flatMap((v) => [v, `${v}.0`]).map((v) => path.replace(':version', v)) : [path]);
  for (const path of [...top, ...Object.values(OAUTH_ROUTES), DISCOVERY_PATH, '/sandbox/x', '/admin/api/session'].flatMap(served)) {
    assert.ok(reservedOverlap(path, false) !== undefined, `${path} is served by the server and must be reserved`);
  }
});

test(`${REFUSED.length} contexts on the server's own paths are refused at import, and nothing is saved`, async () => {
  const before = ((await jsonOf(await fetchAdmin('/api/am/publisher/v4/apis'), 200))['list'] as unknown[]).length;
  for (const context of REFUSED) {
    const body = await jsonOf(await importTiny(context), 400);
    assert.equal(body['code'], 'API_INVALID', context);
    assert.match(String(body['message']), /which the server serves itself|context must be a path/, context);
  }
  assert.equal(((await jsonOf(await fetchAdmin('/api/am/publisher/v4/apis'), 200))['list'] as unknown[]).length, before);
  for (const context of ALLOWED) await jsonOf(await importTiny(context), 201);
});

test('re-import, change of backend and publish refuse them too; the internal DCR API may take the DCR paths, nothing else may', async () => {
  const api = await jsonOf(
    await fetchAdmin('/api/am/publisher/v4/apis/import-openapi', {
      method: 'POST',
      body: importForm('file', OB_FILES.vrp, { context: '/bank/vrp', name: 'vrp-reserved', endpointConfig: { production_endpoints: { url: BACKEND } } }),
    }),
    201,
  );
  const reimport = importForm('apiDefinition', OB_FILES.vrp, { context: '/OAuth2' });
  assert.match(
    String((await jsonOf(await fetchAdmin(`/api/am/publisher/v4/apis/${String(api['id'])}/swagger`, { method: 'PUT', body: reimport }), 400))['message']),
    /serves itself/,
  );
  // The DCR API on its own context, served by the DCR service.
  const dcrDoc = new URL('ob-dcr-openapi/v3.3/client-registration-swagger.json', SPEC);
  const dcr = await publishApi(fetchAdmin, dcrDoc, 'internal:dcr', { name: 'DCR reserved test', context: '/open-banking/v3.3' });
  // Its backend may not become an HTTP one while it holds the DCR paths; another API may not take them.
  const change = await fetchAdmin(`/api/am/publisher/v4/apis/${String(dcr['id'])}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ endpointConfig: { production_endpoints: { url: BACKEND } } }),
  });
  assert.match(String((await jsonOf(change, 400))['message']), /only the internal DCR API may take the DCR paths/);
  const other = await fetchAdmin('/api/am/publisher/v4/apis/import-openapi', {
    method: 'POST',
    body: importForm('file', readFileSync(dcrDoc), {
      context: '/open-banking/v3.2',
      name: 'not the DCR service',
      endpointConfig: { production_endpoints: { url: BACKEND } },
    }),
  });
  assert.match(String((await jsonOf(other, 400))['message']), /only the internal DCR API may take the DCR paths/);
});

test("an API saved before the rule (straight into the database) is refused at publish and never routed, and the server's paths keep answering", async () => {
  const doc = readFileSync(OB_FILES.funds, 'utf8');
  const legacy = await jsonOf(
    await fetchAdmin('/api/am/publisher/v4/apis/import-openapi', {
      method: 'POST',
      body: importForm('file', doc, { context: '/legacy/cbpii', name: 'legacy', endpointConfig: { production_endpoints: { url: BACKEND } } }),
    }),
    201,
  );
  const store = env.ts.storage.gateway;
  const record = (await store.listApis()).find((a) => a.id === legacy['id'])!;
  // As an older version would have saved it: CREATED on /oauth2, and a copy already PUBLISHED on /admin.
  assert.ok(await store.updateApi({ ...record, context: '/oauth2' }));
  const published = {
    ...record,
    id: randomUUID(),
    name: 'legacy-published',
    context: '/admin',
    state: 'PUBLISHED' as const,
    operations: [...record.operations, { ...record.operations[0]!, path: '/api/session' }],
  };
  await store.createApi(published, doc);
  const publish = await fetchAdmin(`/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId=${String(legacy['id'])}`, { method: 'POST' });
  assert.match(String((await jsonOf(publish, 400))['message']), /serves itself/);
  // Any catalogue change makes every worker rebuild its routes from the database (the published legacy one included).
  await publishApi(fetchAdmin, OB_FILES.accounts, BACKEND, { context: '/bank/aisp', name: 'trigger reload' });
  for (const path of ['/oauth2/jwks', DISCOVERY_PATH, '/health/ready', '/gateway/jwks.json']) {
    assert.equal((await env.ts.fetch(path)).status, 200, path);
  }
  const session = await env.ts.fetch('/admin/api/session');
  assert.equal(session.status, 200, "the console's session resource, not the legacy API");
  assert.equal(((await session.json()) as Record<string, unknown>)['user'], null);
});
