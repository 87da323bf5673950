/**
 * The at-most-once exchange of an operation that declares x-idempotency-key
 * (src/gateway/steps/idempotent.ts), over a fake key store and a fake backend: who owns a key, the
 * first answer kept and replayed, a repeat while it runs or once its outcome is lost, and when a
 * key is freed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BufferedAnswer, ForwardTarget } from '../../../src/gateway/proxy.ts';
import { exchangeOnce, type IdempotencyDeps, idempotencyOwner } from '../../../src/gateway/steps/idempotent.ts';
import { requestFingerprint } from '../../../src/gateway/ob-rules.ts';
import type { IdempotencyRecord } from '../../../src/storage/ports.ts';
import { api, assertRefused, fakeCall, fakeRequest, fakeResponse, operation, subscriptionRecord, transportCertificate, verifiedToken } from './support.ts';

const cert = await transportCertificate('tpp');
const NOW = 2_000_000_000;
const TO: ForwardTarget = { origin: 'https://bank.example', path: '/pisp/domestic-payments', headers: {} };
const BODY = Buffer.from('{"Data":{}}');
const op = operation({ method: 'POST', path: '/domestic-payments', idempotency: true, body: { types: ['application/json'] } });

function call(keyManager = 'Resident Key Manager') {
  const res = fakeResponse();
  const c = fakeCall({
    req: fakeRequest({ method: 'POST', url: '/open-banking/v3.1/pisp/domestic-payments', headers: { 'x-idempotency-key': 'key-1' } }),
    res,
    match: { api: api({ operations: [op] }), operation: op, rest: '/domestic-payments' },
    cert,
    caller: { token: verifiedToken({ keyManager }), raw: 't', roles: [] },
    subscription: subscriptionRecord(),
    body: 'json',
  });
  return { call: c, res };
}

/** A key store answering `claim` and recording every call made to it, and a backend answering `answer`. */
function fakeDeps(claim: 'claimed' | IdempotencyRecord, answer: BufferedAnswer | Error) {
  const store: string[] = [];
  const kept: string[] = [];
  const deps: IdempotencyDeps = {
    store: {
      claimIdempotency: async (owner, key, fingerprint, leaseUntil, expiresAt, now) => {
        store.push(
          `claim ${owner} ${key} ${fingerprint === requestFingerprint('POST', '/open-banking/v3.1/pisp/domestic-payments', BODY)} ${leaseUntil - now} ${expiresAt - now}`,
        );
        return claim;
      },
      completeIdempotency: async (owner, key, response, expiresAt) => {
        store.push(`complete ${owner} ${key} ${expiresAt - NOW}`);
        kept.push(response);
      },
      releaseIdempotency: async (owner, key) => void store.push(`release ${owner} ${key}`),
      abandonIdempotency: async (owner, key) => void store.push(`abandon ${owner} ${key}`),
    },
    logger: { warn: () => undefined, error: () => undefined },
    now: () => NOW,
    leaseSeconds: 70,
    window: 86400,
  };
  // The backend call, as the forward step hands it over (its method, target and body bound).
  const exchange = async () => {
    store.push(`exchange POST ${TO.path} ${BODY.toString()}`);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { deps, store, kept, exchange };
}

const created: BufferedAnswer = {
  status: 201,
  headers: { 'content-type': 'application/json', location: '/pisp/domestic-payments/p1', 'x-request-id': 'per-call' },
  body: Buffer.from('{"Data":{"DomesticPaymentId":"p1"}}'),
  notExecuted: false,
};

test("an application's keys: a resident client's by its id, an external key manager's client by both", () => {
  assert.equal(idempotencyOwner(verifiedToken({ clientId: 'c1' })), 'c1');
  assert.equal(idempotencyOwner(verifiedToken({ keyManager: 'External IdP', clientId: 'c1' })), 'External IdP\nc1');
});

test('the first call with a key runs once, its answer is kept for the window and sent', async () => {
  const { deps, store, kept, exchange } = fakeDeps('claimed', created);
  const { call: c, res } = call();
  await exchangeOnce(deps, c, BODY, exchange);
  assert.deepEqual(store, ['claim client-1 key-1 true 70 86400', 'exchange POST /pisp/domestic-payments {"Data":{}}', 'complete client-1 key-1 86400']);
  assert.deepEqual(JSON.parse(kept[0]!), {
    status: 201,
    headers: { 'content-type': 'application/json', location: '/pisp/domestic-payments/p1' },
    body: created.body.toString('base64'),
  });
  assert.equal(res.status, 201);
  assert.deepEqual(res.headers, { 'content-type': 'application/json', location: '/pisp/domestic-payments/p1', 'content-length': created.body.length });
  assert.deepEqual(res.body, created.body);
});

test('a repeat with the same request replays the kept answer without calling the backend', async () => {
  const fingerprint = requestFingerprint('POST', '/open-banking/v3.1/pisp/domestic-payments', BODY);
  const response = JSON.stringify({ status: 500, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"e":1}').toString('base64') });
  const { deps, store, exchange } = fakeDeps({ fingerprint, response, expiresAt: NOW + 100, leaseUntil: NOW - 1 }, new Error('not called'));
  const { call: c, res } = call('External IdP');
  await exchangeOnce(deps, c, BODY, exchange);
  assert.deepEqual(store, ['claim External IdP\nclient-1 key-1 true 70 86400'], 'the backend is not called');
  assert.equal(res.status, 500, "whatever its status (a backend's 5xx too)");
  assert.equal(res.body?.toString(), '{"e":1}');
});

test('a repeat with another request: 400 MISMATCH; while the first may run: 409 IN_PROGRESS with Retry-After; after: 409 OUTCOME_UNKNOWN', async () => {
  const fingerprint = requestFingerprint('POST', '/open-banking/v3.1/pisp/domestic-payments', BODY);
  const other = fakeDeps({ fingerprint: 'another', response: null, expiresAt: NOW + 100, leaseUntil: NOW + 30 }, new Error('not called'));
  await assertRefused(() => exchangeOnce(other.deps, call().call, BODY, other.exchange), 'GATEWAY_IDEMPOTENCY_MISMATCH');
  const running = fakeDeps({ fingerprint, response: null, expiresAt: NOW + 100, leaseUntil: NOW + 30 }, new Error('not called'));
  await assertRefused(() => exchangeOnce(running.deps, call().call, BODY, running.exchange), 'GATEWAY_IDEMPOTENCY_IN_PROGRESS', undefined, {
    'retry-after': '30',
  });
  const lost = fakeDeps({ fingerprint, response: null, expiresAt: NOW + 100, leaseUntil: NOW }, new Error('not called'));
  await assertRefused(() => exchangeOnce(lost.deps, call().call, BODY, lost.exchange), 'GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN');
  for (const d of [other, running, lost]) assert.equal(d.store.length, 1, 'only the claim');
});

test('a call that never left frees its key; one that may have reached the backend abandons it; a backend that did nothing frees it', async () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const neverLeft = fakeDeps('claimed', refused);
  await assert.rejects(exchangeOnce(neverLeft.deps, call().call, BODY, neverLeft.exchange), refused);
  assert.equal(neverLeft.store.at(-1), 'release client-1 key-1');
  const cut = new Error('other side closed');
  const mayHave = fakeDeps('claimed', cut);
  await assert.rejects(exchangeOnce(mayHave.deps, call().call, BODY, mayHave.exchange), cut);
  assert.equal(mayHave.store.at(-1), 'abandon client-1 key-1');
  const notExecuted = fakeDeps('claimed', { ...created, status: 503, notExecuted: true });
  const { call: c, res } = call();
  await exchangeOnce(notExecuted.deps, c, BODY, notExecuted.exchange);
  assert.equal(notExecuted.store.at(-1), 'release client-1 key-1');
  assert.equal(res.status, 503, 'the answer still goes to the caller');
});

test('an answer the store cannot keep still reaches the caller', async () => {
  const { deps, exchange } = fakeDeps('claimed', created);
  const errors: string[] = [];
  const failing: IdempotencyDeps = {
    ...deps,
    store: { ...deps.store, completeIdempotency: async () => Promise.reject(new Error('database down')) },
    logger: { warn: () => undefined, error: (_o: unknown, msg?: string) => void errors.push(String(msg)) },
  };
  const { call: c, res } = call();
  await exchangeOnce(failing, c, BODY, exchange);
  assert.equal(res.status, 201);
  assert.deepEqual(errors, ['could not keep the answer of an idempotent call; a repeat will be told its outcome is unknown']);
});
