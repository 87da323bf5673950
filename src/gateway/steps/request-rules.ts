/**
 * The OB request rules the headers decide, before the backend is asked: a body only where the
 * operation's definition declares one (400), as one of its media types and not compressed (415:
 * it could not be checked), an Accept the API can meet (406), and a well-formed x-idempotency-key
 * on the operations that declare it (400). What needs the body itself (its JSON nesting,
 * x-jws-signature, idempotent replay) is the forward step's.
 */
import { fail } from '../../errors/app-error.ts';
import { mediaEssence } from '../../http/media-type.ts';
import type { Checked, RequestBody, Subscribed } from './call.ts';

const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,40}$/;
/** Methods that take a JSON body on an API imported before request bodies were read from its definition. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const JSON_BODY = { types: ['application/json'] };
const ACCEPTS_JSON = /(^|,)\s*(application\/json|application\/\*|\*\/\*)\s*(;|,|$)/i;
const isJsonType = (essence: string) => essence === 'application/json' || (essence.startsWith('application/') && essence.endsWith('+json'));

/** Adds what the forward step reads of the body (`body`: none, JSON or other). */
export function requestRules(call: Subscribed): Checked {
  const { req } = call;
  const op = call.match.operation;
  const method = req.method ?? 'GET';
  const declared = op.body === undefined ? (WITH_BODY.has(method) ? JSON_BODY : null) : op.body;
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  let body: RequestBody = 'none';
  if (hasBody) {
    if (declared === null) throw fail('GATEWAY_BODY_NOT_ALLOWED', `${method} on this operation takes no request body`);
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity')
      throw fail('GATEWAY_CONTENT_TYPE', 'the request body must not be compressed (Content-Encoding)');
    const type = req.headers['content-type'];
    const essence = type === undefined ? undefined : mediaEssence(type);
    const types = declared.types.length > 0 ? declared.types : JSON_BODY.types;
    if (essence === undefined || !types.includes(essence)) throw fail('GATEWAY_CONTENT_TYPE', `the request body must be sent as ${types.join(' or ')}`);
    body = isJsonType(essence) ? 'json' : 'other';
  }
  const accept = req.headers.accept;
  if (accept !== undefined && accept !== '' && !ACCEPTS_JSON.test(accept)) {
    throw fail('GATEWAY_NOT_ACCEPTABLE', 'the API answers with application/json, which Accept does not allow');
  }
  if (op.idempotency) {
    const key = req.headers['x-idempotency-key'];
    if (key === undefined) throw fail('GATEWAY_HEADER_MISSING', 'the x-idempotency-key header is required');
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))
      throw fail('GATEWAY_HEADER_INVALID', 'x-idempotency-key must be 1 to 40 visible ASCII characters');
  }
  call.body = body;
  return call as Checked;
}
