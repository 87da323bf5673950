/**
 * The gateway catalogue's operations, shared by the admin REST APIs and the CLI: import an API
 * from its document, move it through its lifecycle, manage business plans and subscriptions.
 * Every change is durable before it returns and is then announced (a version bump in the
 * database for hosts that missed the notice, and a notice on the `gateway` channel), so each
 * worker and host serves it within a notice's delivery time, without a restart.
 */
import { createHash, randomUUID } from 'node:crypto';
import { fail } from '../errors/app-error.ts';
import { decodeJwt } from 'jose';
import { ConflictError, type GatewayStore, type RegistrationRecord, type Storage } from '../storage/ports.ts';
import type { ApiRecord, ApiState, OperationDef, PlanRecord, RateLimit, SubscriptionRecord, SubscriptionState } from '../storage/catalogue-records.ts';
import { TPP_ROLES, type TppRole } from '../ob/roles.ts';
import {
  BUILT_IN_PLANS,
  GATEWAY_VERSION_KEY,
  INTERNAL_DCR_BACKEND,
  RESIDENT_KEY_MANAGER,
  SERVED_STATES,
  TIME_UNIT_SECONDS,
} from '../storage/catalogue-records.ts';
import { reservedOverlap } from '../gateway/reserved-paths.ts';
import { buildSnapshot } from '../gateway/snapshot.ts';

/** WSO2's lifecycle actions and the states they move between. */
const LIFECYCLE: Readonly<Record<string, { from: readonly ApiState[]; to: ApiState }>> = {
  Publish: { from: ['CREATED'], to: 'PUBLISHED' },
  Deprecate: { from: ['PUBLISHED', 'BLOCKED'], to: 'DEPRECATED' },
  Retire: { from: ['DEPRECATED'], to: 'RETIRED' },
  Block: { from: ['PUBLISHED', 'DEPRECATED'], to: 'BLOCKED' },
  'Re-Publish': { from: ['BLOCKED', 'DEPRECATED'], to: 'PUBLISHED' },
  'Demote to Created': { from: ['PUBLISHED'], to: 'CREATED' },
};
export const LIFECYCLE_ACTIONS = Object.keys(LIFECYCLE);

export interface ApiSettings {
  /** Base path; default: the document's servers[0].url / basePath. */
  context?: string | undefined;
  /** Default: the document's info.version. */
  version?: string | undefined;
  /** Default: the document's info.title. */
  name?: string | undefined;
  backendUrl: string;
  /** Plan names offered, first = default; default ['Unlimited']. */
  plans?: string[] | undefined;
  /** Required TPP roles; default: from the operations' scopes. */
  roles?: TppRole[] | undefined;
  verifyJwsSignature?: boolean | undefined;
  /** Serve the API's OB consent resources here (src/consent), the rest at the backend. */
  serveConsents?: boolean | undefined;
}

/** An operation as a preview names it: `GET /accounts/{AccountId}`. */
type OperationKey = string;

export interface ReimportPreview {
  documentVersion: { before: string | null; after: string };
  operations: {
    added: OperationKey[];
    removed: OperationKey[];
    /** Same method and path; different flows, scopes, idempotency, JWS or limit. */
    changed: Array<{ operation: OperationKey; before: OperationDef; after: OperationDef }>;
    unchanged: number;
  };
  requiredRoles: { before: TppRole[]; after: TppRole[] };
}

/** A DCR registration seen as an application (WSO2's devportal application): the resident key manager's. */
export interface Application {
  keyManager: string;
  clientId: string;
  /** The software statement's software_client_name, else the software id. */
  name: string;
  softwareId: string;
  orgId: string;
  roles: string[];
  environment: string;
  dcrVersion: string;
  createdAt: number;
  updatedAt: number;
}

