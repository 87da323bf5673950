import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, Agent } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../../src/crypto/pki.ts';
import type { IssuedCertificate } from '../../src/crypto/pki.ts';
import { clientCertificateError, createClientCertificateSource } from '../../src/http/client-cert.ts';
import type { ClientCertificate, ClientCertificateSourceOptions } from '../../src/http/client-cert.ts';

const HEADER = 'x-ssl-client-cert';

/** A request as the header path sees it: headers and a plain (non-TLS) socket. */
function fakeRequest(remoteAddress: string, headers: Record<string, string | string[]> = {}): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

const base64Der = (cert: IssuedCertificate) => Buffer.from(cert.x509.raw).toString('base64');
const DAY = 86_400_000;
const UNTRUSTED = 'a client (transport) certificate issued by a trusted CA is required over mutual TLS';
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
/** What a TPP is told about its certificate outside its validity period (at `now`). */
const validityMessage = (cert: IssuedCertificate, now = Date.now()) =>
  cert.x509.validToDate.getTime() < now
    ? `the client (transport) certificate expired on ${iso(cert.x509.validToDate)}; present a current one`
    : `the client (transport) certificate is not valid until ${iso(cert.x509.validFromDate)}`;

describe('client certificate source', () => {
  let root: IssuedCertificate;
  let issuing: IssuedCertificate;
  let otherRoot: IssuedCertificate;
  let direct: IssuedCertificate; // issued by root
  let viaIssuing: IssuedCertificate; // issued by the intermediate
  let stranger: IssuedCertificate; // issued by a root nobody trusts
  let expired: IssuedCertificate; // issued by root, valid until two days ago
  let notYetValid: IssuedCertificate; // issued by root, valid from in three days
  let strangerExpired: IssuedCertificate; // issued by the untrusted root, expired
  let futureIssuing: IssuedCertificate; // an intermediate under root, not valid yet
  let viaFutureIssuing: IssuedCertificate; // valid now, issued by that intermediate

  before(async () => {
    root = await createCertificateAuthority({ subject: 'O=Test, CN=Root', validityDays: 30 });
    issuing = await createCertificateAuthority({ subject: 'O=Test, CN=Issuing', validityDays: 30, issuer: root });
    otherRoot = await createCertificateAuthority({ subject: 'O=Other, CN=Root', validityDays: 30 });
    direct = await issueClientCertificate(root, { subject: 'O=TPP, CN=direct', validityDays: 10, keyType: 'ec' });
    viaIssuing = await issueClientCertificate(issuing, { subject: 'O=TPP, CN=via-issuing', validityDays: 10, keyType: 'ec' });
    stranger = await issueClientCertificate(otherRoot, { subject: 'O=TPP, CN=stranger', validityDays: 10, keyType: 'ec' });
    expired = await issueClientCertificate(root, { subject: 'O=TPP, CN=expired', validityDays: 1, keyType: 'ec', now: new Date(Date.now() - 3 * DAY) });
    notYetValid = await issueClientCertificate(root, {
      subject: 'O=TPP, CN=not-yet-valid',
      validityDays: 1,
      keyType: 'ec',
      now: new Date(Date.now() + 3 * DAY),
    });
    strangerExpired = await issueClientCertificate(otherRoot, {
      subject: 'O=TPP, CN=stranger-expired',
      validityDays: 1,
      keyType: 'ec',
      now: new Date(Date.now() - 3 * DAY),
    });
    // pki.ts never lets a leaf outlive its issuer, so the CA that is outside its validity is one not valid yet.
    futureIssuing = await createCertificateAuthority({
      subject: 'O=Test, CN=Future Issuing',
      validityDays: 10,
      issuer: root,
      now: new Date(Date.now() + 3 * DAY),
    });
    viaFutureIssuing = await issueClientCertificate(futureIssuing, { subject: 'O=TPP, CN=via-future-issuing', validityDays: 1, keyType: 'ec' });
  });

  describe('why a certificate is refused (clientCertificateError)', () => {
    const fromHeader = (cert: IssuedCertificate, cas: string[] = [root.certPem]) =>
      createClientCertificateSource({
        header: HEADER,
        encoded: true,
        trustedProxies: ['10.0.0.5'],
        getCaPems: () => cas,
      }).fromRequest(fakeRequest('10.0.0.5', { [HEADER]: encodeURIComponent(cert.certPem) }));
    const refusal = (cert: ClientCertificate | undefined, now?: number) => {
      const e = clientCertificateError(cert, now);
      return e && { code: e.code, status: e.status, error: e.error, description: e.description };
    };

    it('none, or one that does not chain to the trust store (expired or not): the trusted CA text', () => {
      const required = { code: 'CLIENT_CERT_REQUIRED', status: 401, error: 'invalid_client', description: UNTRUSTED };
      assert.deepEqual(refusal(undefined), required);
      assert.deepEqual(refusal(fromHeader(stranger)), required);
      assert.deepEqual(refusal(fromHeader(strangerExpired)), required);
      assert.equal(fromHeader(strangerExpired)?.outsideValidity, undefined);
      assert.deepEqual(refusal(fromHeader(viaIssuing)), required, 'intermediate missing from the trust store');
    });

    it('expired or not yet valid, from the trusted CA: says which, and when', () => {
      for (const cert of [expired, notYetValid]) {
        const presented = fromHeader(cert);
        assert.equal(presented?.authorized, false);
        assert.equal(presented?.outsideValidity, true);
        assert.deepEqual(refusal(presented), { code: 'CLIENT_CERT_EXPIRED', status: 401, error: 'invalid_client', description: validityMessage(cert) });
      }
    });

    it('a CA of the chain outside its validity period: says so', () => {
      const presented = fromHeader(viaFutureIssuing, [root.certPem, futureIssuing.certPem]);
      assert.equal(presented?.outsideValidity, true);
      assert.deepEqual(refusal(presented), {
        code: 'CLIENT_CERT_EXPIRED',
        status: 401,
        error: 'invalid_client',
        description: "a CA certificate in the client (transport) certificate's chain is outside its validity period",
      });
    });

    it('an authorized certificate that has expired since (a long keep-alive connection) is refused as expired', () => {
      const presented = fromHeader(direct);
      assert.equal(refusal(presented), undefined);
      const later = direct.x509.validToDate.getTime() + 1000;
      assert.deepEqual(refusal(presented, later), {
        code: 'CLIENT_CERT_EXPIRED',
        status: 401,
        error: 'invalid_client',
        description: validityMessage(direct, later),
      });
    });
  });

  describe('header path', () => {
    const source = (extra: Partial<ClientCertificateSourceOptions> = {}) =>
      createClientCertificateSource({
        header: HEADER,
        encoded: true,
        trustedProxies: ['10.0.0.5', '192.168.0.0/16', 'fd00::/8'],
        getCaPems: () => [root.certPem],
        ...extra,
      });

    it('reads a URL-encoded PEM from a trusted proxy', () => {
      const cert = source().fromRequest(fakeRequest('10.0.0.5', { [HEADER]: encodeURIComponent(direct.certPem) }));
      assert.equal(cert?.source, 'header');
      assert.equal(cert?.x509.fingerprint256, direct.x509.fingerprint256);
      assert.equal(cert?.pem, direct.x509.toString());
      assert.equal(cert?.authorized, true);
    });

    it('trusts CIDR ranges and IPv4-mapped peer addresses', () => {
      const headers = { [HEADER]: encodeURIComponent(direct.certPem) };
      assert.ok(source().fromRequest(fakeRequest('192.168.77.3', headers)));
      assert.ok(source().fromRequest(fakeRequest('::ffff:192.168.1.1', headers)));
      assert.ok(source().fromRequest(fakeRequest('::ffff:10.0.0.5', headers)));
      assert.ok(source().fromRequest(fakeRequest('fd12::1', headers)));
    });

    it('ignores the header from any other peer', () => {
      const headers = { [HEADER]: encodeURIComponent(direct.certPem) };
      for (const peer of ['10.0.0.6', '127.0.0.1', '::1', '::ffff:10.0.0.6', 'fe80::1', '']) {
        assert.equal(source().fromRequest(fakeRequest(peer, headers)), undefined, peer);
      }
    });

    it('ignores the header when no header name is configured', () => {
      const cert = source({ header: undefined }).fromRequest(fakeRequest('10.0.0.5', { [HEADER]: encodeURIComponent(direct.certPem) }));
      assert.equal(cert, undefined);
    });

    it('reads raw PEM (newlines flattened) and base64 DER when not encoded', () => {
      const raw = source({ encoded: false });
      const flattened = direct.certPem.trim().replaceAll('\n', ' ');
      assert.equal(raw.fromRequest(fakeRequest('10.0.0.5', { [HEADER]: flattened }))?.x509.fingerprint256, direct.x509.fingerprint256);
      assert.equal(raw.fromRequest(fakeRequest('10.0.0.5', { [HEADER]: base64Der(direct) }))?.x509.fingerprint256, direct.x509.fingerprint256);
    });

    it('returns undefined for malformed values instead of throwing', () => {
      const values = [
        '',
        '   ',
        'garbage',
        '%E0%A4%A',
        encodeURIComponent('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'),
        encodeURIComponent(direct.certPem + viaIssuing.certPem),
        `${encodeURIComponent(direct.certPem)}, ${encodeURIComponent(direct.certPem)}`,
      ];
      for (const value of values) assert.equal(source().fromRequest(fakeRequest('10.0.0.5', { [HEADER]: value })), undefined, value);
      assert.equal(source({ encoded: false }).fromRequest(fakeRequest('10.0.0.5', { [HEADER]: 'not*base64' })), undefined);
      assert.equal(source().fromRequest(fakeRequest('10.0.0.5', { [HEADER]: ['a', 'b'] })), undefined);
    });

    it('authorizes only certificates that chain to a trust store root through trust store certificates', () => {
      const check = (cert: IssuedCertificate, cas: string[]) =>
        source({ getCaPems: () => cas }).fromRequest(fakeRequest('10.0.0.5', { [HEADER]: encodeURIComponent(cert.certPem) }))?.authorized;
      assert.equal(check(direct, [root.certPem]), true);
      assert.equal(check(viaIssuing, [root.certPem]), false, 'intermediate missing from the trust store');
      assert.equal(check(viaIssuing, [root.certPem, issuing.certPem]), true);
      assert.equal(check(viaIssuing, [issuing.certPem]), false, 'no partial chains, as in Node TLS');
      assert.equal(check(stranger, [root.certPem, issuing.certPem]), false);
      assert.equal(check(otherRoot, [root.certPem]), false, 'self-signed');
      assert.equal(check(direct, []), false);
      assert.equal(check(direct, ['not a pem', root.certPem]), true, 'bad trust store entries are skipped');
    });

    it('does not authorize outside the validity window', () => {
      const at = (now: Date) => source({ now: () => now }).fromRequest(fakeRequest('10.0.0.5', { [HEADER]: encodeURIComponent(direct.certPem) }))?.authorized;
      assert.equal(at(new Date(Date.now() + 20 * 86_400_000)), false);
      assert.equal(at(new Date(Date.now() - 86_400_000)), false);
    });

    it("prefers a trusted proxy's header over the proxy's own TLS certificate", () => {
      const socket = { remoteAddress: '10.0.0.5', encrypted: true, authorized: true, getPeerCertificate: () => ({ raw: Buffer.from(stranger.x509.raw) }) };
      const withHeader = { headers: { [HEADER]: encodeURIComponent(direct.certPem) }, socket } as unknown as IncomingMessage;
      const withoutHeader = { headers: {}, socket } as unknown as IncomingMessage;
      assert.equal(source().fromRequest(withHeader)?.x509.fingerprint256, direct.x509.fingerprint256);
      assert.equal(source().fromRequest(withoutHeader)?.source, 'tls');
    });

    it('rejects invalid trusted_proxies entries up front', () => {
      for (const entry of ['proxy.local', '10.0.0.0/33', '10.0.0.0/x', '1.2.3.4/8/9']) {
        assert.throws(() => source({ trustedProxies: [entry] }), TypeError, entry);
      }
    });
  });

  describe('TLS path', () => {
    let server: Server;
    let port: number;
    const seen: Array<{ cert: ClientCertificate | undefined; socket: unknown }> = [];

    before(async () => {
      const serverCert = await issueServerCertificate(root, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 10 });
      // The header is configured and 127.0.0.1 is not a trusted proxy: a header must not override TLS.
      const source = createClientCertificateSource({ header: HEADER, encoded: true, trustedProxies: ['10.0.0.5'], getCaPems: () => [root.certPem] });
      server = createServer(
        { cert: serverCert.chainPem, key: serverCert.keyPem, ca: [root.certPem], requestCert: true, rejectUnauthorized: false },
        (req, res) => {
          const cert = source.fromRequest(req);
          seen.push({ cert, socket: req.socket });
          res.setHeader('content-type', 'application/json');
          const refused = clientCertificateError(cert);
          res.end(
            JSON.stringify({
              authorized: cert?.authorized ?? null,
              source: cert?.source ?? null,
              fingerprint: cert?.x509.fingerprint256 ?? null,
              refused: refused ? `${refused.code}: ${refused.description}` : null,
            }),
          );
        },
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );

    function get(client: IssuedCertificate | undefined, opts: { agent?: Agent; headers?: Record<string, string> } = {}) {
      return new Promise<{ authorized: boolean | null; source: string | null; fingerprint: string | null; refused: string | null }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/',
            ca: root.certPem,
            servername: 'localhost',
            ...(client ? { cert: client.chainPem, key: client.keyPem } : {}),
            agent: opts.agent ?? false,
            headers: opts.headers,
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve(JSON.parse(body)));
          },
        );
        req.on('error', reject);
        req.end();
      });
    }

    it('reports a certificate issued by the trusted CA as authorized', async () => {
      assert.deepEqual(await get(direct), { authorized: true, source: 'tls', fingerprint: direct.x509.fingerprint256, refused: null });
    });

    it('reports a self-signed certificate as not authorized', async () => {
      assert.deepEqual(await get(otherRoot), {
        authorized: false,
        source: 'tls',
        fingerprint: otherRoot.x509.fingerprint256,
        refused: `CLIENT_CERT_REQUIRED: ${UNTRUSTED}`,
      });
    });

    it('gives undefined without a client certificate, even with a header from an untrusted peer', async () => {
      assert.deepEqual(await get(undefined, { headers: { [HEADER]: encodeURIComponent(direct.certPem) } }), {
        authorized: null,
        source: null,
        fingerprint: null,
        refused: `CLIENT_CERT_REQUIRED: ${UNTRUSTED}`,
      });
    });

    it('says that a certificate of the trusted CA expired or is not valid yet; an expired one of another CA is untrusted', async () => {
      for (const cert of [expired, notYetValid]) {
        const got = await get(cert);
        assert.deepEqual(got, {
          authorized: false,
          source: 'tls',
          fingerprint: cert.x509.fingerprint256,
          refused: `CLIENT_CERT_EXPIRED: ${validityMessage(cert)}`,
        });
      }
      assert.equal((await get(strangerExpired)).refused, `CLIENT_CERT_REQUIRED: ${UNTRUSTED}`);
    });

    it('parses once per keep-alive connection', async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: direct.chainPem, key: direct.keyPem });
      try {
        const start = seen.length;
        await get(direct, { agent });
        await get(direct, { agent });
        const [first, second] = seen.slice(start);
        assert.equal(first!.socket, second!.socket, 'same connection');
        assert.equal(first!.cert, second!.cert, 'same cached object');
      } finally {
        agent.destroy();
      }
    });
  });
});
