/**
 * The authorization step: the token's flow and scopes against the operation's security (one of
 * its alternatives with the same flow must have every scope it lists), then the TPP's roles
 * against the API's required roles; 403 with the OB ConsentMismatch code otherwise.
 */
import { consentNeed } from '../../consent/access.ts';
import { eventOperation } from '../../consent/events.ts';
import { fail } from '../../errors/app-error.ts';
import type { OperationDef } from '../../storage/catalogue-records.ts';
import type { Authenticated } from './call.ts';

/**
 * An operation a consent opens, on an API whose consents are served here, takes a PSU's token
 * only, whatever its file says: a client-credentials token would reach it past every consent
 * check (v3.1.11's VRP file marks the VRP payment for client credentials; its spec pages say a PSU
 * authorises it). Every other operation keeps the security its file declares.
 */
function securityOf(op: OperationDef, servesConsents: boolean): OperationDef['security'] {
  // The Events API lists accounts, payments and fundsconfirmations for its operations: any one of them will do (a TPP of one role has one).
  if (servesConsents && eventOperation(op.method, op.path))
    return op.security.flatMap((alt) => alt.scopes.map((scope) => ({ flow: alt.flow, scopes: [scope] })));
  if (!servesConsents || !consentNeed(op.method, op.path)) return op.security;
  const scopes = [...new Set(op.security.flatMap((alt) => alt.scopes))].sort();
  return [{ flow: 'authorization_code', scopes }];
}

/** Passes when the caller may call the operation. */
export function authorize(call: Authenticated): void {
  const { operation: op, api } = call.match;
  const { token, roles } = call.caller;
  const flow = token.grant === 'client_credentials' ? 'client_credentials' : token.grant === 'psu' ? 'authorization_code' : undefined;
  const security = securityOf(op, api.serveConsents === true);
  const sameFlow = security.filter((alt) => alt.flow === flow);
  if (sameFlow.length === 0) {
    throw fail(
      'GATEWAY_FLOW_MISMATCH',
      security.some((a) => a.flow === 'authorization_code')
        ? 'this operation needs a token a PSU authorised (authorization code grant)'
        : 'this operation needs a client credentials token',
    );
  }
  const granted = new Set(token.scopes);
  if (!sameFlow.some((alt) => alt.scopes.every((s) => granted.has(s)))) {
    const missing = sameFlow[0]!.scopes.filter((s) => !granted.has(s));
    throw fail('GATEWAY_SCOPE_MISSING', `the access token lacks the scope ${missing.join(' ')}`);
  }
  if (api.requiredRoles.length > 0 && !api.requiredRoles.some((r) => roles.includes(r))) {
    throw fail('GATEWAY_ROLE_MISSING', `this API needs one of the roles ${api.requiredRoles.join(', ')}`);
  }
}