export interface ApiChange {
  backendUrl?: string | undefined;
  plans?: string[] | undefined;
  roles?: TppRole[] | undefined;
  verifyJwsSignature?: boolean | undefined;
  /** Serve the API's OB consent resources here (src/consent), the rest at the backend. */
  serveConsents?: boolean | undefined;
  /** Per-operation limits set by the publisher (null removes one), by method and path template. */
  operationLimits?: Array<{ method: string; path: string; limit: RateLimit | null }> | undefined;
}

export interface Catalogue {
  listApis(): Promise<ApiRecord[]>;
  getApi(id: string): Promise<ApiRecord>;
  getDocument(id: string): Promise<string>;
  importApi(document: string | Uint8Array, settings: ApiSettings): Promise<ApiRecord>;
  /** What a re-import would change (operations added, removed, changed; roles), changing nothing. */
  previewReimport(id: string, document: string | Uint8Array, settings: Partial<ApiSettings>): Promise<ReimportPreview>;
  /** Replaces the document and routes of an API in one write; settings not given are kept. */
  reimportApi(id: string, document: string | Uint8Array, settings: Partial<ApiSettings>): Promise<ApiRecord>;
  /** Changes an API's settings without a new document: backend, plans, roles, JWS checks, per-operation limits. */
  updateApi(id: string, change: ApiChange): Promise<ApiRecord>;
  /** Applies a lifecycle action; on Publish, optionally subscribes every eligible registration. */
  changeLifecycle(id: string, action: string, opts?: { subscribeExisting?: boolean }): Promise<{ api: ApiRecord; subscribed: number }>;
  deleteApi(id: string): Promise<void>;
  listPlans(): Promise<PlanRecord[]>;
  getPlan(name: string): Promise<PlanRecord>;
  addPlan(plan: Omit<PlanRecord, 'builtIn'>): Promise<PlanRecord>;
  updatePlan(plan: Omit<PlanRecord, 'builtIn'>): Promise<PlanRecord>;
  removePlan(name: string): Promise<void>;
  listSubscriptions(filter: {
    keyManager?: string | undefined;
    clientId?: string | undefined;
    apiId?: string | undefined;
    limit?: number | undefined;
  }): Promise<SubscriptionRecord[]>;
  getSubscription(id: string): Promise<SubscriptionRecord>;
  setSubscriptionState(id: string, state: SubscriptionState): Promise<SubscriptionRecord>;
  setSubscriptionPlan(id: string, plan: string): Promise<SubscriptionRecord>;
  /**
   * Subscribes an application, `keyManager`'s client `clientId` (default: the resident key
   * manager's, a DCR client), to a published API on a plan it offers.
   */
  subscribe(clientId: string, apiId: string, plan: string | undefined, keyManager?: string): Promise<SubscriptionRecord>;
  unsubscribe(id: string): Promise<void>;
  /** Registrations as applications, newest first; `search` matches a client id, software id or org id exactly. */
  listApplications(filter: { search?: string | undefined; limit: number; offset: number }): Promise<{ total: number; items: Application[] }>;
  getApplication(clientId: string): Promise<Application>;
}

export interface CatalogueDeps {
  storage: Storage;
  /** Tells every worker and host (a notice on the gateway channel). */
  notify: () => Promise<void>;
  /** Whether a backend URL's host is allowed ([gateway] allowed_backend_hosts); default any. */
  allowBackend?: (url: URL) => boolean;
  now?: () => number;
}

const CONTEXT = /^(\/[A-Za-z0-9._~-]+)+$/;
const VERSION = /^[A-Za-z0-9._-]{1,32}$/;
const PLAN_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_LIST = 1000;

