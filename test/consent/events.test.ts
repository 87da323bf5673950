/**
 * The OB Event Notification API's aggregated polling (`POST /events` of the official v4.0 Events
 * file, published with its consents served here), over real HTTPS: a consent revoked by bank
 * staff gives its TPP one consent-authorization-revoked event, as a security event token signed
 * with the server's published key; it is delivered again until acknowledged and never after;
 * another TPP neither sees nor acknowledges it; maxEvents and moreAvailable page the events;
 * bad polling requests are 400 in the OB shape and change nothing; subscriptions (push) are 405.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { parse as parseYaml } from 'yaml';
import { startDcrEnvironment, jsonBody, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import {
  accountAccessBody,
  authorizeConsent,
  CONSENT_FILES,
  ccTokenFor,
  createConsent,
  publishConsentApis,
  registerConsentTpp,
  type ConsentTpp,
} from '../helpers/consents.ts';
import { ADMIN } from '../gateway/support.ts';
import { RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';
import type { PageStep } from '../../src/cli/psu-flow.ts';

const REVOKED = 'urn:uk:org:openbanking:events:consent-authorization-revoked';

let env: DcrEnvironment;
let backend: TestBackend;
let aisp: ConsentTpp;
let other: ConsentTpp;
let keys: ReturnType<typeof createLocalJWKSet>;

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment();
  await publishConsentApis(env, backend.url, ['accounts', 'events']);
  aisp = await registerConsentTpp(env, env.aispPisp);
  other = await registerConsentTpp(env, await env.addTpp({ name: 'Events Other Ltd', roles: ['AISP'] }));
  const discovery = (await jsonBody(await env.ts.fetch('/.well-known/openid-configuration'), 200)) as { jwks_uri: string };
  keys = createLocalJWKSet((await (await env.ts.fetch(new URL(discovery.jwks_uri).pathname)).json()) as JSONWebKeySet);
});
after(async () => {
  await env?.close();
  await backend?.close();
});

const doc = parseYaml(readFileSync(CONSENT_FILES.events, 'utf8')) as { components: { schemas: Record<string, unknown> } };
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(doc, 'events');
const pollingResponse = ajv.compile({ $ref: 'events#/components/schemas/OBEventPollingResponse1' });
const errorResponse = ajv.compile({ $ref: 'events#/components/schemas/OBErrorResponse1' });

const issuer = () => env.url.replace(/\/+$/, '');

async function poll(who: ConsentTpp, body: unknown, raw?: string): Promise<Response> {
  return env.ts.fetch('/open-banking/v4.0/events', {
    method: 'POST',
    cert: tlsOf(who.tpp.transport),
    headers: { authorization: `Bearer ${await ccTokenFor(env, who, 'accounts')}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
    body: raw ?? JSON.stringify(body),
  });
}
async function events(who: ConsentTpp, body: unknown = {}): Promise<{ moreAvailable: boolean; sets: Record<string, string> }> {
  const answer = await jsonBody(await poll(who, body), 200);
  assert.ok(pollingResponse(answer), JSON.stringify(pollingResponse.errors));
  return answer as { moreAvailable: boolean; sets: Record<string, string> };
}

/** A consent of `who` authorised by the sandbox PSU, then stopped by bank staff: its id. */
async function revokedByStaff(who = aisp): Promise<string> {
  const id = await createConsent(env, who, 'accounts', '/account-access-consents', accountAccessBody());
  await authorizeConsent(env, who, id, 'accounts');
  const res = await env.ts.fetch(`/api/opendcr/v1/consents/${id}/stop`, {
    method: 'POST',
    headers: { authorization: ADMIN, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'customer phoned' }),
  });
  assert.equal((await jsonBody(res, 200))['status'], 'CANC');
  return id;
}

/** Acknowledges everything `who` has waiting. */
async function drain(who: ConsentTpp): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const got = await events(who);
    if (Object.keys(got.sets).length === 0) return;
    await events(who, { ack: Object.keys(got.sets), maxEvents: 0 });
  }
  assert.fail('events kept coming');
}

