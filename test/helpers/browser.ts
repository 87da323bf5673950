/**
 * A PSU's browser for the login and consent pages: follows redirects by hand, keeps cookies,
 * and submits the forms the pages render. Stops at the first redirect that leaves the server.
 */
import type { TestServer } from './server.ts';

export interface Psu { username: string; password: string }

/** Applies Set-Cookie headers to the jar (an expired cookie is removed). Paths are ignored. */
function keepCookies(jar: Map<string, string>, res: Response): void {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const i = pair!.indexOf('=');
    const name = pair!.slice(0, i).trim();
    const expires = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('expires='));
    if (expires && Date.parse(expires.slice('expires='.length)) <= Date.now()) jar.delete(name);
    else jar.set(name, pair!.slice(i + 1).trim());
  }
}

/**
 * Runs an authorization request in a browser: signs `psu` in when the login page shows, allows
 * on the consent page, and returns the URL the server finally redirects to (the TPP's callback).
 * Throws on any unexpected page. `jar` may be shared between runs to keep the PSU's session.
 */
export async function authorizeInBrowser(ts: TestServer, start: URL, psu: Psu, jar = new Map<string, string>()): Promise<URL> {
  const origin = new URL(ts.url).origin;
  let url = start;
  let form: URLSearchParams | undefined;
  // Bounded: login and consent are at most a dozen hops.
  for (let hop = 0; hop < 20; hop++) {
    if (url.origin !== origin) return url;
    const headers: Record<string, string> = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await ts.fetch(url.pathname + url.search, { method: form ? 'POST' : 'GET', headers, body: form?.toString() });
    keepCookies(jar, res);
    form = undefined;
    if (res.status === 302 || res.status === 303) {
      url = new URL(res.headers.get('location')!, url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${url.pathname}: ${html.slice(0, 500)}`);
    const login = /action="([^"]+\/login)"/.exec(html);
    const confirm = /action="([^"]+\/confirm)"/.exec(html);
    if (login) {
      url = new URL(login[1]!, url);
      form = new URLSearchParams({ username: psu.username, password: psu.password });
    } else if (confirm) {
      url = new URL(confirm[1]!, url);
      form = new URLSearchParams();
    } else {
      throw new Error(`unexpected page at ${url.pathname}: ${html.slice(0, 500)}`);
    }
  }
  throw new Error('too many redirects');
}
