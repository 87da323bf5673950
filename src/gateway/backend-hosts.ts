/**
 * Which hosts an API's backend may be at ([gateway] allowed_backend_hosts): the gateway makes no
 * outbound call the configuration does not allow, even for an API an administrator imported.
 */
import type { Config } from '../config/schema.ts';
import { INTERNAL_DCR_BACKEND } from './catalogue.ts';

const SANDBOX_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

export function backendHostAllowed(config: Config): (url: URL) => boolean {
  const entries = new Set(config.gateway.allowed_backend_hosts.map((h) => h.toLowerCase()));
  if (config.server.mode === 'sandbox') SANDBOX_HOSTS.forEach((h) => entries.add(h));
  const any = entries.has('*');
  return (url) => any || url.href === INTERNAL_DCR_BACKEND || entries.has(url.hostname.toLowerCase()) || entries.has(url.host.toLowerCase());
}
