/**
 * Which hosts an API's backend may be at ([gateway] allowed_backend_hosts, the same "host" or
 * "host:port" entries as [oauth] allowed_outbound_hosts, matched by the same rule): the gateway
 * makes no outbound call the configuration does not allow, even for an API an administrator imported.
 */
import type { Config } from '../config/schema.ts';
import { isAllowedUrl } from '../http/outbound.ts';
import { INTERNAL_DCR_BACKEND } from '../storage/catalogue-records.ts';

const SANDBOX_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

export function backendHostAllowed(config: Config): (url: URL) => boolean {
  const allowedHosts = [...config.gateway.allowed_backend_hosts, ...(config.server.mode === 'sandbox' ? SANDBOX_HOSTS : [])];
  const any = allowedHosts.includes('*');
  // Backends inside the bank's network may speak plain HTTP.
  return (url) => url.href === INTERNAL_DCR_BACKEND || any || isAllowedUrl(url, { allowedHosts, allowHttp: true });
}
