/**
 * The DCR domain: register, read, update, delete. Each operation is a short list of named steps
 * (digest §7); every outcome, success or rejection, is written to the audit log. A rejected
 * request changes nothing: the request jti is recorded only once everything has passed.
 */
import { certificateSubjectDn } from '../crypto/dn.ts';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { Storage, AuditEvent, RegistrationRecord, UnitOfWork } from '../storage/ports.ts';
import { ConflictError } from '../storage/ports.ts';
import type { KeyManagerService } from '../oauth/service.ts';
import type { ClientService, ClientMetadata, PendingToken } from '../oauth/clients.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import { AppError, bearerError, fail } from '../errors/app-error.ts';
import { toAppError } from '../errors/to-response.ts';
import { checkMediaType, decodeRegistrationRequest, type DecodedJws } from './parse-request.ts';
import { validateSoftwareStatement, type VerifiedSsa } from './ssa.ts';
import { validateRequestJwt } from './request-jwt.ts';
import { replayExpiry } from '../crypto/time-claims.ts';
import { registrationAudiences } from './audiences.ts';
import { validateMetadata, toClientMetadata } from './metadata/interpreter.ts';
import { checkTransportBinding } from './binding.ts';
import { requireTrustedCertificate } from './transport-certificate.ts';
import { authorizeManagement } from './management-auth.ts';
import { registrationResponse } from './response.ts';
import type { DcrVersionProfile } from './versions/types.ts';
import type { DirectoryTrust } from './directory-trust.ts';
import { syncSubscriptions } from '../apim/subscriptions.ts';

export interface DcrRequest {
  version: DcrVersionProfile;
  certificate: ClientCertificate | undefined;
  contentType?: string | undefined;
  body?: unknown;
  authorization?: string | undefined;
}

export interface DcrResult {
  status: 200 | 201 | 204;
  body?: Record<string, unknown>;
}

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

export interface DcrDeps {
  config: Config;
  logger: Logger;
  storage: Storage;
  keyManager: KeyManagerService;
  clients: ClientService;
  keySets: JwksCache;
  trust: DirectoryTrust;
  now?: () => number;
  /** Told after a registration changed or was deleted (gateways drop what they cached for the client: subscriptions, verified tokens). */
  subscriptionsChanged?: (clientId: string) => Promise<void>;
  /** Told every outcome: operation, 'ok' or 'rejected', and the error code of a rejection (metrics). */
  observe?: (operation: DcrOperation, outcome: 'ok' | 'rejected', code: string | null) => void;
}

export type DcrOperation = 'register' | 'read' | 'update' | 'delete';
const OPERATIONS: Record<string, DcrOperation> = { POST: 'register', GET: 'read', PUT: 'update', DELETE: 'delete' };

interface Validated {
  request: DecodedJws;
  ssa: VerifiedSsa;
  client: ClientMetadata;
  jtiExpiresAt: number;
}

/** Audit fields known so far about a request, verified or as claimed. */
interface Subject {
  softwareId?: string | null;
  orgId?: string | null;
  clientId?: string | null;
}

