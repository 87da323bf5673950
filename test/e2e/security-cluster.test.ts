/**
 * The holes the first attack on the server found, each tried at the HTTP
 * level against the server as `npm start` runs it: a primary and two worker processes sharing
 * the listener and the SQLite file, over real TLS with mutual authentication. Tables are read
 * afterwards through a separate connection to the same database.
 */
import assert from 'node:assert/strict';
import { hash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompactSign } from 'jose';
import { connect, type TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueClientCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { after, before, describe, test } from 'node:test';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { jsonBody, startDcrEnvironment, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import type { ClientTls, ClusterTestServer } from '../helpers/server.ts';

let env: DcrEnvironment<ClusterTestServer>;
before(async () => {
  // Short timeouts and a small connection cap, so the tests below can reach them.
  env = await startDcrEnvironment({ server: { headers_timeout: 2, request_timeout: 3, max_connections_per_address: 16 } }, { workers: 2 });
});
after(() => env?.close());

async function register(tpp: SandboxTpp): Promise<string> {
  const body = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201);
  return String(body['client_id']);
}

describe('PUT racing DELETE on one registration', () => {
  test('after every interleaving the client stays deleted, each loser gets 401, and exactly one "deleted" audit row exists', async () => {
    const tpp = env.aispPisp;
    for (let round = 0; round < 6; round += 1) {
      const clientId = await register(tpp);
      const token = await env.ccToken(tpp, clientId, 'private_key_jwt');
      const puts = await Promise.all(Array.from({ length: 6 }, async () => tpp.signRequest(await env.validRequestClaims(tpp))));
      const manage = (method: 'PUT' | 'DELETE', body?: string) =>
        env.manage(method, clientId, { token, cert: tpp.transport, ...(body === undefined ? {} : { body }) });
      // The DELETEs start a little later each round, so they land before, among and after the PUTs' writes.
      const responses = await Promise.all([
        ...puts.map((body) => manage('PUT', body)),
        sleep(round * 4).then(() => manage('DELETE')),
        sleep(round * 4).then(() => manage('DELETE')),
      ]);
      const statuses = responses.map((r) => r.status);
      const bodies = await Promise.all(responses.map((r) => r.text()));
      assert.ok(
        statuses.every((s) => s === 200 || s === 204 || s === 401),
        `round ${round}: only 200, 204 and 401: ${statuses.join(' ')} ${bodies.join(' ')}`,
      );
      assert.equal(statuses.filter((s) => s === 204).length, 1, `round ${round}: exactly one DELETE succeeds: ${statuses.join(' ')}`);
      for (const [i, s] of statuses.entries()) {
        if (s === 401) assert.equal(JSON.parse(bodies[i]!).error, 'invalid_token', bodies[i]);
      }

      const { storage } = env.ts;
      assert.equal(await storage.registrations.get(clientId), undefined, `round ${round}: no registration row`);
      assert.equal(await storage.oidc.find('Client', clientId), undefined, `round ${round}: no client record`);
      const trail = await storage.audit.list({ clientId, limit: 100 });
      const deleted = trail.filter((e) => e.event === 'deleted');
      assert.equal(deleted.length, 1, `round ${round}: one "deleted" audit row`);
      assert.deepEqual(
        trail.filter((e) => e.event !== 'rejected' && e.id > deleted[0]!.id),
        [],
        `round ${round}: nothing written after the delete`,
      );
      assert.equal(trail.filter((e) => e.event === 'updated').length, statuses.filter((s) => s === 200).length, `round ${round}: one "updated" row per 200`);
      const refused = await jsonBody(await env.tokenResponse(tpp, clientId, 'private_key_jwt'), 401);
      assert.equal(refused['error'], 'invalid_client', `round ${round}: the deleted client gets no token`);
    }
  });
});

describe('a revoked request-signing key', () => {
  test('is refused with or without a kid in the header, while the software key set is still cached', async () => {
    const tpp = await env.addTpp({ name: 'Revoked Key Cluster Ltd', roles: ['AISP'] });
    const claims = async () => env.validRequestClaims(tpp, { scope: 'openid accounts' });
    // Registrations before the revocation load the software key set into the workers' caches.
    for (let i = 0; i < 4; i += 1) await register(tpp);
    tpp.revokeKey(tpp.signingKey.kid);
    const withKid = await jsonBody(await env.register(tpp, await claims()), 400);
    assert.deepEqual(withKid, {
      error: 'unapproved_software_statement',
      error_description: `the key ${tpp.signingKey.kid} that signed the registration request has been revoked`,
    });
    for (let i = 0; i < 4; i += 1) {
      const withoutKid = await jsonBody(await env.register(tpp, await claims(), { sign: { kid: null } }), 400);
      assert.deepEqual(withoutKid, {
        error: 'invalid_client_metadata',
        error_description: "the registration request JWS header must carry the kid of its signing key in the software statement's software_jwks_endpoint",
      });
    }
    const created = (await env.ts.storage.audit.list({ softwareId: tpp.softwareId, event: 'created', limit: 100 })).length;
    assert.equal(created, 4, 'nothing was registered after the revocation');
  });
});

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A client assertion signed with the TPP's real key; `payload` is the exact JSON text signed. */
function signedAssertion(tpp: SandboxTpp, payload: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'PS256', kid: tpp.signingKey.kid }).sign(tpp.signingKey.key);
}

