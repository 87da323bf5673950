/**
 * The boundaries the code keeps: oidc-provider stays inside src/oauth (other modules ask the key
 * manager's services, never the provider's models), and storage and shared-state backends stay
 * behind their ports.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../src', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const files = sources(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));

test('only src/oauth imports oidc-provider or reaches the provider instance', () => {
  const outside = files.filter((f) => !f.path.startsWith('oauth/'));
  assert.ok(outside.length > 50);
  for (const f of outside) {
    assert.doesNotMatch(f.text, /from 'oidc-provider'/, `${f.path} imports oidc-provider`);
    assert.doesNotMatch(f.text, /KeyManagerInternals/, `${f.path} uses the key manager's internals`);
    assert.doesNotMatch(f.text, /keyManager\.provider|km\.provider|\.provider\.(Client|AccessToken|ClientCredentials|RegistrationAccessToken|Grant)\b/, `${f.path} touches the provider`);
  }
});

test('domain code depends on the storage ports, not on a backend', () => {
  for (const f of files.filter((x) => !x.path.startsWith('storage/'))) {
    // The embedded shared state is itself a SQLite backend and shares the database's write queue.
    const text = f.path === 'shared-state/embedded.ts' ? f.text.replace("from '../storage/sqlite/write-queue.ts'", '') : f.text;
    assert.doesNotMatch(text, /from '\.\.?\/(\.\.\/)*storage\/(sqlite|postgres)\//, `${f.path} imports a storage backend`);
  }
});

test('domain code depends on the shared-state port, not on a backend or a Redis client', () => {
  const outside = files.filter((x) => !x.path.startsWith('shared-state/'));
  for (const f of outside) {
    assert.doesNotMatch(f.text, /from '\.\.?\/(\.\.\/)*shared-state\/(embedded|postgres|redis)\.ts'/, `${f.path} imports a shared-state backend`);
    assert.doesNotMatch(f.text, /from 'ioredis'/, `${f.path} imports ioredis`);
  }
});
