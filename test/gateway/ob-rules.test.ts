/**
 * The OB request rules that read the body, through the gateway with a real backend: a repeated
 * x-idempotency-key gets the first response (the backend is called once), another body under the
 * same key is refused; x-jws-signature (detached, PS256, b64 false, OB crit claims) is verified
 * against the software's own key set, and every way of getting it wrong is refused before the
 * backend sees the call.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { FlattenedSign } from 'jose';
import { FormData } from 'undici';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { JWS_SIGNATURE_MAX_AGE } from '../../src/gateway/ob-rules.ts';
import { TIME_CASES, rawJson, signDetachedRaw } from '../helpers/time-claims.ts';

const PAYMENTS_FILE = new URL('../../specs/ob-read-write-openapi/v3.1.11/payment-initiation-openapi.yaml', import.meta.url);
const ADMIN = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
const CONSENTS = '/open-banking/v3.1/pisp/domestic-payment-consents';
const OB = 'http://openbanking.org.uk';

let env: DcrEnvironment;
let backend: TestBackend;
let token: string;

type Init = NonNullable<Parameters<DcrEnvironment['ts']['fetch']>[1]>;

async function sign(body: string, header: Record<string, unknown> = {}, key = env.aispPisp.signingKey.key): Promise<string> {
  const tpp = env.aispPisp;
  const jws = await new FlattenedSign(new TextEncoder().encode(body))
    .setProtectedHeader({
      alg: 'PS256',
      kid: tpp.signingKey.kid,
      b64: false,
      crit: ['b64', `${OB}/iat`, `${OB}/iss`, `${OB}/tan`],
      [`${OB}/iat`]: Math.floor(Date.now() / 1000) - 5,
      [`${OB}/iss`]: `${tpp.orgId}/${tpp.softwareId}`,
      [`${OB}/tan`]: 'openbanking.org.uk',
      ...header,
    })
    .sign(key, { crit: { [`${OB}/iat`]: true, [`${OB}/iss`]: true, [`${OB}/tan`]: true } });
  return `${jws.protected}..${jws.signature}`;
}

function pay(body: string, headers: Record<string, string>): Promise<Response> {
  return env.ts.fetch(CONSENTS, {
    method: 'POST',
    body,
    cert: tlsOf(env.aispPisp.transport),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID(), ...headers },
  } satisfies Init);
}

async function obCode(res: Response, status: number): Promise<string> {
  const body = (await res.json()) as { Code: string; Errors: Array<{ ErrorCode: string }> };
  assert.equal(res.status, status, JSON.stringify(body));
  return `${body.Code} ${body.Errors[0]!.ErrorCode}`;
}

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment();
  const form = new FormData();
  form.set('file', new Blob([readFileSync(PAYMENTS_FILE)]), 'pisp.yaml');
  form.set('additionalProperties', JSON.stringify({ endpointConfig: { production_endpoints: { url: backend.url } }, verifyJwsSignature: true }));
  const api = await jsonBody(
    await env.ts.fetch('/api/am/publisher/v4/apis/import-openapi', {
      method: 'POST',
      body: form,
      headers: { authorization: ADMIN, 'x-requested-with': 'test' },
    }),
    201,
  );
  await jsonBody(
    await env.ts.fetch(`/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId=${String(api['id'])}`, {
      method: 'POST',
      headers: { authorization: ADMIN, 'x-requested-with': 'test' },
    }),
    200,
  );
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  token = await env.ccToken(env.aispPisp, String(reg['client_id']), 'private_key_jwt', { scope: 'payments' });
});

after(async () => {
  await env?.close();
  await backend?.close();
});

test('a repeated x-idempotency-key gets the first response; the backend is called once', async () => {
  const body = JSON.stringify({ Data: { Initiation: { InstructionIdentification: 'A1' } }, Risk: {} });
  const key = randomUUID().slice(0, 36);
  const calls = backend.calls.length;
  backend.behave({ status: 201 });
  try {
    const first = await pay(body, { 'x-idempotency-key': key, 'x-jws-signature': await sign(body) });
    const firstBody = await first.text();
    assert.equal(first.status, 201, firstBody);
    const repeat = await pay(body, { 'x-idempotency-key': key, 'x-jws-signature': await sign(body) });
    assert.equal(repeat.status, 201);
    assert.equal(await repeat.text(), firstBody);
    assert.equal(repeat.headers.get('content-type'), 'application/json');
    assert.equal(backend.calls.length, calls + 1, 'the repeat was answered by the gateway');
    // Same key, other body: refused, and still not sent on.
    const other = JSON.stringify({ Data: { Initiation: { InstructionIdentification: 'B2' } }, Risk: {} });
    assert.equal(
      await obCode(await pay(other, { 'x-idempotency-key': key, 'x-jws-signature': await sign(other) }), 400),
      'GATEWAY_IDEMPOTENCY_MISMATCH UK.OBIE.Field.Invalid',
    );
    assert.equal(backend.calls.length, calls + 1);
  } finally {
    backend.behave({});
  }
});

test("a backend's 5xx is the answer, replayed; only a backend that says it did nothing frees the key (test/gateway/idempotency.test.ts has the rest)", async () => {
  const body = JSON.stringify({ Data: { Initiation: { InstructionIdentification: 'C3' } }, Risk: {} });
  const calls = backend.calls.length;
  try {
    const kept = `kept-${randomUUID().slice(0, 8)}`;
    backend.behave({ status: 503 });
    assert.equal((await pay(body, { 'x-idempotency-key': kept, 'x-jws-signature': await sign(body) })).status, 503);
    backend.behave({ status: 201 });
    assert.equal((await pay(body, { 'x-idempotency-key': kept, 'x-jws-signature': await sign(body) })).status, 503, 'replayed');
    assert.equal(backend.calls.length, calls + 1);
    const freed = `freed-${randomUUID().slice(0, 8)}`;
    backend.behave({ status: 503, headers: { 'x-opendcr-not-executed': 'true' } });
    const refused = await pay(body, { 'x-idempotency-key': freed, 'x-jws-signature': await sign(body) });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('x-opendcr-not-executed'), null, "the backend's word stays at the gateway");
    backend.behave({ status: 201 });
    assert.equal((await pay(body, { 'x-idempotency-key': freed, 'x-jws-signature': await sign(body) })).status, 201);
    assert.equal(backend.calls.length, calls + 3);
    assert.equal(backend.calls.at(-1)!.headers['x-idempotency-key'], freed, 'the backend receives the key, to deduplicate too');
  } finally {
    backend.behave({});
  }
});

test('x-idempotency-key is required where declared, and at most 40 characters', async () => {
  const body = '{"Data":{}}';
  assert.equal(await obCode(await pay(body, { 'x-jws-signature': await sign(body) }), 400), 'GATEWAY_HEADER_MISSING UK.OBIE.Header.Missing');
  assert.equal(
    await obCode(await pay(body, { 'x-idempotency-key': 'k'.repeat(41), 'x-jws-signature': await sign(body) }), 400),
    'GATEWAY_HEADER_INVALID UK.OBIE.Header.Invalid',
  );
});

test('x-jws-signature: each way of getting it wrong is refused before the backend', async () => {
  const body = JSON.stringify({ Data: { Initiation: { InstructionIdentification: 'D4' } }, Risk: {} });
  const calls = backend.calls.length;
  const k = () => ({ 'x-idempotency-key': randomUUID() });
  const { generateKeyPair } = await import('jose');
  const stranger = (await generateKeyPair('PS256')).privateKey;
  const cases: Array<[string, Promise<string> | string, string]> = [
    ['missing', '', 'GATEWAY_SIGNATURE_MISSING UK.OBIE.Signature.Missing'],
    ['not detached', 'a.b.c', 'GATEWAY_SIGNATURE_MALFORMED UK.OBIE.Signature.Malformed'],
    ['another body', sign('{"Data":{"other":true}}'), 'GATEWAY_SIGNATURE_INVALID UK.OBIE.Signature.Invalid'],
    ['another key, same kid', sign(body, {}, stranger as never), 'GATEWAY_SIGNATURE_INVALID UK.OBIE.Signature.Invalid'],
    ['wrong iss', sign(body, { [`${OB}/iss`]: 'someone/else' }), 'GATEWAY_SIGNATURE_CLAIM_INVALID UK.OBIE.Signature.InvalidClaim'],
    ['wrong tan', sign(body, { [`${OB}/tan`]: 'example.com' }), 'GATEWAY_SIGNATURE_CLAIM_INVALID UK.OBIE.Signature.InvalidClaim'],
    [
      'iat in the future',
      sign(body, { [`${OB}/iat`]: Math.floor(Date.now() / 1000) + 3600 }),
      'GATEWAY_SIGNATURE_CLAIM_INVALID UK.OBIE.Signature.InvalidClaim',
    ],
    ['crit without tan', sign(body, { crit: ['b64', `${OB}/iat`, `${OB}/iss`] }), 'GATEWAY_SIGNATURE_CLAIM_INVALID UK.OBIE.Signature.InvalidClaim'],
  ];
  for (const [name, header, expected] of cases) {
    const h = await header;
    const res = await pay(body, { ...k(), ...(h === '' ? {} : { 'x-jws-signature': h }) });
    assert.equal(await obCode(res, 400), expected, name);
  }
  assert.equal(backend.calls.length, calls, 'none reached the backend');
  const ok = await pay(body, { ...k(), 'x-jws-signature': await sign(body) });
  assert.equal(ok.status, 200);
  assert.equal(backend.calls.at(-1)!.body, body, 'the body is passed on byte for byte');
});

test('x-jws-signature: every http://openbanking.org.uk/iat value gets a 400 (never a 5xx), in the future or older than 24 hours too; so does its replay', async () => {
  const tpp = env.aispPisp;
  const body = JSON.stringify({ Data: { Initiation: { InstructionIdentification: 'E5' } }, Risk: {} });
  const calls = backend.calls.length;
  let accepted = 0;
  const header = (overrides: Record<string, string | undefined>) =>
    rawJson(
      {
        alg: 'PS256',
        kid: tpp.signingKey.kid,
        b64: false,
        crit: ['b64', `${OB}/iat`, `${OB}/iss`, `${OB}/tan`],
        [`${OB}/iss`]: `${tpp.orgId}/${tpp.softwareId}`,
        [`${OB}/tan`]: 'openbanking.org.uk',
        [`${OB}/iat`]: Math.floor(Date.now() / 1000) - 5,
      },
      overrides,
    );
  const cases: Array<{ name: string; overrides: Record<string, string | undefined>; accept: boolean }> = TIME_CASES.map((c) => ({
    name: c.name,
    // Only iat is a time claim of the OB header.
    overrides: { [`${OB}/iat`]: c.claims(Math.floor(Date.now() / 1000), 'iat')['iat'] },
    accept: c.accepted?.({ kind: 'bounded', claim: 'iat', required: true }) ?? false,
  }));
  const t = Math.floor(Date.now() / 1000);
  cases.push(
    { name: 'a day and a minute ago', overrides: { [`${OB}/iat`]: String(t - JWS_SIGNATURE_MAX_AGE - 60) }, accept: false },
    { name: 'a minute short of a day ago', overrides: { [`${OB}/iat`]: String(t - JWS_SIGNATURE_MAX_AGE + 60) }, accept: true },
  );
  for (const c of cases) {
    const signature = signDetachedRaw(header(c.overrides), body, tpp.signingKey.key);
    const idempotencyKey = randomUUID();
    // The replay: the same signed request, the same key.
    for (const attempt of ['first', 'replay']) {
      const res = await pay(body, { 'x-idempotency-key': idempotencyKey, 'x-jws-signature': signature });
      if (c.accept) {
        assert.equal(res.status, 200, `${c.name} (${attempt}) is accepted: ${await res.text()}`);
        await res.arrayBuffer().catch(() => undefined);
      } else {
        assert.equal(await obCode(res, 400), 'GATEWAY_SIGNATURE_CLAIM_INVALID UK.OBIE.Signature.InvalidClaim', `${c.name} (${attempt})`);
      }
    }
    if (c.accept) accepted++;
  }
  assert.equal(backend.calls.length, calls + accepted, 'only the accepted ones reached the backend, each once');
});
