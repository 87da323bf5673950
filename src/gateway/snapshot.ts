/**
 * The gateway's route table: one immutable snapshot of the served catalogue (APIs in PUBLISHED,
 * DEPRECATED or BLOCKED state, and the plans), compiled into a find-my-way router. A catalogue
 * change builds a new snapshot and swaps it in one assignment, so a request sees either the old
 * routes or the new ones, never a mix.
 */
import FindMyWay from 'find-my-way';
import type { ApiRecord, KeyManagerRecord, OperationDef, PlanRecord } from '../storage/catalogue-records.ts';
import { INTERNAL_DCR_BACKEND, SERVED_STATES } from '../storage/catalogue-records.ts';
import { reservedOverlap } from './reserved-paths.ts';
import { pathFromTemplate, routerParamName } from './path.ts';

export interface RouteMatch {
  readonly api: ApiRecord;
  readonly operation: OperationDef;
  /**
   * The path below the API's context that the backend is called with (after its own base path):
   * the operation's template with the parameter values the router read, never the request's text.
   */
  readonly rest: string;
}

export type RouteLookup =
  | { readonly kind: 'match'; readonly match: RouteMatch }
  /** The path is an operation's, but not with this method. */
  | { readonly kind: 'method'; readonly allow: string[] }
  /** Under a served API's context, but no operation matches. */
  | { readonly kind: 'none' };

export interface RouteSnapshot {
  /** Catalogue version it was built from (GATEWAY_VERSION_KEY). */
  readonly version: string;
  readonly apis: readonly ApiRecord[];
  readonly plans: ReadonlyMap<string, PlanRecord>;
  /** Every key manager, enabled or not (the token resolver picks the owner of each token). */
  readonly keyManagers: readonly KeyManagerRecord[];
  /** True when `path` lies under a served API's context: the gateway answers it. */
  owns(path: string): boolean;
  /** Looks up a canonical path (src/gateway/path.ts: decoded once and checked). */
  lookup(method: string, path: string): RouteLookup;
}

const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

/** `/accounts/{AccountId}` → `/accounts/:AccountId` (find-my-way's syntax; `:` is escaped as `::`). */
const toRouterPath = (template: string) => template.replaceAll(':', '::').replace(/\{([^}/]+)\}/g, (_m, name: string) => `:${routerParamName(name)}`);

interface Stored {
  api: ApiRecord;
  operation: OperationDef;
}

export function buildSnapshot(
  version: string,
  apis: readonly ApiRecord[],
  plans: readonly PlanRecord[],
  onConflict: (api: ApiRecord, op: OperationDef) => void,
  keyManagers: readonly KeyManagerRecord[] = [],
): RouteSnapshot {
  // An API whose context takes a path the server serves itself (saved before that was refused) is never routed.
  const served = apis.filter((a) => SERVED_STATES.has(a.state) && reservedOverlap(a.context, a.backendUrl === INTERNAL_DCR_BACKEND) === undefined);
  const router = FindMyWay({ caseSensitive: true, ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 256 });
  const handler = () => undefined;
  for (const api of served) {
    for (const operation of api.operations) {
      try {
        router.on(operation.method as (typeof METHODS)[number], api.context + toRouterPath(operation.path), handler, { api, operation } satisfies Stored);
      } catch {
        // Two served APIs claim the same route (same context, different versions): the older one keeps it.
        onConflict(api, operation);
      }
    }
  }
  // Longest context first, so /a/b wins over /a.
  const contexts = [...new Set(served.map((a) => a.context))].sort((a, b) => b.length - a.length);
  const owns = (path: string) => contexts.some((c) => path === c || path.startsWith(`${c}/`));

  return {
    version,
    apis: served,
    plans: new Map(plans.map((p) => [p.name, p])),
    keyManagers,
    owns,
    lookup(method, path) {
      const found = router.find(method as (typeof METHODS)[number], path);
      if (found) {
        const { api, operation } = found.store as Stored;
        return { kind: 'match', match: { api, operation, rest: pathFromTemplate(operation.path, found.params) } };
      }
      const allow = METHODS.filter((m) => m !== method && router.find(m, path) !== null);
      return allow.length > 0 ? { kind: 'method', allow } : { kind: 'none' };
    },
  };
}
