/**
 * Paths of the key manager: the WSO2 Key Manager paths (so existing TPP and gateway configuration
 * keeps working) plus the standard discovery path.
 */
export const OAUTH_ROUTES = {
  authorization: '/oauth2/authorize',
  token: '/oauth2/token',
  introspection: '/oauth2/introspect',
  revocation: '/oauth2/revoke',
  userinfo: '/oauth2/userinfo',
  jwks: '/oauth2/jwks',
  pushed_authorization_request: '/oauth2/par',
  end_session: '/oauth2/logout',
} as const;

export const DISCOVERY_PATH = '/.well-known/openid-configuration';
/** WSO2 publishes discovery under the token endpoint; same document. */
export const WSO2_DISCOVERY_PATH = '/oauth2/token/.well-known/openid-configuration';
export const INTERACTION_PREFIX = '/oauth2/interaction/';

const providerPaths = new Set<string>([...Object.values(OAUTH_ROUTES), DISCOVERY_PATH]);

/**
 * Decides whether a raw request goes to oidc-provider, rewriting the WSO2 discovery alias.
 * Returns the path oidc-provider should see, or undefined for our own routes.
 */
export function providerPathFor(url: string): string | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === WSO2_DISCOVERY_PATH) return DISCOVERY_PATH + (q === -1 ? '' : url.slice(q));
  if (providerPaths.has(path)) return url;
  // oidc-provider's own sub-paths (e.g. /oauth2/authorize/:uid resume after interactions).
  if (path.startsWith(`${OAUTH_ROUTES.authorization}/`) || path.startsWith(`${OAUTH_ROUTES.end_session}/`)) return url;
  return undefined;
}

/** The route template of a provider path, for logs and metrics (bounded: never a raw path). */
export function providerRouteTemplate(path: string): string {
  if (providerPaths.has(path) || path === WSO2_DISCOVERY_PATH) return path;
  if (path.startsWith(`${OAUTH_ROUTES.authorization}/`)) return `${OAUTH_ROUTES.authorization}/:uid`;
  if (path.startsWith(`${OAUTH_ROUTES.end_session}/`)) return `${OAUTH_ROUTES.end_session}/:action`;
  return '(unmatched)';
}
