/**
 * A VRP payment held to its consent's control parameters (docs/consents.md#vrp-payments): the
 * dates, the largest single payment, and every periodic limit, counted over the payments already
 * accepted in the period (the ledger the consent store keeps). Amounts are exact decimals (OB
 * allows up to 5 decimal places), summed as integers of 10^-5, never floats. Plain functions.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ConsentRecord, VrpPayment } from '../storage/consent-records.ts';
import type { AccessRefusal } from './access.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const SCALE = 5;
const AMOUNT = /^(\d{1,13})(?:\.(\d{1,5}))?$/;

/** An OB amount (`"10.50"`) as an integer of 10^-5, or undefined when it is not one. */
export function amountUnits(text: unknown): bigint | undefined {
  if (typeof text !== 'string') return undefined;
  const m = AMOUNT.exec(text);
  if (!m) return undefined;
  return BigInt(m[1]!) * 10n ** BigInt(SCALE) + BigInt((m[2] ?? '').padEnd(SCALE, '0'));
}

/** Units of 10^-5 as an OB amount with at least two decimals (`1050000n` → `"10.50"`). */
export function unitsText(units: bigint): string {
  const whole = units / 10n ** BigInt(SCALE);
  const frac = (units % 10n ** BigInt(SCALE)).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${whole}.${frac.padEnd(2, '0')}`;
}

const DAY = 86_400_000;
/** Midnight UTC of the day `t` falls in. */
const dayStart = (t: number) => Math.floor(t / DAY) * DAY;
const utc = (y: number, m: number, d = 1) => Date.UTC(y, m, d);

/** The calendar period of `type` that holds `t`: [start, end). Weeks start on Monday (ISO 8601). */
function calendarPeriod(type: string, t: number): { start: number; end: number } | undefined {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (type) {
    case 'Day':
      return { start: dayStart(t), end: dayStart(t) + DAY };
    case 'Week': {
      const start = dayStart(t) - ((d.getUTCDay() + 6) % 7) * DAY;
      return { start, end: start + 7 * DAY };
    }
    case 'Month':
      return { start: utc(y, m), end: utc(y, m + 1) };
    case 'Half-year':
      return m < 6 ? { start: utc(y, 0), end: utc(y, 6) } : { start: utc(y, 6), end: utc(y + 1, 0) };
    case 'Year':
      return { start: utc(y, 0), end: utc(y + 1, 0) };
    default:
      return undefined;
  }
}

/** The `n`th period of `type` counted from `origin` (a day boundary): [start, end). */
function consentPeriod(type: string, origin: number, t: number): { start: number; end: number } | undefined {
  const fixed: Record<string, number> = { Day: 1, Week: 7, Fortnight: 14 };
  if (fixed[type] !== undefined) {
    const len = fixed[type]! * DAY;
    const n = Math.floor((t - origin) / len);
    return { start: origin + n * len, end: origin + (n + 1) * len };
  }
  const months: Record<string, number> = { Month: 1, 'Half-year': 6, Year: 12 };
  const step = months[type];
  if (step === undefined) return undefined;
  const o = new Date(origin);
  // The same day of the month each time, or the month's last day where it has fewer (31 January, then 28 February).
  const at = (k: number) => {
    const first = utc(o.getUTCFullYear(), o.getUTCMonth() + k * step);
    const d = new Date(first);
    const days = new Date(utc(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
    return first + (Math.min(o.getUTCDate(), days) - 1) * DAY;
  };
  let k = 0;
  while (at(k + 1) <= t) k++;
  return { start: at(k), end: at(k + 1) };
}

export interface PeriodLimit {
  readonly start: number;
  readonly end: number;
  /** The limit of this period: the whole Amount, or for the first calendar period a share of it. */
  readonly limit: bigint;
}

/**
 * The period of a PeriodicLimits entry that holds `t`, and its limit. Consent alignment counts
 * periods from the day the consent was created; calendar alignment uses calendar periods and
 * gives the first one (the one the consent was created in) the share of the limit its remaining
 * days are, the creation day included (OB's example: 300 GBP a month, created 6 June: 250 GBP for
 * June), rounded down to the smallest unit.
 */
export function periodLimit(entry: Json, createdAt: number, t: number): PeriodLimit | undefined {
  const amount = amountUnits(entry['Amount']);
  const type = String(entry['PeriodType']);
  if (amount === undefined) return undefined;
  if (entry['PeriodAlignment'] === 'Calendar') {
    const p = calendarPeriod(type, t);
    if (!p) return undefined;
    const first = calendarPeriod(type, createdAt)!;
    if (first.start !== p.start) return { ...p, limit: amount };
    const days = BigInt(Math.round((p.end - p.start) / DAY));
    const left = BigInt(Math.round((p.end - dayStart(createdAt)) / DAY));
    return { ...p, limit: (amount * left) / days };
  }
  const p = consentPeriod(type, dayStart(createdAt), t);
  return p ? { ...p, limit: amount } : undefined;
}

/** The longest period a limit can have, with a margin: payments older than this never count. */
export const LEDGER_HORIZON = 367 * DAY;

/** The payment as the TPP sent it, read from the body; undefined fields fail the checks below. */
export interface VrpInstruction {
  readonly amount: bigint | undefined;
  readonly currency: unknown;
}

export const instructionOf = (body: unknown): VrpInstruction => {
  const data = isObject(body) && isObject(body['Data']) ? body['Data'] : {};
  const instruction = isObject(data['Instruction']) ? data['Instruction'] : {};
  const amount = isObject(instruction['InstructedAmount']) ? instruction['InstructedAmount'] : {};
  return { amount: amountUnits(amount['Amount']), currency: amount['Currency'] };
};

const fails = (description: string, path: string): AccessRefusal => ({ code: 'GATEWAY_VRP_LIMIT', description, path });

/**
 * What the body of a VRP payment must say of its consent, before any limit is counted: the
 * token's consent, its Initiation and Risk, a payee it allows, an authentication method and type
 * it lists, a well-formed amount.
 */
export function vrpBodyRefusal(consent: ConsentRecord, body: unknown): AccessRefusal | undefined {
  const data = isObject(body) && isObject(body['Data']) ? body['Data'] : undefined;
  const mismatch = (description: string, path: string): AccessRefusal => ({ code: 'GATEWAY_CONSENT_BODY_MISMATCH', description, path });
  if (!data || data['ConsentId'] !== consent.id) return mismatch("Data.ConsentId is not the token's consent", 'Data.ConsentId');
  if (!isDeepStrictEqual(data['Initiation'], consent.data['Initiation']))
    return mismatch("the payment does not repeat its consent's Initiation", 'Data.Initiation');
  if (!isDeepStrictEqual(isObject(body) ? (body['Risk'] ?? {}) : {}, consent.risk ?? {}))
    return mismatch("the payment does not repeat its consent's Risk", 'Risk');
  const control = isObject(consent.data['ControlParameters']) ? consent.data['ControlParameters'] : {};
  const instruction = isObject(data['Instruction']) ? data['Instruction'] : {};
  const initiation = isObject(consent.data['Initiation']) ? consent.data['Initiation'] : {};
  if (initiation['CreditorAccount'] !== undefined && !isDeepStrictEqual(instruction['CreditorAccount'], initiation['CreditorAccount'])) {
    return mismatch('the payee is not the one the consent names', 'Data.Instruction.CreditorAccount');
  }
  const methods = Array.isArray(control['PSUAuthenticationMethods']) ? control['PSUAuthenticationMethods'] : [];
  if (!methods.includes(data['PSUAuthenticationMethod']))
    return fails('the consent does not allow this PSU authentication method', 'Data.PSUAuthenticationMethod');
  const types = Array.isArray(control['VRPType']) ? control['VRPType'] : [];
  if (!types.includes(data['VRPType'])) return fails('the consent does not allow this VRP type', 'Data.VRPType');
  const interactions = Array.isArray(control['PSUInteractionTypes']) ? control['PSUInteractionTypes'] : undefined;
  if (interactions && !interactions.includes(data['PSUInteractionType'] ?? 'OffSession')) {
    return fails('the consent does not allow this PSU interaction type', 'Data.PSUInteractionType');
  }
  if (instructionOf(body).amount === undefined)
    return mismatch('Data.Instruction.InstructedAmount.Amount is not an amount', 'Data.Instruction.InstructedAmount.Amount');
  return undefined;
}

/**
 * Undefined when a payment of `instruction` at `now` fits the consent's control parameters with
 * the payments `past` already counted; else the refusal naming the parameter it breaks.
 */
export function vrpLimitRefusal(consent: ConsentRecord, instruction: VrpInstruction, now: number, past: readonly VrpPayment[]): AccessRefusal | undefined {
  const control = isObject(consent.data['ControlParameters']) ? consent.data['ControlParameters'] : {};
  const amount = instruction.amount;
  if (amount === undefined) return fails('the payment has no amount', 'Data.Instruction.InstructedAmount.Amount');
  const from = typeof control['ValidFromDateTime'] === 'string' ? Date.parse(control['ValidFromDateTime']) : undefined;
  const to = typeof control['ValidToDateTime'] === 'string' ? Date.parse(control['ValidToDateTime']) : undefined;
  if (from !== undefined && now < from) return fails('the consent is not valid yet', 'Data.ControlParameters.ValidFromDateTime');
  if (to !== undefined && now >= to) return fails('the consent is no longer valid', 'Data.ControlParameters.ValidToDateTime');
  const max = isObject(control['MaximumIndividualAmount']) ? control['MaximumIndividualAmount'] : {};
  if (instruction.currency !== max['Currency']) return fails('the payment is not in the currency of the consent', 'Data.Instruction.InstructedAmount.Currency');
  const maxUnits = amountUnits(max['Amount']);
  if (maxUnits === undefined || amount > maxUnits)
    return fails('the payment is larger than MaximumIndividualAmount', 'Data.Instruction.InstructedAmount.Amount');
  const limits = Array.isArray(control['PeriodicLimits']) ? control['PeriodicLimits'] : [];
  for (const [i, entry] of limits.entries()) {
    if (!isObject(entry)) continue;
    if (entry['Currency'] !== instruction.currency)
      return fails('the payment is not in the currency of a periodic limit', `Data.ControlParameters.PeriodicLimits[${i}].Currency`);
    const period = periodLimit(entry, consent.createdAt, now);
    if (!period) return fails('a periodic limit cannot be counted', `Data.ControlParameters.PeriodicLimits[${i}]`);
    const spent = past
      .filter((p) => p.at >= period.start && p.at < period.end && p.currency === instruction.currency)
      .reduce((sum, p) => sum + BigInt(p.units), 0n);
    if (spent + amount > period.limit) {
      return fails(
        `the payment would take the ${String(entry['PeriodType']).toLowerCase()} past its limit (${unitsText(period.limit - spent)} ${String(entry['Currency'])} left)`,
        `Data.ControlParameters.PeriodicLimits[${i}]`,
      );
    }
  }
  return undefined;
}
