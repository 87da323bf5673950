/**
 * A consent in the customer's words, for the page where they authorise it: what the TPP will see or
 * do, until when, how much, to whom. Built from the stored consent itself, never from what the TPP
 * says elsewhere. Plain data; the page (src/oauth/interactions) escapes and lays it out.
 */
import type { ConsentRecord } from '../storage/consent-records.ts';
import { isPaymentKind } from './status.ts';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** What each AIS permission lets the TPP see (the permission → data table of docs/consents.md). */
export const PERMISSION_WORDS: Readonly<Record<string, string>> = {
  ReadAccountsBasic: 'Your account names, types and currencies',
  ReadAccountsDetail: 'Your account names, types, currencies and numbers',
  ReadBalances: 'Your balances',
  ReadBeneficiariesBasic: 'The payees you have set up',
  ReadBeneficiariesDetail: 'The payees you have set up, with their account details',
  ReadDirectDebits: 'Your direct debits',
  ReadStandingOrdersBasic: 'Your standing orders',
  ReadStandingOrdersDetail: 'Your standing orders, with the payee account details',
  ReadTransactionsBasic: 'Your transactions',
  ReadTransactionsDetail: 'Your transactions, with their details (references, merchants, counterparties)',
  ReadTransactionsCredits: 'Money coming into your accounts',
  ReadTransactionsDebits: 'Money going out of your accounts',
  ReadStatementsBasic: 'Your statements',
  ReadStatementsDetail: 'Your statements, with their amounts and files',
  ReadProducts: 'The products your accounts are',
  ReadOffers: 'Offers the bank has made you',
  ReadParty: 'The owners of your accounts',
  ReadPartyPSU: 'Your name and contact details',
  ReadScheduledPaymentsBasic: 'Your scheduled payments',
  ReadScheduledPaymentsDetail: 'Your scheduled payments, with the payee account details',
  ReadPAN: 'Your full card numbers',
};

export interface ConsentLine {
  readonly label: string;
  readonly value: string;
}

export interface ConsentDescription {
  /** One sentence: what is asked. */
  readonly summary: string;
  /** The permissions in plain words (account access). */
  readonly permissions: readonly string[];
  /** Amounts, payee, reference, dates, limits: one line each. */
  readonly details: readonly ConsentLine[];
  /** The customer picks several accounts (account access) or one (the others). */
  readonly selection: 'many' | 'one';
  /** The customer may withdraw it later (account access, funds confirmation, VRP; a payment cannot be). */
  readonly revocable: boolean;
}

const date = (v: unknown): string | undefined => {
  const s = text(v);
  if (!s) return undefined;
  const t = Date.parse(s);
  if (!Number.isFinite(t)) return undefined;
  return `${new Date(t).toLocaleString('en-GB', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' })} UTC`;
};

/** `10.50 GBP` from an OB amount (`{ Amount, Currency }`). */
const money = (v: unknown): string | undefined =>
  isObject(v) && text(v['Amount']) && text(v['Currency']) ? `${String(v['Amount'])} ${String(v['Currency'])}` : undefined;

const accountRef = (v: unknown): string | undefined => {
  if (!isObject(v)) return undefined;
  const name = text(v['Name']);
  const id = text(v['Identification']);
  return [name, id ? `(${id})` : undefined].filter(Boolean).join(' ') || undefined;
};

function push(out: ConsentLine[], label: string, value: string | undefined): void {
  if (value !== undefined) out.push({ label, value });
}

const PAYMENT_SUMMARY: Readonly<Record<string, string>> = {
  'domestic-payment': 'make one payment from your account',
  'domestic-scheduled-payment': 'make one payment from your account on a future date',
  'domestic-standing-order': 'set up a standing order from your account',
  'international-payment': 'make one international payment from your account',
  'international-scheduled-payment': 'make one international payment from your account on a future date',
  'international-standing-order': 'set up an international standing order from your account',
};

