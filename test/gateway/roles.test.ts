/**
 * Node roles and the gateway's own listener (WSO2's distributed profiles): a gateway-only host
 * beside a key-manager host on the same database and shared state serves the published APIs on
 * its own HTTPS port with the key manager's tokens, serves no OAuth or DCR endpoint, creates no
 * signing key, and learns revocations from the shared state.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { parse as parseToml, stringify as toToml } from 'smol-toml';
import { Agent, fetch as undiciFetch } from 'undici';
import { startServer, type RunningServer } from '../../src/server.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort, startTestServer } from '../helpers/server.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { assertTokenRefused, OB_FILES, publishApi, type ServerFetch } from './support.ts';

let env: DcrEnvironment;
let backend: TestBackend;
let gatewayHost: RunningServer;
const agents: Agent[] = [];

/** A request to the gateway-only host: `port` is its main or its own gateway listener. */
async function onGatewayHost(
  port: number,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; cert?: boolean } = {},
): Promise<Response> {
  const tls = tlsOf(env.aispPisp.transport);
  const agent = new Agent({ connect: { ca: env.ts.caPem, ...(init.cert === false ? {} : { cert: tls.certPem, key: tls.keyPem }) } });
  agents.push(agent);
  return (await undiciFetch(`https://localhost:${port}${path}`, {
    method: init.method ?? 'GET',
    body: init.body,
    headers: init.headers,
    dispatcher: agent,
  })) as unknown as Response;
}

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment();
  // The second host: same configuration file (database, data folder, issuer), gateway role only, own listener.
  const source = env.ts.server.config.source!;
  const table = parseToml(readFileSync(source, 'utf8')) as Record<string, Record<string, unknown>>;
  table['server'] = { ...table['server'], port: await freePort(), base_url: env.url, roles: ['gateway'] };
  table['gateway'] = { listeners: ['own'], port: 0 };
  const file = source.replace(/\.toml$/, '-gateway.toml');
  writeFileSync(file, toToml(table));
  gatewayHost = await startServer({ config: loadConfig({ path: file, env: {} }) });
});

after(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await gatewayHost?.close();
  await env?.close();
  await backend?.close();
});

test('the gateway-only host serves no OAuth, DCR or discovery endpoint', async () => {
  const token = await onGatewayHost(gatewayHost.port, '/oauth2/token', {
    method: 'POST',
    body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(token.status, 404);
  assert.equal((await onGatewayHost(gatewayHost.port, '/open-banking/v3.3/register', { method: 'POST', body: 'x' })).status, 404);
  assert.equal((await onGatewayHost(gatewayHost.port, '/.well-known/openid-configuration')).status, 404);
  assert.equal((await onGatewayHost(gatewayHost.port, '/health/ready')).status, 200);
});

test("an API published through the gateway-only host is served on its own listener with the key manager's tokens; a revocation reaches it", async () => {
  const viaGatewayHost: ServerFetch = (path, init) => onGatewayHost(gatewayHost.port, path, { ...init, body: init?.body as never, cert: false });
  await publishApi(viaGatewayHost, OB_FILES.accounts, backend.url);
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  const clientId = String(reg['client_id']);
  const token = await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
  const port = gatewayHost.gatewayPort!;
  assert.ok(port > 0 && port !== gatewayHost.port);
  const consent = () =>
    onGatewayHost(port, '/open-banking/v3.1/aisp/account-access-consents', {
      method: 'POST',
      body: '{}',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
    });
  // The key manager host learns of the API by a notice; the gateway-only host made the change.
  const ok = await consent();
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.match(ok.headers.get('x-fapi-interaction-id') ?? '', /^[0-9a-f-]{36}$/);
  // Unknown paths on the gateway listener are OB-shaped 404s.
  const unknown = await onGatewayHost(port, '/nothing/here');
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as Record<string, unknown>)['Code'], 'GATEWAY_ROUTE_NOT_FOUND');
  // The main listener of the gateway-only host does not serve APIs ([gateway] listeners = ["own"]).
  const main = await onGatewayHost(gatewayHost.port, '/open-banking/v3.1/aisp/account-access-consents', { method: 'POST', body: '{}' });
  assert.equal(main.status, 404);
  // Deleted on the key manager host: the token stops working on the gateway-only host at once.
  const deleted = await env.manage('DELETE', clientId, { token, cert: env.aispPisp.transport });
  assert.equal(deleted.status, 204);
  await assertTokenRefused(await consent(), 'the client this token was issued to no longer exists');
});

test('a gateway-only host on a new database creates no signing key', async () => {
  const ts = await startTestServer({ server: { roles: ['gateway'] } });
  try {
    assert.deepEqual(await ts.storage.keys.list(Math.floor(Date.now() / 1000)), []);
    assert.equal((await ts.fetch('/health/ready')).status, 200);
  } finally {
    await ts.close();
  }
});
