/**
 * What the consent rules add to the API definitions (docs/consents.md#rules): checks of a new
 * consent that no schema can say, each answered as an OB problem with the field's path.
 */
import type { ConsentKind } from '../storage/consent-records.ts';
import type { ObProblem } from './ob-errors.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Epoch milliseconds of an ISO 8601 date-time with its zone (the schema checked the form), or undefined. */
export const timeOf = (v: unknown): number | undefined => {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
};

/** The value at `path` below `data`. */
export function at(data: Json, path: readonly string[]): unknown {
  let v: unknown = data;
  for (const k of path) v = isObject(v) ? v[k] : undefined;
  return v;
}

const ACCOUNTS = ['ReadAccountsBasic', 'ReadAccountsDetail'];
const TRANSACTION_KINDS = ['ReadTransactionsBasic', 'ReadTransactionsDetail'];
const TRANSACTION_DIRECTIONS = ['ReadTransactionsCredits', 'ReadTransactionsDebits'];

function accountAccess(data: Json, now: number): ObProblem[] {
  const out: ObProblem[] = [];
  const permissions = Array.isArray(data['Permissions']) ? (data['Permissions'] as string[]) : [];
  const has = (list: readonly string[]) => list.some((p) => permissions.includes(p));
  if (new Set(permissions).size !== permissions.length) {
    out.push({ name: 'UK.OBIE.Field.Invalid', message: 'a permission is listed twice', path: 'Data.Permissions' });
  }
  if (!has(ACCOUNTS)) {
    out.push({ name: 'UK.OBIE.Field.Missing', message: 'Permissions must include ReadAccountsBasic or ReadAccountsDetail', path: 'Data.Permissions' });
  }
  if (has(TRANSACTION_KINDS) && !has(TRANSACTION_DIRECTIONS)) {
    out.push({
      name: 'UK.OBIE.Field.Missing',
      message: 'ReadTransactionsBasic or ReadTransactionsDetail needs ReadTransactionsCredits or ReadTransactionsDebits',
      path: 'Data.Permissions',
    });
  }
  if (has(TRANSACTION_DIRECTIONS) && !has(TRANSACTION_KINDS)) {
    out.push({
      name: 'UK.OBIE.Field.Missing',
      message: 'ReadTransactionsCredits or ReadTransactionsDebits needs ReadTransactionsBasic or ReadTransactionsDetail',
      path: 'Data.Permissions',
    });
  }
  const from = timeOf(data['TransactionFromDateTime']);
  const to = timeOf(data['TransactionToDateTime']);
  if (from !== undefined && to !== undefined && from > to) {
    out.push({ name: 'UK.OBIE.Field.InvalidDate', message: 'TransactionFromDateTime is after TransactionToDateTime', path: 'Data.TransactionFromDateTime' });
  }
  out.push(...future(data, ['ExpirationDateTime'], now));
  return out;
}

/** A date-time that must lie ahead. */
function future(data: Json, path: readonly string[], now: number): ObProblem[] {
  const t = timeOf(at(data, path));
  return t !== undefined && t <= now ? [{ name: 'UK.OBIE.Field.InvalidDate', message: `${path.at(-1)} has passed`, path: `Data.${path.join('.')}` }] : [];
}

function vrp(data: Json, now: number): ObProblem[] {
  const out: ObProblem[] = [];
  const cp = at(data, ['ControlParameters']);
  if (!isObject(cp)) return out;
  const from = timeOf(cp['ValidFromDateTime']);
  const to = timeOf(cp['ValidToDateTime']);
  if (from !== undefined && to !== undefined && from >= to) {
    out.push({
      name: 'UK.OBIE.Field.InvalidDate',
      message: 'ValidFromDateTime is not before ValidToDateTime',
      path: 'Data.ControlParameters.ValidFromDateTime',
    });
  }
  out.push(...future(data, ['ControlParameters', 'ValidToDateTime'], now));
  const limits = Array.isArray(cp['PeriodicLimits']) ? (cp['PeriodicLimits'] as unknown[]) : [];
  if (limits.length === 0) {
    out.push({ name: 'UK.OBIE.Field.Missing', message: 'at least one PeriodicLimits entry is required', path: 'Data.ControlParameters.PeriodicLimits' });
  }
  limits.forEach((l, i) => {
    if (isObject(l) && l['PeriodType'] === 'Fortnight' && l['PeriodAlignment'] !== 'Consent') {
      out.push({
        name: 'UK.OBIE.Field.Invalid',
        message: 'a Fortnight period must be aligned to the consent',
        path: `Data.ControlParameters.PeriodicLimits[${i}].PeriodAlignment`,
      });
    }
  });
  for (const field of ['VRPType', 'PSUAuthenticationMethods']) {
    if (Array.isArray(cp[field]) && (cp[field] as unknown[]).length === 0) {
      out.push({ name: 'UK.OBIE.Field.Missing', message: `${field} must not be empty`, path: `Data.ControlParameters.${field}` });
    }
  }
  return out;
}

/** The consent rules' problems with a new consent's `Data` (already valid against its schema), at `now` (epoch ms). */
export function ruleProblems(kind: ConsentKind, data: Json, now: number): ObProblem[] {
  switch (kind) {
    case 'account-access':
      return accountAccess(data, now);
    case 'funds-confirmation':
      return future(data, ['ExpirationDateTime'], now);
    case 'domestic-vrp':
      return vrp(data, now);
    case 'domestic-scheduled-payment':
    case 'international-scheduled-payment':
      return future(data, ['Initiation', 'RequestedExecutionDateTime'], now);
    case 'domestic-standing-order':
    case 'international-standing-order':
      return [];
    default:
      return [];
  }
}
