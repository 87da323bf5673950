/**
 * Storage ports: the only storage surface domain code sees. Each backend folder
 * (sqlite/, postgres/) implements `Storage` and passes test/storage/contract.test.ts.
 * Times are epoch seconds unless a name says otherwise.
 */
import type { ApiRecord, KeyManagerRecord, PlanRecord, SubscriptionRecord, SubscriptionState } from './catalogue-records.ts';
import type { ConsentChange, ConsentDayCount, ConsentEvent, EventNotice, ConsentQuery, ConsentRecord, VrpPayment } from './consent-records.ts';

/** A stored oidc-provider model instance (Client, AccessToken, AuthorizationCode, Session, ...). */
export interface OidcRecord {
  payload: Record<string, unknown>;
  /** Epoch seconds when consumed, if ever (AuthorizationCode, RefreshToken, ...). */
  consumed?: number;
}

/** Backing for the oidc-provider adapter: every model in one keyed store. */
export interface OidcModelStore {
  /** Insert or replace. `expiresAt` null means no expiry (e.g. Client). */
  upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: number | null): Promise<void>;
  /** Undefined when absent or expired. */
  find(model: string, id: string): Promise<OidcRecord | undefined>;
  findByUid(model: string, uid: string): Promise<OidcRecord | undefined>;
  findByUserCode(model: string, userCode: string): Promise<OidcRecord | undefined>;
  /** Marks consumed (payload.consumed = at). */
  consume(model: string, id: string, at: number): Promise<void>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every record of every model that carries this grantId. */
  revokeByGrantId(grantId: string): Promise<void>;
  /**
   * What is live under a grant (the Grant itself, its refresh tokens, codes, opaque access tokens), at most
   * 100, newest expiry last: the model and times only, never an id (an opaque token's id is the token).
   */
  grantRecords(grantId: string): Promise<GrantRecord[]>;
  /** Removes records whose expiry is at or before `now`; returns how many. */
  deleteExpired(now: number): Promise<number>;
  /** Ids of non-expired records of a model (for admin listings; bounded by limit). */
  listIds(model: string, limit: number): Promise<string[]>;
  /**
   * Deletes every token, code, grant and request issued to this client (records whose payload
   * clientId equals it; not the Client record itself). Returns how many.
   */
  revokeByClientId(clientId: string): Promise<number>;
}

/** A live record under a grant, as staff may see it. */
export interface GrantRecord {
  model: string;
  /** Epoch seconds; null: no expiry. */
  expiresAt: number | null;
  /** Epoch seconds, from the payload's iat when it has one. */
  issuedAt: number | null;
}

