/**
 * The consent transition table over every kind, status and event (the whole product, not
 * examples), the wire names of each API version, the v4.0 error codes, and the consent
 * operations the gateway serves here. No sockets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { consentOperation, CONSENT_KIND_DEFS } from '../../src/consent/kinds.ts';
import { obCodeFor } from '../../src/consent/ob-errors.ts';
import { type ConsentEventName, isPaymentKind, nextStatus, wireStatus } from '../../src/consent/status.ts';
import { CONSENT_KINDS, CONSENT_STATUSES, type ConsentKind, type ConsentStatus } from '../../src/storage/consent-records.ts';

const EVENTS: readonly ConsentEventName[] = ['authorise', 'reject', 'revoke', 'expire', 'consume', 'delete'];

/** What each event may do, written out per family of consents. */
function expected(kind: ConsentKind, from: ConsentStatus, event: ConsentEventName): ConsentStatus | undefined {
  const payment = isPaymentKind(kind);
  const table: Record<ConsentEventName, Partial<Record<ConsentStatus, ConsentStatus>>> = payment
    ? { authorise: { AWAU: 'AUTH' }, reject: { AWAU: 'RJCT', AUTH: 'RJCT' }, revoke: {}, expire: {}, consume: { AUTH: 'COND' }, delete: {} }
    : {
        authorise: kind === 'funds-confirmation' ? { AWAU: 'AUTH', AUTH: 'AUTH' } : { AWAU: 'AUTH', AUTH: 'AUTH', CANC: 'AUTH' },
        reject: { AWAU: 'RJCT' },
        revoke: { AUTH: 'CANC' },
        expire: { AUTH: 'EXPD' },
        consume: {},
        delete: Object.fromEntries(CONSENT_STATUSES.map((s) => [s, s])),
      };
  return table[event][from];
}

test('every kind × status × event: the next status is the table, rejected, expired and consumed ones go nowhere', () => {
  let checked = 0;
  for (const kind of CONSENT_KINDS) {
    for (const from of CONSENT_STATUSES) {
      for (const event of EVENTS) {
        assert.equal(nextStatus(kind, from, event), expected(kind, from, event), `${kind} ${from} ${event}`);
        checked++;
      }
      if (from === 'RJCT' || from === 'COND' || from === 'EXPD') {
        for (const event of EVENTS.filter((e) => e !== 'delete')) assert.equal(nextStatus(kind, from, event), undefined, `${kind}: ${from} is final`);
      }
    }
  }
  assert.equal(checked, CONSENT_KINDS.length * CONSENT_STATUSES.length * EVENTS.length);
});

test('statuses on the wire: v4.0 codes, v3.1 words (a VRP consent stopped at the bank stays Authorised, as v3.1.11 had it)', () => {
  for (const kind of CONSENT_KINDS) for (const s of CONSENT_STATUSES) assert.equal(wireStatus(kind, s, 'v4.0'), s);
  assert.equal(wireStatus('account-access', 'AWAU', 'v3.1'), 'AwaitingAuthorisation');
  assert.equal(wireStatus('account-access', 'CANC', 'v3.1'), 'Revoked');
  assert.equal(wireStatus('domestic-payment', 'COND', 'v3.1'), 'Consumed');
  assert.equal(wireStatus('domestic-vrp', 'CANC', 'v3.1'), 'Authorised');
});

test('v4.0 error codes keep the v3.1 meanings: U002 Field.Invalid, U008 ConsentMismatch, U009 InvalidConsentStatus, U011 NotFound, U014, U028, U029', () => {
  const pairs = [
    ['UK.OBIE.Field.Invalid', 'U002'],
    ['UK.OBIE.Field.InvalidDate', 'U003'],
    ['UK.OBIE.Field.Missing', 'U004'],
    ['UK.OBIE.Field.Unexpected', 'U005'],
    ['UK.OBIE.Resource.ConsentMismatch', 'U008'],
    ['UK.OBIE.Resource.InvalidConsentStatus', 'U009'],
    ['UK.OBIE.Resource.NotFound', 'U011'],
    ['UK.OBIE.Rules.FailsControlParameters', 'U014'],
    ['UK.OBIE.Reauthenticate', 'U028'],
    ['UK.OBIE.Rules.ResourceAlreadyExists', 'U029'],
  ] as const;
  for (const [name, code] of pairs) {
    assert.equal(obCodeFor(name, 'v4.0'), code);
    assert.equal(obCodeFor(name, 'v3.1'), name);
  }
});

test('the consent operations served here: POST the collection, GET one, DELETE one where the TPP may; nothing else', () => {
  for (const def of CONSENT_KIND_DEFS) {
    assert.deepEqual(consentOperation('POST', def.resource), { action: 'create', def });
    assert.deepEqual(consentOperation('GET', `${def.resource}/{ConsentId}`), { action: 'get', def });
    assert.deepEqual(consentOperation('DELETE', `${def.resource}/{ConsentId}`), def.deletable ? { action: 'delete', def } : undefined);
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) assert.equal(consentOperation(method, def.resource), undefined, `${method} ${def.resource}`);
    for (const method of ['POST', 'PUT', 'PATCH']) assert.equal(consentOperation(method, `${def.resource}/{ConsentId}`), undefined);
    // Sub-resources (funds confirmation, file upload) stay the backend's.
    assert.equal(consentOperation('GET', `${def.resource}/{ConsentId}/funds-confirmation`), undefined);
  }
  assert.deepEqual(
    CONSENT_KIND_DEFS.filter((d) => d.deletable).map((d) => d.kind),
    ['account-access', 'funds-confirmation', 'domestic-vrp'],
  );
  for (const t of ['/accounts', '/domestic-payments', '/account-access-consents/{Id}', '/x-consents/{ConsentId}', '/account-access-consents/']) {
    assert.equal(consentOperation('GET', t), undefined, t);
    assert.equal(consentOperation('POST', t), undefined, t);
  }
});
