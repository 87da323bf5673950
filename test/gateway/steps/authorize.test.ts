/** The authorization step (src/gateway/steps/authorize.ts): flow, scopes, then roles; 403 with the failing check's code. */
import { test } from 'node:test';
import { authorize } from '../../../src/gateway/steps/authorize.ts';
import type { OperationDef } from '../../../src/storage/catalogue-records.ts';
import type { TppRole } from '../../../src/ob/roles.ts';
import { api, assertRefused, fakeCall, operation, transportCertificate, verifiedToken } from './support.ts';
import type { VerifiedToken } from '../../../src/oauth/token-verifier.ts';

const cert = await transportCertificate('tpp');

function authenticated(op: OperationDef, token: VerifiedToken, roles: readonly string[] = [], requiredRoles: TppRole[] = []) {
  return fakeCall({ match: { api: api({ requiredRoles }), operation: op, rest: '/x' }, cert, caller: { token, raw: 't', roles } });
}

const psuOnly = operation({ security: [{ flow: 'authorization_code', scopes: ['accounts'] }] });
const ccOnly = operation({ security: [{ flow: 'client_credentials', scopes: ['accounts'] }] });
const either = operation({
  security: [
    { flow: 'client_credentials', scopes: ['payments'] },
    { flow: 'client_credentials', scopes: ['accounts', 'openid'] },
  ],
});

test('a token of the right flow with every scope of one alternative passes', () => {
  authorize(authenticated(psuOnly, verifiedToken({ grant: 'psu', subject: 'psu-1' })));
  authorize(authenticated(either, verifiedToken({ scopes: ['accounts', 'openid'] })));
  authorize(authenticated(either, verifiedToken({ scopes: ['payments'] })));
});

test('another flow: 403 GATEWAY_FLOW_MISMATCH, saying which the operation needs', async () => {
  await assertRefused(
    () => authorize(authenticated(psuOnly, verifiedToken())),
    'GATEWAY_FLOW_MISMATCH',
    'this operation needs a token a PSU authorised (authorization code grant)',
  );
  await assertRefused(
    () => authorize(authenticated(ccOnly, verifiedToken({ grant: 'psu' }))),
    'GATEWAY_FLOW_MISMATCH',
    'this operation needs a client credentials token',
  );
  await assertRefused(() => authorize(authenticated(ccOnly, verifiedToken({ grant: 'registration' }))), 'GATEWAY_FLOW_MISMATCH');
});

test("a scope missing from every alternative: 403 GATEWAY_SCOPE_MISSING, naming the first alternative's", async () => {
  await assertRefused(
    () => authorize(authenticated(either, verifiedToken({ scopes: ['accounts'] }))),
    'GATEWAY_SCOPE_MISSING',
    'the access token lacks the scope payments',
  );
});

test("none of the API's roles: 403 GATEWAY_ROLE_MISSING; one of them passes", async () => {
  await assertRefused(
    () => authorize(authenticated(ccOnly, verifiedToken(), ['AISP'], ['PISP', 'CBPII'])),
    'GATEWAY_ROLE_MISSING',
    'this API needs one of the roles PISP, CBPII',
  );
  authorize(authenticated(ccOnly, verifiedToken(), ['AISP', 'CBPII'], ['PISP', 'CBPII']));
});