/** An Open Banking registration (the DCR view of a client; the client itself is an oidc record). */
export interface RegistrationRecord {
  clientId: string;
  softwareId: string;
  orgId: string;
  /** SSA software_environment: "sandbox" | "production". */
  environment: string;
  roles: string[];
  /** DCR API version used: "v3.1" | "v3.2" | "v3.3". */
  version: string;
  /** The SSA exactly as sent. */
  softwareStatement: string;
  /** Subject DN of the transport certificate of the last registration or update (RFC 4514); null when unknown. */
  certificateSubject?: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface RegistrationStore {
  /**
   * Inserts. With `exclusive`, throws ConflictError when a registration with the same softwareId
   * exists (atomic across processes).
   */
  create(rec: RegistrationRecord, opts: { exclusive: boolean }): Promise<void>;
  get(clientId: string): Promise<RegistrationRecord | undefined>;
  /**
   * Like get, and inside a unit of work the row stays locked until it ends, so a concurrent
   * update or delete of the same registration waits and then sees the outcome.
   */
  lock(clientId: string): Promise<RegistrationRecord | undefined>;
  /** Returns false when absent. */
  update(rec: RegistrationRecord): Promise<boolean>;
  /** Returns false when absent. */
  delete(clientId: string): Promise<boolean>;
  listBySoftware(softwareId: string): Promise<RegistrationRecord[]>;
  /**
   * Newest first, `limit` from `offset`; with `search`, only those whose client_id, software_id or
   * org_id equals it. `total` counts every match.
   */
  list(filter: { search?: string; limit: number; offset: number }): Promise<{ total: number; items: RegistrationRecord[] }>;
}

export type AuditEventType = 'created' | 'updated' | 'deleted' | 'rejected';

export interface AuditEvent {
  at: number;
  event: AuditEventType;
  softwareId: string | null;
  orgId: string | null;
  clientId: string | null;
  /** For rejections: the wire error code and description sent to the TPP. */
  reason: string | null;
  /** For rejections: the stable error code (src/errors/codes.ts); null on rows written before codes existed. */
  code: string | null;
  /** DCR version, HTTP method. */
  version: string | null;
  method: string | null;
}

export interface AuditStore {
  append(event: AuditEvent): Promise<void>;
  /** Newest first. */
  list(filter: {
    clientId?: string;
    softwareId?: string;
    event?: AuditEventType;
    code?: string;
    since?: number;
    limit: number;
  }): Promise<Array<AuditEvent & { id: number }>>;
  /** Rejections since `since` (epoch seconds) counted by code, most frequent first; code null for rows written before codes. */
  countRejections(filter: { since?: number; softwareId?: string }): Promise<Array<{ code: string | null; count: number }>>;
  /** Events since `since` counted per `bucketSeconds` (bucket = its first second), event and code; oldest first. */
  histogram(filter: { since: number; bucketSeconds: number }): Promise<Array<{ bucket: number; event: AuditEventType; code: string | null; count: number }>>;
}

/** One count of a usage series: `kind` (e.g. "token"), `key` (e.g. the grant type), `bucket` (epoch seconds; 0 = all time). */
export interface UsageCount {
  kind: string;
  bucket: number;
  key: string;
  count: number;
}

/**
 * Usage counts the console charts (src/observability/usage.ts): each host adds what it counted,
 * so the rows are the sum over every worker and host.
 */
export interface UsageStore {
  /** Adds every count to its row (creating it), all in one transaction. */
  add(counts: readonly UsageCount[]): Promise<void>;
  /** Rows of `kind` whose bucket is at or after `since` (and not 0), oldest first. */
  series(kind: string, since: number): Promise<UsageCount[]>;
  /** The all-time count (bucket 0) of `kind` and `key`; 0 when there is none. */
  total(kind: string, key: string): Promise<number>;
  /** Removes per-minute rows older than `before` (all-time rows stay); returns how many. */
  deleteBefore(before: number): Promise<number>;
}

/** One-time identifiers (JWT jti, ...): shared by all workers and hosts on the same storage. */
export interface ReplayStore {
  /**
   * Records `id` in `namespace` until `expiresAt`. Returns true when it was not seen before
   * (and is now recorded), false when it is a replay. Atomic across processes.
   */
  remember(namespace: string, id: string, expiresAt: number): Promise<boolean>;
  /** True while `id` is recorded in `namespace` and not expired (a mark, e.g. a revoked client). */
  has(namespace: string, id: string): Promise<boolean>;
  /** Removes ids whose expiry is at or before `now`; returns how many. */
  deleteExpired(now: number): Promise<number>;
}

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  /** Private JWK (includes kid, alg, use). */
  privateJwk: Record<string, unknown>;
  createdAt: number;
  /** When set, the key no longer signs; it stays published until `removeAfter`. */
  retiredAt: number | null;
  /** When set, the key is no longer published after this time. */
  removeAfter: number | null;
}

export interface KeyStore {
  /** All keys not yet past removeAfter, newest first. */
  list(now: number): Promise<SigningKeyRecord[]>;
  add(key: SigningKeyRecord): Promise<void>;
  /** Stop signing with every active key of `alg` except `keepKid`; publish them until removeAfter. */
  retireOthers(alg: string, keepKid: string, retiredAt: number, removeAfter: number): Promise<number>;
}

