/**
 * A TPP registering through the gateway's own listener ([gateway] listeners "own") and naming
 * that listener in `aud` was once refused with REQUEST_AUD_NOT_ALLOWED. The registration request's
 * aud may name any listener that serves the DCR API (the main one and the gateway's own, each as
 * its origin or a registration endpoint of any version), whichever listener the request comes in
 * on; any other origin, port or scheme is still refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dcrClient, jsonBody, startDcrEnvironment, type DcrClient, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort } from '../helpers/server.ts';
import { publishApi, SPEC, type ServerFetch } from '../gateway/support.ts';
import { assertErrorResponse } from '../helpers/assert-error.ts';
import { loadConfig } from '../../src/config/load.ts';
import { dcrOrigins } from '../../src/dcr/audiences.ts';

let env: DcrEnvironment;
let gatewayPort: number;
/** The DCR requests of a TPP sent to the gateway's own listener. */
let viaGateway: DcrClient;

before(async () => {
  // A fixed port: the TPP is given this listener's URL before the server starts.
  gatewayPort = await freePort();
  env = await startDcrEnvironment({ gateway: { listeners: ['main', 'own'], port: gatewayPort } });
  const fetchAdmin: ServerFetch = (path, init) => env.ts.fetch(path, init as never);
  // The built-in DCR API published through the gateway, so its own listener serves registration.
  await publishApi(fetchAdmin, new URL('ob-dcr-openapi/v3.3/client-registration-swagger.json', SPEC), 'internal:dcr', {
    context: '/open-banking/v3.3.0',
    name: 'DynamicClientRegistration',
    version: 'v3.3.0',
  });
  const url = `https://localhost:${gatewayPort}`;
  viaGateway = dcrClient({ url, fetch: (path, init = {}) => env.ts.fetch(new URL(path, url).href, init) }, env.directory, env.host, []);
});
after(() => env?.close());

const main = () => env.url;
const own = () => `https://localhost:${gatewayPort}`;
const forms = (origin: string) => [
  origin,
  `${origin}/`,
  ...['v3.1', 'v3.2', 'v3.3'].flatMap((v) => [`${origin}/open-banking/${v}/register`, `${origin}/open-banking/${v}.0/register`]),
];

describe('aud of a registration request', () => {
  for (const [listener, client] of [
    ['main', () => env as DcrClient],
    ["gateway's own", () => viaGateway],
  ] as const) {
    test(`sent to the ${listener} listener: every URL of either listener is accepted`, async () => {
      for (const aud of [...forms(main()), ...forms(own())]) {
        const tpp = env.aispPisp;
        const res = await client().register(tpp, await env.validRequestClaims(tpp, { aud }), { version: 'v3.3.0' });
        const body = await jsonBody(res, 201);
        assert.equal(typeof body['client_id'], 'string', aud);
      }
    });

    test(`sent to the ${listener} listener: another port, host or scheme is refused`, async () => {
      const other = await freePort();
      const allowed = [env.url, `${env.url}/`, ...forms(main()).slice(2), ...forms(own())].join(', ');
      for (const aud of [
        `https://localhost:${other}`,
        `https://127.0.0.1:${gatewayPort}`,
        `http://localhost:${gatewayPort}`,
        `https://localhost:${gatewayPort}.evil.example`,
        `https://evil.example/open-banking/v3.3/register`,
      ]) {
        const tpp = env.aispPisp;
        const res = await client().register(tpp, await env.validRequestClaims(tpp, { aud }), { version: 'v3.3.0' });
        await assertErrorResponse(res, 400, { error: 'invalid_client_metadata', error_description: `aud must be one of: ${allowed}` });
      }
    });
  }
});

describe('the listeners whose URLs are accepted', () => {
  const configWith = (toml: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'opendcr-aud-'));
    const path = join(dir, 'opendcr.toml');
    writeFileSync(path, `[server]\nhostname = "node1.bank.internal"\nport = 9443\nbase_url = "https://api.bank.example.com"\ndata_dir = "${dir}"\n${toml}`);
    try {
      return loadConfig({ path, env: {} });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test("behind a load balancer: the base URL, the main listener and the gateway's own listener", () => {
    assert.deepEqual(dcrOrigins(configWith('[gateway]\nlisteners = ["main", "own"]\nport = 8243\n')), [
      'https://api.bank.example.com',
      'https://node1.bank.internal:9443',
      'https://node1.bank.internal:8243',
    ]);
  });

  test('no own listener: it is not there, it has no role, or its port is picked at start', () => {
    for (const toml of [
      '[gateway]\nlisteners = ["main"]\n',
      '[gateway]\nenabled = false\nlisteners = ["own"]\n',
      '[gateway]\nlisteners = ["own"]\nport = 0\n',
      'roles = ["key_manager"]\n[gateway]\nlisteners = ["own"]\n',
    ]) {
      assert.deepEqual(dcrOrigins(configWith(toml)), ['https://api.bank.example.com', 'https://node1.bank.internal:9443'], toml);
    }
  });
});
