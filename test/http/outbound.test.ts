/** The allow-listed outbound fetch says why a host could not be reached, in safe words. */
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';
import { createOutboundFetch, OutboundFetchError } from '../../src/http/outbound.ts';
import { freePort } from '../helpers/server.ts';

const fails = (message: string, reason: string | undefined) => (err: unknown) => {
  assert.ok(err instanceof OutboundFetchError, String(err));
  assert.equal(err.message, message);
  assert.equal(err.reason, reason);
  return true;
};

test('a refused connection, an untrusted certificate and a host not on the allow-list are told apart', async (t) => {
  const closed = await freePort();
  const ca = await createCertificateAuthority({ subject: 'CN=Untrusted Test CA', validityDays: 1 });
  const tls = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
  const server = createHttpsServer({ cert: tls.chainPem, key: tls.keyPem }, (_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const fetch = createOutboundFetch({ allowedHosts: [`127.0.0.1:${closed}`, `127.0.0.1:${port}`], timeoutMs: 3000 });
  t.after(() => fetch.close());

  await assert.rejects(
    fetch(`https://127.0.0.1:${closed}/keys`),
    fails(`could not fetch https://127.0.0.1:${closed}/keys (connection refused)`, 'connection refused'),
  );
  await assert.rejects(
    fetch(`https://127.0.0.1:${port}/keys?x=1`),
    fails(`could not fetch https://127.0.0.1:${port}/keys (its TLS certificate is not trusted)`, 'its TLS certificate is not trusted'),
  );
  await assert.rejects(
    fetch('https://elsewhere.example.com/keys'),
    fails('outbound request to elsewhere.example.com is not allowed by configuration', undefined),
  );
});
