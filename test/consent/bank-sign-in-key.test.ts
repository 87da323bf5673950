/**
 * The bank's sign-in with OpenDCR authenticating to the provider by private_key_jwt (a PS256 key
 * file instead of a secret), walked by hand over HTTPS across both origins: the dashboard's link,
 * the provider's sign-in page, the callback, and the customer's session; the provider accepts no
 * other client authentication for this client, so the sign-in proves the signed assertion.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { issueServerCertificate } from '../../src/crypto/pki.ts';
import { startDcrEnvironment, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort, readSandboxCa } from '../helpers/server.ts';
import { BANK_SCA, startBankIdp, type BankIdp } from '../helpers/bank-idp.ts';

const KEY_CLIENT = 'opendcr-psu-key';
let env: DcrEnvironment;
let idp: BankIdp;
let agent: Agent;

before(async () => {
  const port = await freePort();
  const { privateKey, publicKey } = await generateKeyPair('PS256', { extractable: true });
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-bank-idp-key-'));
  const keyFile = join(dir, 'client-key.pem');
  writeFileSync(keyFile, await exportPKCS8(privateKey), { mode: 0o600 });
  env = await startDcrEnvironment({
    oauth: { allowed_outbound_hosts: [`localhost:${port}`] },
    psu: { identity_provider: { issuer: `https://localhost:${port}`, client_id: KEY_CLIENT, private_key_file: keyFile, acr_values: [BANK_SCA] } },
  });
  const ca = readSandboxCa(env.ts.server.config.derived.dataDir);
  const cert = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
  idp = await startBankIdp({
    port,
    serverTls: { certPem: cert.chainPem, keyPem: cert.keyPem },
    opendcr: env.url,
    users: { psu: 'key-passcode' },
    keyClient: { client_id: KEY_CLIENT, jwks: { keys: [{ ...(await exportJWK(publicKey)), alg: 'PS256', use: 'sig', kid: 'opendcr-psu-key-1' }] } },
  });
  agent = new Agent({ connect: { ca: ca.certPem } });
});
after(async () => {
  await idp?.close();
  await agent?.close();
  await env?.close();
});

test('private_key_jwt: the customer signs in at the provider and has a dashboard session', async () => {
  const jars = new Map<string, Map<string, string>>();
  const ours = new URL(env.url).origin;
  async function go(url: URL, form?: URLSearchParams): Promise<Response> {
    const jar = jars.get(url.origin) ?? new Map<string, string>();
    jars.set(url.origin, jar);
    const headers: Record<string, string> = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const init = { method: form ? 'POST' : 'GET', headers, ...(form ? { body: form.toString() } : {}), redirect: 'manual' as const };
    const res =
      url.origin === ours
        ? await env.ts.fetch(url.pathname + url.search, init as never)
        : ((await undiciFetch(url, { ...init, dispatcher: agent })) as unknown as Response);
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0]!;
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return res;
  }
  let url = new URL('/psu/access/sign-in', env.url);
  let res = await go(url);
  let page = '';
  for (let hop = 0; hop < 12; hop++) {
    if (res.status === 302 || res.status === 303) {
      url = new URL(res.headers.get('location')!, url);
      res = await go(url);
      continue;
    }
    page = await res.text();
    const login = /action="(\/interaction\/[^"]+\/login)"/.exec(page);
    if (url.origin === idp.issuer && login) {
      url = new URL(login[1]!, url);
      res = await go(url, new URLSearchParams({ username: 'psu', password: 'key-passcode' }));
      continue;
    }
    break;
  }
  assert.equal(url.pathname, '/psu/sign-in/callback', page);
  assert.equal(res.status, 200, page);
  assert.match(page, /<h1>Signed in<\/h1>/);
  assert.deepEqual(idp.signIns, ['psu']);
  const dash = await go(new URL('/psu/access', env.url));
  assert.match(await dash.text(), /Signed in as/);
});
