/**
 * The gateway catalogue over its admin REST APIs (WSO2 shapes): every official OB v3.1.11 API and
 * the three DCR versions import and publish side by side; an invalid document is refused whole and
 * the version already served keeps serving; routes never clash; plans are guarded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { FormData } from 'undici';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const SPEC = new URL('../../specs/', import.meta.url);
const OB = ['account-info', 'payment-initiation', 'confirmation-funds', 'vrp'].map((n) => new URL(`ob-read-write-openapi/v3.1.11/${n}-openapi.yaml`, SPEC));
const ADMIN = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
const BACKEND = 'http://127.0.0.1:9/bank';

let ts: TestServer;
type Init = NonNullable<Parameters<TestServer['fetch']>[1]>;

const admin = (path: string, init: Init = {}) =>
  ts.fetch(path, { ...init, headers: { authorization: ADMIN, 'x-requested-with': 'test', ...(init.headers as Record<string, string> | undefined) } });

async function json(res: Response, status: number): Promise<Record<string, unknown>> {
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, status, JSON.stringify(body).slice(0, 500));
  return body;
}

function form(field: string, document: string | Buffer, props: Record<string, unknown>): FormData {
  const f = new FormData();
  f.set(field, new Blob([document]), 'api');
  f.set('additionalProperties', JSON.stringify(props));
  return f;
}

const importApi = (document: string | Buffer, props: Record<string, unknown>) =>
  admin('/api/am/publisher/v4/apis/import-openapi', {
    method: 'POST',
    body: form('file', document, { endpointConfig: { production_endpoints: { url: BACKEND } }, ...props }),
  });
const lifecycle = (id: string, action: string) =>
  admin(`/api/am/publisher/v4/apis/change-lifecycle?action=${encodeURIComponent(action)}&apiId=${id}`, { method: 'POST' });

before(async () => {
  ts = await startTestServer();
});

/**
 * The four OB APIs, imported and published unless they already are (by the first test, when it ran):
 * the tests after it need them, and each must pass when run alone.
 */
async function ensurePublished(): Promise<Array<Record<string, unknown>>> {
  const listed = async () => (await json(await admin('/api/am/publisher/v4/apis'), 200))['list'] as Array<Record<string, unknown>>;
  const have = new Set((await listed()).filter((a) => a['lifeCycleStatus'] === 'PUBLISHED').map((a) => `${String(a['version'])} ${String(a['name'])}`));
  for (const file of OB) {
    const doc = readFileSync(file);
    const info = ((await import('yaml')).parse(doc.toString('utf8')) as { info: { title: string; version: string } }).info;
    if (have.has(`${info.version} ${info.title}`)) continue;
    const api = await json(await importApi(doc, {}), 201);
    await json(await lifecycle(String(api['id']), 'Publish'), 200);
  }
  return listed();
}
after(async () => {
  await ts?.close();
});

test('the four OB v3.1.11 APIs and the DCR API (v3.1, v3.2, v3.3) import and publish side by side', async () => {
  const expected = [
    ['Account and Transaction API Specification', '/open-banking/v3.1/aisp', 29, ['AISP']],
    ['Payment Initiation API', '/open-banking/v3.1/pisp', 41, ['PISP']],
    ['Confirmation of Funds API Specification', '/open-banking/v3.1/cbpii', 4, ['CBPII']],
    ['OBIE VRP Profile', '/open-banking/v3.1/pisp', 7, ['PISP']],
  ] as const;
  for (const [i, file] of OB.entries()) {
    const api = await json(await importApi(readFileSync(file), {}), 201);
    const [name, context, count, roles] = expected[i]!;
    assert.equal(api['context'], context, String(api['name']));
    assert.equal((api['operations'] as unknown[]).length, count);
    assert.deepEqual(api['requiredRoles'], roles);
    assert.equal(api['version'], '3.1.11');
    assert.ok(String(api['name']).length > 0 && (name === api['name'] || i === 3), `name ${String(api['name'])}`);
    assert.deepEqual(await json(await lifecycle(String(api['id']), 'Publish'), 200), {
      lifecycleState: { state: 'PUBLISHED' },
      workflowStatus: null,
      subscribed: 0,
    });
  }
  for (const v of ['v3.1', 'v3.2', 'v3.3']) {
    for (const f of ['client-registration-openapi.yaml', 'client-registration-swagger.json']) {
      const doc = readFileSync(new URL(`ob-dcr-openapi/${v}/${f}`, SPEC));
      // No servers / basePath in these files: the context is the publisher's.
      const missing = await json(await importApi(doc, {}), 400);
      assert.equal(missing['code'], 'API_INVALID');
      const api = await json(
        await importApi(doc, {
          name: `DCR ${v} ${f}`,
          context: `/dcr-test/${v}/${f.includes('swagger') ? 's' : 'o'}`,
          endpointConfig: { production_endpoints: { url: 'internal:dcr' } },
        }),
        201,
      );
      assert.deepEqual((api['operations'] as Array<Record<string, unknown>>).map((o) => `${String(o['verb'])} ${String(o['target'])}`).sort(), [
        'DELETE /register/{ClientId}',
        'GET /register/{ClientId}',
        'POST /register',
        'PUT /register/{ClientId}',
      ]);
    }
  }
  const listed = await json(await admin('/api/am/devportal/v3/apis'), 200);
  assert.equal(listed['count'], 4, 'the devportal lists published APIs only');
});

