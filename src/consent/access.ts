/**
 * What a PSU's consent lets its token do at an API (docs/consents.md#the-gateway-holds-every-call-to-its-consent):
 * which consent type each operation of the official definitions needs, which account access
 * permission opens which data endpoint, the accounts a path may name, and the order that must
 * repeat its payment consent exactly. Plain data and functions over the stored consent; the
 * gateway's consent step calls them and answers in its own errors.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ErrorCode } from '../errors/codes.ts';
import { CONSENT_KINDS, type ConsentKind, type ConsentRecord } from '../storage/consent-records.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Permissions that open an account information endpoint (any one of them), by its path template. */
const AIS_ENDPOINTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['/accounts', ['ReadAccountsBasic', 'ReadAccountsDetail']],
  ['/accounts/{AccountId}', ['ReadAccountsBasic', 'ReadAccountsDetail']],
  ['/balances', ['ReadBalances']],
  ['/accounts/{AccountId}/balances', ['ReadBalances']],
  ['/beneficiaries', ['ReadBeneficiariesBasic', 'ReadBeneficiariesDetail']],
  ['/accounts/{AccountId}/beneficiaries', ['ReadBeneficiariesBasic', 'ReadBeneficiariesDetail']],
  ['/direct-debits', ['ReadDirectDebits']],
  ['/accounts/{AccountId}/direct-debits', ['ReadDirectDebits']],
  ['/standing-orders', ['ReadStandingOrdersBasic', 'ReadStandingOrdersDetail']],
  ['/accounts/{AccountId}/standing-orders', ['ReadStandingOrdersBasic', 'ReadStandingOrdersDetail']],
  ['/transactions', ['ReadTransactionsBasic', 'ReadTransactionsDetail']],
  ['/accounts/{AccountId}/transactions', ['ReadTransactionsBasic', 'ReadTransactionsDetail']],
  ['/accounts/{AccountId}/statements/{StatementId}/transactions', ['ReadTransactionsBasic', 'ReadTransactionsDetail']],
  ['/statements', ['ReadStatementsBasic', 'ReadStatementsDetail']],
  ['/accounts/{AccountId}/statements', ['ReadStatementsBasic', 'ReadStatementsDetail']],
  ['/accounts/{AccountId}/statements/{StatementId}', ['ReadStatementsBasic', 'ReadStatementsDetail']],
  ['/accounts/{AccountId}/statements/{StatementId}/file', ['ReadStatementsDetail']],
  ['/products', ['ReadProducts']],
  ['/accounts/{AccountId}/product', ['ReadProducts']],
  ['/offers', ['ReadOffers']],
  ['/accounts/{AccountId}/offers', ['ReadOffers']],
  ['/accounts/{AccountId}/party', ['ReadParty']],
  ['/accounts/{AccountId}/parties', ['ReadParty']],
  ['/party', ['ReadPartyPSU']],
  ['/scheduled-payments', ['ReadScheduledPaymentsBasic', 'ReadScheduledPaymentsDetail']],
  ['/accounts/{AccountId}/scheduled-payments', ['ReadScheduledPaymentsBasic', 'ReadScheduledPaymentsDetail']],
];
const AIS = new Map(AIS_ENDPOINTS);

/** The payment orders a PSU's token makes, each repeating the Initiation (and Risk) of its consent type. */
const ORDERS: ReadonlyMap<string, ConsentKind> = new Map([
  ['/domestic-payments', 'domestic-payment'],
  ['/domestic-scheduled-payments', 'domestic-scheduled-payment'],
  ['/domestic-standing-orders', 'domestic-standing-order'],
  ['/international-payments', 'international-payment'],
  ['/international-scheduled-payments', 'international-scheduled-payment'],
  ['/international-standing-orders', 'international-standing-order'],
] as const);

/** What a PSU token's call of an operation needs of its consent. */
export type ConsentNeed =
  /** An account information endpoint: one of these permissions; `account`: the path names an account. */
  | {
      readonly use: 'read';
      readonly kind: 'account-access';
      readonly permissions: readonly string[];
      readonly account: boolean;
      /** Transactions: the query's booking dates are held to the consent's transaction window. */
      readonly transactions: boolean;
    }
  /** A payment order (or a VRP payment): the consent of its type, repeated exactly in the body. */
  | { readonly use: 'order'; readonly kind: ConsentKind }
  /** A consent's own funds confirmation (`/…-consents/{ConsentId}/funds-confirmation`): that consent, by path. */
  | { readonly use: 'funds-check'; readonly kind: ConsentKind }
  /** A funds confirmation (CBPII): the funds confirmation consent named in the body. */
  | { readonly use: 'confirm-funds'; readonly kind: 'funds-confirmation' }
  /** A VRP payment: the consent repeated, held to its control parameters, counted across hosts (./vrp.ts). */
  | { readonly use: 'vrp-payment'; readonly kind: 'domestic-vrp' };

