/**
 * Where a browser says a request comes from (Origin, Sec-Fetch-Site), against this server's own
 * origins: a change a page of another origin made a browser send is refused by the admin APIs
 * (src/admin/cross-site.ts) and the customer's access dashboard alike.
 */
import type { FastifyRequest } from 'fastify';

/** A request header as one string (repeated ones joined by commas). */
export const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};

/** The origins this request may come from: its own (Host, or the trusted proxy's X-Forwarded-Host) and the configured base URL's. */
export function ownOrigins(req: FastifyRequest, baseUrl: string): Set<string> {
  const origins = new Set([new URL(baseUrl).origin]);
  const host = header(req, 'host');
  if (host) origins.add(`https://${host.toLowerCase()}`);
  // X-Forwarded-* survive only from a trusted proxy (app.ts strips them from anyone else).
  const forwardedHost = header(req, 'x-forwarded-host')?.split(',')[0]?.trim();
  if (forwardedHost) origins.add(`${header(req, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() ?? 'https'}://${forwardedHost.toLowerCase()}`);
  return origins;
}

/** True when the browser says the request comes from a page of another origin (or another site). */
export function fromOtherOrigin(req: FastifyRequest, baseUrl: string): boolean {
  const site = header(req, 'sec-fetch-site');
  const origin = header(req, 'origin');
  return (site !== undefined && site !== 'same-origin') || (origin !== undefined && !ownOrigins(req, baseUrl).has(origin.toLowerCase()));
}
