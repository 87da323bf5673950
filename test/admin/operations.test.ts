/**
 * The operator's REST APIs (src/admin/operations-routes.ts): the registration audit trail with its
 * reason codes, the trust store, and the signing keys with their rotation; real server, real
 * registrations, real TLS.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import { createCertificateAuthority, issueClientCertificate } from '../../src/crypto/pki.ts';
import { startDcrEnvironment, jsonBody, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { ADMIN } from '../gateway/support.ts';

const API = '/api/opendcr/v1';
let env: DcrEnvironment;

const admin = (path: string, init: { method?: string; body?: unknown } = {}) =>
  env.ts.fetch(`${API}${path}`, {
    method: init.method ?? 'GET',
    // X-Requested-With: a change without a JSON body (a rotation) comes from a script, not another site's page.
    headers: { authorization: ADMIN, 'x-requested-with': 'test', ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });

before(async () => {
  env = await startDcrEnvironment();
});
after(async () => {
  await env?.close();
});

test('the audit trail lists every outcome, each rejection with its code and what it means; rejections are counted by code', async () => {
  await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  const bad = await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp, { redirect_uris: ['https://evil.example/cb'] }));
  assert.equal(bad.status, 400);
  const rejected = await jsonBody(await admin(`/registrations/audit?event=rejected&software_id=${env.aispPisp.softwareId}`), 200);
  const [row] = rejected['list'] as Array<Record<string, unknown>>;
  assert.equal(rejected['count'], 1);
  assert.equal(row!['event'], 'rejected');
  assert.equal(row!['softwareId'], env.aispPisp.softwareId);
  assert.equal(row!['code'], 'REDIRECT_URI_NOT_IN_SSA');
  assert.equal(typeof row!['meaning'], 'string');
  assert.match(String(row!['at']), /^\d{4}-\d\d-\d\dT/);
  const all = await jsonBody(await admin(`/registrations/audit?software_id=${env.aispPisp.softwareId}`), 200);
  assert.deepEqual(
    (all['list'] as Array<Record<string, unknown>>).map((e) => e['event']),
    ['rejected', 'created'],
    'newest first',
  );
  const counted = await jsonBody(await admin('/registrations/rejections'), 200);
  assert.deepEqual(
    (counted['list'] as Array<Record<string, unknown>>).map((r) => [r['code'], r['count']]),
    [[row!['code'], 1]],
  );
  const wrong = await admin('/registrations/audit?event=nope');
  assert.equal(wrong.status, 400);
  assert.equal(((await wrong.json()) as Record<string, unknown>)['code'], 'MALFORMED_REQUEST');
});

test('the trust store: a CA added over REST is trusted for new connections at once, and removed again; only PEM text is read', async () => {
  const ca = await createCertificateAuthority({ subject: 'C=GB, O=Partner QTSP, CN=Partner Root', validityDays: 2 });
  const cert = await issueClientCertificate(ca, { subject: `C=GB, O=Partner, OU=${env.aispPisp.orgId}, CN=${env.aispPisp.softwareId}`, validityDays: 1 });
  // A fresh connection each time: the trust store applies to new handshakes.
  const registerWith = async () => {
    const agent = new Agent({ connect: { ca: env.ts.caPem, cert: tlsOf(cert).certPem, key: tlsOf(cert).keyPem } });
    try {
      const res = await undiciFetch(`${env.url}/open-banking/v3.3/register`, {
        method: 'POST',
        body: 'x',
        headers: { 'content-type': 'text/plain' },
        dispatcher: agent,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    } finally {
      await agent.close();
    }
  };
  assert.equal((await registerWith()).status, 401, 'not trusted yet');
  const listed = await jsonBody(await admin('/truststore'), 200);
  assert.ok(
    (listed['list'] as Array<Record<string, unknown>>).some((c) => c['source'] === 'folder'),
    'the sandbox directory root, from the folder',
  );
  const added = await jsonBody(await admin('/truststore', { method: 'POST', body: { pem: ca.certPem, name: 'partner-root' } }), 201);
  assert.equal(added['source'], 'database');
  assert.equal(added['added'], true);
  assert.equal(
    (await jsonBody(await admin('/truststore', { method: 'POST', body: { pem: ca.certPem, name: 'partner-root' } }), 200))['added'],
    false,
    'the same certificate again',
  );
  const after = await registerWith();
  assert.equal(after.status, 400, 'trusted now: the registration gets as far as its media type');
  for (const pem of ['/etc/passwd', 'not a certificate', cert.certPem.replace('CERTIFICATE-----\n', 'CERTIFICATE-----\n!!')]) {
    const res = await admin('/truststore', { method: 'POST', body: { pem } });
    assert.equal(res.status, 400, pem.slice(0, 20));
  }
  const leaf = await admin('/truststore', { method: 'POST', body: { pem: cert.certPem } });
  assert.equal(leaf.status, 400, 'a leaf certificate is no CA');
  assert.deepEqual(await jsonBody(await admin(`/truststore/${encodeURIComponent(String(added['fingerprint256']))}`, { method: 'DELETE' }), 200), {
    removed: true,
    source: 'database',
  });
  assert.equal((await registerWith()).status, 401, 'removed: refused again');
  assert.equal((await admin('/truststore/partner-root', { method: 'DELETE' })).status, 404);
});

test('signing keys: listed with their state; a rotation retires the old ones, which stay published, and the new ones sign', async () => {
  const before = (await jsonBody(await admin('/keys'), 200))['list'] as Array<Record<string, unknown>>;
  assert.deepEqual(
    before
      .filter((k) => k['state'] === 'active')
      .map((k) => k['alg'])
      .sort(),
    ['ES256', 'PS256'],
  );
  const rotated = await jsonBody(await admin('/keys/rotate', { method: 'POST' }), 200);
  const active = rotated['active'] as string[];
  assert.equal(active.length, 2);
  const now = (await jsonBody(await admin('/keys'), 200))['list'] as Array<Record<string, unknown>>;
  for (const k of before.filter((x) => x['state'] === 'active')) {
    const same = now.find((x) => x['kid'] === k['kid'])!;
    assert.equal(same['state'], 'retired');
    assert.ok(same['publishedUntil'], 'published until its tokens have expired');
  }
  const jwks = (await (await env.ts.fetch('/oauth2/jwks')).json()) as { keys: Array<{ kid: string }> };
  for (const kid of active)
    assert.ok(
      jwks.keys.some((k) => k.kid === kid),
      `the new key ${kid} is published`,
    );
  const reg = await jsonBody(await env.register(env.cbpii, await env.validRequestClaims(env.cbpii)), 201);
  const token = await env.ccToken(env.cbpii, String(reg['client_id']), 'private_key_jwt', { scope: 'fundsconfirmations' });
  const kid = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string };
  assert.ok(active.includes(kid.kid), 'tokens are signed with a new key');
});

test('the operations API needs the administrator', async () => {
  for (const path of ['/registrations/audit', '/truststore', '/keys']) {
    const res = await env.ts.fetch(`${API}${path}`);
    assert.equal(res.status, 401, path);
  }
  const rotate = await env.ts.fetch(`${API}/keys/rotate`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}`, 'x-requested-with': 'test' },
  });
  assert.equal(rotate.status, 401);
});
