/**
 * Path traversal through the gateway, the way an attack found it: an AISP path whose parameter
 * hides `../../pisp/domestic-payments/x` (encoded, double-encoded, with backslashes, overlong
 * UTF-8, full-width solidus, `..;x=1`, a `%3F` or `%23` that cuts a route's suffix, ...) matched
 * `/accounts/{AccountId}` and was forwarded raw; an ordinary nginx tier behind the gateway
 * (`location /pisp/ { proxy_pass http://…/pisp-service/; }`) normalised it into a call on the
 * payments service.
 *
 * Here the same tier runs for real (Debian's nginx) in front of one recording backend, with the
 * four OB APIs (Accounts, Payments, Funds confirmation, VRP) published from their official files.
 * Every form of the corpus goes into every path parameter of every operation of the four APIs,
 * with a token that passes every other check, and for each call the test asserts: either the
 * gateway refused it and nothing reached any service, or the service of the API the call was
 * authorised for received exactly the operation's canonical path, its parameter one plain segment.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort } from '../helpers/server.ts';
import { nginxBinary, startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { startTestBackend, type TestBackend, type ReceivedCall } from './backend.ts';
import { OB_FILES, publishApi, jsonOf, ADMIN, psuAccessToken } from './support.ts';
import { seedConsent } from '../helpers/consents.ts';
import { sandboxAccountSource } from '../../src/consent/psu-accounts.ts';

const NGINX = nginxBinary();
const SKIP = NGINX === undefined && process.env['CI'] !== 'true' ? 'nginx is not installed (apt-get install nginx)' : false;

/** Each API behind its own location of the nginx tier, as `/<service>/` → `/<service>-service/`. */
const SERVICES = { accounts: 'aisp', payments: 'pisp', funds: 'cbpii', vrp: 'vrp' } as const;
/** The scope of each API's PSU token (VRP's payments are PIS). */
const PSU_SCOPE = { accounts: 'accounts', payments: 'payments', funds: 'fundsconfirmations', vrp: 'payments' } as const;

// ---------------------------------------------------------------------------------------------
// The corpus: what goes into one path parameter, as raw request-target text.

const DOTS = [
  '..',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '%2e.',
  '.%2E',
  '%2E.',
  '%252e%252e',
  '%c0%ae%c0%ae',
  '%e0%80%ae%e0%80%ae',
  '%ef%bc%8e%ef%bc%8e',
  '%%32%65%%32%65',
];
const SEPARATORS = ['%2F', '%2f', '%5C', '%5c', '\\', '%252F', '%252f', '%255C', '%c0%af', '%e0%80%af', '%ef%bc%8f', '%e2%88%95', ';/', '%3B%2F', '/'];
const WALKS = DOTS.flatMap((d) => SEPARATORS.map((s) => `${d}${s}${d}${s}pisp${s}domestic-payments${s}pay-123`));
const ODD = [
  // Tomcat's path parameters and their encodings.
  '..;x=1',
  '..;x=1/..;x=1/pisp/domestic-payments/pay-123',
  '%2e%2e;x=1',
  '.;/..;/pisp',
  '..%3Bx=1',
  'x;jsessionid=1',
  // Cutting the suffix of a route: a query or fragment hidden in a parameter.
  'x%3F',
  'x%3Fa=b',
  'x%3f/balances',
  'x%23',
  'x%23frag',
  'x%253F',
  'x#frag',
  // Dot segments alone, encoded or not; encoded percent signs.
  '.',
  '..',
  '%2e',
  '%2E',
  '%252e',
  '%25',
  'x%25',
  'x%2500',
  '%25%32%46',
  // Control characters, white space, bytes past ASCII, malformed escapes.
  'x%00',
  '%00',
  'x%0a',
  'x%0d%0a',
  'x%09',
  'x%20',
  '%20',
  'x%7f',
  'x%ff',
  'x%80',
  'x%c3%a9',
  'x%e2%80%ae',
  '%',
  'x%',
  'x%2',
  'x%zz',
  'x%g0',
  // Characters that must be encoded in a path.
  'x"',
  'x<',
  'x>',
  'x^',
  'x|',
  'x{',
  'x}',
  'x`',
  'x[',
  'x]',
  'x%22',
  'x%3C',
];
/** Plain values (some encoded): these must reach the backend, as one canonical segment. */
const PLAIN = ['pay-123', 'PAY_123', 'a.b', '...', '.a', 'a.', '~x', 'a:b', 'a@b', 'a+b', 'a=b&c', "a!$'()*,", '%41bc', '%7e', '%2D', 'a%2Eb', '%2e%2e%2e'];
const CORPUS = [...new Set([...WALKS, ...ODD, ...PLAIN])];

