import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { X509Certificate } from 'node:crypto';
import { jwtVerify } from 'jose';
import { createJwksCache } from '../../src/crypto/jwks.ts';
import type { JwksCache } from '../../src/crypto/jwks.ts';
import { certificateSubjectDn } from '../../src/crypto/dn.ts';
import { createOutboundFetch } from '../../src/http/outbound.ts';
import { createSandboxDirectory, loadSandboxDirectory } from '../../src/sandbox/directory.ts';
import type { SandboxDirectory } from '../../src/sandbox/directory.ts';
import { sandboxJwksRoutes, startSandboxHost } from '../../src/sandbox/host.ts';
import type { SandboxHost } from '../../src/sandbox/host.ts';
import { createSandboxTpp, loadSandboxTpp } from '../../src/sandbox/tpp.ts';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { SSA_CLAIMS } from './claims.ts';

describe('sandbox host', () => {
  let directory: SandboxDirectory;
  let host: SandboxHost;
  let tpps: SandboxTpp[] = [];
  let tpp: SandboxTpp;
  let fetch: ReturnType<typeof createOutboundFetch>;
  let cache: JwksCache;

  before(async () => {
    directory = await createSandboxDirectory();
    host = await startSandboxHost({ directory, tpps: () => tpps });
    tpp = await createSandboxTpp(directory, {
      name: 'Acme Payments Ltd',
      roles: ['AISP'],
      redirectUris: ['https://tpp.example.com/cb'],
      jwksBaseUrl: host.url,
    });
    tpps = [tpp];
    fetch = createOutboundFetch({ allowedHosts: [host.host], extraCaPems: [host.caPem] });
    cache = createJwksCache({ fetch, maxAge: 600, staleFor: 86_400, cooldown: 30, timeoutMs: 3000 });
  });

  after(async () => {
    await fetch.close();
    await host.close();
  });

  it('serves the directory JWKS, which verifies SSAs with every standard claim', async () => {
    assert.equal(host.directoryJwksUrl, `${host.url}/directory/jwks`);
    const { payload } = await jwtVerify(await tpp.mintSsa(), cache.keySet(host.directoryJwksUrl), { algorithms: ['PS256'], issuer: directory.issuer });
    assert.deepEqual(Object.keys(payload).sort(), [...SSA_CLAIMS].sort());
  });

  it('serves the software JWKS named in the SSA, which verifies the request JWT by kid', async () => {
    const ssa = await jwtVerify(await tpp.mintSsa(), cache.keySet(host.directoryJwksUrl));
    const jwksUrl = String(ssa.payload['software_jwks_endpoint']);
    const { protectedHeader, payload } = await jwtVerify(await tpp.signRequest({ aud: 'as' }), cache.keySet(jwksUrl), {
      algorithms: ['PS256'],
      issuer: tpp.softwareId,
    });
    assert.equal(protectedHeader.kid, tpp.signingKey.kid);
    assert.equal(payload.aud, 'as');
  });

  it('publishes the transport certificate as a use tls key chaining to the directory', async () => {
    const keys = await cache.fetchKeys(`${host.url}/${tpp.orgId}/${tpp.softwareId}.jwks`);
    const tls = keys.keys.find((k) => k.use === 'tls')!;
    const leaf = new X509Certificate(Buffer.from(tls.x5c![0]!, 'base64'));
    assert.equal(leaf.raw.equals(tpp.transport.x509.raw), true);
    assert.equal(leaf.verify(directory.issuingCa.x509.publicKey), true);
    assert.equal(certificateSubjectDn(leaf), `CN=${tpp.softwareId},OU=${tpp.orgId},2.5.4.97=PSDGB-OB-Unknown${tpp.orgId},O=Acme Payments Ltd,C=GB`);
  });

  it('shows revoked keys at the revoked endpoint', async () => {
    const t = await createSandboxTpp(directory, { name: 'Revoker', roles: ['PISP'], redirectUris: ['https://r.example/cb'], jwksBaseUrl: host.url });
    tpps.push(t);
    const revokedUrl = t.ssaClaims.software_jwks_revoked_endpoint;
    assert.deepEqual(await getJson(revokedUrl), { keys: [] });
    t.revokeKey(t.signingKey.kid);
    assert.deepEqual(
      ((await getJson(revokedUrl)) as { keys: { kid: string }[] }).keys.map((k) => k.kid),
      [t.signingKey.kid],
    );
    assert.deepEqual(
      ((await getJson(t.ssaClaims.software_jwks_endpoint)) as { keys: { use: string }[] }).keys.map((k) => k.use),
      ['tls'],
    );
  });

  it('serves org key sets, with max-age and JSON headers, and 404 JSON otherwise', async () => {
    const res = await fetch(tpp.ssaClaims.org_jwks_endpoint);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'max-age=300');
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { keys: [] });
    assert.deepEqual(await getJson(tpp.ssaClaims.org_jwks_revoked_endpoint), { keys: [] });
    for (const path of ['/nope', `/${tpp.orgId}/unknownSoftware.jwks`, '/0015800001XXXXXAAA/x.jwks']) {
      const missing = await fetch(`${host.url}${path}`);
      assert.equal(missing.status, 404, path);
      assert.equal(missing.headers.get('content-type'), 'application/json');
      assert.deepEqual(await missing.json(), { error: 'not_found' });
    }
  });

  it('exposes the same routes as a pure function', () => {
    const routes = sandboxJwksRoutes(directory, () => tpps);
    assert.deepEqual(routes('/directory/jwks?x=1')?.body, directory.jwks);
    assert.deepEqual(routes(`/${tpp.orgId}/${tpp.softwareId}.jwks`)?.body, tpp.softwareJwks);
    assert.equal(routes(`/${tpp.orgId}/nope.jwks`)?.status, 404);
    assert.equal(routes('/register'), undefined);
  });

  it('keeps working after the directory and TPPs are saved and reloaded', async () => {
    const saved = JSON.parse(JSON.stringify({ directory, tpps }));
    const directory2 = loadSandboxDirectory(saved.directory);
    const tpps2: SandboxTpp[] = saved.tpps.map((json: unknown) => loadSandboxTpp(directory2, json));
    const host2 = await startSandboxHost({ directory: directory2, tpps: () => tpps2 });
    const fetch2 = createOutboundFetch({ allowedHosts: [host2.host], extraCaPems: [host2.caPem] });
    try {
      const cache2 = createJwksCache({ fetch: fetch2, maxAge: 600, staleFor: 86_400, cooldown: 30, timeoutMs: 3000 });
      const reloaded = tpps2[0]!;
      await jwtVerify(await reloaded.mintSsa(), cache2.keySet(host2.directoryJwksUrl), { algorithms: ['PS256'] });
      // The reloaded TPP signs with the original key, so the original host's JWKS verifies it too.
      const url = `${host2.url}/${reloaded.orgId}/${reloaded.softwareId}.jwks`;
      await jwtVerify(await reloaded.signRequest({}), cache2.keySet(url), { algorithms: ['PS256'], issuer: reloaded.softwareId });
      await jwtVerify(await reloaded.signRequest({}), cache.keySet(tpp.ssaClaims.software_jwks_endpoint), { algorithms: ['PS256'] });
    } finally {
      await fetch2.close();
      await host2.close();
    }
  });

  async function getJson(url: string): Promise<unknown> {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    return res.json();
  }
});
