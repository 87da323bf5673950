/**
 * Bank staff's side of consents, over real HTTPS: the operations API lists consents by TPP,
 * customer, type and status, page by page, shows one with its history, and stops one (an
 * authorised consent revoked, one awaiting the customer rejected), which stops its tokens at once;
 * `opendcr consent list | show | revoke` do the same through it. Bad input is answered in the
 * operations API's shape and changes nothing. Races: the PSU approving while staff revoke, and
 * the TPP deleting a consent twice at once, each many times, then the rows and history checked.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { startDcrEnvironment, jsonBody, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import {
  accountAccessBody,
  authorizeConsent,
  consentCall,
  createConsent,
  domesticPaymentBody,
  publishConsentApis,
  registerConsentTpp,
  type ConsentTpp,
} from '../helpers/consents.ts';
import { allow } from '../../src/cli/psu-flow.ts';
import { ADMIN } from '../gateway/support.ts';
import { inProcess, json, STACK_LINE } from '../cli/run-cli.ts';

let env: DcrEnvironment;
let backend: TestBackend;
let aisp: ConsentTpp;
let other: ConsentTpp;

const API = '/api/opendcr/v1/consents';

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment();
  await publishConsentApis(env, backend.url, ['accounts', 'payments']);
  aisp = await registerConsentTpp(env, env.aispPisp);
  other = await registerConsentTpp(env, await env.addTpp({ name: 'Staff Test Other Ltd', roles: ['AISP'] }));
});
after(async () => {
  await env?.close();
  await backend?.close();
});

const ops = (path: string, init: { method?: string; body?: unknown; authorization?: string } = {}) =>
  env.ts.fetch(path, {
    method: init.method ?? 'GET',
    headers: { authorization: init.authorization ?? ADMIN, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
const newAccountConsent = (who = aisp) => createConsent(env, who, 'accounts', '/account-access-consents', accountAccessBody());
const stored = (id: string) => env.ts.storage.consents.get(id);

describe('the operations API', () => {
  test('lists by TPP, status and type, newest first and page by page; shows one with its history', async () => {
    const mine = [await newAccountConsent(), await newAccountConsent(), await newAccountConsent()];
    const theirs = await newAccountConsent(other);
    const page1 = await jsonBody(await ops(`${API}?client_id=${aisp.clientId}&type=account-access&status=AWAU&limit=2`), 200);
    const ids = (page: Record<string, unknown>) => (page['list'] as Array<Record<string, unknown>>).map((c) => String(c['consentId']));
    const created = (page: Record<string, unknown>) => (page['list'] as Array<Record<string, unknown>>).map((c) => String(c['createdAt']));
    assert.equal(ids(page1).length, 2);
    assert.equal(typeof page1['next'], 'string');
    // Page by page, newest first, each consent once (those made in one millisecond by id).
    const pages = [page1];
    while (typeof pages.at(-1)!['next'] === 'string' && pages.length < 50) {
      pages.push(
        await jsonBody(await ops(`${API}?client_id=${aisp.clientId}&type=account-access&status=AWAU&limit=2&before=${String(pages.at(-1)!['next'])}`), 200),
      );
    }
    const all = pages.flatMap(ids);
    assert.equal(new Set(all).size, all.length, 'no consent twice');
    for (const m of mine) assert.ok(all.includes(m));
    const times = pages.flatMap(created);
    assert.deepEqual(times, [...times].sort().reverse());
    const everyone = ((await jsonBody(await ops(`${API}?limit=500`), 200))['list'] as Array<Record<string, unknown>>).map((c) => c['consentId']);
    assert.ok(everyone.includes(theirs) && mine.every((m) => everyone.includes(m)));
    assert.ok(
      !((await jsonBody(await ops(`${API}?client_id=${aisp.clientId}&limit=500`), 200))['list'] as Array<Record<string, unknown>>).some(
        (c) => c['consentId'] === theirs,
      ),
    );

    const one = await jsonBody(await ops(`${API}/${mine[0]}`), 200);
    assert.equal(one['status'], 'AWAU');
    assert.equal(one['clientId'], aisp.clientId);
    assert.deepEqual(
      (one['history'] as Array<Record<string, unknown>>).map((e) => [e['from'], e['to'], e['actor']]),
      [[null, 'AWAU', 'tpp']],
    );
  });

  test('bad input: 400 or 404 in the operations shape, nothing echoed; no credentials: 401', async () => {
    const probe = '<script>x</script>';
    for (const q of [
      `status=${probe}`,
      `type=${probe}`,
      'limit=0',
      'limit=501',
      'limit=1.5',
      `limit=${probe}`,
      'deleted=yes',
      'before=!!!',
      `client_id=${'x'.repeat(300)}`,
    ]) {
      const res = await ops(`${API}?${q}`);
      const text = await res.text();
      assert.equal(res.status, 400, q);
      assert.equal((JSON.parse(text) as { code: string }).code, 'MALFORMED_REQUEST', q);
      assert.ok(!text.includes(probe), 'nothing echoed');
    }
    assert.equal((await jsonBody(await ops(`${API}/00000000-0000-4000-8000-000000000000`), 404))['code'], 'CONSENT_UNKNOWN');
    assert.equal((await jsonBody(await ops(`${API}/${'x'.repeat(100)}/stop`, { method: 'POST', body: {} }), 404))['code'], 'CONSENT_UNKNOWN');
    const id = await newAccountConsent();
    const before = await stored(id);
    for (const body of [{ reason: '' }, { reason: 'x'.repeat(201) }, { why: 'x' }, [1]]) {
      assert.equal((await ops(`${API}/${id}/stop`, { method: 'POST', body })).status, 400, JSON.stringify(body));
    }
    assert.equal((await ops(API, { authorization: 'Basic d3Jvbmc6d3Jvbmc=' })).status, 401);
    assert.equal((await ops(`${API}/${id}/stop`, { method: 'POST', body: {}, authorization: 'Basic d3Jvbmc6d3Jvbmc=' })).status, 401);
    assert.deepEqual(await stored(id), before);
  });

  test('staff revoke an authorised consent: CANC with who and why; its tokens stop at once; a second stop is refused', async () => {
    const id = await newAccountConsent();
    const out = await authorizeConsent(env, aisp, id, 'accounts');
    const tokens = await out.exchange();
    const read = () =>
      env.ts.fetch('/open-banking/v3.1/aisp/accounts', {
        cert: tlsOf(aisp.tpp.transport),
        headers: { authorization: `Bearer ${tokens.access_token}`, 'x-fapi-interaction-id': '5e2f3a4b-1c2d-4e5f-8a9b-0c1d2e3f4a5b' },
      });
    assert.equal((await read()).status, 200);
    const stopped = await jsonBody(await ops(`${API}/${id}/stop`, { method: 'POST', body: { reason: 'customer called' } }), 200);
    assert.equal(stopped['status'], 'CANC');
    assert.deepEqual((stopped['history'] as Array<Record<string, unknown>>).at(-1), {
      at: (stopped['history'] as Array<Record<string, unknown>>).at(-1)!['at'],
      from: 'AUTH',
      to: 'CANC',
      actor: 'staff',
      actorId: 'admin',
      reason: 'customer called',
    });
    assert.equal((await read()).status, 401);
    await assert.rejects(oidc.refreshTokenGrant(out.rp, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    const read2 = await jsonBody(await consentCall(env, aisp, 'accounts', 'GET', `/account-access-consents/${id}`), 200);
    assert.equal((read2['Data'] as Record<string, unknown>)['Status'], 'Revoked');
    assert.equal((await jsonBody(await ops(`${API}/${id}/stop`, { method: 'POST', body: {} }), 409))['code'], 'CONSENT_NOT_STOPPABLE');
  });

  test('staff reject a consent awaiting the customer; an authorised payment consent cannot be stopped', async () => {
    const waiting = await newAccountConsent();
    assert.equal((await jsonBody(await ops(`${API}/${waiting}/stop`, { method: 'POST', body: {} }), 200))['status'], 'RJCT');
    const denied = await authorizeConsent(env, aisp, waiting, 'accounts');
    assert.equal(denied.answer.get('error'), 'invalid_request');

    const pay = await createConsent(env, aisp, 'payments', '/domestic-payment-consents', domesticPaymentBody());
    assert.ok((await authorizeConsent(env, aisp, pay, 'payments')).answer.get('code'));
    const refused = await jsonBody(await ops(`${API}/${pay}/stop`, { method: 'POST', body: {} }), 409);
    assert.equal(refused['code'], 'CONSENT_NOT_STOPPABLE');
    assert.equal((await stored(pay))!.status, 'AUTH');
  });
});

describe('races', () => {
  test('the PSU approving while staff stop the consent, many times: it ends stopped, and no token of it works', async () => {
    for (let round = 0; round < 8; round++) {
      const id = await newAccountConsent();
      let stopping: Promise<Response> | undefined;
      const out = await authorizeConsent(env, aisp, id, 'accounts', {
        onConsent: (p) => {
          // Staff stop it while the PSU's Allow is on its way (each round a little apart).
          stopping = new Promise<void>((r) => setTimeout(r, round % 4)).then(() =>
            ops(`${API}/${id}/stop`, { method: 'POST', body: { reason: `round ${round}` } }),
          );
          return allow(p);
        },
      });
      // Either way round, the stop succeeds: a waiting consent is rejected, an authorised one revoked.
      assert.equal((await stopping!).status, 200, `round ${round}`);
      const c = (await stored(id))!;
      assert.ok(c.status === 'CANC' || c.status === 'RJCT', `round ${round}: ${c.status}`);
      const events = await env.ts.storage.consents.history(id);
      // One unbroken chain: each change starts where the last ended.
      for (let i = 1; i < events.length; i++) assert.equal(events[i]!.from, events[i - 1]!.to, `round ${round}`);
      assert.equal(events.length, c.version);
      if (out.answer.get('code')) {
        // The approval won: the code may still be exchanged only while the consent stands, which it no longer does.
        await assert.rejects(out.exchange(), (err: { error?: string }) => err.error === 'invalid_grant', `round ${round}`);
        assert.equal(c.status, 'CANC');
      } else {
        // Stopped before the approval (access_denied, RJCT), or between the approval and the code
        // (the resumed request finds it no longer authorised: invalid_request, CANC).
        const error = out.answer.get('error');
        assert.ok(
          (error === 'access_denied' && c.status === 'RJCT') || (error === 'invalid_request' && c.status === 'CANC'),
          `round ${round}: ${error} ${c.status}`,
        );
      }
    }
  });

  test('the TPP deleting one consent twice at once, many times: one 204, one 400, one deletion in its history', async () => {
    for (let round = 0; round < 10; round++) {
      const id = await newAccountConsent();
      const answers = await Promise.all([0, 1].map(() => consentCall(env, aisp, 'accounts', 'DELETE', `/account-access-consents/${id}`)));
      assert.deepEqual(answers.map((a) => a.status).sort(), [204, 400], `round ${round}`);
      assert.equal((await env.ts.storage.consents.history(id)).filter((e) => e.reason === 'deleted').length, 1);
    }
  });
});

test('opendcr consent list | show | revoke, through the operations API', async () => {
  const id = await newAccountConsent();
  await (await authorizeConsent(env, aisp, id, 'accounts')).exchange();
  const ca = join(env.ts.server.config.derived.dataDir, 'pki', 'ca.pem');
  const cli = (...args: string[]) => inProcess([...args, '--server', env.url, '--ca', ca]);
  const listed = json<{ list: Array<{ consentId: string; status: string }> }>(
    await cli('consent', 'list', '--client', aisp.clientId, '--status', 'AUTH', '--json'),
  );
  assert.ok(listed.list.some((c) => c.consentId === id));
  const table = await cli('consent', 'list', '--client', aisp.clientId, '--status', 'AUTH');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^CONSENT_ID\s+TYPE\s+STATUS\s+CLIENT_ID\s+PSU\s+CREATED\s+ENDS$/m);
  const shown = await cli('consent', 'show', id);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`^consent ${id}: account-access, AUTH$`, 'm'));
  assert.match(shown.stdout, /AWAU → AUTH {2}by psu psu$/m);
  const revoked = await cli('consent', 'revoke', id, '--reason', 'fraud suspected');
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, /AUTH → CANC {2}by staff admin \(fraud suspected\)$/m);
  const again = await cli('consent', 'revoke', id);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /CONSENT_NOT_STOPPABLE/);
  assert.doesNotMatch(again.stderr, STACK_LINE);
  const unknown = await cli('consent', 'list', '--status', 'NOPE');
  assert.notEqual(unknown.code, 0);
});
