/**
 * The route table (src/http/surfaces.ts): the management listener's paths are the management
 * surfaces' and nothing else; every path a surface owns is one no API context may take; and a
 * surface's module cannot add a route outside its paths (building the app fails, naming both).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { reservedOverlap } from '../../src/gateway/reserved-paths.ts';
import { isManagementPath, MANAGEMENT_PATHS, owns, SURFACES, type Surface, within } from '../../src/http/surfaces.ts';

test('the management paths are those of the management surfaces: the console and the admin APIs', () => {
  assert.deepEqual([...MANAGEMENT_PATHS].sort(), ['/admin', '/admin/api/session', '/admin/api/sessions', '/api/am/', '/api/identity/', '/api/opendcr/']);
  const cases: Array<[string, boolean]> = [
    ['/admin', true],
    ['/admin/', true],
    ['/admin/assets/abc/app.js', true],
    ['/admin/api/session', true],
    ['/api/am/publisher/v4/apis', true],
    ['/api/opendcr/v1/keys', true],
    ['/api/identity/oauth2/v1.0/scopes', true],
    ['/administrator', false],
    ['/adminx/y', false],
    ['/api/am', false],
    ['/api/amx/', false],
    ['/api/', false],
    ['/oauth2/token', false],
    ['/open-banking/v3.3/register', false],
    ['/health', false],
    ['/metrics', false],
    ['/', false],
  ];
  for (const [path, expected] of cases) assert.equal(isManagementPath(path), expected, path);
});

test('owns: a path ending in / owns what starts with it; any other owns itself and what lies under it', () => {
  assert.ok(owns('/health', '/health') && owns('/health', '/health/live'));
  assert.ok(!owns('/health', '/healthz') && !owns('/health', '/healt'));
  assert.ok(owns('/sandbox/', '/sandbox/a.jwks') && !owns('/sandbox/', '/sandbox'));
});

test('every path a surface owns is reserved: no API context may take it', () => {
  const surfaces: Surface[] = Object.values(SURFACES);
  assert.ok(surfaces.length >= 10);
  for (const s of surfaces) {
    for (const path of s.paths) assert.ok(reservedOverlap(path, false) !== undefined, `${s.name}: ${path} is not a reserved path`);
  }
});

test('a surface refuses a route outside its paths, naming the route and the surface; routes within are served', async () => {
  const outside = Fastify();
  await assert.rejects(
    async () => {
      await within(outside, 'health', async (app) => {
        app.get('/healthz', async () => 'no');
      });
      await outside.ready();
    },
    (err: Error) => err.message === 'route GET /healthz lies outside the surface "health" (/health, /ready)',
  );
  await outside.close();

  const inside = Fastify();
  await within(inside, 'scopes', async (app) => {
    app.get('/api/identity/oauth2/v1.0/scopes', async () => ({ ok: true }));
  });
  const res = await inside.inject({ method: 'GET', url: '/api/identity/oauth2/v1.0/scopes' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { ok: true });
  await inside.close();
});