/** The page's account of `consent`, for `tppName`. */
export function describeConsent(consent: ConsentRecord, tppName: string): ConsentDescription {
  const data = consent.data;
  const details: ConsentLine[] = [];
  if (consent.kind === 'account-access') {
    const permissions = (Array.isArray(data['Permissions']) ? data['Permissions'] : []).map((p) => PERMISSION_WORDS[String(p)] ?? String(p));
    push(details, 'Access ends', date(data['ExpirationDateTime']) ?? 'No end date; you can withdraw it at any time');
    push(details, 'Transactions from', date(data['TransactionFromDateTime']));
    push(details, 'Transactions until', date(data['TransactionToDateTime']));
    return { summary: `${tppName} asks to see this information about the accounts you choose:`, permissions, details, selection: 'many', revocable: true };
  }
  if (consent.kind === 'funds-confirmation') {
    push(details, 'Account', accountRef(data['DebtorAccount']));
    push(details, 'Access ends', date(data['ExpirationDateTime']) ?? 'No end date; you can withdraw it at any time');
    return {
      summary: `${tppName} asks to check whether this account has enough money for a payment (it sees a yes or no, never the balance):`,
      permissions: [],
      details,
      selection: 'one',
      revocable: true,
    };
  }
  const initiation = isObject(data['Initiation']) ? data['Initiation'] : {};
  if (consent.kind === 'domestic-vrp') {
    const control = isObject(data['ControlParameters']) ? data['ControlParameters'] : {};
    push(details, 'Paid to', accountRef(initiation['CreditorAccount']));
    push(details, 'Reference', text(isObject(initiation['RemittanceInformation']) ? initiation['RemittanceInformation']['Reference'] : undefined));
    push(details, 'Largest single payment', money(control['MaximumIndividualAmount']));
    for (const limit of Array.isArray(control['PeriodicLimits']) ? control['PeriodicLimits'] : []) {
      if (!isObject(limit)) continue;
      const amount = money(limit);
      const alignment = limit['PeriodAlignment'] === 'Calendar' ? 'calendar' : 'from today';
      if (amount) push(details, `At most per ${String(limit['PeriodType']).toLowerCase()} (${alignment})`, amount);
    }
    push(details, 'From', date(control['ValidFromDateTime']));
    push(details, 'Until', date(control['ValidToDateTime']) ?? 'No end date; you can withdraw it at any time');
    return {
      summary: `${tppName} asks to make payments from your account, as often as needed, within these limits:`,
      permissions: [],
      details,
      selection: 'one',
      revocable: true,
    };
  }
  if (isPaymentKind(consent.kind)) {
    push(details, 'Amount', money(initiation['InstructedAmount']) ?? money(initiation['FirstPaymentAmount']));
    push(details, 'Paid to', accountRef(initiation['CreditorAccount']));
    push(details, 'Reference', text(isObject(initiation['RemittanceInformation']) ? initiation['RemittanceInformation']['Reference'] : undefined));
    push(details, 'Paid on', date(initiation['RequestedExecutionDateTime']));
    push(details, 'First payment', date(initiation['FirstPaymentDateTime']));
    push(details, 'Frequency', text(initiation['Frequency']));
    push(details, 'Final payment', date(initiation['FinalPaymentDateTime']));
    push(details, 'Currency of transfer', text(initiation['CurrencyOfTransfer']));
  }
  return {
    summary: `${tppName} asks to ${PAYMENT_SUMMARY[consent.kind] ?? 'use your account'}:`,
    permissions: [],
    details,
    selection: 'one',
    revocable: false,
  };
}

/** Where a consent names the account it must be paid from or checked on (PIS, VRP: Initiation; CoF: Data). */
export function debtorAccountOf(consent: ConsentRecord): unknown {
  if (consent.kind === 'account-access') return undefined;
  if (consent.kind === 'funds-confirmation') return consent.data['DebtorAccount'];
  const initiation = consent.data['Initiation'];
  return isObject(initiation) ? initiation['DebtorAccount'] : undefined;
}
