/**
 * The steps of the DCR operations: small named functions over one operation's state, each doing
 * one check or one write. service.ts lists them per operation (POST, GET, PUT, DELETE), so the
 * order of the checks, and with it which failure a request hears first, can be read in one screen.
 * A rejected request changes nothing: every write happens in the last steps, in one unit of work.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { certificateSubjectDn } from '../crypto/dn.ts';
import { replayExpiry } from '../crypto/time-claims.ts';
import { bearerError, fail } from '../errors/app-error.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import type { Logger } from '../logger.ts';
import type { ClientMetadata, ClientService, PendingToken } from '../oauth/clients.ts';
import type { KeyManagerService } from '../oauth/service.ts';
import type { AuditEvent, RegistrationRecord, Storage, UnitOfWork } from '../storage/ports.ts';
import { ConflictError } from '../storage/ports.ts';
import { syncSubscriptions } from '../apim/subscriptions.ts';
import { registrationAudiences } from './audiences.ts';
import { checkTransportBinding } from './binding.ts';
import type { DirectoryTrust } from './directory-trust.ts';
import { authorizeManagement } from './management-auth.ts';
import { toClientMetadata, validateMetadata, type RegistrationMetadata } from './metadata/interpreter.ts';
import { checkMediaType, decodeRegistrationRequest, type DecodedJws } from './parse-request.ts';
import { validateRequestJwt } from './request-jwt.ts';
import { registrationResponse } from './response.ts';
import { validateSoftwareStatement, type VerifiedSsa } from './ssa.ts';
import { requireTrustedCertificate } from './transport-certificate.ts';
import type { DcrVersionProfile } from './versions/types.ts';

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

/** Audit fields known so far about a request, verified or as claimed. */
export interface Subject {
  softwareId?: string | null;
  orgId?: string | null;
  clientId?: string | null;
}

export type DcrMethod = 'POST' | 'GET' | 'PUT' | 'DELETE';

/** What one operation has established so far; each step reads what earlier steps set. */
export interface Operation {
  readonly req: DcrRequest;
  readonly method: DcrMethod;
  /** For the audit trail and the logs (a new client's id only once it is stored). */
  readonly who: Subject;
  /** The path's ClientId, or the id a new registration gets. */
  clientId?: string;
  cert?: ClientCertificate;
  /** The stored client a management request is about. */
  existing?: ClientMetadata;
  request?: DecodedJws;
  ssa?: VerifiedSsa;
  metadata?: RegistrationMetadata;
  /** The key manager's client record for the request, checked by oidc-provider's client schema. */
  record?: ClientMetadata;
  rat?: PendingToken;
  /** The client as stored by this operation. */
  client?: ClientMetadata;
  result?: DcrResult;
}

export type Step = (op: Operation) => void | Promise<void>;

export interface DcrStepDeps {
  config: Config;
  logger: Logger;
  storage: Storage;
  keyManager: KeyManagerService;
  clients: ClientService;
  keySets: JwksCache;
  trust: DirectoryTrust;
  /** Epoch seconds. */
  now: () => number;
  /** Tells the gateways that a client's registration changed or went (never rejects). */
  announce: (clientId: string) => Promise<void>;
}

