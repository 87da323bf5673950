import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compactJoseSegments, joseTooDeep, jsonTooDeep, MAX_JSON_DEPTH } from '../../src/http/json-limits.ts';

const nest = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const b64 = (s: string) => Buffer.from(s).toString('base64url');

test('jsonTooDeep counts arrays and objects, without recursion, up to any depth', () => {
  assert.equal(jsonTooDeep(nest(MAX_JSON_DEPTH)), false);
  assert.equal(jsonTooDeep(nest(MAX_JSON_DEPTH + 1)), true);
  assert.equal(jsonTooDeep(nest(1_000_000)), true);
  assert.equal(jsonTooDeep(`${'{"a":'.repeat(33)}1${'}'.repeat(33)}`), true);
  assert.equal(jsonTooDeep('{"a":[1,{"b":[2]}],"c":{}}', 4), false);
  assert.equal(jsonTooDeep('{"a":[1,{"b":[2]}],"c":{}}', 3), true);
});

test('jsonTooDeep skips brackets inside strings, escaped quotes included', () => {
  assert.equal(jsonTooDeep(JSON.stringify({ s: '['.repeat(100) }), 2), false);
  assert.equal(jsonTooDeep(JSON.stringify({ s: `\\"${'['.repeat(100)}` }), 2), false);
  assert.equal(jsonTooDeep(`{"s":"\\\\"}${nest(3)}`, 2), true, 'an escaped backslash ends before the quote');
});

test('joseTooDeep reads the header and payload of a JWS and only the header of a JWE', () => {
  const deep = b64(`{"x":${nest(40)}}`);
  const flat = b64('{"alg":"PS256"}');
  assert.equal(joseTooDeep(`${flat}.${flat}.sig`), false);
  assert.equal(joseTooDeep(`${flat}.${deep}.sig`), true);
  assert.equal(joseTooDeep(`${deep}.${flat}.sig`), true);
  assert.equal(joseTooDeep(`${flat}.${deep}.iv.ct.tag`), false, "a JWE's second part is an encrypted key");
  assert.equal(joseTooDeep(`${deep}.key.iv.ct.tag`), true);
  assert.equal(joseTooDeep('not a jwt'), false);
  assert.equal(compactJoseSegments('a.b'), undefined);
  assert.equal(compactJoseSegments('a.b+c.d'), undefined);
});