function assertionClaims(clientId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  const t = Math.floor(Date.now() / 1000);
  return { iss: clientId, sub: clientId, aud: `${env.url}/oauth2/token`, jti: randomUUID(), iat: t, exp: t + 300, ...over };
}

function tokenWith(assertion: string, cert: ClientTls, extra: Record<string, string> = {}): Promise<Response> {
  return env.ts.fetch('/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, ...extra }).toString(),
    cert,
  });
}

describe('a revoked-keys list the server may not fetch', () => {
  test('is reported as a configuration problem naming the location, not as "try again later"', async () => {
    const tpp = env.cbpii;
    const elsewhere = 'https://revocations.example.net/org/revoked.jwks';
    const claims = await env.validRequestClaims(tpp, { software_statement: await tpp.mintSsa({ software_jwks_revoked_endpoint: elsewhere }) });
    assert.deepEqual(await jsonBody(await env.register(tpp, claims), 400), {
      error: 'unapproved_software_statement',
      error_description: `the revoked-keys list at ${elsewhere} cannot be checked: this server is not allowed to fetch from that location (its host is not in [oauth] allowed_outbound_hosts, or it redirects); ask the bank to allow it`,
    });
  });
});

describe('the token endpoint and the client certificate', () => {
  test("a registered private_key_jwt client gets no token over an untrusted, self-signed, expired or another organisation's certificate", async () => {
    const tpp = env.aispPisp;
    const clientId = await register(tpp);
    const subject = tpp.transport.x509.subject.split('\n').join(', ');
    const rogueCa = await createCertificateAuthority({ subject: 'C=GB, O=Rogue, CN=Rogue Root CA', validityDays: 2 });
    const untrusted = await issueClientCertificate(rogueCa, { subject, validityDays: 2 });
    const selfSigned = await createCertificateAuthority({ subject, validityDays: 2 });
    const expired = await issueClientCertificate(env.directory.issuingCa, { subject, validityDays: 1, now: new Date(Date.now() - 3 * 86_400_000) });
    const cases: Array<[string, IssuedCertificate, string]> = [
      ['untrusted CA', untrusted, 'a client (transport) certificate issued by a trusted CA is required over mutual TLS'],
      ['self-signed', selfSigned, 'a client (transport) certificate issued by a trusted CA is required over mutual TLS'],
      [
        'expired',
        expired,
        `the client (transport) certificate expired on ${expired.x509.validToDate.toISOString().replace(/\.\d{3}Z$/, 'Z')}; present a current one`,
      ],
      [
        "another organisation's",
        env.cbpii.transport,
        `the transport certificate belongs to neither the software JWKS (use:tls) nor organisation ${tpp.orgId} / software ${tpp.softwareId}`,
      ],
    ];
    for (const [what, cert, description] of cases) {
      // The signing key is genuine each time: only the certificate is wrong.
      const res = await env.tokenResponse(tpp, clientId, 'private_key_jwt', { cert });
      assert.deepEqual(await jsonBody(res, 401), { error: 'invalid_client', error_description: description }, what);
    }
    await env.ccToken(tpp, clientId, 'private_key_jwt');
  });

  test('an expired certificate from the trusted CA, presented by the right software, is refused too', async () => {
    const tpp = env.cbpii;
    const clientId = await register(tpp);
    const expired = await issueClientCertificate(env.directory.issuingCa, {
      subject: tpp.transport.x509.subject.split('\n').join(', '),
      validityDays: 1,
      now: new Date(Date.now() - 3 * 86_400_000),
    });
    const res = await env.tokenResponse(tpp, clientId, 'private_key_jwt', { cert: expired });
    assert.equal((await jsonBody(res, 401))['error'], 'invalid_client');
  });
});

