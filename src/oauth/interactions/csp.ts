/**
 * The Content-Security-Policy of the PSU login and consent pages.
 *
 * Their forms post to this server, which then redirects the browser on to the TPP's redirect URI
 * (after Allow, Deny, Cancel, or a sign-in that needs no consent). Chromium applies a page's
 * form-action to every redirect that follows the form's submission, so `form-action 'self'`
 * alone strands the PSU on the bank's origin. The policy allows 'self' plus exactly one origin:
 * that of this authorization request's redirect_uri, which oidc-provider matched against the
 * client's registration, and only while the registration still allows it. Once a request has been
 * redirected, CSP matches a source's origin and ignores its path (CSP Level 3, "Does url match
 * expression in origin with redirect count?"), so an origin is as narrow as form-action can be.
 * A redirect URI whose origin no source expression can spell (a scheme other than http/https, an
 * IPv6 literal, a host name with characters CSP does not allow) adds nothing: the browser then
 * refuses that redirect, rather than the policy growing a wildcard.
 */
import { createHash } from 'node:crypto';
import { PAGE_STYLE } from './pages.ts';

const STYLE_SOURCE = `'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`;

// CSP host-source: dot-separated labels of ALPHA / DIGIT / "-" (an IPv4 literal is such labels too).
const HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;

/** The source expression naming the origin of `uri`, or undefined when none can (see above). */
export function originSource(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (!HOST.test(url.hostname)) return undefined;
  return url.origin;
}

/** The policy of a login or consent page whose forms lead back to `returnTo` (a source from originSource). */
export function interactionCsp(returnTo: string | undefined): string {
  return [
    "default-src 'none'",
    `style-src ${STYLE_SOURCE}`,
    `form-action 'self'${returnTo ? ` ${returnTo}` : ''}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}