describe('aggregated polling', () => {
  test('a revoked consent is one signed event for its TPP, delivered until acknowledged, never to another TPP', async () => {
    await drain(aisp);
    await drain(other);
    const id = await revokedByStaff();
    const first = await events(aisp);
    const jtis = Object.keys(first.sets);
    assert.equal(jtis.length, 1);
    assert.equal(first.moreAvailable, false);
    const jti = jtis[0]!;
    const set = first.sets[jti]!;
    assert.equal(decodeProtectedHeader(set).typ, 'secevent+jwt');
    assert.equal(decodeProtectedHeader(set).alg, 'PS256');
    const { payload } = await jwtVerify(set, keys, { issuer: issuer(), audience: aisp.clientId, typ: 'secevent+jwt' });
    assert.equal(payload.jti, jti);
    assert.equal(payload.sub, `${env.url.replace(/\/$/, '')}/open-banking/v3.1/aisp/account-access-consents/${id}`);
    assert.equal(typeof payload['toe'], 'number');
    assert.equal(typeof payload['txn'], 'string');
    assert.deepEqual(payload['events'], {
      [REVOKED]: {
        subject: {
          subject_type: 'http://openbanking.org.uk/rid_http://openbanking.org.uk/rty',
          'http://openbanking.org.uk/rid': id,
          'http://openbanking.org.uk/rty': 'account-access-consents',
          'http://openbanking.org.uk/rlk': [{ version: 'v3.1', link: payload.sub }],
        },
      },
    });

    // Another TPP sees nothing, and its acknowledgement of this jti does nothing.
    assert.deepEqual(await events(other, { ack: [jti] }), { moreAvailable: false, sets: {} });
    // Not acknowledged: delivered again, the same event.
    const again = await events(aisp);
    assert.deepEqual(Object.keys(again.sets), [jti]);
    const { payload: repeat } = await jwtVerify(again.sets[jti]!, keys, { issuer: issuer(), audience: aisp.clientId });
    assert.deepEqual({ ...repeat, iat: 0 }, { ...payload, iat: 0 });

    // Acknowledged (with maxEvents 0: nothing returned), then gone for good.
    assert.deepEqual(await events(aisp, { ack: [jti], maxEvents: 0 }), { moreAvailable: false, sets: {} });
    assert.deepEqual(await events(aisp), { moreAvailable: false, sets: {} });
    assert.deepEqual(await env.ts.storage.consents.notices(RESIDENT_KEY_MANAGER, aisp.clientId, 10), []);
  });

  test('maxEvents pages the events and moreAvailable says more are waiting; setErrs acknowledges too', async () => {
    await drain(aisp);
    const ids = [await revokedByStaff(), await revokedByStaff(), await revokedByStaff()];
    const two = await events(aisp, { maxEvents: 2 });
    assert.equal(Object.keys(two.sets).length, 2);
    assert.equal(two.moreAvailable, true);
    assert.deepEqual(await events(aisp, { maxEvents: 0 }), { moreAvailable: true, sets: {} });
    const [j1, j2] = Object.keys(two.sets) as [string, string];
    const rest = await events(aisp, { ack: [j1], setErrs: { [j2]: { err: 'jwtAud', description: 'not for us' } } });
    assert.equal(Object.keys(rest.sets).length, 1);
    assert.equal(rest.moreAvailable, false);
    const rids = await Promise.all(
      [...Object.values(two.sets), ...Object.values(rest.sets)].map(async (t) => {
        const { payload } = await jwtVerify(t, keys, { audience: aisp.clientId });
        return (payload['events'] as Record<string, { subject: Record<string, string> }>)[REVOKED]!.subject['http://openbanking.org.uk/rid'];
      }),
    );
    assert.deepEqual(rids.sort(), [...ids].sort(), 'oldest first, each consent once');
    await drain(aisp);
  });

  test('only a revocation by the PSU or the bank is an event: a rejection, a TPP deletion or an expiry is not', async () => {
    await drain(aisp);
    const deleted = await createConsent(env, aisp, 'accounts', '/account-access-consents', accountAccessBody());
    await authorizeConsent(env, aisp, deleted, 'accounts');
    const token = await ccTokenFor(env, aisp, 'accounts');
    const res = await env.ts.fetch(`/open-banking/v3.1/aisp/account-access-consents/${deleted}`, {
      method: 'DELETE',
      cert: tlsOf(aisp.tpp.transport),
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 204);
    const refused = await createConsent(env, aisp, 'accounts', '/account-access-consents', accountAccessBody());
    await authorizeConsent(env, aisp, refused, 'accounts', { onConsent: (p): PageStep => ({ post: p.deny!, form: new URLSearchParams() }) });
    assert.equal((await env.ts.storage.consents.get(refused))?.status, 'RJCT');
    assert.deepEqual(await events(aisp), { moreAvailable: false, sets: {} });
  });

  test('bad polling requests: 400 in the OB shape, the input never echoed, nothing acknowledged', async () => {
    await drain(aisp);
    await revokedByStaff();
    const pending = await env.ts.storage.consents.notices(RESIDENT_KEY_MANAGER, aisp.clientId, 10);
    assert.equal(pending.length, 1);
    const jti = pending[0]!.jti;
    const marker = 'zq-echo-marker';
    const bad: Array<[string, string]> = [
      ['not JSON', `{"ack": ["${jti}"], ${marker}`],
      ['an unknown field', JSON.stringify({ ack: [jti], [marker]: 1 })],
      ['maxEvents below 0', JSON.stringify({ ack: [jti], maxEvents: -1 })],
      ['maxEvents as text', JSON.stringify({ ack: [jti], maxEvents: '2' })],
      ['maxEvents a fraction', JSON.stringify({ ack: [jti], maxEvents: 1.5 })],
      ['ack not a list', JSON.stringify({ ack: jti })],
      ['an ack of 129 characters', JSON.stringify({ ack: [jti, 'x'.repeat(129)] })],
      ['an empty ack', JSON.stringify({ ack: [jti, ''] })],
      ['setErrs without err', JSON.stringify({ ack: [jti], setErrs: { [marker]: { description: 'x' } } })],
      ['returnImmediately as text', JSON.stringify({ ack: [jti], returnImmediately: 'yes' })],
      ['a list body', JSON.stringify([jti])],
      ['too many acknowledgements', JSON.stringify({ ack: [jti, ...Array.from({ length: 1000 }, (_, i) => `j-${i}`)] })],
    ];
    for (const [what, raw] of bad) {
      const res = await poll(aisp, undefined, raw);
      const text = await res.text();
      assert.equal(res.status, 400, `${what}: ${text}`);
      const body = JSON.parse(text) as { Errors: Array<{ ErrorCode: string }> };
      assert.ok(errorResponse(body), `${what}: ${JSON.stringify(errorResponse.errors)}`);
      assert.ok(!text.includes(marker), `${what}: echoed`);
      assert.ok(!/\bat .+:\d+:\d+/.test(text), `${what}: a stack`);
    }
    assert.deepEqual(await env.ts.storage.consents.notices(RESIDENT_KEY_MANAGER, aisp.clientId, 10), pending, 'nothing acknowledged');
    await drain(aisp);
  });

  test('event subscriptions (push) are not offered: 405, poll instead', async () => {
    for (const [method, path] of [
      ['GET', '/event-subscriptions'],
      ['POST', '/event-subscriptions'],
      ['DELETE', '/event-subscriptions/abc'],
    ] as const) {
      const res = await env.ts.fetch(`/open-banking/v4.0${path}`, {
        method,
        cert: tlsOf(aisp.tpp.transport),
        headers: {
          authorization: `Bearer ${await ccTokenFor(env, aisp, 'accounts')}`,
          ...(method === 'POST' ? { 'content-type': 'application/json', 'x-jws-signature': 'x' } : {}),
        },
        ...(method === 'POST' ? { body: JSON.stringify({ Data: { Version: '4.0' } }) } : {}),
      });
      const text = await res.text();
      assert.equal(res.status, 405, `${method} ${path}: ${text}`);
      assert.ok(errorResponse(JSON.parse(text)), text);
    }
    assert.equal(backend.calls.filter((r) => r.url.includes('event')).length, 0, 'the backend saw none of it');
  });
});