export interface ScopeRecord {
  name: string;
  displayName: string;
  description: string;
  /** Roles or permissions bound to the scope (WSO2 "bindings"). */
  bindings: string[];
}

export interface ScopeStore {
  list(): Promise<ScopeRecord[]>;
  get(name: string): Promise<ScopeRecord | undefined>;
  /** Throws ConflictError when the name exists. */
  create(scope: ScopeRecord): Promise<void>;
  /** Returns false when absent. */
  update(scope: ScopeRecord): Promise<boolean>;
  /** Returns false when absent. */
  delete(name: string): Promise<boolean>;
}

/** Small named values shared by all workers: change counters, generated secrets. */
export interface MetaStore {
  get(name: string): Promise<string | undefined>;
  /** Sets the value only if absent; returns the value now stored (first writer wins across processes). */
  setIfAbsent(name: string, value: string): Promise<string>;
  set(name: string, value: string): Promise<void>;
  /** Atomically increments an integer counter (absent = 0) and returns the new value. */
  increment(name: string): Promise<number>;
}

/** A CA certificate trusted for client (transport) certificates, shared by the cluster. */
export interface TrustAnchorRecord {
  /** Unique name (as a trust store file name: `acme-root.pem`). */
  name: string;
  /** SHA-256 fingerprint, `AB:CD:…` as Node prints it; unique. */
  fingerprint256: string;
  pem: string;
  addedAt: number;
}

export interface TrustAnchorStore {
  /** Oldest first. */
  list(): Promise<TrustAnchorRecord[]>;
  /** Adds; 'exists' when the same certificate is already there. Throws ConflictError when the name is taken by another certificate. */
  add(anchor: TrustAnchorRecord): Promise<'added' | 'exists'>;
  /** Removes by name or fingerprint; false when absent. */
  remove(nameOrFingerprint: string): Promise<boolean>;
}

/**
 * An idempotency key in use: its request fingerprint and, once the call completed, its response.
 * Without a response, the call is running while `leaseUntil` lies ahead; after that (or at once
 * when the gateway lost the backend's answer) its outcome is unknown, and stays so until the key
 * expires at `expiresAt`: it is never run again.
 */
export interface IdempotencyRecord {
  fingerprint: string;
  response: string | null;
  expiresAt: number;
  leaseUntil: number;
}

/** Where a plan is still used, when it cannot be removed. */
export interface PlanUse {
  apis: string[];
  subscriptions: number;
}

/**
 * The gateway catalogue (src/storage/catalogue-records.ts): APIs with their stored documents, business plans,
 * subscriptions and key managers. A subscription belongs to an application, which is a key
 * manager and a client id together (unique with the API). Deleting an API or a key manager
 * deletes its subscriptions in the same statement; a registration's (the resident key manager's
 * applications) are deleted by deleteSubscriptionsOf in the registration's unit of work.
 */
