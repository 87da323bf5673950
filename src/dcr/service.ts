/**
 * The DCR domain: register, read, update, delete. Each operation is the list of named steps below
 * (steps.ts), run in order until one throws; every outcome, success or rejection, is counted and
 * written to the audit log. A rejected request changes nothing: the writes, the request jti
 * included, are the last steps, in one unit of work.
 */
import { AppError } from '../errors/app-error.ts';
import { toAppError } from '../errors/to-response.ts';
import { createDcrSteps, type DcrMethod, type DcrRequest, type DcrResult, type DcrStepDeps, type Operation, type Step } from './steps.ts';

export type { DcrRequest, DcrResult } from './steps.ts';

export interface DcrService {
  register(req: DcrRequest): Promise<DcrResult>;
  read(req: DcrRequest, clientId: string): Promise<DcrResult>;
  update(req: DcrRequest, clientId: string): Promise<DcrResult>;
  remove(req: DcrRequest, clientId: string): Promise<DcrResult>;
  /**
   * Deletes a registration on an administrator's word (the console): as the TPP's DELETE does,
   * with the registration's client, tokens and subscriptions, audited as `deleted` with `by` in
   * its reason. False when there is no such registration.
   */
  removeAsAdministrator(clientId: string, by: string): Promise<boolean>;
}

/** What the steps take (src/dcr/steps.ts), with the clock optional and the announcement made by the service. */
export interface DcrDeps extends Omit<DcrStepDeps, 'now' | 'announce'> {
  /** Epoch seconds; default the system clock. */
  now?: () => number;
  /** Told after a registration changed or was deleted (gateways drop what they cached for the client: subscriptions, verified tokens). */
  subscriptionsChanged?: (clientId: string) => Promise<void>;
  /** Told every outcome: operation, 'ok' or 'rejected', and the error code of a rejection (metrics). */
  observe?: (operation: DcrOperation, outcome: 'ok' | 'rejected', code: string | null) => void;
}

export type DcrOperation = 'register' | 'read' | 'update' | 'delete';
const OPERATIONS: Record<DcrMethod, DcrOperation> = { POST: 'register', GET: 'read', PUT: 'update', DELETE: 'delete' };

export function createDcrService(deps: DcrDeps): DcrService {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  // A notice that cannot be sent is logged: the change is durable, and every host also re-checks on a timer.
  const announce = (clientId: string) =>
    deps.subscriptionsChanged?.(clientId).catch((err: unknown) => deps.logger.warn({ err }, 'could not announce the gateway subscription change')) ??
    Promise.resolve();
  const s = createDcrSteps({ ...deps, now, announce });

  /** POST /register (OB DCR, RFC 7591): verify everything the request claims, then store it at once. */
  const REGISTER: readonly Step[] = [
    s.requireCertificate,
    s.checkMediaType,
    s.decodeRequest,
    s.verifySoftwareStatement,
    s.verifyRequestJwt,
    s.validateMetadata,
    s.checkTransportBinding,
    s.assignClientId,
    s.checkWithKeyManager,
    s.prepareRegistrationToken,
    s.storeRegistration,
    s.respond(201),
  ];

  /** GET /register/{ClientId} (RFC 7592 §2.1). */
  const READ: readonly Step[] = [s.requireCertificate, s.authorizeManagement, s.findClient, s.respond(200)];

  /** PUT /register/{ClientId} (RFC 7592 §2.2): the client's own token, then the registration pipeline for the same software. */
  const UPDATE: readonly Step[] = [
    s.requireCertificate,
    s.authorizeManagement,
    s.findClient,
    s.checkMediaType,
    s.decodeRequest,
    s.verifySoftwareStatement,
    s.verifyRequestJwt,
    s.checkSameSoftware,
    s.validateMetadata,
    s.checkTransportBinding,
    s.checkWithKeyManager,
    s.prepareRegistrationToken,
    s.storeUpdate,
    s.announceChange,
    s.respond(200),
  ];

  /** DELETE /register/{ClientId} (RFC 7592 §2.3). */
  const DELETE: readonly Step[] = [s.requireCertificate, s.authorizeManagement, s.findClient, s.deleteRegistration];

  /** A rejection changes nothing, so its audit row is written on its own (and its failure only logged). */
  async function auditRejection(op: Operation, reason: string, code: string): Promise<void> {
    try {
      await deps.storage.audit.append({ ...s.auditRow('rejected', op.req, op.method, op.who), reason, code });
    } catch (err) {
      deps.logger.error({ err, method: op.method }, 'could not write the registration audit event');
    }
  }

  /**
   * Runs an operation's steps. Every outcome is counted by operation and code; a rejection is
   * audited with its code and the reason sent to the TPP, and logged at info with the code (a
   * server error at error, with its cause).
   */
  async function run(steps: readonly Step[], op: Operation): Promise<DcrResult> {
    const operation = OPERATIONS[op.method];
    try {
      for (const step of steps) await step(op);
      deps.observe?.(operation, 'ok', null);
      return op.result!;
    } catch (err) {
      const e = toAppError(err);
      const code = e instanceof AppError ? e.code : 'PROVIDER_ERROR';
      const reason = e instanceof AppError ? (e.status >= 500 ? e.error : `${e.error}: ${e.description}`) : `${e.provider.error}: ${e.provider.description}`;
      const { who } = op;
      const subject = {
        operation,
        code,
        version: op.req.version.id,
        software_id: who.softwareId ?? undefined,
        org_id: who.orgId ?? undefined,
        client_id: who.clientId ?? undefined,
      };
      if (e instanceof AppError && e.status >= 500) deps.logger.error({ ...subject, err }, 'registration request failed');
      else deps.logger.info(subject, 'registration request rejected');
      deps.observe?.(operation, 'rejected', code);
      await auditRejection(op, reason, code);
      throw err;
    }
  }

  /** A management operation knows its client from the path from the start; a registration only once it is stored. */
  const start = (req: DcrRequest, method: DcrMethod, clientId?: string): Operation =>
    clientId === undefined ? { req, method, who: {} } : { req, method, who: { clientId }, clientId };

  return {
    register: (req) => run(REGISTER, start(req, 'POST')),
    read: (req, clientId) => run(READ, start(req, 'GET', clientId)),
    update: (req, clientId) => run(UPDATE, start(req, 'PUT', clientId)),
    remove: (req, clientId) => run(DELETE, start(req, 'DELETE', clientId)),
    removeAsAdministrator: (clientId, by) =>
      s.removeRegistration(clientId, (existing) => ({
        at: now(),
        event: 'deleted',
        method: 'DELETE',
        version: existing.version,
        code: null,
        reason: `deleted by the administrator ${by.slice(0, 100)}`,
        softwareId: existing.softwareId,
        orgId: existing.orgId,
        clientId,
      })),
  };
}
