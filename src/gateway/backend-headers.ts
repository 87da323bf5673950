/**
 * Which request headers reach an API's backend: an allow-list, never the client's headers minus
 * a few. An attack on the gateway had `X-HTTP-Method-Override: DELETE` turn a GET into a delete,
 * `X-Original-URL` re-route a call behind the gateway's back, and `x_opendcr_identity` (an
 * underscore look-alike that CGI and WSGI backends fold into the identity header) forge the
 * caller. What passes:
 * - content negotiation: Accept, Accept-Language, Accept-Charset; Content-Type of a body;
 * - the FAPI and OB headers: every `x-fapi-*`, `x-idempotency-key`, `x-jws-signature`, and the
 *   header parameters the operation's own definition declares (`x-customer-user-agent`, ...);
 * - what the gateway sets itself (the identity header, the interaction id, X-Forwarded-For,
 *   -Proto and -Host), which replaces anything the client sent under those names.
 * Never, even when a definition declares it: a name with `_`, credentials (Authorization,
 * Cookie), hop-by-hop and framing headers, the forwarding and client-certificate headers, and
 * the method- and URL-override headers. Accept-Encoding is not passed either, so a backend
 * answers uncompressed and an answer kept for an idempotent replay is replayed byte for byte.
 */
import type { IncomingMessage } from 'node:http';
import type { OperationDef } from '../storage/catalogue-records.ts';

/** Passed on every operation (lower case). */
const STANDARD: readonly string[] = ['accept', 'accept-language', 'accept-charset', 'content-type', 'x-idempotency-key', 'x-jws-signature'];

/** Never passed, whatever a definition declares. */
const DENIED: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'content-encoding',
  'expect',
  'max-forwards',
  'via',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-ssl-client-cert',
  'x-client-cert',
  'ssl-client-cert',
  'x-fapi-interaction-id',
]);

/** The header names an operation passes to its backend (cached per operation). */
const cache = new WeakMap<OperationDef, ReadonlySet<string>>();

export function allowedHeaders(op: OperationDef, gatewaySet: ReadonlySet<string>): ReadonlySet<string> {
  let allowed = cache.get(op);
  if (!allowed) {
    const names = new Set<string>();
    for (const name of [...STANDARD, ...(op.headers ?? [])]) {
      const n = name.toLowerCase();
      if (!n.includes('_') && !DENIED.has(n) && !gatewaySet.has(n)) names.add(n);
    }
    allowed = names;
    cache.set(op, allowed);
  }
  return allowed;
}

/** The request headers of `req` the backend may see: `allowed` names and every `x-fapi-*` but the interaction id. */
export function backendHeaders(
  headers: IncomingMessage['headers'],
  allowed: ReadonlySet<string>,
  gatewaySet: ReadonlySet<string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (allowed.has(name) || (name.startsWith('x-fapi-') && !DENIED.has(name) && !gatewaySet.has(name) && !name.includes('_'))) out[name] = value;
  }
  return out;
}
