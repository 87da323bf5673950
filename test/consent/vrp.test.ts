/**
 * VRP control parameters (src/consent/vrp.ts): exact amounts, the periods of every type and
 * alignment (OB's pro-rating examples, month ends, week starts, leap years), and the limits at
 * their boundaries: the last penny that fits, the first that does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { amountUnits, periodLimit, unitsText, vrpBodyRefusal, vrpLimitRefusal } from '../../src/consent/vrp.ts';
import type { ConsentRecord, VrpPayment } from '../../src/storage/consent-records.ts';
import { RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';

const T = (iso: string) => Date.parse(iso);
const U = (amount: string) => amountUnits(amount)!;

test('amounts: exact to five decimals, every other form refused', () => {
  assert.equal(U('0'), 0n);
  assert.equal(U('10.5'), 1_050_000n);
  assert.equal(U('10.50'), 1_050_000n);
  assert.equal(U('0.00001'), 1n);
  assert.equal(U('9999999999999.99999'), 999_999_999_999_999_999n);
  for (const bad of ['', '.5', '5.', '-1', '+1', '1e3', '0x10', '1.000001', '1,00', ' 1', '1 ', '１', '12345678901234', null, 5, undefined]) {
    assert.equal(amountUnits(bad), undefined, String(bad));
  }
  assert.equal(unitsText(1_050_000n), '10.50');
  assert.equal(unitsText(1n), '0.00001');
  assert.equal(unitsText(28_767_123n), '287.67123');
});

test("periods: OB's pro-rated first calendar period, and the whole limit after it", () => {
  const month = { PeriodType: 'Month', PeriodAlignment: 'Calendar', Amount: '300.00', Currency: 'GBP' };
  // OB's example: 300 GBP a month, created 6 June: 250 GBP for June (25 of 30 days).
  const june = periodLimit(month, T('2026-06-06T15:00:00Z'), T('2026-06-20T00:00:00Z'))!;
  assert.deepEqual([june.start, june.end, june.limit], [T('2026-06-01T00:00:00Z'), T('2026-07-01T00:00:00Z'), U('250')]);
  assert.equal(periodLimit(month, T('2026-06-06T15:00:00Z'), T('2026-07-01T00:00:00Z'))!.limit, U('300'));
  // A year from 5 June: 210 of 365 days, the creation day counted (OB's example counts 209).
  const year = periodLimit({ ...month, PeriodType: 'Year', Amount: '500.00' }, T('2026-06-05T00:00:00Z'), T('2026-06-05T00:00:00Z'))!;
  assert.equal(unitsText(year.limit), '287.67123');
  // Leap year: 366 days.
  assert.equal(periodLimit({ ...month, PeriodType: 'Year', Amount: '366' }, T('2028-12-31T12:00:00Z'), T('2028-12-31T13:00:00Z'))!.limit, U('1'));
  // Half-years and ISO weeks (Monday first).
  const half = periodLimit({ ...month, PeriodType: 'Half-year' }, T('2026-01-01T00:00:00Z'), T('2026-08-01T00:00:00Z'))!;
  assert.deepEqual([half.start, half.end], [T('2026-07-01T00:00:00Z'), T('2027-01-01T00:00:00Z')]);
  const week = periodLimit({ ...month, PeriodType: 'Week', Amount: '70' }, T('2026-12-09T10:00:00Z'), T('2026-12-10T00:00:00Z'))!;
  assert.deepEqual([week.start, week.end, week.limit], [T('2026-12-07T00:00:00Z'), T('2026-12-14T00:00:00Z'), U('50')]);
  const day = periodLimit({ ...month, PeriodType: 'Day', Amount: '10' }, T('2026-12-07T23:59:59Z'), T('2026-12-07T23:59:59Z'))!;
  assert.equal(day.limit, U('10'), 'a day is never pro-rated');
  assert.equal(periodLimit({ ...month, PeriodType: 'Fortnight' }, T('2026-12-07T00:00:00Z'), T('2026-12-08T00:00:00Z')), undefined, 'no calendar fortnight');
});

test('periods aligned to the consent: from its creation day, month ends clamped', () => {
  const entry = { PeriodType: 'Month', PeriodAlignment: 'Consent', Amount: '100', Currency: 'GBP' };
  const created = T('2027-01-31T18:00:00Z');
  const periods = ['2027-01-31T19:00:00Z', '2027-02-27T00:00:00Z', '2027-02-28T00:00:00Z', '2027-03-30T23:59:59Z', '2027-03-31T00:00:00Z'].map((t) => {
    const p = periodLimit(entry, created, T(t))!;
    return [new Date(p.start).toISOString().slice(0, 10), new Date(p.end).toISOString().slice(0, 10), unitsText(p.limit)];
  });
  assert.deepEqual(periods, [
    ['2027-01-31', '2027-02-28', '100.00'],
    ['2027-01-31', '2027-02-28', '100.00'],
    ['2027-02-28', '2027-03-31', '100.00'],
    ['2027-02-28', '2027-03-31', '100.00'],
    ['2027-03-31', '2027-04-30', '100.00'],
  ]);
  const fortnight = periodLimit({ ...entry, PeriodType: 'Fortnight' }, created, T('2027-02-14T00:00:00Z'))!;
  // Fourteen days each from the creation day: 14 February begins the second.
  assert.deepEqual([fortnight.start, fortnight.end], [T('2027-02-14T00:00:00Z'), T('2027-02-28T00:00:00Z')]);
});

const CREATED = T('2026-12-01T09:00:00Z');
function vrpConsent(control: Record<string, unknown> = {}): ConsentRecord {
  return {
    id: 'vrp-1',
    kind: 'domestic-vrp',
    apiVersion: 'v3.1',
    keyManager: RESIDENT_KEY_MANAGER,
    clientId: 'c',
    status: 'AUTH',
    data: {
      ControlParameters: {
        ValidFromDateTime: '2026-12-01T00:00:00Z',
        ValidToDateTime: '2027-06-01T00:00:00Z',
        MaximumIndividualAmount: { Amount: '100.00', Currency: 'GBP' },
        PeriodicLimits: [
          { PeriodType: 'Day', PeriodAlignment: 'Calendar', Amount: '150.00', Currency: 'GBP' },
          { PeriodType: 'Month', PeriodAlignment: 'Consent', Amount: '300.00', Currency: 'GBP' },
        ],
        VRPType: ['UK.OBIE.VRPType.Sweeping'],
        PSUAuthenticationMethods: ['UK.OBIE.SCA'],
        ...control,
      },
      Initiation: { CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '30949330000010', Name: 'Sweep' } },
    },
    risk: { PaymentContextCode: 'PartyToParty' },
    psu: 'psu',
    accounts: ['a1'],
    grantId: 'g',
    createdAt: CREATED,
    statusUpdatedAt: CREATED,
    expiresAt: T('2027-06-01T00:00:00Z'),
    deletedAt: null,
    version: 2,
    apiContext: '/open-banking/v4.0/pisp',
  };
}
const pay = (amount: string, at: string, currency = 'GBP'): VrpPayment => ({
  consentId: 'vrp-1',
  paymentId: at + amount,
  units: String(U(amount)),
  currency,
  at: T(at),
});
const ask = (amount: string, currency: unknown = 'GBP') => ({ amount: amountUnits(amount), currency });

test('limits: the largest single payment, the dates, the currency, and each periodic limit to the penny', () => {
  const c = vrpConsent();
  const now = T('2026-12-07T12:00:00Z');
  assert.equal(vrpLimitRefusal(c, ask('100.00'), now, []), undefined);
  assert.equal(vrpLimitRefusal(c, ask('100.01'), now, [])?.path, 'Data.Instruction.InstructedAmount.Amount');
  assert.equal(vrpLimitRefusal(c, ask('10', 'EUR'), now, [])?.path, 'Data.Instruction.InstructedAmount.Currency');
  assert.equal(vrpLimitRefusal(c, { amount: undefined, currency: 'GBP' }, now, [])?.code, 'GATEWAY_VRP_LIMIT');
  assert.equal(vrpLimitRefusal(c, ask('1'), T('2026-11-30T23:59:59Z'), [])?.path, 'Data.ControlParameters.ValidFromDateTime');
  assert.equal(vrpLimitRefusal(c, ask('1'), T('2027-06-01T00:00:00Z'), [])?.path, 'Data.ControlParameters.ValidToDateTime');
  // The day: 150.00, 100 spent today: 50.00 fits, 50.01 does not; yesterday's payments do not count.
  const today = [pay('100.00', '2026-12-07T08:00:00Z'), pay('99.00', '2026-12-06T23:59:59Z')];
  assert.equal(vrpLimitRefusal(c, ask('50.00'), now, today), undefined);
  const over = vrpLimitRefusal(c, ask('50.01'), now, today)!;
  assert.equal(over.path, 'Data.ControlParameters.PeriodicLimits[0]');
  assert.match(over.description, /50\.00 GBP left/);
  // The consent's month (from 1 December): 300.00 across days.
  const month = [pay('100', '2026-12-02T10:00:00Z'), pay('100', '2026-12-03T10:00:00Z'), pay('99.99', '2026-12-04T10:00:00Z')];
  assert.equal(vrpLimitRefusal(c, ask('0.01'), now, month), undefined);
  assert.equal(vrpLimitRefusal(c, ask('0.02'), now, month)?.path, 'Data.ControlParameters.PeriodicLimits[1]');
  // The next consent month starts afresh.
  assert.equal(vrpLimitRefusal(c, ask('100'), T('2027-01-01T00:00:00Z'), month), undefined);
  // A limit in another currency than the payment's cannot count it.
  const mixed = vrpConsent({ PeriodicLimits: [{ PeriodType: 'Day', PeriodAlignment: 'Calendar', Amount: '10', Currency: 'EUR' }] });
  assert.equal(vrpLimitRefusal(mixed, ask('1'), now, [])?.path, 'Data.ControlParameters.PeriodicLimits[0].Currency');
});

test("a VRP payment's body repeats its consent: ConsentId, Initiation, Risk, payee, method and type", () => {
  const c = vrpConsent();
  const body = (over: Record<string, unknown> = {}, risk: unknown = c.risk) => ({
    Data: {
      ConsentId: c.id,
      PSUAuthenticationMethod: 'UK.OBIE.SCA',
      VRPType: 'UK.OBIE.VRPType.Sweeping',
      Initiation: c.data['Initiation'],
      Instruction: {
        InstructionIdentification: 'i1',
        EndToEndIdentification: 'e1',
        InstructedAmount: { Amount: '10.00', Currency: 'GBP' },
        CreditorAccount: (c.data['Initiation'] as Record<string, unknown>)['CreditorAccount'],
      },
      ...over,
    },
    Risk: risk,
  });
  assert.equal(vrpBodyRefusal(c, body()), undefined);
  const cases: Array<[unknown, string]> = [
    [undefined, 'Data.ConsentId'],
    [{ Data: 'x' }, 'Data.ConsentId'],
    [body({ ConsentId: 'vrp-2' }), 'Data.ConsentId'],
    [body({ Initiation: {} }), 'Data.Initiation'],
    [body({}, { PaymentContextCode: 'BillPayment' }), 'Risk'],
    [body({ PSUAuthenticationMethod: 'UK.OBIE.SCANotRequired' }), 'Data.PSUAuthenticationMethod'],
    [body({ VRPType: 'UK.OBIE.VRPType.Other' }), 'Data.VRPType'],
    [
      body({ Instruction: { InstructedAmount: { Amount: '10.00', Currency: 'GBP' }, CreditorAccount: { SchemeName: 'x', Identification: 'y' } } }),
      'Data.Instruction.CreditorAccount',
    ],
    [
      body({
        Instruction: {
          InstructedAmount: { Amount: 'ten', Currency: 'GBP' },
          CreditorAccount: (c.data['Initiation'] as Record<string, unknown>)['CreditorAccount'],
        },
      }),
      'Data.Instruction.InstructedAmount.Amount',
    ],
  ];
  for (const [b, path] of cases) assert.equal(vrpBodyRefusal(c, b)?.path, path, JSON.stringify(b));
});