describe('client assertions the server must bound', () => {
  test('a correctly signed assertion nesting an array 10,000 deep is a 400, not a stack overflow', async () => {
    const tpp = env.aispPisp;
    const clientId = await register(tpp);
    const claims = JSON.stringify(assertionClaims(clientId));
    const deep = `${claims.slice(0, -1)},"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const res = await tokenWith(await signedAssertion(tpp, deep), tlsOf(tpp.transport));
    assert.deepEqual(await jsonBody(res, 400), {
      error: 'invalid_request',
      error_description: 'the client_assertion parameter nests JSON more than 32 levels deep',
    });
    // A request object at the authorization endpoint is bounded the same way.
    const object = `${claims.slice(0, -1)},"claims":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`;
    const authorize = await env.ts.fetch(`/oauth2/authorize?client_id=${clientId}&request=${await signedAssertion(tpp, object)}`, {
      cert: tlsOf(tpp.transport),
    });
    assert.deepEqual(await jsonBody(authorize, 400), {
      error: 'invalid_request',
      error_description: 'the request parameter nests JSON more than 32 levels deep',
    });
    // Both workers still serve.
    for (let i = 0; i < 4; i += 1) await env.ccToken(tpp, clientId, 'private_key_jwt');
    assert.doesNotMatch(env.ts.output(), /RangeError|Maximum call stack/);
  });

  test('an assertion valid for 10^9 seconds is refused and leaves no replay record; 30 minutes is accepted', async () => {
    const tpp = env.aispPisp;
    const clientId = await register(tpp);
    const t = Math.floor(Date.now() / 1000);
    for (const over of [
      { iat: t, exp: t + 1_000_000_000 },
      { iat: undefined, exp: t + 1_000_000_000 },
      { iat: t, exp: t + 1801 },
    ]) {
      const claims = assertionClaims(clientId, over);
      const res = await tokenWith(await signedAssertion(tpp, JSON.stringify(claims)), tlsOf(tpp.transport));
      assert.deepEqual(await jsonBody(res, 401), { error: 'invalid_client', error_description: 'client authentication failed' }, JSON.stringify(over));
      // Not recorded: the same id is still fresh in the replay store.
      const key = hash('sha256', `${clientId}${String(claims['jti'])}`, 'base64url');
      assert.equal(await env.ts.storage.replay.remember('oidc', key, t + 60), true, 'no replay record was kept');
    }
    const ok = await tokenWith(await signedAssertion(tpp, JSON.stringify(assertionClaims(clientId, { iat: t, exp: t + 1800 }))), tlsOf(tpp.transport));
    assert.equal(ok.status, 200, await ok.text());
  });
});

/** Opens a TLS connection with the TPP's certificate; resolves when the handshake is done or the connection fails. */
function openTls(cert: ClientTls): Promise<{ socket: TLSSocket; ok: boolean }> {
  const { port } = new URL(env.url);
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', ca: env.ts.caPem, cert: cert.certPem, key: cert.keyPem });
    socket.once('secureConnect', () => resolve({ socket, ok: true }));
    socket.once('error', () => resolve({ socket, ok: false }));
    socket.once('close', () => resolve({ socket, ok: false }));
  });
}

/** Everything the server sends until it closes the connection (bounded wait: fails after 15 s). */
function untilClosed(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open; received: ${received}`));
    }, 15_000);
    socket.on('data', (d: Buffer) => {
      received += d.toString();
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(limit);
      resolve(received);
    });
  });
}