test('an invalid document is refused whole, with its first problems; the served version keeps serving', async () => {
  const bad = await json(await importApi('openapi: 3.0.0\ninfo: {title: x}\npaths: {}\n', {}), 400);
  assert.equal(bad['code'], 'API_DOCUMENT_INVALID');
  assert.match(String(bad['message']), /nothing was changed/);
  const apis = await ensurePublished();
  const aisp = apis.find((a) => a['context'] === '/open-banking/v3.1/aisp')!;
  const reimport = await admin(`/api/am/publisher/v4/apis/${String(aisp['id'])}/swagger`, {
    method: 'PUT',
    body: form(
      'apiDefinition',
      '{"swagger":"2.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"security":[{"Nope":[]}],"responses":{"200":{"description":"ok"}}}}}}',
      {},
    ),
  });
  const refused = await json(reimport, 400);
  assert.equal(refused['code'], 'API_DOCUMENT_INVALID');
  assert.match(String(refused['message']), /Nope/);
  const still = await json(await admin(`/api/am/publisher/v4/apis/${String(aisp['id'])}`), 200);
  assert.equal((still['operations'] as unknown[]).length, 29);
  assert.equal(still['documentHash'], aisp['documentHash']);
  // The gateway still routes it: a call without a certificate is refused by the gateway, not 404.
  const res = await ts.fetch('/open-banking/v3.1/aisp/accounts');
  assert.equal(res.status, 401);
});

test('a re-import can be previewed first: what it adds, removes and changes, with nothing written', async () => {
  const apis = await ensurePublished();
  const funds = apis.find((a) => a['context'] === '/open-banking/v3.1/cbpii')!;
  const preview = (document: string | Buffer) =>
    admin(`/api/am/publisher/v4/apis/${String(funds['id'])}/swagger/preview`, { method: 'POST', body: form('apiDefinition', document, {}) });
  const same = await json(await preview(readFileSync(OB[2]!)), 200);
  assert.deepEqual(same, {
    documentVersion: { before: '3.1.11', after: '3.1.11' },
    operations: { added: [], removed: [], changed: [], unchanged: 4 },
    requiredRoles: { before: ['CBPII'], after: ['CBPII'] },
  });
  // A next version: one operation gone, one new, one with another scope.
  const doc = (await import('yaml')).parse(readFileSync(OB[2]!, 'utf8')) as {
    info: { version: string };
    paths: Record<string, Record<string, { security?: unknown }>>;
  };
  doc.info.version = '3.1.12';
  const [first, second] = Object.keys(doc.paths);
  const removedPath = first!;
  const removedOps = Object.keys(doc.paths[removedPath]!)
    .filter((m) => m !== 'parameters')
    .map((m) => `${m.toUpperCase()} ${removedPath}`);
  delete doc.paths[removedPath];
  doc.paths['/funds-confirmations-v2'] = {
    post: { security: [{ TPPOAuth2Security: ['fundsconfirmations'] }], responses: { 201: { description: 'ok' } } } as never,
  };
  const changedMethod = Object.keys(doc.paths[second!]!).find((m) => m !== 'parameters')!;
  doc.paths[second!]![changedMethod]!.security = [{ PSUOAuth2Security: ['fundsconfirmations'] }];
  const next = await json(await preview(JSON.stringify(doc)), 200);
  assert.deepEqual(next['documentVersion'], { before: '3.1.11', after: '3.1.12' });
  const ops = next['operations'] as Record<string, unknown>;
  assert.deepEqual(ops['added'], ['POST /funds-confirmations-v2']);
  assert.deepEqual(ops['removed'], removedOps.sort());
  assert.deepEqual(
    (ops['changed'] as Array<Record<string, unknown>>).map((c) => c['operation']),
    [`${changedMethod.toUpperCase()} ${second}`],
  );
  // Nothing was written.
  const still = await json(await admin(`/api/am/publisher/v4/apis/${String(funds['id'])}`), 200);
  assert.equal(still['documentHash'], funds['documentHash']);
  const refused = await json(await preview('not: [valid'), 400);
  assert.equal(refused['code'], 'API_DOCUMENT_INVALID');
});