export interface GatewayStore {
  /** Every API (without documents), oldest first. */
  listApis(): Promise<ApiRecord[]>;
  getApi(id: string): Promise<ApiRecord | undefined>;
  /** The document an API was imported from (JSON text). */
  getDocument(id: string): Promise<string | undefined>;
  /** Throws ConflictError when the id or the name + version is taken. */
  createApi(api: ApiRecord, document: string): Promise<void>;
  /** Replaces the record (and the document when given) in one statement; false when absent. Throws ConflictError on a name + version clash. */
  updateApi(api: ApiRecord, document?: string): Promise<boolean>;
  /** Deletes the API and its subscriptions; false when absent. */
  deleteApi(id: string): Promise<boolean>;
  /** Every plan, built-in ones included, by name. */
  listPlans(): Promise<PlanRecord[]>;
  /** Adds each plan whose name is free (built-in seeding); returns how many were added. */
  ensurePlans(plans: readonly PlanRecord[]): Promise<number>;
  /** Throws ConflictError when the name exists. */
  createPlan(plan: PlanRecord): Promise<void>;
  /** False when absent. */
  updatePlan(plan: PlanRecord): Promise<boolean>;
  /** 'absent', 'deleted', or where it is still used (then nothing changes). */
  deletePlan(name: string): Promise<'absent' | 'deleted' | PlanUse>;
  /** Subscriptions matching every given field, oldest first, at most `limit`. */
  listSubscriptions(filter: { keyManager?: string; clientId?: string; apiId?: string; limit: number }): Promise<SubscriptionRecord[]>;
  /** The subscription of key manager `keyManager`'s client `clientId` to `apiId`, if any. */
  findSubscription(keyManager: string, clientId: string, apiId: string): Promise<SubscriptionRecord | undefined>;
  getSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  /** Inserts; 'exists' (nothing changed) when that key manager's client is already subscribed to the API. */
  addSubscription(sub: SubscriptionRecord): Promise<'added' | 'exists'>;
  /**
   * Subscribes every registration (a resident application) holding one of `roles` and not yet
   * subscribed to `apiId`, on `plan`, in one statement; returns how many were added.
   */
  subscribeAll(apiId: string, plan: string, roles: readonly string[], now: number): Promise<number>;
  /**
   * Claims an idempotency key of a client (`clientId` names the application) for the key's whole
   * window, until `expiresAt`, its call running until `leaseUntil`: 'claimed' when it was free (or
   * its record had expired), else the record holding it. A lease that ran out is never taken over.
   */
  claimIdempotency(
    clientId: string,
    key: string,
    fingerprint: string,
    leaseUntil: number,
    expiresAt: number,
    now: number,
  ): Promise<'claimed' | IdempotencyRecord>;
  /** Stores the first response of a claimed key and keeps it until `expiresAt`. */
  completeIdempotency(clientId: string, key: string, response: string, expiresAt: number): Promise<void>;
  /** Frees a claimed key whose call is known not to have reached the backend (the next repeat runs). */
  releaseIdempotency(clientId: string, key: string): Promise<void>;
  /** Ends the lease of a claimed key whose outcome the gateway lost (a timeout, a cut connection): it is never run again. */
  abandonIdempotency(clientId: string, key: string): Promise<void>;
  /** Removes idempotency records whose expiry is at or before `now`; returns how many. */
  deleteExpiredIdempotency(now: number): Promise<number>;
  /** Sets plan and/or state; false when absent. */
  updateSubscription(id: string, change: { plan?: string; state?: SubscriptionState; updatedAt: number }): Promise<boolean>;
  /** False when absent. */
  deleteSubscription(id: string): Promise<boolean>;
  /** Deletes every subscription of a registration (the resident key manager's client `clientId`); returns how many. */
  deleteSubscriptionsOf(clientId: string): Promise<number>;
  /** Every key manager, by name. */
  listKeyManagers(): Promise<KeyManagerRecord[]>;
  /** Adds each key manager whose name is free (seeding the resident one); returns how many. */
  ensureKeyManagers(kms: readonly KeyManagerRecord[]): Promise<number>;
  /** Throws ConflictError when the name exists. */
  createKeyManager(km: KeyManagerRecord): Promise<void>;
  /** False when absent. */
  updateKeyManager(km: KeyManagerRecord): Promise<boolean>;
  /** Deletes the key manager and its applications' subscriptions; false when absent. */
  deleteKeyManager(name: string): Promise<boolean>;
}

/**
 * Open Banking consents and their history (src/storage/consent-records.ts). A change is a
 * compare-and-set on the version read, so a revoke racing an authorisation or a payment cannot
 * both win, across processes and hosts; every change writes its history row in the same
 * transaction.
 */
