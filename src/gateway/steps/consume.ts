/**
 * A payment order uses its consent once (docs/consents.md#payment-orders-consume-their-consent).
 * Before the order goes to the backend, the gateway claims the consent for it in the database
 * (the idempotency table, under a key no TPP can send: longer than the 40 characters a TPP's
 * x-idempotency-key may have), so of two orders at once, on one host or many, exactly one reaches
 * the backend. Its outcome settles the claim: refused by the backend (4xx) or never sent frees the
 * consent for another order; accepted (2xx) or lost (a timeout, a cut connection, a 5xx) consumes
 * it (AUTH → COND, revoking its tokens), because after a lost outcome the gateway cannot know
 * whether money moved: the PSU authorises a new consent rather than risk a second payment.
 */
import type { ConsentService } from '../../consent/service.ts';
import { fail } from '../../errors/app-error.ts';
import type { ConsentRecord } from '../../storage/consent-records.ts';
import type { VrpInstruction } from '../../consent/vrp.ts';
import { type BufferedAnswer, mayHaveReachedBackend } from '../proxy.ts';
import type { IdempotencyDeps } from './idempotent.ts';

export interface ConsumeDeps {
  readonly idempotency: IdempotencyDeps;
  readonly consents: Pick<ConsentService, 'consume' | 'reserveVrpPayment' | 'releaseVrpPayment'>;
}

/**
 * A VRP payment: counted against its consent's limits before it goes (in one transaction with the
 * check, so racing payments of one consent never both fit where one does), and no longer counted
 * when the backend refuses it (4xx) or it never left. Accepted or lost, it stays counted: the
 * limits then err on the customer's side.
 */
export async function countedVrpPayment(
  deps: ConsumeDeps,
  consent: ConsentRecord,
  instruction: VrpInstruction,
  exchange: () => Promise<BufferedAnswer>,
): Promise<BufferedAnswer> {
  const counted = await deps.consents.reserveVrpPayment(consent, instruction);
  if (!('paymentId' in counted)) throw fail(counted.code, counted.description, counted.path === undefined ? {} : { field: counted.path });
  const release = () =>
    deps.consents
      .releaseVrpPayment(consent.id, counted.paymentId)
      .catch((e: unknown) => deps.idempotency.logger.warn({ err: e, consentId: consent.id }, 'a refused VRP payment is still counted against its limits'));
  let answer: BufferedAnswer;
  try {
    answer = await exchange();
  } catch (err) {
    if (!mayHaveReachedBackend(err)) await release();
    throw err;
  }
  if (answer.notExecuted || (answer.status >= 400 && answer.status < 500)) await release();
  return answer;
}

/** The claim's key: an order of this consent (63 characters; a TPP's keys have at most 40). */
export const orderClaimKey = (consentId: string) => `payment-order-of-consent:${consentId}`;

/** Runs `exchange` (the order to the backend) holding the consent, and consumes it when the order is accepted. */
export async function consumingOrder(
  deps: ConsumeDeps,
  owner: string,
  consent: ConsentRecord,
  clientId: string,
  exchange: () => Promise<BufferedAnswer>,
): Promise<BufferedAnswer> {
  const { store, now, leaseSeconds, window, logger } = deps.idempotency;
  const key = orderClaimKey(consent.id);
  const t = now();
  const claim = await store.claimIdempotency(owner, key, 'order', t + leaseSeconds, t + window, t);
  if (claim !== 'claimed') {
    throw fail(
      'GATEWAY_CONSENT_STATUS',
      claim.leaseUntil > t && claim.response === null ? 'another order of this consent is still running' : 'the consent has been used by an order',
    );
  }
  const settle = (what: 'release' | 'abandon') =>
    (what === 'release' ? store.releaseIdempotency(owner, key) : store.abandonIdempotency(owner, key)).catch((e: unknown) =>
      logger.warn({ err: e, what }, "could not settle a consent's order claim; its lease will run out and the consent stay claimed"),
    );
  /** The order went and may have moved money: the consent is used (and its tokens revoked). */
  const used = async () => {
    const consumed = await deps.consents.consume(consent.id, clientId).catch((e: unknown) => {
      logger.error({ err: e, consentId: consent.id }, 'an order could not consume its consent; its claim keeps it from a second order');
      return undefined;
    });
    if (consumed) await store.completeIdempotency(owner, key, 'consumed', t + window).catch(() => settle('abandon'));
    else await settle('abandon');
  };
  let answer: BufferedAnswer;
  try {
    answer = await exchange();
  } catch (err) {
    if (mayHaveReachedBackend(err)) await used();
    else await settle('release');
    throw err;
  }
  if (answer.notExecuted || (answer.status >= 400 && answer.status < 500)) await settle('release');
  else await used();
  return answer;
}
