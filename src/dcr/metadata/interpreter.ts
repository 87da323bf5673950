/**
 * Reads the client metadata rules (rules.ts) against a registration request: one field after
 * another, each through the rule families in a fixed order. The first failure is thrown as the
 * coded error its rule names. Then it builds the key manager's client record from the record table.
 */
import { type AppError, fail } from '../../errors/app-error.ts';
import type { VerifiedSsa } from '../ssa.ts';
import type { DcrVersionProfile } from '../versions/types.ts';
import {
  CLIENT_RECORD,
  claimNames,
  type ClientSource,
  type FieldRule,
  type HttpsUriRule,
  METADATA_RULES,
  type MetadataContext,
  type Refusal,
  type Registered,
  type RegistrationMetadata,
  type When,
} from './rules.ts';

export type { MetadataContext, RegistrationMetadata } from './rules.ts';

const nonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const holds = (when: When | undefined, got: Registered) => when === undefined || got[when.field] === when.is;

/** Why `uri` breaks the HTTPS URI rules, or undefined when it keeps them. */
function httpsUriProblem(rule: HttpsUriRule, list: string, uri: unknown): string | undefined {
  if (!nonEmptyString(uri)) return `${list} must contain URL strings`;
  if (uri.length > rule.maxLength) return `a ${rule.noun} may be at most ${rule.maxLength} characters`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `${rule.noun} ${uri.slice(0, rule.maxLength)} is not a valid URL`;
  }
  if (url.protocol !== 'https:') return `${rule.noun} ${uri} must use https`;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  // RFC 6761 reserves localhost and *.localhost for loopback; loopback addresses are the same thing.
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\./.test(host)) return `${rule.noun} ${uri} must not point at localhost`;
  if (uri.includes('#')) return `${rule.noun} ${uri} must not contain a fragment`;
  return undefined;
}

/** The value to register for one field (undefined: not registered), or the error of the first rule it breaks. */
function readField(rule: FieldRule, ctx: MetadataContext, got: Registered): unknown {
  const names = claimNames(rule, ctx.version);
  const preferred = names[0]!;
  const name = names.find((n) => ctx.claims[n] !== undefined) ?? preferred;
  let value = ctx.claims[name];
  const refuse = (r: Refusal, item?: unknown): AppError => fail(r.code, r.say({ name, preferred, value, item, ctx }));

  const checkElement = (item: unknown) => {
    if (rule.httpsUri) {
      const problem = httpsUriProblem(rule.httpsUri, preferred, item);
      if (problem) throw fail(rule.httpsUri.code, problem);
    }
    for (const c of rule.each ?? []) if (!c.test(item as string, ctx)) throw refuse(c.error, item);
  };
  // The allowed values come from outside the request and are also what an omitted claim may register.
  if (rule.within) rule.within.values(ctx).forEach(checkElement);

  // Presence.
  if (value === undefined) {
    if (rule.required && holds(rule.required.when, got)) throw refuse(rule.required.error);
    if (!rule.default) return undefined;
    if ('registered' in rule.default) return rule.default.registered(ctx, got);
    value = rule.default.asSent(ctx, got);
  } else if (rule.onlyWhen && !holds(rule.onlyWhen.when, got)) {
    throw refuse(rule.onlyWhen.error);
  }

  // Type: `elements` is the array (or the tokens) as sent, `list` the same normalised.
  let elements: unknown[] | undefined;
  switch (rule.type?.is) {
    case 'string':
      if (!nonEmptyString(value)) throw refuse(rule.type.error);
      break;
    case 'strings':
      if (!Array.isArray(value) || !value.every(nonEmptyString)) throw refuse(rule.type.error);
      elements = value;
      break;
    case 'array':
      if (!Array.isArray(value)) throw refuse(rule.type.error);
      elements = value;
      break;
    case 'tokens':
      if (typeof value === 'string') elements = value.split(' ').filter(Boolean);
      else if (rule.type.arrayIn?.(ctx.version) && Array.isArray(value) && value.every(nonEmptyString)) elements = value;
      else throw refuse(rule.type.error);
      break;
  }
  if (rule.nonEmpty && elements?.length === 0) throw refuse(rule.nonEmpty);
  const normalise = rule.normalise;
  const list = elements && normalise ? elements.map((e) => normalise(e as string)) : elements;

  // Values.
  if (rule.oneOf) {
    const allowed = rule.oneOf.values(ctx);
    if (list === undefined && !allowed.includes(value)) throw refuse(rule.oneOf.error);
    for (const [i, e] of (list ?? []).entries()) if (!allowed.includes(e)) throw refuse(rule.oneOf.error, elements![i]);
  }
  if (list === undefined) for (const c of rule.checks ?? []) if (!c.test(value as string, ctx)) throw refuse(c.error);
  list?.forEach(checkElement);
  if (rule.within && list) {
    const allowed = rule.within.values(ctx);
    for (const e of list) if (!allowed.includes(e as string)) throw refuse(rule.within.error, e);
  }

  // The registered form, then the rules across fields and its length.
  const once = list && [...new Set(list)];
  const registered = rule.type?.is === 'tokens' ? once!.join(' ') : (once ?? value);
  const withThis = { ...got, [rule.field]: registered };
  for (const w of rule.invalidWhen ?? []) if (w.test(withThis)) throw refuse(w.error);
  if (rule.maxLength && (registered as string).length > rule.maxLength.max) throw refuse(rule.maxLength.error);
  return registered;
}

/** Applies the rules in order; the first failure is thrown. Returns the values to register. */
export function validateMetadata(ctx: MetadataContext): RegistrationMetadata {
  const got: Record<string, unknown> = {};
  for (const rule of METADATA_RULES) {
    if ('refusePrefix' in rule) {
      const refused = Object.keys(ctx.claims).find((k) => k.startsWith(rule.refusePrefix));
      if (refused !== undefined)
        throw fail(rule.error.code, rule.error.say({ name: refused, preferred: refused, value: ctx.claims[refused], item: undefined, ctx }));
      continue;
    }
    const value = readField(rule, ctx, got as Registered);
    if (value !== undefined) got[rule.field] = value;
  }
  return got as unknown as RegistrationMetadata;
}

function sourceValue(source: ClientSource, m: RegistrationMetadata, ssa: VerifiedSsa, version: DcrVersionProfile): unknown {
  switch (source.from) {
    case 'registration':
      return m[source.field];
    case 'ssa': {
      const v = ssa.claims[source.claim];
      return source.onlyText && typeof v !== 'string' ? undefined : v;
    }
    case 'fixed':
      return source.value;
    case 'software_statement':
      return ssa.raw;
    case 'version':
      return version.id;
  }
}

/** The key manager's client record for a registration (oidc-provider metadata + OB extras). */
export function toClientMetadata(m: RegistrationMetadata, ssa: VerifiedSsa, version: DcrVersionProfile): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [member, source] of CLIENT_RECORD) {
    const v = sourceValue(source, m, ssa, version);
    if (v !== undefined) record[member] = v;
  }
  return record;
}
