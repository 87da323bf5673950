/**
 * Console logins behind a load balancer: the throttle counts each client's address (the rightmost
 * X-Forwarded-For hop that is not a trusted proxy), so one client's failed attempts do not lock
 * out every administrator who comes through the same balancer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashPassword } from '../../src/admin/passwords.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let ts: TestServer;

before(async () => {
  ts = await startTestServer({
    admin: { users: [{ username: 'ops', password_hash: await hashPassword('ops-password-123'), role: 'admin' }], login_attempts: 3 },
    // The test client connects from 127.0.0.1, which plays the load balancer here.
    apimgt: { mutual_ssl: { trusted_proxies: ['127.0.0.1'] } },
  });
});
after(async () => { await ts?.close(); });

const login = (forwardedFor: string, password: string) => ts.fetch('/admin/api/session', {
  method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
  body: JSON.stringify({ username: 'ops', password }),
});

test('one client past the limit is refused 429; another client behind the same balancer still signs in', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await login('203.0.113.5', 'wrong-password')).status, 401);
  assert.equal((await login('203.0.113.5', 'wrong-password')).status, 429);
  assert.equal((await login('203.0.113.5', 'ops-password-123')).status, 429);
  // A hop the client wrote in front of its own address does not make it someone else.
  assert.equal((await login('198.51.100.7, 203.0.113.5', 'ops-password-123')).status, 429);
  assert.equal((await login('203.0.113.6', 'ops-password-123')).status, 201);
  // A chain of trusted proxies is walked to the first address that is not one.
  assert.equal((await login('203.0.113.6, 127.0.0.1', 'wrong-password')).status, 401);
});