/** The JSON body of a raw HTTP response, asserting our error shape (no framework code, no echo). */
function errorBody(raw: string, status: number): Record<string, unknown> {
  const [head, body] = raw.split('\r\n\r\n', 2);
  assert.match(head ?? '', new RegExp(`^HTTP/1.1 ${status} `), raw);
  const json = JSON.parse(body ?? '') as Record<string, unknown>;
  assert.deepEqual(Object.keys(json).sort(), ['error', 'error_description'], raw);
  return json;
}

describe('every error in our shape', () => {
  test('routing and parser errors: no framework code, no echoed path', async () => {
    const long = 'x'.repeat(150);
    const cases: Array<[string, number, string]> = [
      [`/open-banking/v3.3/register/${long}`, 414, 'a segment of the request path is too long'],
      ['/open-banking/v3.3/register/%zz', 400, 'the request path is not a valid URL'],
    ];
    for (const [path, status, description] of cases) {
      const res = await env.ts.fetch(path, { cert: tlsOf(env.aispPisp.transport) });
      const text = await res.text();
      assert.equal(res.status, status, text);
      assert.deepEqual(JSON.parse(text), { error: 'invalid_request', error_description: description });
      assert.doesNotMatch(text, /FST_|xxxx|%zz/);
    }
    for (const [request, status, description] of [
      ['GARBAGE\r\n\r\n', 400, 'malformed HTTP request'],
      [`GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'the request headers are too large'],
    ] as const) {
      const { socket, ok } = await openTls(tlsOf(env.aispPisp.transport));
      assert.ok(ok);
      const closed = untilClosed(socket);
      socket.write(request);
      assert.deepEqual(errorBody(await closed, status), { error: 'invalid_request', error_description: description });
    }
  });
});

describe('connections are bounded', () => {
  test('an idle connection, trickled headers and a trickled body are closed by the server', async () => {
    // The three at once: each waits out a timeout of its own.
    const idleCase = async () => {
      const idle = await openTls(tlsOf(env.aispPisp.transport));
      assert.ok(idle.ok);
      const idleRaw = await untilClosed(idle.socket);
      if (idleRaw !== '') errorBody(idleRaw, 408);
    };
    const headersCase = async () => {
      const headers = await openTls(tlsOf(env.aispPisp.transport));
      const headersClosed = untilClosed(headers.socket);
      const slowHeaders = `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ${'a'.repeat(200)}`;
      let i = 0;
      const trickleHeaders = setInterval(() => {
        if (!headers.socket.destroyed) headers.socket.write(slowHeaders[i++ % slowHeaders.length]!);
      }, 200);
      const headersRaw = await headersClosed.finally(() => clearInterval(trickleHeaders));
      assert.deepEqual(errorBody(headersRaw, 408), { error: 'invalid_request', error_description: 'the request was not received in time' });
    };
    const bodyCase = async () => {
      const body = await openTls(tlsOf(env.aispPisp.transport));
      const bodyClosed = untilClosed(body.socket);
      body.socket.write('POST /open-banking/v3.3/register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/jose\r\nContent-Length: 5000\r\n\r\n');
      const trickleBody = setInterval(() => {
        if (!body.socket.destroyed) body.socket.write('a');
      }, 200);
      const bodyRaw = await bodyClosed.finally(() => clearInterval(trickleBody));
      assert.deepEqual(errorBody(bodyRaw, 408), { error: 'invalid_request', error_description: 'the request was not received in time' });
    };
    await Promise.all([idleCase(), headersCase(), bodyCase()]);
  });

  test('connections from one address beyond the cap are refused before the handshake; the server serves again once they close', async () => {
    const cert = tlsOf(env.aispPisp.transport);
    const opened = await Promise.all(Array.from({ length: 60 }, () => openTls(cert)));
    const accepted = opened.filter((o) => o.ok).length;
    // 16 per worker process, two workers; keep-alive connections of earlier tests count too.
    assert.ok(accepted <= 32, `at most 2 × 16 connections are accepted, not ${accepted}`);
    assert.ok(accepted < 60, 'some connections were refused');
    await Promise.all(
      opened.map(async ({ socket }) => {
        socket.destroy();
        await new Promise((resolve) => (socket.closed ? resolve(undefined) : socket.once('close', resolve)));
      }),
    );
    await sleep(200);
    const res = await env.ts.fetch('/health', { cert });
    assert.equal(res.status, 200);
    assert.match(env.ts.output(), /connection refused: too many open connections from one address/);
  });
});
