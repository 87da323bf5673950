/**
 * [admin] port: the console and every admin REST API move to a separate HTTPS management
 * listener (an internal interface), and the main listener, which TPPs reach, no longer serves
 * them; the management listener serves nothing else. The console works there in Chromium.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ADMIN } from '../gateway/support.ts';
import { awayFromWindowEdge, TEST_LOGIN_WINDOW } from './throttle-support.ts';
import { browserMissing, launch, openPage, screenshot, signIn } from '../console/browser.ts';

let ts: TestServer;
let management: string;

before(async () => {
  ts = await startTestServer({ admin: { port: 0, login_window: TEST_LOGIN_WINDOW } });
  assert.ok(ts.server.managementPort);
  management = `https://localhost:${ts.server.managementPort}`;
});
after(async () => {
  await ts?.close();
});

test('the admin APIs and the console answer on the management listener only', async () => {
  for (const path of ['/api/opendcr/v1/keys', '/api/am/publisher/v4/apis', '/api/identity/oauth2/v1.0/scopes', '/api/am/admin/v4/key-managers']) {
    assert.equal((await ts.fetch(`${management}${path}`, { headers: { authorization: ADMIN } })).status, 200, path);
    const main = await ts.fetch(path, { headers: { authorization: ADMIN } });
    assert.equal(main.status, 404, `main listener: ${path}`);
    assert.deepEqual(await main.json(), { error: 'not_found', error_description: 'no such endpoint' });
  }
  const page = await ts.fetch(`${management}/admin/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.equal((await ts.fetch('/admin/')).status, 404);
  assert.equal((await ts.fetch('/admin')).status, 404);
  const login = await ts.fetch('/admin/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'admin' }),
  });
  assert.equal(login.status, 404, 'no login on the main listener');
});

test('the management listener serves nothing else; the main listener keeps the rest', async () => {
  for (const path of ['/.well-known/openid-configuration', '/health', '/open-banking/v3.3/register']) {
    const res = await ts.fetch(`${management}${path}`);
    assert.equal(res.status, 404, path);
    assert.equal(((await res.json()) as Record<string, unknown>)['error'], 'not_found');
  }
  assert.equal((await ts.fetch('/.well-known/openid-configuration')).status, 200);
  assert.equal((await ts.fetch('/health')).status, 200);
});

test('the console signs in and works on the management listener', { skip: browserMissing() }, async () => {
  const browser = await launch();
  try {
    const w = await openPage(browser, management);
    await signIn(w.page, management, 'admin', 'admin');
    await w.page.goto(`${management}/admin/security`);
    await w.page.getByRole('heading', { level: 1, name: 'Trust, keys and scopes' }).waitFor();
    await w.page.getByRole('table', { name: 'Signing keys' }).waitFor();
    await screenshot(w.page, 'management-listener');
    assert.deepEqual(w.problems, []);
  } finally {
    await browser.close();
  }
});

// Last in this file: it locks the [super_admin] account for the rest of the window.
test('the administrator password throttle holds on the management listener: 429 past the limit, the right password too', async () => {
  await awayFromWindowEdge();
  const wrong = (i: number) => `Basic ${Buffer.from(`admin:wrong-${i}`).toString('base64')}`;
  // [admin] login_attempts: 10 by default.
  for (let i = 0; i < 10; i++) assert.equal((await ts.fetch(`${management}/api/am/publisher/v4/apis`, { headers: { authorization: wrong(i) } })).status, 401);
  for (const authorization of [wrong(10), ADMIN]) {
    const res = await ts.fetch(`${management}/api/am/publisher/v4/apis`, { headers: { authorization } });
    assert.equal(res.status, 429);
    assert.equal(((await res.json()) as Record<string, unknown>)['code'], 'ADMIN_LOGIN_THROTTLED');
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
  }
});
