/** A PSU's browser for the login and consent pages of a test server (src/cli/psu-flow.ts walks them). */
import { walkConsentPages, type Psu } from '../../src/cli/psu-flow.ts';
import type { TestServer } from './server.ts';

export type { Psu };

/**
 * Runs an authorization request in a browser: signs `psu` in when the login page shows, allows
 * on the consent page, and returns the URL the server finally redirects to (the TPP's callback).
 * Throws on any unexpected page. `jar` may be shared between runs to keep the PSU's session.
 */
export function authorizeInBrowser(ts: TestServer, start: URL, psu: Psu, jar = new Map<string, string>()): Promise<URL> {
  return walkConsentPages((url, init) => ts.fetch(url.pathname + url.search, init), start, new URL(ts.url).origin, psu, jar);
}