export function validateContext(context: string, backendUrl: string): string {
  if (!CONTEXT.test(context) || context.length > 200 || /(^|\/)\.{1,2}(\/|$)/.test(context)) {
    throw fail(
      'API_INVALID',
      'context must be a path of one or more segments of letters, digits and . _ ~ - (not . or ..; e.g. /open-banking/v3.1/aisp), at most 200 characters',
    );
  }
  const reserved = reservedOverlap(context, backendUrl === INTERNAL_DCR_BACKEND);
  if (reserved !== undefined) {
    throw fail(
      'API_INVALID',
      `context overlaps ${reserved}, which the server serves itself${reserved.includes('register') ? ' (only the internal DCR API may take the DCR paths)' : ''}; give this API another context`,
    );
  }
  return context;
}

export function validateBackendUrl(url: string): string {
  if (url === INTERNAL_DCR_BACKEND) return url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw fail('API_INVALID', `backend URL is not a URL; give http(s)://host[:port][/path] or ${INTERNAL_DCR_BACKEND}`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password || u.search || u.hash) {
    throw fail('API_INVALID', 'backend URL must be http(s)://host[:port][/path] with no credentials, query or fragment');
  }
  return u.href.replace(/\/$/, '');
}

export function validateLimit(limit: RateLimit, what: string): RateLimit {
  const ok = (n: number, max: number) => Number.isSafeInteger(n) && n >= 1 && n <= max;
  if (!ok(limit.requestCount, 1e9) || !ok(limit.unitTime, 1000) || !(limit.timeUnit in TIME_UNIT_SECONDS)) {
    throw fail('PLAN_INVALID', `${what}: requestCount (1 to 10^9) per unitTime (1 to 1000) timeUnit (sec, min, hour, day)`);
  }
  return limit;
}

