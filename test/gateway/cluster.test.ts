/**
 * The gateway on one host with two worker processes, as `npm start` runs it: a catalogue change
 * made through one worker is served by the other (told by a change notice: the periodic check is
 * set to an hour; a path the worker does not serve yet makes it check the catalogue version
 * before answering 404), and a plan's limit holds for the whole host, not per worker.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch as undiciFetch } from 'undici';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import type { ClusterTestServer } from '../helpers/server.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { addPlan, OB_FILES, publishApi, subscriptionsOf, ADMIN, jsonOf, type ServerFetch } from './support.ts';

let env: DcrEnvironment<ClusterTestServer>;
let backend: TestBackend;
let fetchAdmin: ServerFetch;

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment({ gateway: { check_interval: 3600 } }, { workers: 2 });
  fetchAdmin = (path, init) => env.ts.fetch(path, init as never);
});

after(async () => {
  await env?.close();
  await backend?.close();
});

/** A call on a new connection (the primary hands connections to the workers in turn). */
async function freshCall(path: string, token: string, init: { method?: string; body?: string } = {}): Promise<Response> {
  const tls = tlsOf(env.aispPisp.transport);
  const agent = new Agent({ connect: { ca: env.ts.caPem, cert: tls.certPem, key: tls.keyPem } });
  try {
    const res = await undiciFetch(new URL(path, env.ts.url), {
      ...init,
      dispatcher: agent,
      headers: { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': randomUUID(), ...(init.body ? { 'content-type': 'application/json' } : {}) },
    });
    await res.arrayBuffer();
    return res as unknown as Response;
  } finally {
    await agent.close();
  }
}

test('an API published through one worker is served by both; a blocked subscription is refused by both', async (t) => {
  const api = await publishApi(fetchAdmin, OB_FILES.accounts, backend.url);
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  const clientId = String(reg['client_id']);
  const token = await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
  const consent = () => freshCall('/open-banking/v3.1/aisp/account-access-consents', token, { method: 'POST', body: '{}' });
  // Eight calls on eight connections: both workers answer (the primary alternates).
  const started = performance.now();
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await consent()).status);
  t.diagnostic(`statuses right after publishing: ${statuses.join(' ')} (${Math.round(performance.now() - started)} ms)`);
  // Published means served: a worker that has not had the notice yet checks the catalogue version
  // before it would answer 404 (a script that publishes and then calls must not see a 404).
  assert.ok(!statuses.includes(404), statuses.join(' '));
  // Every worker serves it once its notice arrived; the timed check is an hour away.
  await until('both workers serve the API', async () => {
    const round = await Promise.all(Array.from({ length: 6 }, consent));
    return round.every((r) => r.status === 200);
  });

  const [sub] = await subscriptionsOf(fetchAdmin, clientId);
  await jsonOf(
    await env.ts.fetch(`/api/am/publisher/v4/subscriptions/block-subscription?subscriptionId=${String(sub!['subscriptionId'])}`, {
      method: 'POST',
      headers: { authorization: ADMIN, 'x-requested-with': 'test' },
    }),
    200,
  );
  const blockedAt = performance.now();
  await until('both workers refuse the blocked subscription', async () => {
    const round = await Promise.all(Array.from({ length: 6 }, consent));
    return round.every((r) => r.status === 403);
  });
  t.diagnostic(`the block was in force on both workers after ${Math.round(performance.now() - blockedAt)} ms`);
  assert.ok(api['id']);
});

test('a plan of 30 calls an hour lets exactly 30 through, whichever worker takes each call', async () => {
  await addPlan(fetchAdmin, 'Thirty', 30, 'hour');
  await publishApi(fetchAdmin, OB_FILES.funds, backend.url, { policies: ['Thirty'], context: '/throttle/cbpii', name: 'Funds throttled' });
  const reg = await jsonBody(await env.register(env.cbpii, await env.validRequestClaims(env.cbpii)), 201);
  const clientId = String(reg['client_id']);
  const [sub] = await subscriptionsOf(fetchAdmin, clientId);
  assert.equal(sub!['throttlingPolicy'], 'Thirty');
  const token = await env.ccToken(env.cbpii, clientId, 'private_key_jwt', { scope: 'fundsconfirmations' });
  // Not across an hour boundary (windows start at whole hours).
  const intoHour = (Date.now() / 1000) % 3600;
  if (intoHour > 3540) await sleep((3600 - intoHour + 1) * 1000);
  const tls = tlsOf(env.cbpii.transport);
  const agents = Array.from({ length: 6 }, () => new Agent({ connect: { ca: env.ts.caPem, cert: tls.certPem, key: tls.keyPem } }));
  try {
    const calls = Array.from({ length: 60 }, (_, i) =>
      undiciFetch(new URL('/throttle/cbpii/funds-confirmation-consents', env.ts.url), {
        method: 'POST',
        body: '{}',
        dispatcher: agents[i % agents.length]!,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    );
    const statuses = await Promise.all(calls);
    assert.equal(statuses.filter((s) => s === 200).length, 30, statuses.join(' '));
    assert.equal(statuses.filter((s) => s === 429).length, 30, statuses.join(' '));
  } finally {
    await Promise.all(agents.map((a) => a.close()));
  }
});

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`${what}: not within 15 s`);
}