export function createDcrService(deps: DcrDeps): DcrService {
  const { config, storage, keyManager, clients, keySets } = deps;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const dcr = config.open_banking.dcr;
  // A notice that cannot be sent is logged: the change is durable, and every host also re-checks on a timer.
  const subscriptionsChanged = (clientId: string) =>
    deps.subscriptionsChanged?.(clientId).catch((err: unknown) => deps.logger.warn({ err }, 'could not announce the gateway subscription change')) ??
    Promise.resolve();
  const base = config.derived.baseUrl;
  const audiences = registrationAudiences(config);

  const clientUri = (version: DcrVersionProfile, clientId: string) => `${base}/open-banking/${version.id}/register/${clientId}`;

  /** A rejection changes nothing, so its audit row is written on its own (and its failure only logged). */
  async function auditRejection(req: DcrRequest, method: string, who: Subject, reason: string, code: string): Promise<void> {
    try {
      await storage.audit.append({ ...auditRow('rejected', req, method, who), reason, code });
    } catch (err) {
      deps.logger.error({ err, method }, 'could not write the registration audit event');
    }
  }

  /**
   * Runs an operation. Every outcome is counted by operation and code; a rejection is audited
   * with its code and the reason sent to the TPP, and logged at info with the code (a server
   * error at error, with its cause).
   */
  async function audited<T>(req: DcrRequest, method: string, who: Subject, op: () => Promise<T>): Promise<T> {
    const operation = OPERATIONS[method]!;
    try {
      const result = await op();
      deps.observe?.(operation, 'ok', null);
      return result;
    } catch (err) {
      const e = toAppError(err);
      const code = e instanceof AppError ? e.code : 'PROVIDER_ERROR';
      const reason = e instanceof AppError ? (e.status >= 500 ? e.error : `${e.error}: ${e.description}`) : `${e.provider.error}: ${e.provider.description}`;
      const subject = {
        operation,
        code,
        version: req.version.id,
        software_id: who.softwareId ?? undefined,
        org_id: who.orgId ?? undefined,
        client_id: who.clientId ?? undefined,
      };
      if (e instanceof AppError && e.status >= 500) deps.logger.error({ ...subject, err }, 'registration request failed');
      else deps.logger.info(subject, 'registration request rejected');
      deps.observe?.(operation, 'rejected', code);
      await auditRejection(req, method, who, reason, code);
      throw err;
    }
  }

  // Validity is judged by the service's clock (milliseconds there), like every other time it checks.
  const requireCertificate = (req: DcrRequest): ClientCertificate => requireTrustedCertificate(req.certificate, now() * 1000);
  /** The transport certificate's subject as the console shows it (RFC 4514); null if it cannot be read. */
  const subjectOf = (cert: ClientCertificate): string | null => {
    try {
      return certificateSubjectDn(cert.x509).slice(0, 1000);
    } catch {
      return null;
    }
  };

  /** Steps 2–7 of the pipeline, shared by POST and PUT. */
  async function validate(req: DcrRequest, cert: ClientCertificate, who: Subject, existing?: ClientMetadata): Promise<Validated> {
    checkMediaType(req.contentType);
    const request = decodeRegistrationRequest(req.body);
    // Claimed values, for the audit trail of a rejection; replaced by verified ones below.
    who.softwareId ??= typeof request.claims['iss'] === 'string' ? request.claims['iss'].slice(0, 64) : null;
    const ssa = await validateSoftwareStatement(request.claims['software_statement'], { config, keySets, now, trust: deps.trust });
    who.softwareId = ssa.claims.software_id;
    who.orgId = ssa.claims.org_id;
    await validateRequestJwt(request, ssa, { config, keySets, now, audiences });
    if (existing) {
      // PUT: same software, and a client_id in the body must be the one in the path (RFC 7592 §2.2).
      if (existing['software_id'] !== ssa.claims.software_id)
        throw fail('UPDATE_SOFTWARE_MISMATCH', 'the software statement is for a different software_id than this registration');
      if (request.claims['client_id'] !== undefined && request.claims['client_id'] !== existing['client_id']) {
        throw fail('UPDATE_CLIENT_ID_MISMATCH', 'client_id in the request does not match the registration being updated');
      }
    }
    const metadata = validateMetadata({
      config,
      version: req.version,
      ssa,
      claims: request.claims,
      certificate: cert.x509,
      availableScopes: keyManager.scopes(),
    });
    await checkTransportBinding(cert.x509, ssa.claims, { config, keySets });
    const client = toClientMetadata(metadata, ssa, req.version);
    await clients.validate({ client_id: existing?.['client_id'] ?? randomUUID(), ...client });
    return { request, ssa, client, jtiExpiresAt: replayExpiry(request.claims['exp'] as number, config.oauth.clock_tolerance) };
  }

  /** Records the request jti (per issuer) in the unit of work, so a rejected request can be corrected and resent. */
  async function consumeJti(tx: UnitOfWork, v: Validated): Promise<void> {
    const fresh = await tx.replay.remember(`dcr:${v.ssa.claims.software_id}`, String(v.request.claims['jti']), v.jtiExpiresAt);
    if (!fresh) throw fail('REQUEST_JTI_REPLAYED', 'jti has already been used: sign a new registration request');
  }

  function auditRow(event: AuditEvent['event'], req: DcrRequest, method: string, who: Subject): AuditEvent {
    return {
      at: now(),
      event,
      method,
      version: req.version.id,
      reason: null,
      code: null,
      softwareId: who.softwareId ?? null,
      orgId: who.orgId ?? null,
      clientId: who.clientId ?? null,
    };
  }

  /** 401 for a registration that no longer exists (OB DCR: unknown ClientId → Unauthorized). */
  const gone = () => bearerError('TOKEN_REVOKED', 'the access token is not valid for this registration');

  const pendingRat = (clientId: string) =>
    dcr.append_registration_attributes_in_response ? clients.registrationAccessToken(clientId) : Promise.resolve(undefined);

  function respond(client: ClientMetadata, version: DcrVersionProfile, rat: PendingToken | undefined): Record<string, unknown> {
    const clientId = String(client['client_id']);
    const extra = dcr.append_registration_attributes_in_response
      ? { registration_client_uri: clientUri(version, clientId), ...(rat ? { registration_access_token: rat.value } : {}) }
      : {};
    return registrationResponse(clients.view(client), extra);
  }

  const manage = async (req: DcrRequest, clientId: string, who: Subject): Promise<{ cert: ClientCertificate; client: ClientMetadata }> => {
    const cert = requireCertificate(req);
    await authorizeManagement(
      clientId,
      { authorization: req.authorization, certificate: cert },
      {
        keyManager,
        exists: async (id) => (await clients.find(id)) !== undefined,
      },
    );
    // Deleted since the token was checked (a concurrent DELETE): the same answer as for an unknown client.
    const client = await clients.find(clientId);
    if (!client) throw gone();
    who.softwareId = String(client['software_id'] ?? '') || null;
    who.orgId = String(client['org_id'] ?? '') || null;
    return { cert, client };
  };

  return {
    async register(req) {
      const who: Subject = {};
      return audited(req, 'POST', who, async () => {
        const cert = requireCertificate(req);
        const v = await validate(req, cert, who);
        const clientId = randomUUID();
        const t = now();
        const registration: RegistrationRecord = {
          clientId,
          softwareId: v.ssa.claims.software_id,
          orgId: v.ssa.claims.org_id,
          environment: v.ssa.claims.software_environment,
          roles: v.ssa.claims.software_roles,
          version: req.version.id,
          softwareStatement: v.ssa.raw,
          certificateSubject: subjectOf(cert),
          createdAt: t,
          updatedAt: t,
        };
        const client: ClientMetadata = { client_id: clientId, client_id_issued_at: t, ...v.client };
        const rat = await pendingRat(clientId);
        // One unit of work: the registration row, its client, the request jti, the token and the audit row.
        await storage.transaction('dcr.register', async (tx) => {
          try {
            await tx.registrations.create(registration, { exclusive: dcr.single_registration_per_software });
          } catch (err) {
            if (err instanceof ConflictError) {
              throw fail('REGISTRATION_EXISTS', 'this software already has an active registration; update it with PUT or delete it first', { cause: err });
            }
            throw err;
          }
          await consumeJti(tx, v);
          await clients.write(tx, client);
          await rat?.save(tx);
          // The application's gateway subscriptions, in the same transaction as the registration.
          await syncSubscriptions(tx.gateway, clientId, registration.roles, t, { newClient: true });
          await tx.audit.append(auditRow('created', req, 'POST', { ...who, clientId }));
        });
        who.clientId = clientId;
        return { status: 201, body: respond(client, req.version, rat) };
      });
    },

    async read(req, clientId) {
      const who: Subject = { clientId };
      return audited(req, 'GET', who, async () => {
        const { client } = await manage(req, clientId, who);
        return { status: 200, body: respond(client, req.version, undefined) };
      });
    },

    async update(req, clientId) {
      const who: Subject = { clientId };
      return audited(req, 'PUT', who, async () => {
        const { cert, client: existing } = await manage(req, clientId, who);
        const v = await validate(req, cert, who, existing);
        const client: ClientMetadata = { ...v.client, client_id: clientId, client_id_issued_at: existing['client_id_issued_at'] };
        const rat = await pendingRat(clientId);
        // The registration row is locked first: a DELETE racing this PUT either waits for it or
        // has already removed the row, and then nothing is written back.
        await storage.transaction('dcr.update', async (tx) => {
          const current = await tx.registrations.lock(clientId);
          if (!current) throw gone();
          await consumeJti(tx, v);
          await clients.write(tx, client);
          const t = now();
          await tx.registrations.update({
            ...current,
            orgId: v.ssa.claims.org_id,
            environment: v.ssa.claims.software_environment,
            roles: v.ssa.claims.software_roles,
            version: req.version.id,
            softwareStatement: v.ssa.raw,
            certificateSubject: subjectOf(cert),
            updatedAt: t,
          });
          await rat?.save(tx);
          // Roles may have changed: the subscriptions follow, in the same transaction.
          await syncSubscriptions(tx.gateway, clientId, v.ssa.claims.software_roles, t);
          await tx.audit.append(auditRow('updated', req, 'PUT', who));
        });
        // Its roles, subscriptions or metadata may have changed: gateways drop what they cached for it.
        await subscriptionsChanged(clientId);
        return { status: 200, body: respond(client, req.version, rat) };
      });
    },

    async remove(req, clientId) {
      const who: Subject = { clientId };
      return audited(req, 'DELETE', who, async () => {
        await manage(req, clientId, who);
        // Registration, client and everything issued to it go together; of racing DELETEs the
        // first removes the row and the others find it gone.
        if (
          !(await deleteRegistration(clientId, (existing) =>
            auditRow('deleted', req, 'DELETE', { ...who, softwareId: existing.softwareId, orgId: existing.orgId }),
          ))
        )
          throw gone();
        return { status: 204 };
      });
    },

    async removeAsAdministrator(clientId, by) {
      return deleteRegistration(clientId, (existing) => ({
        at: now(),
        event: 'deleted',
        method: 'DELETE',
        version: existing.version,
        code: null,
        reason: `deleted by the administrator ${by.slice(0, 100)}`,
        softwareId: existing.softwareId,
        orgId: existing.orgId,
        clientId,
      }));
    },
  };

  /**
   * Registration, client and everything issued to it go together; of racing deletions the first
   * removes the row and the others find it gone (false).
   */
  async function deleteRegistration(clientId: string, audit: (existing: RegistrationRecord) => AuditEvent): Promise<boolean> {
    const deleted = await storage.transaction('dcr.delete', async (tx) => {
      const existing = await tx.registrations.lock(clientId);
      if (!existing) return false;
      await tx.registrations.delete(clientId);
      await tx.gateway.deleteSubscriptionsOf(clientId);
      await clients.remove(tx, clientId);
      await tx.audit.append(audit(existing));
      return true;
    });
    if (!deleted) return false;
    // Its subscriptions went with it; the gateways drop what they cached.
    await subscriptionsChanged(clientId);
    // The deletion is durable already; the mark makes its JWT access tokens fail at once on
    // every host (the verifier also finds the client gone, so a mark that cannot be written
    // now is logged, not answered with an error).
    await clients
      .markRevoked(clientId)
      .catch((err: unknown) => deps.logger.warn({ err, client_id: clientId }, "could not mark the deleted client's tokens revoked in the shared state"));
    return true;
  }
}
