/**
 * The request path as the gateway routes it: decoded exactly once and put in one canonical form,
 * before any route is looked up or any token read. An attack on the gateway walked out of an
 * API through a parameter: `/aisp/accounts/..%2F..%2Fpisp%2Fdomestic-payments%2Fx` matched
 * `/accounts/{AccountId}`, was forwarded raw, and the backend's own normaliser (nginx, Tomcat,
 * IIS) turned it into a call on the payments service. Backends decode and normalise in many
 * ways (`%2F`, `%5C`, `\`, `..;x=1`, double encoding, overlong UTF-8, full-width solidus), so
 * the only safe rule is a narrow alphabet: after one decoding, a path segment holds only
 * letters, digits and `- . _ ~ ! $ & ' ( ) * + , = : @` (RFC 3986 pchar without `;` and `%`),
 * and is never empty, `.` or `..`. Such a segment means the same to every normaliser, needs no
 * encoding, and cannot hide a separator. Anything else is refused with 400 GATEWAY_PATH_INVALID.
 *
 * The query is passed on as sent, but only when it is well formed (RFC 3986 query characters,
 * every `%` followed by two hex digits); a raw `#`, `\`, space or non-ASCII byte is refused.
 */
import { fail } from '../errors/app-error.ts';

/** Longest path and query accepted (the HTTP parser's header limit bounds them too). */
export const MAX_PATH_LENGTH = 2048;
export const MAX_QUERY_LENGTH = 4096;

/** One byte per char code: 1 where a decoded path segment may hold it literally. */
const SEGMENT_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@") SEGMENT_CHAR[c.charCodeAt(0)] = 1;

/** Characters a raw query may hold besides `%XX` (RFC 3986 §3.4: pchar, `/`, `?`). */
const QUERY_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?") QUERY_CHAR[c.charCodeAt(0)] = 1;

const hexValue = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
};

const invalid = (why: string) => fail('GATEWAY_PATH_INVALID', why);

/**
 * The canonical form of a raw request path (no query): each segment decoded once, checked, and
 * joined again with `/`. Throws GATEWAY_PATH_INVALID; the description never repeats the path.
 */
export function canonicalPath(raw: string): string {
  if (raw.length > MAX_PATH_LENGTH) throw invalid(`the path is longer than ${MAX_PATH_LENGTH} characters`);
  if (raw.charCodeAt(0) !== 0x2f) throw invalid('the path must start with /');
  let out = '';
  let segment = '';
  for (let i = 1; i <= raw.length; i++) {
    let c = i === raw.length ? 0x2f : raw.charCodeAt(i);
    if (c === 0x2f) {
      if (segment === '') throw invalid('a path segment is empty (// or a trailing /)');
      if (segment === '.' || segment === '..') throw invalid('a path segment is . or .. (encoded or not)');
      out += `/${segment}`;
      segment = '';
      continue;
    }
    if (c === 0x25) {
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw invalid('a % in the path is not followed by two hexadecimal digits');
      c = hi * 16 + lo;
      i += 2;
      // Decoded once only: an encoded %, /, \, ;, ?, #, control or non-ASCII byte falls out below.
    }
    if (c >= 128 || SEGMENT_CHAR[c] !== 1) {
      throw invalid(
        "a path segment holds a character the gateway does not route (only letters, digits and - . _ ~ ! $ & ' ( ) * + , = : @ are allowed, encoded or not)",
      );
    }
    segment += String.fromCharCode(c);
  }
  return out;
}

/** The raw query (with its leading `?`, or empty) when it is well formed; throws GATEWAY_PATH_INVALID otherwise. */
export function checkedQuery(raw: string): string {
  if (raw === '') return raw;
  if (raw.length > MAX_QUERY_LENGTH) throw invalid(`the query is longer than ${MAX_QUERY_LENGTH} characters`);
  for (let i = 1; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      if (hexValue(raw.charCodeAt(i + 1)) < 0 || hexValue(raw.charCodeAt(i + 2)) < 0)
        throw invalid('a % in the query is not followed by two hexadecimal digits');
      i += 2;
    } else if (c >= 128 || QUERY_CHAR[c] !== 1) {
      throw invalid('the query holds a character that must be percent-encoded');
    }
  }
  return raw;
}

/**
 * The path the backend is called with, built from the matched operation's template and the
 * values the router read for its parameters (each already one checked, canonical segment part).
 */
export function pathFromTemplate(template: string, params: Readonly<Record<string, string | undefined>>): string {
  return template.replace(/\{([^}/]+)\}/g, (_m, name: string) => {
    const value = params[routerParamName(name)];
    if (value === undefined || value === '') throw invalid('a path parameter is missing');
    return value;
  });
}

/** The router's name of a template parameter (find-my-way takes letters, digits and _). */
export const routerParamName = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_');