export function createDcrSteps(deps: DcrStepDeps) {
  const { config, storage, keyManager, clients, keySets, trust, now } = deps;
  const dcr = config.open_banking.dcr;
  const audiences = registrationAudiences(config);
  const base = config.derived.baseUrl;

  /** 401 for a registration that no longer exists (OB DCR: unknown ClientId → Unauthorized). */
  const gone = () => bearerError('TOKEN_REVOKED', 'the access token is not valid for this registration');

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

  /** The transport certificate's subject as the console shows it (RFC 4514); null if it cannot be read. */
  const subjectOf = (cert: ClientCertificate): string | null => {
    try {
      return certificateSubjectDn(cert.x509).slice(0, 1000);
    } catch {
      return null;
    }
  };

  /** Records the request jti (per issuer) in the unit of work, so a rejected request can be corrected and resent. */
  async function consumeJti(tx: UnitOfWork, op: Operation): Promise<void> {
    const claims = op.request!.claims;
    const fresh = await tx.replay.remember(
      `dcr:${op.ssa!.claims.software_id}`,
      String(claims['jti']),
      replayExpiry(claims['exp'] as number, config.oauth.clock_tolerance),
    );
    if (!fresh) throw fail('REQUEST_JTI_REPLAYED', 'jti has already been used: sign a new registration request');
  }

  /**
   * Registration, client and everything issued to it go together; of racing deletions the first
   * removes the row and the others find it gone (false).
   */
  async function removeRegistration(clientId: string, audit: (existing: RegistrationRecord) => AuditEvent): Promise<boolean> {
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
    await deps.announce(clientId);
    // The deletion is durable already; the mark makes its JWT access tokens fail at once on
    // every host (the verifier also finds the client gone, so a mark that cannot be written
    // now is logged, not answered with an error).
    await clients
      .markRevoked(clientId)
      .catch((err: unknown) => deps.logger.warn({ err, client_id: clientId }, "could not mark the deleted client's tokens revoked in the shared state"));
    return true;
  }

  const steps = {
    /** 401 without a transport certificate that chains to the trust store and is valid by our clock. */
    requireCertificate(op: Operation) {
      op.cert = requireTrustedCertificate(op.req.certificate, now() * 1000);
    },

    /** The bearer token is the client's own, over its certificate (management-auth.ts). */
    async authorizeManagement(op: Operation) {
      await authorizeManagement(
        op.clientId!,
        { authorization: op.req.authorization, certificate: op.cert! },
        { keyManager, exists: async (id) => (await clients.find(id)) !== undefined },
      );
    },

    /** The client the path names; deleted since the token was checked (a concurrent DELETE): as for an unknown one. */
    async findClient(op: Operation) {
      const client = await clients.find(op.clientId!);
      if (!client) throw gone();
      op.existing = client;
      op.who.softwareId = String(client['software_id'] ?? '') || null;
      op.who.orgId = String(client['org_id'] ?? '') || null;
    },

    checkMediaType(op: Operation) {
      checkMediaType(op.req.contentType);
    },

    /** The request JWT, decoded without trusting it yet. */
    decodeRequest(op: Operation) {
      op.request = decodeRegistrationRequest(op.req.body);
      // Claimed values, for the audit trail of a rejection; replaced by verified ones below.
      op.who.softwareId ??= typeof op.request.claims['iss'] === 'string' ? op.request.claims['iss'].slice(0, 64) : null;
    },

    async verifySoftwareStatement(op: Operation) {
      op.ssa = await validateSoftwareStatement(op.request!.claims['software_statement'], { config, keySets, now, trust });
      op.who.softwareId = op.ssa.claims.software_id;
      op.who.orgId = op.ssa.claims.org_id;
    },

    /** Signed by a key of the SSA's software JWKS, for us, in time, not replayed (request-jwt.ts). */
    async verifyRequestJwt(op: Operation) {
      await validateRequestJwt(op.request!, op.ssa!, { config, keySets, now, audiences });
    },

    /** PUT: the same software, and a client_id in the body must be the one in the path (RFC 7592 §2.2). */
    checkSameSoftware(op: Operation) {
      if (op.existing!['software_id'] !== op.ssa!.claims.software_id)
        throw fail('UPDATE_SOFTWARE_MISMATCH', 'the software statement is for a different software_id than this registration');
      const claimed = op.request!.claims['client_id'];
      if (claimed !== undefined && claimed !== op.existing!['client_id']) {
        throw fail('UPDATE_CLIENT_ID_MISMATCH', 'client_id in the request does not match the registration being updated');
      }
    },

    /** The client metadata rules (metadata/rules.ts). */
    validateMetadata(op: Operation) {
      op.metadata = validateMetadata({
        config,
        version: op.req.version,
        ssa: op.ssa!,
        claims: op.request!.claims,
        certificate: op.cert!.x509,
        availableScopes: keyManager.scopes(),
      });
    },

    /** The transport certificate belongs to the software (binding.ts). */
    async checkTransportBinding(op: Operation) {
      await checkTransportBinding(op.cert!.x509, op.ssa!.claims, { config, keySets });
    },

    assignClientId(op: Operation) {
      op.clientId = randomUUID();
    },

    /** The client record, checked by oidc-provider's own client schema before anything is stored. */
    async checkWithKeyManager(op: Operation) {
      op.record = toClientMetadata(op.metadata!, op.ssa!, op.req.version);
      await clients.validate({ client_id: op.clientId!, ...op.record });
    },

    /** RFC 7592's registration access token, when [open_banking.dcr] append_registration_attributes_in_response asks for it. */
    async prepareRegistrationToken(op: Operation) {
      if (dcr.append_registration_attributes_in_response) op.rat = await clients.registrationAccessToken(op.clientId!);
    },

    /** One unit of work: the registration row, its client, the request jti, the token, the subscriptions and the audit row. */
    async storeRegistration(op: Operation) {
      const { req, who } = op;
      const ssa = op.ssa!.claims;
      const clientId = op.clientId!;
      const t = now();
      const registration: RegistrationRecord = {
        clientId,
        softwareId: ssa.software_id,
        orgId: ssa.org_id,
        environment: ssa.software_environment,
        roles: ssa.software_roles,
        version: req.version.id,
        softwareStatement: op.ssa!.raw,
        certificateSubject: subjectOf(op.cert!),
        createdAt: t,
        updatedAt: t,
      };
      const client: ClientMetadata = { client_id: clientId, client_id_issued_at: t, ...op.record };
      await storage.transaction('dcr.register', async (tx) => {
        try {
          await tx.registrations.create(registration, { exclusive: dcr.single_registration_per_software });
        } catch (err) {
          if (err instanceof ConflictError) {
            throw fail('REGISTRATION_EXISTS', 'this software already has an active registration; update it with PUT or delete it first', { cause: err });
          }
          throw err;
        }
        await consumeJti(tx, op);
        await clients.write(tx, client);
        await op.rat?.save(tx);
        // The application's gateway subscriptions, in the same transaction as the registration.
        await syncSubscriptions(tx.gateway, clientId, registration.roles, t, { newClient: true });
        await tx.audit.append(auditRow('created', req, 'POST', { ...who, clientId }));
      });
      who.clientId = clientId;
      op.client = client;
    },

    /**
     * One unit of work, like a registration's. The registration row is locked first: a DELETE
     * racing this PUT either waits for it or has already removed the row, and then nothing is
     * written back. client_id and client_id_issued_at are kept.
     */
    async storeUpdate(op: Operation) {
      const { req, who } = op;
      const ssa = op.ssa!;
      const clientId = op.clientId!;
      const client: ClientMetadata = { ...op.record, client_id: clientId, client_id_issued_at: op.existing!['client_id_issued_at'] };
      await storage.transaction('dcr.update', async (tx) => {
        const current = await tx.registrations.lock(clientId);
        if (!current) throw gone();
        await consumeJti(tx, op);
        await clients.write(tx, client);
        const t = now();
        await tx.registrations.update({
          ...current,
          orgId: ssa.claims.org_id,
          environment: ssa.claims.software_environment,
          roles: ssa.claims.software_roles,
          version: req.version.id,
          softwareStatement: ssa.raw,
          certificateSubject: subjectOf(op.cert!),
          updatedAt: t,
        });
        await op.rat?.save(tx);
        // Roles may have changed: the subscriptions follow, in the same transaction.
        await syncSubscriptions(tx.gateway, clientId, ssa.claims.software_roles, t);
        await tx.audit.append(auditRow('updated', req, 'PUT', who));
      });
      op.client = client;
    },

    /** Its roles, subscriptions or metadata may have changed: gateways drop what they cached for it. */
    async announceChange(op: Operation) {
      await deps.announce(op.clientId!);
    },

    /** Registration, client and everything issued to it; of racing DELETEs the first wins and the others find it gone. */
    async deleteRegistration(op: Operation) {
      const { req, who } = op;
      const deleted = await removeRegistration(op.clientId!, (existing) =>
        auditRow('deleted', req, 'DELETE', { ...who, softwareId: existing.softwareId, orgId: existing.orgId }),
      );
      if (!deleted) throw gone();
      op.result = { status: 204 };
    },
  };

  /** The registration response with `status`: the client stored (or read), and the RFC 7592 extras when configured. */
  function respond(status: 200 | 201): Step {
    return (op) => {
      const client = op.client ?? op.existing!;
      const clientId = String(client['client_id']);
      const extra = dcr.append_registration_attributes_in_response
        ? {
            registration_client_uri: `${base}/open-banking/${op.req.version.id}/register/${clientId}`,
            ...(op.rat ? { registration_access_token: op.rat.value } : {}),
          }
        : {};
      op.result = { status, body: registrationResponse(clients.view(client), extra) };
    };
  }

  return { ...steps, respond, auditRow, removeRegistration };
}
