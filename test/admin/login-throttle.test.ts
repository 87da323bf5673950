/**
 * The administrator password throttle behind a load balancer: it counts each client's address
 * (the rightmost X-Forwarded-For hop that is not a trusted proxy; an IPv6 client's whole /64) and
 * each account, so one client's failures lock that client and that account, not every
 * administrator who comes through the same balancer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashPassword } from '../../src/admin/passwords.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { awayFromWindowEdge, TEST_LOGIN_WINDOW } from './throttle-support.ts';

let ts: TestServer;
const USERS = { ops: 'ops-password-123', ops2: 'ops2-password-123', ops3: 'ops3-password-123' } as const;

before(async () => {
  ts = await startTestServer({
    admin: {
      users: await Promise.all(Object.entries(USERS).map(async ([username, p]) => ({ username, password_hash: await hashPassword(p), role: 'admin' }))),
      login_attempts: 3,
      login_window: TEST_LOGIN_WINDOW,
    },
    // The test client connects from 127.0.0.1, which plays the load balancer here.
    apimgt: { mutual_ssl: { trusted_proxies: ['127.0.0.1'] } },
  });
  await awayFromWindowEdge();
});
after(async () => {
  await ts?.close();
});

const login = (forwardedFor: string, username: string, password: string) =>
  ts.fetch('/admin/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    body: JSON.stringify({ username, password }),
  });

test('one client past the limit is refused 429 (its account too); another client behind the same balancer still signs in', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await login('203.0.113.5', 'ops', 'wrong-password')).status, 401);
  assert.equal((await login('203.0.113.5', 'ops', 'wrong-password')).status, 429);
  assert.equal((await login('203.0.113.5', 'ops2', USERS.ops2)).status, 429, 'the address is locked, for every account');
  // A hop the client wrote in front of its own address does not make it someone else.
  assert.equal((await login('198.51.100.7, 203.0.113.5', 'ops2', USERS.ops2)).status, 429);
  assert.equal((await login('203.0.113.6', 'ops', USERS.ops)).status, 429, 'the account is locked, from every address');
  assert.equal((await login('203.0.113.6', 'ops2', USERS.ops2)).status, 201);
  // A chain of trusted proxies is walked to the first address that is not one.
  assert.equal((await login('203.0.113.6, 127.0.0.1', 'ops2', 'wrong-password')).status, 401);
});

test('an IPv6 client is counted by its /64: other addresses of the same /64 are the same client', async () => {
  // Each guess from another address of one /64, each at another account name.
  for (const [i, address] of ['2001:db8:1:2::1', '2001:db8:1:2::ffff', '2001:db8:1:2:a:b:c:d'].entries())
    assert.equal((await login(address, `nobody-${i}`, 'wrong-password')).status, 401);
  for (const address of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002::9']) {
    assert.equal((await login(address, 'ops3', USERS.ops3)).status, 429, address);
  }
  assert.equal((await login('2001:db8:1:3::1', 'ops3', USERS.ops3)).status, 201, 'the next /64 is another client');
});