function application(r: RegistrationRecord): Application {
  let name = r.softwareId;
  try {
    // Verified when it was registered; read here for its display name only.
    const claims = decodeJwt(r.softwareStatement);
    if (typeof claims['software_client_name'] === 'string' && claims['software_client_name'] !== '') name = claims['software_client_name'].slice(0, 200);
  } catch {
    // keep the software id
  }
  return {
    keyManager: RESIDENT_KEY_MANAGER,
    clientId: r.clientId,
    name,
    softwareId: r.softwareId,
    orgId: r.orgId,
    roles: r.roles,
    environment: r.environment,
    dcrVersion: r.version,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function createCatalogue(deps: CatalogueDeps): Catalogue {
  const { storage } = deps;
  const backend = (url: string): string => {
    const checked = validateBackendUrl(url);
    if (checked !== INTERNAL_DCR_BACKEND && deps.allowBackend && !deps.allowBackend(new URL(checked))) {
      throw fail('API_INVALID', `the backend host ${new URL(checked).host} is not in [gateway] allowed_backend_hosts`);
    }
    return checked;
  };
  const store: GatewayStore = storage.gateway;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));

  const changed = async (): Promise<void> => {
    await storage.meta.increment(GATEWAY_VERSION_KEY);
    await deps.notify();
  };

  const getApi = async (id: string): Promise<ApiRecord> => {
    const api = await store.getApi(id);
    if (!api) throw fail('API_NOT_FOUND', 'no API with that id');
    return api;
  };

  const getPlan = async (name: string): Promise<PlanRecord> => {
    const plan = (await store.listPlans()).find((p) => p.name === name);
    if (!plan) throw fail('PLAN_NOT_FOUND', `no business plan named "${name.slice(0, 64)}"`);
    return plan;
  };

  const checkPlans = async (plans: string[]): Promise<string[]> => {
    if (plans.length === 0 || plans.length > 20) throw fail('API_INVALID', 'an API offers 1 to 20 business plans');
    const known = new Set((await store.listPlans()).map((p) => p.name));
    const unknown = plans.filter((p) => !known.has(p));
    if (unknown.length > 0) throw fail('API_INVALID', `unknown business plan(s): ${unknown.map((p) => p.slice(0, 64)).join(', ')}; see plan list`);
    return [...new Set(plans)];
  };

  const checkRoles = (roles: string[]): TppRole[] => {
    const bad = roles.filter((r) => !(TPP_ROLES as readonly string[]).includes(r));
    if (bad.length > 0) throw fail('API_INVALID', `roles must be among ${TPP_ROLES.join(', ')}`);
    return [...new Set(roles as TppRole[])].sort();
  };

  const parseDocument = async (document: string | Uint8Array, roles: TppRole[] | undefined) => {
    // Loaded on the first import: the OpenAPI parser and its schemas would cost every worker's
    // start-up time and memory for an operation that is rare.
    const { ApiImportError, importOpenApi } = await import('./openapi-import.ts');
    try {
      return await importOpenApi(document, roles === undefined ? {} : { roles });
    } catch (err) {
      if (err instanceof ApiImportError)
        throw fail('API_DOCUMENT_INVALID', `the document is invalid, nothing was changed: ${err.problems.join('; ')}`, { cause: err });
      throw err;
    }
  };

  const save = async (write: () => Promise<unknown>, api: ApiRecord): Promise<void> => {
    try {
      await write();
    } catch (err) {
      if (err instanceof ConflictError) throw fail('API_EXISTS', `an API named "${api.name}" with version ${api.version} exists`, { cause: err });
      throw err;
    }
  };

  // Two served APIs may share a context, never a route: the one being served must not take another's.
  const checkRoutes = async (api: ApiRecord): Promise<void> => {
    if (!SERVED_STATES.has(api.state)) return;
    const others = (await store.listApis()).filter((a) => a.id !== api.id && SERVED_STATES.has(a.state));
    const clashes: string[] = [];
    buildSnapshot('check', [...others, api], [], (a, op) => {
      if (a.id === api.id) clashes.push(`${op.method} ${a.context}${op.path}`);
    });
    if (clashes.length > 0) {
      throw fail(
        'API_EXISTS',
        `another served API already serves ${clashes.slice(0, 3).join(', ')}${clashes.length > 3 ? ` and ${clashes.length - 3} more` : ''}; give this API another context`,
      );
    }
  };

  const subscription = async (id: string): Promise<SubscriptionRecord> => {
    const sub = await store.getSubscription(id);
    if (!sub) throw fail('SUBSCRIPTION_NOT_FOUND', 'no subscription with that id');
    return sub;
  };

  return {
    listApis: () => store.listApis(),
    getApi,
    async getDocument(id) {
      const doc = await store.getDocument(id);
      if (doc === undefined) throw fail('API_NOT_FOUND', 'no API with that id');
      return doc;
    },

    async importApi(document, settings) {
      const roles = settings.roles === undefined ? undefined : checkRoles(settings.roles);
      const { api: imported, document: parsed } = await parseDocument(document, roles);
      const context = settings.context ?? imported.context;
      if (context === null) throw fail('API_INVALID', 'the document names no base path (servers[0].url or basePath); give a context');
      const version = settings.version ?? imported.documentVersion;
      if (!VERSION.test(version)) throw fail('API_INVALID', 'version must be 1 to 32 letters, digits, dots, dashes or underscores');
      const text = JSON.stringify(parsed);
      const t = now();
      const api: ApiRecord = {
        id: randomUUID(),
        name: (settings.name ?? imported.name).slice(0, 200),
        context: validateContext(context, backend(settings.backendUrl)),
        version,
        backendUrl: backend(settings.backendUrl),
        state: 'CREATED',
        plans: await checkPlans(settings.plans ?? ['Unlimited']),
        requiredRoles: imported.requiredRoles,
        operations: imported.operations,
        verifyJwsSignature: settings.verifyJwsSignature ?? false,
        ...(settings.serveConsents ? { serveConsents: true } : {}),
        documentHash: createHash('sha256').update(text).digest('hex'),
        createdAt: t,
        updatedAt: t,
      };
      await save(() => store.createApi(api, text), api);
      await changed();
      return api;
    },

    async previewReimport(id, document, settings) {
      const current = await getApi(id);
      const roles = settings.roles === undefined ? undefined : checkRoles(settings.roles);
      const { api: imported } = await parseDocument(document, roles);
      const key = (op: OperationDef): OperationKey => `${op.method} ${op.path}`;
      const before = new Map(current.operations.map((op) => [key(op), op]));
      const after = new Map(imported.operations.map((op) => [key(op), op]));
      const changed: ReimportPreview['operations']['changed'] = [];
      let unchanged = 0;
      for (const [k, op] of after) {
        const old = before.get(k);
        if (!old) continue;
        if (JSON.stringify(old) === JSON.stringify(op)) unchanged += 1;
        else changed.push({ operation: k, before: old, after: op });
      }
      const previous = JSON.parse((await store.getDocument(id)) ?? '{}') as { info?: { version?: unknown } };
      return {
        documentVersion: { before: typeof previous.info?.version === 'string' ? previous.info.version : null, after: imported.documentVersion },
        operations: {
          added: [...after.keys()].filter((k) => !before.has(k)).sort(),
          removed: [...before.keys()].filter((k) => !after.has(k)).sort(),
          changed,
          unchanged,
        },
        requiredRoles: { before: current.requiredRoles, after: roles ?? imported.requiredRoles },
      };
    },

    async reimportApi(id, document, settings) {
      const current = await getApi(id);
      const roles = settings.roles === undefined ? undefined : checkRoles(settings.roles);
      // Parsed before anything is written: an invalid document leaves the current one serving.
      const { api: imported, document: parsed } = await parseDocument(document, roles);
      const text = JSON.stringify(parsed);
      const next: ApiRecord = {
        ...current,
        name: (settings.name ?? current.name).slice(0, 200),
        context: validateContext(settings.context ?? current.context, backend(settings.backendUrl ?? current.backendUrl)),
        version: settings.version ?? current.version,
        backendUrl: backend(settings.backendUrl ?? current.backendUrl),
        plans: settings.plans === undefined ? current.plans : await checkPlans(settings.plans),
        requiredRoles: roles ?? imported.requiredRoles,
        operations: imported.operations,
        verifyJwsSignature: settings.verifyJwsSignature ?? current.verifyJwsSignature,
        serveConsents: settings.serveConsents ?? current.serveConsents ?? false,
        documentHash: createHash('sha256').update(text).digest('hex'),
        updatedAt: now(),
      };
      if (!VERSION.test(next.version)) throw fail('API_INVALID', 'version must be 1 to 32 letters, digits, dots, dashes or underscores');
      await checkRoutes(next);
      await save(async () => {
        if (!(await store.updateApi(next, text))) throw fail('API_NOT_FOUND', 'no API with that id');
      }, next);
      await changed();
      return next;
    },

    async updateApi(id, change) {
      const current = await getApi(id);
      const operations = current.operations.map((op) => ({ ...op }));
      for (const set of change.operationLimits ?? []) {
        const op = operations.find((o) => o.method === set.method.toUpperCase() && o.path === set.path);
        if (!op) throw fail('API_INVALID', `the API has no operation ${set.method.slice(0, 10).toUpperCase()} ${set.path.slice(0, 200)}`);
        op.limit = set.limit === null ? null : validateLimit(set.limit, `the limit of ${op.method} ${op.path}`);
      }
      const next: ApiRecord = {
        ...current,
        backendUrl: change.backendUrl === undefined ? current.backendUrl : backend(change.backendUrl),
        plans: change.plans === undefined ? current.plans : await checkPlans(change.plans),
        requiredRoles: change.roles === undefined ? current.requiredRoles : checkRoles(change.roles),
        verifyJwsSignature: change.verifyJwsSignature ?? current.verifyJwsSignature,
        serveConsents: change.serveConsents ?? current.serveConsents ?? false,
        operations,
        updatedAt: now(),
      };
      // A DCR path stays the internal DCR API's: a new backend must not take it over.
      validateContext(next.context, next.backendUrl);
      await save(async () => {
        if (!(await store.updateApi(next))) throw fail('API_NOT_FOUND', 'no API with that id');
      }, next);
      await changed();
      return next;
    },

    async changeLifecycle(id, action, opts = {}) {
      const rule = LIFECYCLE[action];
      if (!rule) throw fail('API_LIFECYCLE_INVALID', `unknown lifecycle action; use one of ${LIFECYCLE_ACTIONS.join(', ')}`);
      const current = await getApi(id);
      if (!rule.from.includes(current.state)) {
        throw fail('API_LIFECYCLE_INVALID', `${action} is not allowed from ${current.state} (only from ${rule.from.join(' or ')})`);
      }
      const api: ApiRecord = { ...current, state: rule.to, updatedAt: now() };
      // An API saved before a context was checked against the server's own paths is checked again before it is served.
      if (SERVED_STATES.has(api.state)) validateContext(api.context, api.backendUrl);
      if (!SERVED_STATES.has(current.state)) await checkRoutes(api);
      await save(() => store.updateApi(api), api);
      let subscribed = 0;
      if (rule.to === 'PUBLISHED' && opts.subscribeExisting && api.requiredRoles.length > 0) {
        subscribed = await store.subscribeAll(api.id, api.plans[0]!, api.requiredRoles, now());
      }
      await changed();
      return { api, subscribed };
    },

    async deleteApi(id) {
      if (!(await store.deleteApi(id))) throw fail('API_NOT_FOUND', 'no API with that id');
      await changed();
    },

    listPlans: () => store.listPlans(),
    getPlan,
    async addPlan(input) {
      if (!PLAN_NAME.test(input.name)) throw fail('PLAN_INVALID', 'policyName must be 1 to 64 letters, digits, dashes or underscores');
      const plan: PlanRecord = { ...checkPlan(input), builtIn: false };
      try {
        await store.createPlan(plan);
      } catch (err) {
        if (err instanceof ConflictError) throw fail('PLAN_EXISTS', `a business plan named "${plan.name}" exists`, { cause: err });
        throw err;
      }
      await changed();
      return plan;
    },
    async updatePlan(input) {
      const current = await getPlan(input.name);
      if (current.builtIn) throw fail('PLAN_BUILT_IN', `"${current.name}" is a built-in plan; add a custom one instead`);
      const plan: PlanRecord = { ...checkPlan(input), builtIn: false };
      await store.updatePlan(plan);
      await changed();
      return plan;
    },
    async removePlan(name) {
      const plan = await getPlan(name);
      if (plan.builtIn) throw fail('PLAN_BUILT_IN', `"${plan.name}" is a built-in plan and cannot be removed`);
      const result = await store.deletePlan(name);
      if (result === 'absent') throw fail('PLAN_NOT_FOUND', `no business plan named "${name.slice(0, 64)}"`);
      if (result !== 'deleted') {
        // Named as people know them: "Account and Transaction API Specification 3.1.11 (id)".
        const names = await Promise.all(
          result.apis.map(async (id) => {
            const api = await store.getApi(id);
            return api ? `${api.name} ${api.version} (${id})` : id;
          }),
        );
        const where = [
          ...(names.length ? [`offered by API(s) ${names.join(', ')}`] : []),
          ...(result.subscriptions ? [`used by ${result.subscriptions} subscription(s)`] : []),
        ];
        throw fail('PLAN_IN_USE', `business plan "${name}" is ${where.join(' and ')}; change those first`);
      }
      await changed();
    },

    listSubscriptions: ({ keyManager, clientId, apiId, limit }) =>
      store.listSubscriptions({
        ...(keyManager ? { keyManager } : {}),
        ...(clientId ? { clientId } : {}),
        ...(apiId ? { apiId } : {}),
        limit: Math.min(limit ?? MAX_LIST, MAX_LIST),
      }),
    getSubscription: subscription,
    async setSubscriptionState(id, state) {
      await subscription(id);
      await store.updateSubscription(id, { state, updatedAt: now() });
      await changed();
      return subscription(id);
    },
    async subscribe(clientId, apiId, plan, keyManager = RESIDENT_KEY_MANAGER) {
      if (!/^[\x21-\x7E]{1,255}$/.test(clientId)) throw fail('SUBSCRIPTION_INVALID', 'applicationId is 1 to 255 visible ASCII characters (a client id)');
      // The application is this key manager's client: its tokens, and no other key manager's, use the subscription.
      if (!(await store.listKeyManagers()).some((k) => k.name === keyManager)) {
        throw fail('SUBSCRIPTION_INVALID', `no key manager named "${keyManager.slice(0, 64)}"; see keymanager list`);
      }
      const api = await getApi(apiId);
      if (api.state !== 'PUBLISHED') throw fail('SUBSCRIPTION_INVALID', `only a PUBLISHED API takes new subscriptions; this one is ${api.state}`);
      const chosen = plan ?? api.plans[0]!;
      if (!api.plans.includes(chosen)) throw fail('SUBSCRIPTION_INVALID', `the API offers ${api.plans.join(', ')}, not "${chosen.slice(0, 64)}"`);
      const t = now();
      const sub: SubscriptionRecord = { id: randomUUID(), keyManager, clientId, apiId, plan: chosen, state: 'ACTIVE', createdAt: t, updatedAt: t };
      if ((await store.addSubscription(sub)) === 'exists')
        throw fail('SUBSCRIPTION_EXISTS', 'the application (this client of this key manager) is already subscribed to this API');
      await changed();
      return sub;
    },
    async listApplications({ search, limit, offset }) {
      const page = await storage.registrations.list({
        ...(search ? { search } : {}),
        limit: Math.min(Math.max(limit, 1), MAX_LIST),
        offset: Math.max(offset, 0),
      });
      return { total: page.total, items: page.items.map(application) };
    },
    async getApplication(clientId) {
      const r = await storage.registrations.get(clientId);
      if (!r) throw fail('APPLICATION_NOT_FOUND', 'no application (registration) with that client id');
      return application(r);
    },
    async unsubscribe(id) {
      if (!(await store.deleteSubscription(id))) throw fail('SUBSCRIPTION_NOT_FOUND', 'no subscription with that id');
      await changed();
    },
    async setSubscriptionPlan(id, plan) {
      const sub = await subscription(id);
      const api = await getApi(sub.apiId);
      if (!api.plans.includes(plan)) throw fail('SUBSCRIPTION_INVALID', `the API offers ${api.plans.join(', ')}, not "${plan.slice(0, 64)}"`);
      await store.updateSubscription(id, { plan, updatedAt: now() });
      await changed();
      return subscription(id);
    },
  };
}

function checkPlan(p: Omit<PlanRecord, 'builtIn'>): Omit<PlanRecord, 'builtIn'> {
  if (p.limit) validateLimit(p.limit, 'defaultLimit');
  if (p.burst && (!Number.isSafeInteger(p.burst.requestCount) || p.burst.requestCount < 1 || !['sec', 'min'].includes(p.burst.timeUnit))) {
    throw fail('PLAN_INVALID', 'burst (rateLimitCount per rateLimitTimeUnit): a positive count per sec or min');
  }
  return {
    name: p.name,
    displayName: p.displayName.slice(0, 200),
    description: p.description.slice(0, 1000),
    limit: p.limit,
    burst: p.burst,
    stopOnQuotaReach: p.stopOnQuotaReach,
  };
}

/** Seeds the built-in plans (idempotent; safe for hosts starting together). */
export function seedPlans(storage: Storage): Promise<number> {
  return storage.gateway.ensurePlans(BUILT_IN_PLANS);
}
