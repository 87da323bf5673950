/**
 * The built-in DCR API's branch (src/gateway/steps/internal-dcr.ts): the default plan's limits
 * counted per transport certificate (or for all calls without one), then the request handed to
 * the DCR routes under its published path; a throttled call never reaches them.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { x5tS256 } from '../../../src/crypto/thumbprint.ts';
import { internalDcr } from '../../../src/gateway/steps/internal-dcr.ts';
import type { ClientCertificate } from '../../../src/http/client-cert.ts';
import { api, assertRefused, fakeCall, fakeRequest, operation, plan, snapshotOf, transportCertificate } from './support.ts';

const cert = await transportCertificate('tpp');
const register = operation({ method: 'POST', path: '/register', security: [] });
const dcr = api({ id: 'dcr', name: 'DCR', context: '/open-banking/v3.3', backendUrl: 'internal:dcr', plans: ['DcrPlan', 'Gold'], operations: [register] });
const dcrPlan = plan({ name: 'DcrPlan', limit: { requestCount: 3, unitTime: 1, timeUnit: 'min' } });

function routed(query = '') {
  const c = fakeCall({
    req: fakeRequest({ method: 'POST', url: '/open-banking/v3.3/register' }),
    snapshot: snapshotOf([dcr], [dcrPlan, plan()]),
    match: { api: dcr, operation: register, rest: '/register' },
    dcr: true,
  });
  c.query = query;
  return c;
}

function deps(presented: ClientCertificate | undefined, count: number) {
  const counted: string[] = [];
  const passed: IncomingMessage[] = [];
  return {
    counted,
    passed,
    deps: {
      clientCert: () => presented,
      shared: {
        count: async (key: string) => {
          counted.push(key);
          return { count, resetAt: Date.now() / 1000 + 30 };
        },
      },
    },
  };
}

test("counted on the API's default plan per transport certificate, then passed to the DCR routes with its query", async () => {
  const d = deps(cert, 1);
  const call = routed('?a=1');
  await internalDcr(d.deps, call, (req) => d.passed.push(req));
  assert.deepEqual(d.counted, [`gw:p:dcr:${x5tS256(cert.x509)}:60`]);
  assert.deepEqual(d.passed, [call.req]);
  assert.equal(call.req.url, '/open-banking/v3.3/register?a=1');
});

test('without a certificate (the DCR service refuses it itself): counted together', async () => {
  const d = deps(undefined, 1);
  await internalDcr(d.deps, routed(), (req) => d.passed.push(req));
  assert.deepEqual(d.counted, ['gw:p:dcr:no-certificate:60']);
  assert.equal(d.passed.length, 1);
});

test('past the plan: 429 GATEWAY_THROTTLED and the DCR routes never see it', async () => {
  const d = deps(cert, 4);
  await assertRefused(() => internalDcr(d.deps, routed(), (req) => d.passed.push(req)), 'GATEWAY_THROTTLED', undefined, { 'retry-after': '30' });
  assert.equal(d.passed.length, 0);
});
