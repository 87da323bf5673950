/**
 * The route table: every surface the server serves through Fastify, by name, with the paths it
 * owns, the listener it is on and who may call it. buildApp (src/app.ts) registers each surface's
 * routes through `within`, which refuses, when the app is built, a route outside the surface's
 * paths; the management listener's paths are derived from this table, so a new admin surface
 * moves with the others. oidc-provider's paths (`/oauth2/…`, `/.well-known/…`) and the published
 * APIs' contexts are dispatched before Fastify (src/app.ts) and are not here;
 * docs/architecture.md#routes lists every route of every surface.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';

/** `main`: the main listener. `management`: the management listener when [admin] port is set, else the main one. */
export type SurfaceListener = 'main' | 'management';

export interface Surface {
  readonly name: string;
  /**
   * The paths the surface owns. A prefix ending in `/` owns what starts with it; any other owns
   * itself and what lies under it (`/admin` owns `/admin` and `/admin/…`, not `/administrator`).
   */
  readonly paths: readonly string[];
  readonly listener: SurfaceListener;
  /** Who may call it, in words. */
  readonly guard: string;
}

const ADMIN = 'an administrator: HTTP Basic as [super_admin] or a console session, under the password throttle and the cross-site rule';

export const SURFACES = {
  health: { name: 'liveness and readiness', paths: ['/health', '/ready'], listener: 'main', guard: 'none' },
  metrics: {
    name: 'metrics (when [metrics] port is unset)',
    paths: ['/metrics'],
    listener: 'main',
    guard: '[metrics] allowed_networks, and the token when set',
  },
  interactions: {
    name: "the PSU's login and consent pages",
    paths: ['/oauth2/interaction/'],
    listener: 'main',
    guard: "oidc-provider's interaction cookie",
  },
  dcr: {
    name: 'OB Dynamic Client Registration',
    paths: ['/open-banking/', '/api-docs/open-banking/'],
    listener: 'main',
    guard: 'the DCR service: a trusted transport certificate; for management, the client its token names',
  },
  psuAccess: {
    name: "the customer's access dashboard and the bank's sign-in for customers",
    paths: ['/psu'],
    listener: 'main',
    guard: "the customer's dashboard session (the bank's sign-in), and its CSRF token for every change",
  },
  identityKeys: { name: "the key set of the gateway's identity JWTs", paths: ['/gateway/jwks.json'], listener: 'main', guard: 'none' },
  sandboxDirectory: { name: "the sandbox directory's key sets (sandbox mode)", paths: ['/sandbox/'], listener: 'main', guard: 'none' },
  sessions: {
    name: 'console sessions',
    paths: ['/admin/api/session', '/admin/api/sessions'],
    listener: 'management',
    guard: 'login: the cross-site rule and the password throttle; sign-out: an administrator',
  },
  console: {
    name: 'the admin console (pages and assets)',
    paths: ['/admin'],
    listener: 'management',
    guard: 'none: the pages call the APIs with the user’s credentials',
  },
  scopes: { name: 'scope management (WSO2 Identity Server shape)', paths: ['/api/identity/'], listener: 'management', guard: ADMIN },
  operations: { name: 'operations: audit, trust store, signing keys', paths: ['/api/opendcr/'], listener: 'management', guard: ADMIN },
  consoleApi: { name: "the console's views: status, usage, registrations", paths: ['/api/opendcr/'], listener: 'management', guard: ADMIN },
  consents: { name: 'Open Banking consents: listing, detail with history, stopped by staff', paths: ['/api/opendcr/'], listener: 'management', guard: ADMIN },
  sandboxApi: { name: 'sandbox administration (sandbox mode)', paths: ['/api/opendcr/'], listener: 'management', guard: ADMIN },
  apiManager: { name: 'API manager: Publisher, Admin and Devportal (WSO2 API Manager shape)', paths: ['/api/am/'], listener: 'management', guard: ADMIN },
} as const satisfies Record<string, Surface>;

export type SurfaceName = keyof typeof SURFACES;

/** Whether `path` is one of `owned`'s paths (see Surface.paths). */
export function owns(owned: string, path: string): boolean {
  return owned.endsWith('/') ? path.startsWith(owned) : path === owned || path.startsWith(`${owned}/`);
}

/** The paths of the management listener: every management surface's. */
export const MANAGEMENT_PATHS: readonly string[] = [
  ...new Set(
    Object.values(SURFACES)
      .filter((s: Surface) => s.listener === 'management')
      .flatMap((s: Surface) => s.paths),
  ),
];

/** Paths of the console and the admin REST APIs: on the management listener when [admin] port is set. */
export function isManagementPath(path: string): boolean {
  return MANAGEMENT_PATHS.some((owned) => owns(owned, path));
}

/**
 * Registers `routes` as the surface `name`: each route it adds must lie within the surface's
 * paths, or building the app fails with the route and the surface named (a route in the wrong
 * place would be served on the wrong listener, under the wrong guard).
 */
export async function within(app: FastifyInstance, name: SurfaceName, routes: FastifyPluginAsync): Promise<void> {
  const surface: Surface = SURFACES[name];
  await app.register(async (scoped) => {
    scoped.addHook('onRoute', (route) => {
      if (!surface.paths.some((owned) => owns(owned, route.url))) {
        throw new Error(`route ${String(route.method)} ${route.url} lies outside the surface "${name}" (${surface.paths.join(', ')})`);
      }
    });
    await scoped.register(routes);
  });
}
