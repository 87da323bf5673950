/**
 * Refusals of the consent resources, in OBErrorResponse1: one entry per problem with its JSON
 * path, the code in the API version's own vocabulary (v3.1 `UK.OBIE.*` names, v4.0 the
 * four-character OBExternalStatusReason1Code that keeps each old name's meaning: U001 to U029 in
 * the v3.1 list's order, docs/consents.md#errors).
 */
import { ERRORS, type ErrorCode } from '../errors/codes.ts';

/** The v3.1 error names, in the order their v4.0 codes U001… were given. */
const V3_NAMES = [
  'UK.OBIE.Field.Expected',
  'UK.OBIE.Field.Invalid',
  'UK.OBIE.Field.InvalidDate',
  'UK.OBIE.Field.Missing',
  'UK.OBIE.Field.Unexpected',
  'UK.OBIE.Header.Invalid',
  'UK.OBIE.Header.Missing',
  'UK.OBIE.Resource.ConsentMismatch',
  'UK.OBIE.Resource.InvalidConsentStatus',
  'UK.OBIE.Resource.InvalidFormat',
  'UK.OBIE.Resource.NotFound',
  'UK.OBIE.Rules.AfterCutOffDateTime',
  'UK.OBIE.Rules.DuplicateReference',
  'UK.OBIE.Rules.FailsControlParameters',
  'UK.OBIE.Signature.Invalid',
  'UK.OBIE.Signature.InvalidClaim',
  'UK.OBIE.Signature.Malformed',
  'UK.OBIE.Signature.Missing',
  'UK.OBIE.Signature.MissingClaim',
  'UK.OBIE.Signature.Unexpected',
  'UK.OBIE.UnexpectedError',
  'UK.OBIE.Unsupported.AccountIdentifier',
  'UK.OBIE.Unsupported.AccountSecondaryIdentifier',
  'UK.OBIE.Unsupported.Currency',
  'UK.OBIE.Unsupported.Frequency',
  'UK.OBIE.Unsupported.LocalInstrument',
  'UK.OBIE.Unsupported.Scheme',
  'UK.OBIE.Reauthenticate',
  'UK.OBIE.Rules.ResourceAlreadyExists',
] as const;

export type ObErrorName = (typeof V3_NAMES)[number];

const V4_CODE = new Map<string, string>(V3_NAMES.map((name, i) => [name, `U${String(i + 1).padStart(3, '0')}`]));

/** The code as the API version sends it. */
export const obCodeFor = (name: ObErrorName, apiVersion: string): string => (apiVersion === 'v3.1' ? name : V4_CODE.get(name)!);

/** One problem with a request. */
export interface ObProblem {
  readonly name: ObErrorName;
  readonly message: string;
  /** `Data.Permissions[1]`. */
  readonly path?: string;
}

/** A refusal the consent service answers with: a coded error (its status) and its problems. */
export class ConsentRefusal extends Error {
  override readonly name = 'ConsentRefusal';
  readonly status: number;
  readonly problems: readonly ObProblem[];
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, problems?: readonly ObProblem[], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.problems = problems ?? [{ name: (ERRORS[code].ob ?? 'UK.OBIE.UnexpectedError') as ObErrorName, message }];
    this.status = ERRORS[code].status;
  }
}

/** The OBErrorResponse1 body (at most 20 problems; Message and each Message bounded to 500 characters). */
export function obErrorResponse(refusal: ConsentRefusal, apiVersion: string, interactionId: string): Record<string, unknown> {
  const bound = (t: string) => (t.length > 500 ? `${t.slice(0, 497)}...` : t);
  return {
    Code: refusal.code,
    Id: interactionId,
    Message: bound(refusal.message),
    Errors: refusal.problems.slice(0, 20).map((p) => ({
      ErrorCode: obCodeFor(p.name, apiVersion),
      Message: bound(p.message),
      ...(p.path ? { Path: bound(p.path) } : {}),
    })),
  };
}
