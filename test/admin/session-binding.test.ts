/**
 * A console session is bound to its user's record: after a restart with a configuration that
 * removes the user, changes the password (of a console user or of [super_admin]) or the role, the
 * old cookie is refused at once (ADMIN_SESSION_INVALID), on the same database and session key; a
 * user whose record did not change keeps the session.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify as toToml } from 'smol-toml';
import { Agent, request } from 'undici';
import { hashPassword } from '../../src/admin/passwords.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { freePort, readSandboxCa } from '../helpers/server.ts';

const PLANS = '/api/am/admin/v4/throttling/policies/subscription';
const dir = mkdtempSync(join(tmpdir(), 'opendcr-session-binding-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the server of `dir` with these [super_admin] and [[admin.users]] (same data folder, so the same database and session key). */
async function start(
  superAdminPassword: string,
  users: Array<{ username: string; password_hash: string; role: string }>,
): Promise<{
  server: RunningServer;
  call: (
    path: string,
    cookie?: string,
    init?: { method?: string; json?: unknown },
  ) => Promise<{ status: number; body: Record<string, unknown>; cookie?: string }>;
  close: () => Promise<void>;
}> {
  const file = join(dir, 'opendcr.toml');
  writeFileSync(
    file,
    toToml({
      server: { mode: 'sandbox', port: await freePort(), data_dir: join(dir, 'data') },
      log: { level: 'silent' },
      super_admin: { password: superAdminPassword },
      admin: { users },
    }),
  );
  const server = await startServer({ config: loadConfig({ path: file, env: {} }) });
  const agent = new Agent({ connect: { ca: readSandboxCa(server.config.derived.dataDir).certPem } });
  return {
    server,
    async call(path, cookie, init = {}) {
      const res = await request(new URL(path, server.url), {
        method: (init.method ?? 'GET') as 'GET',
        dispatcher: agent,
        headers: { ...(cookie ? { cookie } : {}), ...(init.json ? { 'content-type': 'application/json' } : {}) },
        ...(init.json ? { body: JSON.stringify(init.json) } : {}),
      });
      const text = await res.body.text();
      const set = /^(opendcr_admin=[^;]+)/.exec(String(res.headers['set-cookie'] ?? ''))?.[1];
      return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, ...(set ? { cookie: set } : {}) };
    },
    async close() {
      await agent.close();
      await server.close();
    },
  };
}

test('removing a user, changing a password or a role, then restarting, ends their sessions at once; an unchanged user keeps theirs', async () => {
  const passwords = { ops: 'ops-password-0001', audit: 'audit-password-02', keep: 'keep-password-003', gone: 'gone-password-004' };
  const hashes = Object.fromEntries(await Promise.all(Object.entries(passwords).map(async ([u, p]) => [u, await hashPassword(p)] as const))) as Record<
    keyof typeof passwords,
    string
  >;
  const first = await start('first-admin-password', [
    { username: 'ops', password_hash: hashes.ops, role: 'admin' },
    { username: 'audit', password_hash: hashes.audit, role: 'auditor' },
    { username: 'keep', password_hash: hashes.keep, role: 'admin' },
    { username: 'gone', password_hash: hashes.gone, role: 'admin' },
  ]);
  const cookies: Record<string, string> = {};
  try {
    for (const [username, password] of [...Object.entries(passwords), ['admin', 'first-admin-password']]) {
      const login = await first.call('/admin/api/session', undefined, { method: 'POST', json: { username, password } });
      assert.equal(login.status, 201, username);
      cookies[username!] = login.cookie!;
      assert.equal((await first.call(PLANS, login.cookie)).status, 200, username);
    }
  } finally {
    await first.close();
  }

  const second = await start('second-admin-password', [
    { username: 'ops', password_hash: await hashPassword('ops-password-0005'), role: 'admin' }, // a new password
    { username: 'audit', password_hash: hashes.audit, role: 'admin' }, // a new role
    { username: 'keep', password_hash: hashes.keep, role: 'admin' }, // unchanged
    // gone: removed
  ]);
  try {
    const outcome: Record<string, string> = {};
    for (const [user, cookie] of Object.entries(cookies)) {
      const res = await second.call(PLANS, cookie);
      outcome[user] = res.status === 200 ? 'kept' : `${res.status} ${String(res.body['code'])}`;
    }
    assert.deepEqual(outcome, {
      ops: '401 ADMIN_SESSION_INVALID',
      audit: '401 ADMIN_SESSION_INVALID',
      keep: 'kept',
      gone: '401 ADMIN_SESSION_INVALID',
      admin: '401 ADMIN_SESSION_INVALID',
    });
    // The console's first look: nobody is signed in with the old cookie.
    assert.deepEqual((await second.call('/admin/api/session', cookies['audit'])).body, { user: null, role: null });
    // The users sign in again with what is configured now.
    assert.equal(
      (await second.call('/admin/api/session', undefined, { method: 'POST', json: { username: 'ops', password: 'ops-password-0005' } })).status,
      201,
    );
    assert.equal((await second.call('/admin/api/session', undefined, { method: 'POST', json: { username: 'gone', password: passwords.gone } })).status, 401);
  } finally {
    await second.close();
  }
});
