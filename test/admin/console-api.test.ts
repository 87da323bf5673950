/**
 * The REST APIs behind the console's views, against a real server with TPPs registering over
 * mutual TLS: server status, the usage series (registrations per hour by code, tokens per minute
 * by grant, tokens per client), one registration in full (SSA decoded, certificate subject, key
 * set, no secrets), its deletion by an administrator, the sandbox (init, TPPs, bundle zip), the
 * session resource's "nobody", and 401s without a Basic challenge for the console's requests.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { strFromU8, unzipSync } from 'fflate';
import { hashPassword } from '../../src/admin/passwords.ts';
import { startDcrEnvironment, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { ADMIN } from '../gateway/support.ts';

const OPS = '/api/opendcr/v1';
let env: DcrEnvironment;
let clientId: string;

type Init = NonNullable<Parameters<DcrEnvironment['ts']['fetch']>[1]>;
const admin = (path: string, init: Init = {}) =>
  env.ts.fetch(path, {
    ...init,
    headers: {
      authorization: ADMIN,
      'x-requested-with': 'test',
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.headers as Record<string, string> | undefined),
    },
  });

before(async () => {
  env = await startDcrEnvironment({ admin: { users: [{ username: 'audit', password_hash: await hashPassword('audit-password-1'), role: 'auditor' }] } });
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  clientId = String(reg['client_id']);
});
after(async () => {
  await env?.close();
});

test('status: storage, shared state, the key sets this process fetched, and the active signing keys', async () => {
  const s = await jsonBody(await admin(`${OPS}/status`), 200);
  assert.deepEqual(s['storage'], { kind: 'sqlite', ok: true });
  assert.equal((s['sharedState'] as Record<string, unknown>)['ok'], true);
  const keySets = s['keySets'] as Array<Record<string, unknown>>;
  const software = keySets.find((k) => String(k['url']).endsWith(`/${env.aispPisp.softwareId}.jwks`) && !String(k['url']).includes('/revoked/'));
  assert.ok(software, 'the software key set fetched at registration');
  assert.equal(software['keys'], 2);
  assert.equal(software['lastError'], null);
  assert.ok(Date.parse(String(software['fetchedAt'])) > 0);
  const signing = s['signingKeys'] as Array<Record<string, unknown>>;
  assert.ok(signing.length >= 1 && signing.every((k) => typeof k['kid'] === 'string'));
  assert.equal((await env.ts.fetch(`${OPS}/status`)).status, 401);
});

test('usage: registrations per hour by outcome and code; tokens per minute by grant; tokens per client', async () => {
  // A rejection (request signed by an unknown key) and two tokens.
  const bad = await env.register(env.cbpii, await env.validRequestClaims(env.cbpii), { sign: { kid: 'unknown-kid' } });
  assert.equal(bad.status, 400);
  await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
  await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
  const u = await jsonBody(await admin(`${OPS}/usage?hours=2&minutes=5`), 200);
  const reg = u['registrations'] as { bucketSeconds: number; rows: Array<Record<string, unknown>> };
  assert.equal(reg.bucketSeconds, 3600);
  assert.ok(reg.rows.some((r) => r['event'] === 'created' && r['count'] === 1));
  const rejected = reg.rows.find((r) => r['event'] === 'rejected');
  assert.ok(rejected && typeof rejected['code'] === 'string' && typeof rejected['meaning'] === 'string', JSON.stringify(reg.rows));
  const tokens = (u['tokens'] as { rows: Array<Record<string, unknown>> }).rows;
  assert.equal(
    tokens.filter((r) => r['key'] === 'client_credentials').reduce((n, r) => n + Number(r['count']), 0),
    2,
  );
  const detail = await jsonBody(await admin(`${OPS}/registrations/${clientId}`), 200);
  assert.equal(detail['tokensIssued'], 2);
  for (const bad of ['0', '169', 'x', '-1']) {
    const res = await admin(`${OPS}/usage?hours=${bad}`);
    assert.equal(res.status, 400, bad);
    assert.equal(((await res.json()) as Record<string, unknown>)['code'], 'MALFORMED_REQUEST');
  }
});

test('a registration in full: SSA claims decoded, the transport certificate subject, the key set, and never a secret', async () => {
  const r = await jsonBody(await admin(`${OPS}/registrations/${clientId}`), 200);
  assert.equal(r['softwareId'], env.aispPisp.softwareId);
  assert.equal(r['softwareName'], env.aispPisp.name);
  const ssa = r['ssa'] as { header: Record<string, unknown>; claims: Record<string, unknown> };
  assert.equal(ssa.claims['software_id'], env.aispPisp.softwareId);
  assert.equal(ssa.header['alg'], 'PS256');
  assert.match(String(r['certificateSubject']), new RegExp(`CN=${env.aispPisp.softwareId}`));
  const keySet = r['keySet'] as Record<string, unknown>;
  assert.match(String(keySet['url']), new RegExp(`${env.aispPisp.softwareId}\\.jwks$`));
  assert.ok(Number(keySet['fetches']) >= 1);
  assert.doesNotMatch(JSON.stringify(r['metadata']), /secret|registration_access_token/i);
  const missing = await admin(`${OPS}/registrations/no-such-client`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as Record<string, unknown>)['code'], 'APPLICATION_NOT_FOUND');
});

test('the session resource answers "nobody" without credentials; console requests get no Basic challenge', async () => {
  assert.deepEqual(await jsonBody(await env.ts.fetch('/admin/api/session'), 200), { user: null, role: null });
  const plain = await env.ts.fetch(`${OPS}/keys`);
  assert.equal(plain.status, 401);
  assert.match(plain.headers.get('www-authenticate') ?? '', /^Basic/);
  const fromConsole = await env.ts.fetch(`${OPS}/keys`, { headers: { 'x-opendcr-console': '1' } });
  assert.equal(fromConsole.status, 401);
  assert.equal(fromConsole.headers.get('www-authenticate'), null);
  const wrongLogin = await env.ts.fetch('/admin/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'x', password: 'y' }),
  });
  assert.equal(wrongLogin.status, 401);
  assert.equal(wrongLogin.headers.get('www-authenticate'), null);
});

test('sandbox API: initialise once, enrol TPPs (bad input changes nothing), download a bundle; auditors may not', async () => {
  assert.deepEqual(await jsonBody(await admin(`${OPS}/sandbox`), 200), { initialised: false, directory: null, tpps: [] });
  const early = await admin(`${OPS}/sandbox/tpps`, {
    method: 'POST',
    body: JSON.stringify({ name: 'Early', roles: ['AISP'], redirectUris: ['https://e.example/cb'] }),
  });
  assert.equal(early.status, 409);
  assert.equal(((await early.json()) as Record<string, unknown>)['code'], 'SANDBOX_NOT_INITIALISED');
  await jsonBody(await admin(`${OPS}/sandbox/init`, { method: 'POST' }), 201);
  const again = await admin(`${OPS}/sandbox/init`, { method: 'POST' });
  assert.equal(again.status, 409);
  assert.equal(((await again.json()) as Record<string, unknown>)['code'], 'SANDBOX_EXISTS');

  for (const body of [
    { name: 'Bad roles', roles: ['BANK'], redirectUris: ['https://b.example/cb'] },
    { name: 'Plain http', roles: ['AISP'], redirectUris: ['http://b.example/cb'] },
    { name: '', roles: ['AISP'], redirectUris: ['https://b.example/cb'] },
    { name: 'Extra', roles: ['AISP'], redirectUris: ['https://b.example/cb'], admin: true },
  ]) {
    const res = await admin(`${OPS}/sandbox/tpps`, { method: 'POST', body: JSON.stringify(body) });
    const out = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(out['code'], 'SANDBOX_TPP_INVALID');
    assert.doesNotMatch(JSON.stringify(out), /stack|at \//);
  }
  assert.deepEqual((await jsonBody(await admin(`${OPS}/sandbox`), 200))['tpps'], [], 'nothing enrolled by bad input');

  const tpp = await jsonBody(
    await admin(`${OPS}/sandbox/tpps`, {
      method: 'POST',
      body: JSON.stringify({ name: 'Bundle Test', roles: ['AISP', 'CBPII'], redirectUris: ['https://bundle.example/cb'] }),
    }),
    201,
  );
  const dup = await admin(`${OPS}/sandbox/tpps`, {
    method: 'POST',
    body: JSON.stringify({ name: 'Bundle Test', roles: ['AISP'], redirectUris: ['https://bundle.example/cb'] }),
  });
  assert.equal(dup.status, 409);
  assert.equal(((await dup.json()) as Record<string, unknown>)['code'], 'SANDBOX_TPP_EXISTS');
  const res = await admin(`${OPS}/sandbox/tpps/${tpp['softwareId']}/bundle.zip`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/zip');
  assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="sandbox-tpp-[A-Za-z0-9]+\.zip"$/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
  const ssa = strFromU8(files[Object.keys(files).find((n) => n.endsWith('/ssa.jwt'))!]!).trim();
  const claims = JSON.parse(Buffer.from(ssa.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
  assert.equal(claims['software_id'], tpp['softwareId']);
  assert.deepEqual(claims['software_roles'], ['AISP', 'CBPII']);
  assert.equal((await admin(`${OPS}/sandbox/tpps/nope/bundle.zip`)).status, 404);

  // An auditor's session may list the sandbox but not take its private keys.
  const login = await env.ts.fetch('/admin/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'audit', password: 'audit-password-1' }),
  });
  const cookie = /^(opendcr_admin=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1]!;
  assert.equal((await env.ts.fetch(`${OPS}/sandbox`, { headers: { cookie } })).status, 200);
  const refused = await env.ts.fetch(`${OPS}/sandbox/tpps/${tpp['softwareId']}/bundle.zip`, { headers: { cookie } });
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as Record<string, unknown>)['code'], 'ADMIN_READ_ONLY');
});

test('deleting a registration as administrator: gone with its client and tokens, audited with who; twice is 404', async () => {
  const token = await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
  assert.equal((await env.introspect(token))['active'], true);
  assert.deepEqual(await jsonBody(await admin(`${OPS}/registrations/${clientId}`, { method: 'DELETE' }), 200), { deleted: true });
  assert.equal((await admin(`${OPS}/registrations/${clientId}`)).status, 404);
  assert.equal((await env.introspect(token))['active'], false, 'its tokens stop at once');
  const audit = await jsonBody(await admin(`${OPS}/registrations/audit?client_id=${clientId}&event=deleted`), 200);
  const row = (audit['list'] as Array<Record<string, unknown>>)[0]!;
  assert.equal(row['softwareId'], env.aispPisp.softwareId);
  assert.equal(row['reason'], 'deleted by the administrator admin');
  const twice = await admin(`${OPS}/registrations/${clientId}`, { method: 'DELETE' });
  assert.equal(twice.status, 404);
  // The TPP's own DELETE of a registration that is gone: 401, as OB DCR says.
  assert.equal((await env.manage('DELETE', clientId, { token: 'anything', cert: env.aispPisp.transport })).status, 401);
});
