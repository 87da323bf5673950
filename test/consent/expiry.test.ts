/**
 * A consent's end, at the boundary, with the server's clock moved by the test (one injected clock
 * for the whole server): a call one second before ExpirationDateTime passes, the call at it is
 * refused and the consent stored as expired (by the system, TKXP) with no sweeper involved; its
 * refresh token is refused; an authorization request is refused from the very second too.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as oidc from 'openid-client';
import { startDcrEnvironment, jsonBody, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import {
  accountAccessBody,
  authorizeConsent,
  consentCall,
  createConsent,
  publishConsentApis,
  registerConsentTpp,
  type ConsentTpp,
} from '../helpers/consents.ts';

/** The server's clock, held still and moved by the test: a slow machine cannot carry a call past a boundary. */
let at = Math.floor(Date.now() / 1000);
const now = () => at;
let env: DcrEnvironment;
let backend: TestBackend;
let aisp: ConsentTpp;

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment({}, { now });
  await publishConsentApis(env, backend.url, ['accounts']);
  aisp = await registerConsentTpp(env, env.aispPisp);
});
after(async () => {
  await env?.close();
  await backend?.close();
});

/** A consent ending `seconds` from the server's now, on a whole second; its end in epoch seconds. */
async function consentEnding(seconds: number): Promise<{ id: string; end: number }> {
  const end = now() + seconds;
  const id = await createConsent(
    env,
    aisp,
    'accounts',
    '/account-access-consents',
    accountAccessBody({ ExpirationDateTime: new Date(end * 1000).toISOString() }),
  );
  return { id, end };
}
/** Moves the server's clock to `at` (epoch seconds). */
const moveTo = (t: number) => {
  at = t;
};

test('a call one second before the end passes; at the end it is refused and the consent is expired, by the system', async () => {
  const { id, end } = await consentEnding(120);
  const out = await authorizeConsent(env, aisp, id, 'accounts');
  const tokens = await out.exchange();
  const read = () =>
    env.ts.fetch('/open-banking/v3.1/aisp/accounts', {
      cert: tlsOf(aisp.tpp.transport),
      headers: { authorization: `Bearer ${tokens.access_token}`, 'x-fapi-interaction-id': randomUUID() },
    });
  moveTo(end - 1);
  assert.equal((await read()).status, 200, 'one second before its end');
  assert.equal((await env.ts.storage.consents.get(id))!.status, 'AUTH');
  moveTo(end);
  const before = backend.calls.length;
  const refused = await read();
  assert.equal(refused.status, 401);
  assert.equal(backend.calls.length, before, 'nothing forwarded');
  const c = (await env.ts.storage.consents.get(id))!;
  assert.equal(c.status, 'EXPD');
  const last = (await env.ts.storage.consents.history(id)).at(-1)!;
  assert.deepEqual([last.from, last.to, last.actor, last.reason], ['AUTH', 'EXPD', 'system', 'TKXP']);
  await assert.rejects(oidc.refreshTokenGrant(out.rp, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
  const shown = await jsonBody(await consentCall(env, aisp, 'accounts', 'GET', `/account-access-consents/${id}`), 200);
  assert.equal((shown['Data'] as Record<string, unknown>)['Status'], 'Revoked', "v3.1's word for an ended account access consent");
});

test('an authorization request one second before the end goes on to the PSU; at the end it is refused', async () => {
  const early = await consentEnding(120);
  moveTo(early.end - 1);
  const inTime = await authorizeConsent(env, aisp, early.id, 'accounts');
  assert.ok(inTime.answer.get('code'), inTime.answer.toString());
  const late = await consentEnding(120);
  moveTo(late.end);
  const out = await authorizeConsent(env, aisp, late.id, 'accounts');
  assert.equal(out.answer.get('error'), 'invalid_request');
  assert.equal(out.answer.get('error_description'), 'the consent has passed its end');
  assert.equal((await env.ts.storage.consents.get(late.id))!.status, 'AWAU');
});