export interface ConsentStore {
  /** Stores a new consent (version 1) with its creation event. ConflictError when the id is taken. */
  create(record: ConsentRecord, event: ConsentEvent): Promise<void>;
  /** The consent, deleted ones included (the caller decides what a deleted one means); undefined when unknown. */
  get(id: string): Promise<ConsentRecord | undefined>;
  /**
   * Applies `change` when the stored version is still `version`; returns the consent as changed,
   * or undefined when it changed since (or is unknown): the caller reads it again and decides.
   * A `notice` is stored with the change, in the same write, or not at all.
   */
  transition(id: string, version: number, change: ConsentChange, event: ConsentEvent, notice?: EventNotice): Promise<ConsentRecord | undefined>;
  /** Its history, oldest first. */
  history(id: string): Promise<ConsentEvent[]>;
  list(query: ConsentQuery): Promise<ConsentRecord[]>;
  /** The application's notices not yet acknowledged, oldest first, at most `limit` (1–1000). */
  notices(keyManager: string, clientId: string, limit: number): Promise<EventNotice[]>;
  /** Forgets the application's notices of these jtis (acknowledged); how many there were. Another application's are untouched. */
  removeNotices(keyManager: string, clientId: string, jtis: readonly string[]): Promise<number>;
  /** Forgets every notice of an event before `at` (epoch ms: past its retention); how many. */
  deleteNoticesBefore(at: number): Promise<number>;
  /** History rows at or after `since` (epoch ms), counted by UTC day, change and actor, oldest day first. */
  dayCounts(since: number): Promise<ConsentDayCount[]>;
  /**
   * The VRP payments of a consent counted at or after `since` (epoch ms), oldest first. With
   * `lock` (in a unit of work) the consent's row is locked first, so units counting one consent's
   * payments take turns on every host (SQLite's units of work take turns anyway).
   */
  vrpPayments(consentId: string, since: number, lock?: boolean): Promise<VrpPayment[]>;
  /** Counts a payment; ConflictError when its id is taken. */
  addVrpPayment(payment: VrpPayment): Promise<void>;
  /** Stops counting a payment (its backend refused it); false when it was not counted. */
  removeVrpPayment(consentId: string, paymentId: string): Promise<boolean>;
}

/** The stores one unit of work may change together (see Storage.transaction). */
export interface UnitOfWork {
  readonly oidc: OidcModelStore;
  readonly replay: ReplayStore;
  readonly registrations: RegistrationStore;
  readonly audit: AuditStore;
  readonly gateway: GatewayStore;
  readonly consents: ConsentStore;
}

export interface Storage {
  readonly kind: 'sqlite' | 'postgres';
  readonly oidc: OidcModelStore;
  readonly replay: ReplayStore;
  readonly keys: KeyStore;
  readonly scopes: ScopeStore;
  readonly meta: MetaStore;
  readonly registrations: RegistrationStore;
  readonly audit: AuditStore;
  readonly trustAnchors: TrustAnchorStore;
  readonly gateway: GatewayStore;
  readonly usage: UsageStore;
  readonly consents: ConsentStore;
  /**
   * Runs `work` as one transaction: every write it makes through `tx` commits together, or none
   * does when it throws (its error then reaches the caller as it is). Concurrent units that
   * lock the same registration run one after the other, across processes and hosts.
   * `work` must use only `tx` and do no other I/O: SQLite runs it inside the shared group commit
   * and fails it (UnitOfWorkError, nothing written) if it waits for anything else. `tx` is
   * unusable once the unit has ended.
   */
  transaction<T>(op: string, work: (tx: UnitOfWork) => Promise<T>): Promise<T>;
  /** Cheap liveness check for /ready. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Domain-level storage errors; drivers' errors never leave a backend. */
export { ConflictError, StorageUnavailableError, UnitOfWorkError } from '../errors/backends.ts';
