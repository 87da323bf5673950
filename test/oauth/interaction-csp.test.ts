/**
 * The PSU pages' CSP (src/oauth/interactions/csp.ts): form-action names the bank and the origin of
 * the request's redirect URI, spelled so a browser can only read it as that one origin; a redirect
 * URI no source expression can name exactly adds nothing, never a wildcard or a second directive.
 * Chromium's side of it is test/oauth/psu-browser.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { interactionCsp, originSource } from '../../src/oauth/interactions/csp.ts';
import { PAGE_STYLE } from '../../src/oauth/interactions/pages.ts';

test('the origin of an http(s) redirect URI, canonical: lower case, default port dropped, no user info, path or query', () => {
  const cases: Array<[string, string]> = [
    ['https://tpp.example.com/cb', 'https://tpp.example.com'],
    ['https://TPP.Example.COM/CB', 'https://tpp.example.com'],
    ['https://tpp.example.com:443/cb?x=1&y=2', 'https://tpp.example.com'],
    ['https://tpp.example.com:8443/a/b;c', 'https://tpp.example.com:8443'],
    ['https://user:secret@tpp.example.com/cb', 'https://tpp.example.com'],
    ['https://xn--bcher-kva.example/cb', 'https://xn--bcher-kva.example'],
    ['https://bücher.example/cb', 'https://xn--bcher-kva.example'],
    ['https://192.0.2.10:8443/cb', 'https://192.0.2.10:8443'],
    ['https://0xC0.0.2.10/cb', 'https://192.0.2.10'],
    ['http://localhost:3000/cb', 'http://localhost:3000'],
    ['http://tpp.example.com:80/cb', 'http://tpp.example.com'],
    ['https://tpp-1.example.com/cb%20x', 'https://tpp-1.example.com'],
  ];
  for (const [uri, origin] of cases) assert.equal(originSource(uri), origin, uri);
});

test('nothing for a redirect URI whose origin a source expression cannot name exactly', () => {
  for (const uri of [
    // Schemes without an origin, or whose scheme-source would allow far more than one place.
    'com.example.app:/cb',
    'com.example.app://cb',
    'javascript:alert(1)',
    'data:text/html,x',
    'blob:https://tpp.example.com/x',
    'file:///etc/passwd',
    'ftp://tpp.example.com/cb',
    'wss://tpp.example.com/cb',
    'about:blank',
    // Hosts outside the host-source grammar: IPv6 literals, wildcards, CSP separators, underscores, a trailing dot.
    'https://[::1]/cb',
    'https://[2001:db8::1]:8443/cb',
    'https://*.example.com/cb',
    'https://tpp.example.com;script-src/cb',
    'https://tpp,example.com/cb',
    "https://tpp'self'.example/cb",
    'https://tpp_x.example.com/cb',
    'https://tpp.example.com./cb',
    'https://a..b/cb',
    // Not URLs at all.
    '',
    'cb',
    '/cb',
    'https://',
    'https://tpp.example.com:99999/cb',
    'https://tpp example.com/cb',
  ])
    assert.equal(originSource(uri), undefined, uri);
});

test("the policy: nothing by default, the page's one stylesheet by hash, forms to the bank and the one origin, no framing, no base", () => {
  const style = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`;
  assert.equal(interactionCsp(undefined), `default-src 'none'; style-src ${style}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`);
  assert.equal(
    interactionCsp('https://tpp.example.com:8443'),
    `default-src 'none'; style-src ${style}; form-action 'self' https://tpp.example.com:8443; frame-ancestors 'none'; base-uri 'none'`,
  );
});
