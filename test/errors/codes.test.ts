/** The error catalog: every code documented, thrown codes all in the catalog, statuses and wire codes consistent. */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERRORS, ERROR_CODES } from '../../src/errors/codes.ts';
import { errorsMarkdown } from '../../src/errors/docs.ts';
import { AppError, fail } from '../../src/errors/app-error.ts';
import { toErrorResponse } from '../../src/errors/to-response.ts';
import { StorageUnavailableError } from '../../src/storage/ports.ts';

test('docs/errors.md is current (npm run docs:errors)', () => {
  assert.equal(readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8'), errorsMarkdown());
});

test('codes are UPPER_SNAKE, each with a summary, a 4xx/5xx status and a wire code that fits it', () => {
  for (const code of ERROR_CODES) {
    const e = ERRORS[code];
    assert.match(code, /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/, code);
    assert.ok(e.summary.length > 10, code);
    assert.ok(e.status >= 400 && e.status < 600, code);
    if (e.error === 'invalid_token' || e.error === 'invalid_client') assert.equal(e.status, 401, code);
    if (['invalid_client_metadata', 'invalid_software_statement', 'unapproved_software_statement', 'invalid_redirect_uri'].includes(e.error))
      assert.equal(e.status, 400, code);
  }
});

test('every code the source throws with fail() or bearerError() is in the catalog', () => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) files.push(path);
    }
  };
  walk(new URL('../../src', import.meta.url).pathname);
  const used = new Set<string>();
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\b(?:fail|bearerError)\('([A-Z_0-9]+)'/g)) used.add(m[1]!);
  }
  assert.ok(used.size > 60, `found ${used.size} codes`);
  for (const code of used) assert.ok(code in ERRORS, `${code} is thrown but not in the catalog`);
});

test('the edge picks the wire shape; unknown errors say nothing', () => {
  const e = fail('SCOPE_NOT_FOUND', 'scope "x" does not exist');
  assert.ok(e instanceof AppError);
  assert.deepEqual(toErrorResponse(e).body, { error: 'not_found', error_description: 'scope "x" does not exist' });
  assert.deepEqual(toErrorResponse(e, 'admin', 'trace-1').body, { code: 'SCOPE_NOT_FOUND', message: 'scope "x" does not exist', traceId: 'trace-1' });
  const unknown = toErrorResponse(new Error('secret internals at /src/x.ts:1:1'));
  assert.deepEqual(unknown, {
    status: 500,
    headers: {},
    code: 'SERVER_ERROR',
    body: { error: 'server_error', error_description: 'the server could not process the request' },
  });
  const storage = toErrorResponse(new StorageUnavailableError('storage: x: database unavailable'));
  assert.equal(storage.status, 503);
  assert.equal(storage.code, 'STORAGE_UNAVAILABLE');
});