const FUNDS_CHECK = /^\/([a-z-]+)-consents\/\{ConsentId\}\/funds-confirmation$/;

/** What the operation `method template` needs of a PSU's consent; undefined: no PSU token may call it. */
export function consentNeed(method: string, template: string): ConsentNeed | undefined {
  const permissions = AIS.get(template);
  if (permissions && method === 'GET') {
    return { use: 'read', kind: 'account-access', permissions, account: template.includes('{AccountId}'), transactions: template.endsWith('/transactions') };
  }
  const order = ORDERS.get(template);
  if (order && method === 'POST') return { use: 'order', kind: order };
  if (template === '/domestic-vrps' && method === 'POST') return { use: 'vrp-payment', kind: 'domestic-vrp' };
  // `/domestic-payment-consents/{ConsentId}/funds-confirmation`: the resource names its consent type.
  const check = FUNDS_CHECK.exec(template)?.[1];
  if (check && (CONSENT_KINDS as readonly string[]).includes(check)) return { use: 'funds-check', kind: check as ConsentKind };
  if (template === '/funds-confirmations' && method === 'POST') return { use: 'confirm-funds', kind: 'funds-confirmation' };
  return undefined;
}

/** A refusal of the call, in the gateway's error codes. */
export interface AccessRefusal {
  readonly code: ErrorCode;
  readonly description: string;
  /** The body field at fault (payment orders). */
  readonly path?: string;
}

