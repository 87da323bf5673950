/**
 * The forward step's path for operations that declare x-idempotency-key: at most once. The first
 * call with a key runs; a repeat with the same operation and body gets its stored answer, whatever
 * its status (a backend's 5xx too). While the first call may still run, a repeat gets 409
 * IN_PROGRESS with Retry-After; once its outcome is lost (the backend too slow, the connection cut,
 * this process killed and its lease over), 409 OUTCOME_UNKNOWN until the key expires: the gateway
 * never runs it again, because it cannot know whether the backend did. The key is freed only when
 * the call certainly did nothing: it never left (no connection to the backend) or the backend says
 * so (NOT_EXECUTED_HEADER). README.md "Security" states the guarantee.
 */
import type { ServerResponse } from 'node:http';
import { fail } from '../../errors/app-error.ts';
import type { Logger } from '../../logger.ts';
import type { VerifiedToken } from '../../oauth/token-verifier.ts';
import { RESIDENT_KEY_MANAGER } from '../../storage/catalogue-records.ts';
import type { GatewayStore } from '../../storage/ports.ts';
import { requestFingerprint, type StoredResponse, storedResponse } from '../ob-rules.ts';
import { type BufferedAnswer, mayHaveReachedBackend } from '../proxy.ts';
import type { Checked } from './call.ts';

export interface IdempotencyDeps {
  /** Where keys and first answers are kept (the database: every host sees them). */
  readonly store: Pick<GatewayStore, 'claimIdempotency' | 'completeIdempotency' | 'releaseIdempotency' | 'abandonIdempotency'>;
  readonly logger: Pick<Logger, 'warn' | 'error'>;
  /** Epoch seconds. */
  readonly now: () => number;
  /** How long a claimed key is held while its call may still be running, then freed for a retry (seconds). */
  readonly leaseSeconds: number;
  /** How long a key and its answer are kept ([gateway] idempotency_window, seconds). */
  readonly window: number;
}

/**
 * Whose x-idempotency-keys a call uses: the application, a key manager and a client id together
 * (a resident client by its id alone, as before key managers were told apart: its ids are
 * generated and never hold a newline, which no key manager's name holds either).
 */
export const idempotencyOwner = (t: VerifiedToken): string => (t.keyManager === RESIDENT_KEY_MANAGER ? t.clientId : `${t.keyManager}\n${t.clientId}`);

function send(res: ServerResponse, r: StoredResponse): void {
  const body = Buffer.from(r.body, 'base64');
  res.writeHead(r.status, { ...r.headers, 'content-length': body.length });
  res.end(body);
}

/**
 * Runs `exchange` (the call, its body read whole, sent to its backend: over HTTP, or a service in
 * process) at most once per key, and answers with the first answer.
 */
export async function exchangeOnce(deps: IdempotencyDeps, call: Checked, body: Buffer, exchange: () => Promise<BufferedAnswer>): Promise<void> {
  const { req, res } = call;
  const owner = idempotencyOwner(call.caller.token);
  const key = String(req.headers['x-idempotency-key']);
  const method = req.method ?? 'POST';
  const fingerprint = requestFingerprint(method, call.path, body);
  const t = deps.now();
  const claim = await deps.store.claimIdempotency(owner, key, fingerprint, t + deps.leaseSeconds, t + deps.window, t);
  if (claim !== 'claimed') {
    if (claim.fingerprint !== fingerprint)
      throw fail('GATEWAY_IDEMPOTENCY_MISMATCH', 'this x-idempotency-key was used with another request in the last 24 hours');
    if (claim.response !== null) {
      send(res, JSON.parse(claim.response) as StoredResponse);
      return;
    }
    if (claim.leaseUntil > t) {
      throw fail('GATEWAY_IDEMPOTENCY_IN_PROGRESS', 'a request with this x-idempotency-key is still being processed; retry after the time in Retry-After', {
        headers: { 'retry-after': String(claim.leaseUntil - t) },
      });
    }
    throw fail(
      'GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN',
      'the outcome of the first request with this x-idempotency-key is unknown and it is not run again; check the resource before sending a new request with a new key',
    );
  }
  const settle = (what: 'release' | 'abandon') =>
    (what === 'release' ? deps.store.releaseIdempotency(owner, key) : deps.store.abandonIdempotency(owner, key)).catch((e: unknown) =>
      deps.logger.warn({ err: e, what }, 'could not settle an idempotency key; its lease will run out and its outcome be unknown'),
    );
  let answer;
  try {
    answer = await exchange();
  } catch (err) {
    await settle(mayHaveReachedBackend(err) ? 'abandon' : 'release');
    throw err;
  }
  const stored = storedResponse(answer.status, answer.headers, answer.body);
  if (answer.notExecuted) {
    await settle('release');
  } else {
    // The backend has answered: its answer goes to the caller even if it cannot be kept (the
    // lease then runs out and a repeat is told the outcome is unknown, never run twice).
    await deps.store
      .completeIdempotency(owner, key, JSON.stringify(stored), deps.now() + deps.window)
      .catch((e: unknown) => deps.logger.error({ err: e }, 'could not keep the answer of an idempotent call; a repeat will be told its outcome is unknown'));
  }
  send(res, stored);
}
