/**
 * A token signed with a key this process has not loaded yet (another host created it: a missed
 * notice, or two hosts making their first keys at once on a new database) is checked against the
 * database's keys before it is refused. Two servers on one database; the second signs with a key
 * the first never heard of.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { parse as parseToml, stringify as toToml } from 'smol-toml';
import { startServer, type RunningServer } from '../../src/server.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startDcrEnvironment, dcrClient, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort } from '../helpers/server.ts';

let env: DcrEnvironment;
let second: RunningServer;

before(async () => {
  env = await startDcrEnvironment({ oauth: { key_rotation: { check_interval: 3600 } } });
  // A newer signing key in the database, announced to nobody: the first server has not loaded it.
  const { privateKey } = await generateKeyPair('PS256', { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  await env.ts.storage.keys.add({
    kid,
    alg: 'PS256',
    privateJwk: { ...jwk, kid, alg: 'PS256', use: 'sig' },
    createdAt: Math.floor(Date.now() / 1000) + 1,
    retiredAt: null,
    removeAfter: null,
  });
  // The second server starts afterwards, so it signs with that key.
  const source = env.ts.server.config.source!;
  const table = parseToml(readFileSync(source, 'utf8')) as Record<string, Record<string, unknown>>;
  table['server'] = { ...table['server'], port: await freePort(), base_url: env.url };
  const file = source.replace(/\.toml$/, '-second.toml');
  writeFileSync(file, toToml(table));
  second = await startServer({ config: loadConfig({ path: file, env: {} }) });
});

after(async () => {
  await second?.close();
  await env?.close();
});

test('a token signed on another server with a key this one has not loaded is accepted after a reload from the database', async () => {
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  const clientId = String(reg['client_id']);
  // The token from the second server (its own port, same issuer), with the TPP's certificate.
  const secondUrl = `https://localhost:${second.port}`;
  const onSecond = dcrClient(
    { url: secondUrl, fetch: (path, init) => env.ts.fetch(`${secondUrl}${path}`, init as never) as never },
    env.directory,
    env.host,
    [],
  );
  const token = await onSecond.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
  const keys = await env.ts.storage.keys.list(Math.floor(Date.now() / 1000));
  assert.equal(decodeProtectedHeader(token).kid, keys.find((k) => k.alg === 'PS256')!.kid, 'signed with the key the first server never loaded');
  // The first server checks it (DCR management uses the key manager's verifier).
  const read = await env.manage('GET', clientId, { token, cert: env.aispPisp.transport });
  assert.equal(read.status, 200, await read.clone().text());
});