test('a second served API may share a context but not a route', async () => {
  await ensurePublished();
  const doc = readFileSync(OB[0]!);
  const copy = await json(await importApi(doc, { name: 'Accounts copy' }), 201);
  const refused = await json(await lifecycle(String(copy['id']), 'Publish'), 409);
  assert.equal(refused['code'], 'API_EXISTS');
  assert.match(String(refused['message']), /another served API already serves POST \/open-banking\/v3\.1\/aisp\/account-access-consents, .* and 26 more/);
  const again = await json(await importApi(doc, { name: 'Accounts copy' }), 409);
  assert.equal(again['code'], 'API_EXISTS', 'name + version taken');
  await json(await admin(`/api/am/publisher/v4/apis/${String(copy['id'])}`, { method: 'DELETE' }), 200).catch(() => undefined);
});

test('business plans: built-ins are listed and fixed; custom ones are added, changed and removed unless in use', async () => {
  const POLICIES = '/api/am/admin/v4/throttling/policies/subscription';
  const list = await json(await admin(POLICIES), 200);
  assert.deepEqual(
    (list['list'] as Array<Record<string, unknown>>).map((p) => [
      p['policyName'],
      (p['defaultLimit'] as { requestCount: { requestCount: number } | null }).requestCount?.requestCount ?? null,
    ]),
    [
      ['Bronze', 1000],
      ['Gold', 5000],
      ['Silver', 2000],
      ['Unlimited', null],
    ],
  );
  const body = {
    policyName: 'Partner',
    displayName: 'Partner',
    defaultLimit: { requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 300 } },
    rateLimitCount: 10,
    rateLimitTimeUnit: 'sec',
    stopOnQuotaReach: true,
  };
  const created = await json(await admin(POLICIES, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }), 201);
  assert.equal(created['rateLimitCount'], 10);
  assert.equal(
    (await json(await admin(POLICIES, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }), 409))['code'],
    'PLAN_EXISTS',
  );
  assert.equal(
    (
      await json(
        await admin(`${POLICIES}/Gold`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ...body, policyName: 'Gold' }),
        }),
        400,
      )
    )['code'],
    'PLAN_BUILT_IN',
  );
  const bad = await json(
    await admin(POLICIES, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, policyName: 'Neg', defaultLimit: { requestCount: { timeUnit: 'min', unitTime: 1, requestCount: -1 } } }),
    }),
    400,
  );
  assert.equal(bad['code'], 'PLAN_INVALID');
  const user = await json(await importApi(readFileSync(OB[2]!), { name: 'Funds with Partner', context: '/partner/cbpii', policies: ['Partner'] }), 201);
  const inUse = await json(await admin(`${POLICIES}/Partner`, { method: 'DELETE' }), 409);
  assert.equal(inUse['code'], 'PLAN_IN_USE');
  assert.match(
    String(inUse['message']),
    new RegExp(`offered by API\\(s\\) Funds with Partner ${String(user['version']).replaceAll('.', '\\.')} \\(${String(user['id'])}\\)`),
  );
  const unknown = await json(await importApi(readFileSync(OB[2]!), { name: 'x', context: '/x', policies: ['Nope'] }), 400);
  assert.equal(unknown['code'], 'API_INVALID');
  await json(await admin(`/api/am/publisher/v4/apis/${String(user['id'])}`, { method: 'DELETE' }), 200).catch(() => undefined);
  assert.equal((await admin(`${POLICIES}/Partner`, { method: 'DELETE' })).status, 200);
  assert.equal((await admin(`${POLICIES}/Partner`)).status, 404);
});

test('the admin APIs need the administrator and describe themselves', async () => {
  const res = await ts.fetch('/api/am/publisher/v4/apis');
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as Record<string, unknown>)['code'], 'ADMIN_UNAUTHORIZED');
  const doc = await json(await admin('/api/am/openapi.json'), 200);
  assert.equal(doc['openapi'], '3.1.0');
  assert.ok(Object.keys(doc['paths'] as object).includes('/api/am/publisher/v4/apis/import-openapi'));
  const notMultipart = await json(
    await admin('/api/am/publisher/v4/apis/import-openapi', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
    415,
  );
  assert.equal(notMultipart['code'], 'UNSUPPORTED_MEDIA_TYPE');
});