/** What the call asks of the consent: the path's parameters. */
export interface ConsentUse {
  readonly need: ConsentNeed | undefined;
  /** Path parameters by name (decoded), e.g. AccountId, ConsentId. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Undefined when `consent` (the token's, standing: this client's, authorised, this PSU's) lets the
 * call through, else the refusal: an operation no consent opens, a consent of another type, a
 * permission it lacks, an account the PSU did not choose, another consent's funds confirmation.
 */
export function accessRefusal(consent: ConsentRecord, use: ConsentUse): AccessRefusal | undefined {
  const { need } = use;
  if (!need) return { code: 'GATEWAY_CONSENT_MISMATCH', description: 'no consent lets a PSU token call this operation' };
  if (need.kind !== consent.kind) return { code: 'GATEWAY_CONSENT_MISMATCH', description: "the token's consent is not of the type this operation needs" };
  if (need.use === 'read') {
    const granted = Array.isArray(consent.data['Permissions']) ? (consent.data['Permissions'] as unknown[]) : [];
    if (!need.permissions.some((p) => granted.includes(p))) {
      return { code: 'GATEWAY_CONSENT_PERMISSION', description: `the consent does not grant ${need.permissions.join(' or ')}` };
    }
    if (need.account && !consent.accounts.includes(use.params['AccountId'] ?? '')) {
      return { code: 'GATEWAY_CONSENT_ACCOUNT', description: 'the account is not one the PSU chose for this consent' };
    }
  }
  if (need.use === 'funds-check' && use.params['ConsentId'] !== consent.id) {
    return { code: 'GATEWAY_CONSENT_MISMATCH', description: "the path names another consent than the token's" };
  }
  return undefined;
}

/** OB's query date-times: ISO 8601 without a zone (`2026-12-07T10:43:07`); a zone sent is ignored, as OB says. */
const QUERY_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$/;
const queryTime = (ms: number) => new Date(ms).toISOString().slice(0, 19);

/**
 * The query of a transactions call held to the consent's `TransactionFromDateTime` and
 * `TransactionToDateTime`: each booking-date filter the TPP sent intersected with the window (a
 * date outside it is valid and gives the remaining period, never an error), the window's bound
 * put in where the TPP sent none. The query unchanged when the consent has no window; a refusal
 * when a filter is not an OB date-time.
 */
export function transactionQuery(consent: ConsentRecord, query: string): string | AccessRefusal {
  const bound = (name: string) => (typeof consent.data[name] === 'string' ? Date.parse(consent.data[name]) : undefined);
  const from = bound('TransactionFromDateTime');
  const to = bound('TransactionToDateTime');
  if (from === undefined && to === undefined) return query;
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const sent = (name: string): number | undefined | AccessRefusal => {
    const v = params.get(name);
    if (v === null) return undefined;
    const m = QUERY_TIME.exec(v);
    const t = m ? Date.parse(`${m[1]}Z`) : Number.NaN;
    return Number.isFinite(t) ? t : { code: 'GATEWAY_QUERY_INVALID', description: `${name} is not an ISO 8601 date-time`, path: name };
  };
  const askedFrom = sent('fromBookingDateTime');
  const askedTo = sent('toBookingDateTime');
  if (typeof askedFrom === 'object') return askedFrom;
  if (typeof askedTo === 'object') return askedTo;
  const lo = [from, askedFrom].filter((t): t is number => t !== undefined);
  const hi = [to, askedTo].filter((t): t is number => t !== undefined);
  if (lo.length) params.set('fromBookingDateTime', queryTime(Math.max(...lo)));
  if (hi.length) params.set('toBookingDateTime', queryTime(Math.min(...hi)));
  return `?${params.toString()}`;
}

/** The first place where `sent` differs from `kept`, as a JSON path below `at` (`Data.Initiation.InstructedAmount.Amount`). */
function firstDifference(kept: unknown, sent: unknown, at: string): string | undefined {
  if (isDeepStrictEqual(kept, sent)) return undefined;
  if (isObject(kept) && isObject(sent)) {
    for (const k of new Set([...Object.keys(kept), ...Object.keys(sent)])) {
      const d = firstDifference(kept[k], sent[k], `${at}.${k}`);
      if (d) return d;
    }
  }
  if (Array.isArray(kept) && Array.isArray(sent)) {
    for (let i = 0; i < Math.max(kept.length, sent.length); i++) {
      const d = firstDifference(kept[i], sent[i], `${at}[${i}]`);
      if (d) return d;
    }
  }
  return at;
}

/**
 * For a body that names a consent (orders, VRP payments, funds confirmations): undefined when it
 * names the token's consent and, for an order, repeats its Initiation and Risk exactly; else the
 * refusal with the first field that differs. The body has been read whole and parsed.
 */
export function bodyRefusal(consent: ConsentRecord, need: ConsentNeed, body: unknown): AccessRefusal | undefined {
  if (need.use !== 'order' && need.use !== 'confirm-funds') return undefined;
  const data = isObject(body) && isObject(body['Data']) ? body['Data'] : undefined;
  if (!data || data['ConsentId'] !== consent.id) {
    return { code: 'GATEWAY_CONSENT_BODY_MISMATCH', description: "Data.ConsentId is not the token's consent", path: 'Data.ConsentId' };
  }
  if (need.use === 'order') {
    const initiation = firstDifference(consent.data['Initiation'], data['Initiation'], 'Data.Initiation');
    if (initiation) return { code: 'GATEWAY_CONSENT_BODY_MISMATCH', description: 'the order does not repeat its consent exactly', path: initiation };
    const risk = firstDifference(consent.risk ?? {}, isObject(body) ? (body['Risk'] ?? {}) : {}, 'Risk');
    if (risk) return { code: 'GATEWAY_CONSENT_BODY_MISMATCH', description: 'the order does not repeat its consent exactly', path: risk };
  }
  return undefined;
}

/** The consent as the backend is told it with each call (the identity header's `consent` claim). */
export interface ConsentSnapshot {
  readonly id: string;
  readonly type: ConsentKind;
  readonly api_version: string;
  readonly status: string;
  /** The account ids the PSU chose (AIS), or the account to pay from or check. */
  readonly accounts: readonly string[];
  readonly permissions?: readonly string[];
  /** AIS: transactions only within these (ISO 8601), when the consent bounds them. */
  readonly transaction_from?: string;
  readonly transaction_to?: string;
  readonly expires_at?: string;
}

export function consentSnapshot(c: ConsentRecord): ConsentSnapshot {
  const d = c.data;
  return {
    id: c.id,
    type: c.kind,
    api_version: c.apiVersion,
    status: c.status,
    accounts: c.accounts,
    ...(Array.isArray(d['Permissions']) ? { permissions: d['Permissions'] as string[] } : {}),
    ...(typeof d['TransactionFromDateTime'] === 'string' ? { transaction_from: d['TransactionFromDateTime'] } : {}),
    ...(typeof d['TransactionToDateTime'] === 'string' ? { transaction_to: d['TransactionToDateTime'] } : {}),
    ...(c.expiresAt === null ? {} : { expires_at: new Date(c.expiresAt).toISOString() }),
  };
}
