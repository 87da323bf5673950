/**
 * The route step: the path decoded once and checked before anything else is read (400
 * GATEWAY_PATH_INVALID; the raw text goes no further), then the API operation it names in the
 * call's catalogue snapshot (404, or 405 with Allow) and the API's lifecycle (BLOCKED: 503).
 */
import { fail } from '../../errors/app-error.ts';
import { INTERNAL_DCR_BACKEND } from '../../storage/catalogue-records.ts';
import { canonicalPath, checkedQuery } from '../path.ts';
import type { Call, Routed } from './call.ts';

/** Makes the call's path canonical and adds the operation it matches (`match`, `api`, `dcr`). */
export function route(call: Call): Routed {
  call.path = canonicalPath(call.path);
  call.query = checkedQuery(call.query);
  const method = call.req.method ?? 'GET';
  const found = call.snapshot.lookup(method, call.path);
  if (found.kind === 'method') {
    throw fail('GATEWAY_METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${found.allow.join(', ')}`, { headers: { allow: found.allow.join(', ') } });
  }
  if (found.kind === 'none') throw fail('GATEWAY_ROUTE_NOT_FOUND', 'no API operation matches this method and path');
  const { match } = found;
  if (match.api.state === 'BLOCKED') throw fail('GATEWAY_API_BLOCKED', 'this API is blocked; try again later');
  call.match = match;
  call.api = match.api.name;
  call.dcr = match.api.backendUrl === INTERNAL_DCR_BACKEND;
  if (call.ctx) call.ctx.route = `${match.api.context}${match.operation.path}`;
  return call as Routed;
}