/** What the value means once decoded, or undefined when it does not decode. */
function decoded(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** A value that is one plain path segment to every normaliser: nothing that separates, escapes or walks. */
const plainSegment = (v: string) => v !== '' && v !== '.' && v !== '..' && /^[\x21-\x7e]+$/.test(v) && !/[/\\;?#%]/.test(v);

interface Operation {
  api: keyof typeof SERVICES;
  context: string;
  method: string;
  template: string;
  flows: string[];
  requestBody: string[] | null;
  idempotency: boolean;
}

describe('path forms against a real nginx tier behind the gateway', { skip: SKIP }, () => {
  let env: DcrEnvironment;
  let backend: TestBackend;
  let nginx: RunningNginx | undefined;
  let tpp: SandboxTpp;
  let ccToken: string;
  const psuTokens: Record<string, string> = {};
  const operations: Operation[] = [];

  before(async () => {
    assert.ok(NGINX, 'nginx is required when CI=true (.ci/run installs it)');
    backend = await startTestBackend();
    const port = await freePort();
    const backendPort = new URL(backend.url).port;
    nginx = await startNginx(
      NGINX,
      port,
      [
        ...Object.values(SERVICES).map((s) => `    location /${s}/ { proxy_pass http://127.0.0.1:${backendPort}/${s}-service/; }`),
        '    location / { return 404; }',
      ].join('\n'),
    );
    env = await startDcrEnvironment();
    const fetchAdmin = (path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }) => env.ts.fetch(path, init as never);
    for (const [name, service] of Object.entries(SERVICES) as Array<[keyof typeof SERVICES, string]>) {
      const api = await publishApi(fetchAdmin, OB_FILES[name], `${nginx.url}/${service}`);
      const full = await jsonOf(await env.ts.fetch(`/api/am/publisher/v4/apis/${String(api['id'])}`, { headers: { authorization: ADMIN } }), 200);
      for (const op of full['operations'] as Array<Record<string, unknown>>) {
        const template = String(op['target']);
        if (!template.includes('{')) continue;
        operations.push({
          api: name,
          context: String(full['context']),
          method: String(op['verb']),
          template,
          flows: op['flows'] as string[],
          requestBody: op['requestBody'] as string[] | null,
          idempotency: op['idempotency'] === true,
        });
      }
    }
    // One TPP with every role, subscribed to the four APIs by its registration.
    tpp = await env.addTpp({ name: 'Path Forms Ltd', roles: ['AISP', 'PISP', 'CBPII'] });
    const reg = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201);
    const clientId = String(reg['client_id']);
    ccToken = await env.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts payments fundsconfirmations' });
    // A PSU token names one consent, of one type: one token per scope.
    const [account] = await sandboxAccountSource(env.ts.server.config).list('psu');
    const debtor = { DebtorAccount: { SchemeName: account!.scheme, Identification: account!.identification } };
    for (const [scope, kind, data] of [
      ['accounts', 'account-access', undefined],
      ['payments', 'domestic-payment', undefined],
      ['fundsconfirmations', 'funds-confirmation', debtor],
    ] as const) {
      psuTokens[scope] = await psuAccessToken(env, tpp, clientId, `openid ${scope}`, await seedConsent(env.ts.storage, clientId, kind, data));
    }
  });

  after(async () => {
    await env?.close();
    await nginx?.close();
    await backend?.close();
  });

  test('every form at every path parameter of the four OB APIs: refused, or the canonical path of the route it was authorised for', async (t) => {
    const positions = operations.flatMap((op) => [...op.template.matchAll(/\{[^}]+\}/g)].map((m) => ({ op, param: m[0] })));
    assert.ok(CORPUS.length >= 200, `corpus of ${CORPUS.length} forms`);
    assert.ok(positions.length >= 50, `${positions.length} parameter positions`);
    const agent = env.ts.mtlsAgent(tlsOf(tpp.transport));
    const byInteraction = new Map<string, ReceivedCall>();
    const seen = () => {
      for (const c of backend.calls) byInteraction.set(String(c.headers['x-fapi-interaction-id']), c);
    };
    const failures: string[] = [];
    let refused = 0;
    let passed = 0;

    const cases = positions.flatMap(({ op, param }) => CORPUS.map((form) => ({ op, param, form })));
    const one = async ({ op, param, form }: (typeof cases)[number]): Promise<void> => {
      const fill = (value: string) => op.template.replace(/\{[^}]+\}/g, (p) => (p === param ? value : 'p1'));
      const path = `${op.context}${fill(form)}`;
      const id = randomUUID();
      const body = op.requestBody ? '{}' : undefined;
      const headers: Record<string, string> = {
        authorization: `Bearer ${op.flows.includes('client_credentials') ? ccToken : psuTokens[PSU_SCOPE[op.api]]}`,
        'x-fapi-interaction-id': id,
        ...(body ? { 'content-type': op.requestBody!.includes('application/json') ? 'application/json' : op.requestBody![0]! } : {}),
        ...(op.idempotency ? { 'x-idempotency-key': randomUUID() } : {}),
      };
      let status: number;
      let reachedViaGateway: boolean;
      try {
        const res = await agent.request({ origin: env.url, path, method: op.method as 'GET', headers, ...(body ? { body } : {}) });
        status = res.statusCode;
        reachedViaGateway = res.headers['x-backend'] === 'yes';
        await res.body.dump();
      } catch (err) {
        // The client library would not send it: nothing to learn from this form at this position.
        if (/invalid request path/i.test((err as Error).message)) return;
        throw err;
      }
      seen();
      const call = byInteraction.get(id);
      const where = `${op.method} ${op.context}${op.template} [${param} = ${JSON.stringify(form)}]`;
      if (!call) {
        if (reachedViaGateway || status < 400) failures.push(`${where}: ${status} without a recorded backend call`);
        if (PLAIN.includes(form)) failures.push(`${where}: a plain value was refused (${status})`);
        refused += 1;
        return;
      }
      const value = decoded(form);
      const expected = `/${SERVICES[op.api]}-service${fill(value ?? '\u0000')}`;
      if (value === undefined || !plainSegment(value)) failures.push(`${where}: reached ${call.method} ${call.url}; the value is not one plain segment`);
      else if (call.url !== expected || call.method !== op.method)
        failures.push(`${where}: backend got ${call.method} ${call.url}, not ${op.method} ${expected}`);
      passed += 1;
    };

    // Eight calls at a time; each is matched to what the backend got by its interaction id.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < cases.length) await one(cases[next++]!);
      }),
    );
    t.diagnostic(
      `${cases.length} calls (${CORPUS.length} forms × ${positions.length} parameter positions): ${refused} refused, ${passed} reached the backend; ${failures.length} failures`,
    );
    assert.deepEqual(failures.slice(0, 25), [], `${failures.length} failures`);
    assert.ok(passed >= PLAIN.length * positions.length, 'every plain value reached its backend at every position');
  });

  test('a refusal is OB-shaped 400 GATEWAY_PATH_INVALID, names nothing of the path, and comes before the token is read', async () => {
    const before = backend.calls.length;
    for (const path of [
      '/open-banking/v3.1/aisp/accounts/..%2F..%2Fpisp%2Fdomestic-payments%2Fpay-123',
      '/open-banking/v3.1/aisp/accounts/x%3F/balances',
      '/open-banking/v3.1/aisp/accounts/%2e%2e',
    ]) {
      // No token at all: the path is refused first.
      const res = await env.ts
        .mtlsAgent(tlsOf(tpp.transport))
        .request({ origin: env.url, path, method: 'GET', headers: { 'x-fapi-interaction-id': '93bac548-d2de-4546-b106-880a5018460d' } });
      const text = await res.body.text();
      assert.equal(res.statusCode, 400, `${path}: ${text}`);
      const body = JSON.parse(text) as Record<string, unknown>;
      assert.equal(body['Code'], 'GATEWAY_PATH_INVALID');
      assert.equal((body['Errors'] as Array<Record<string, unknown>>)[0]!['ErrorCode'], 'UK.OBIE.Field.Invalid');
      assert.ok(!/pisp|balances|%2/i.test(text), `the answer does not repeat the path: ${text}`);
    }
    assert.equal(backend.calls.length, before);
  });
});
