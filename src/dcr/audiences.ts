/**
 * The `aud` values a registration request JWT may carry (OB DCR: the ASPSP, as the TPP knows it):
 * the issuer, and every URL the DCR API is reached at. That is the configured base URL, the main
 * listener's own URL (https://{hostname}:{port}, which differs from the base URL behind a load
 * balancer), and the gateway's own listener ([gateway] listeners "own", port 8243 by default),
 * which serves the DCR API once it is published through the gateway. Each as the origin (with or
 * without a trailing slash) and as the registration endpoint of every version. A TPP registering
 * through the gateway's own listener once named that listener and was refused.
 */
import type { Config } from '../config/schema.ts';
import { DCR_VERSION_PROFILES } from './versions/index.ts';

const originOf = (hostname: string, port: number) => `https://${hostname}${port === 443 ? '' : `:${port}`}`;

/** The origins of the listeners that serve the DCR API, base URL first. */
export function dcrOrigins(config: Config): string[] {
  const origins = [config.derived.baseUrl, originOf(config.server.hostname, config.server.port)];
  const gateway = config.gateway;
  // Port 0 (a free port picked at start) has no URL a TPP could have been given beforehand.
  if (gateway.enabled && config.server.roles.includes('gateway') && gateway.listeners.includes('own') && gateway.port !== 0) {
    origins.push(originOf(config.server.hostname, gateway.port));
  }
  return [...new Set(origins)];
}

/** Every accepted aud, in the order an error message lists them. */
export function registrationAudiences(config: Config): Set<string> {
  const issuer = config.derived.issuer;
  return new Set([
    issuer,
    `${issuer}/`,
    ...dcrOrigins(config).flatMap((origin) => [
      origin,
      `${origin}/`,
      ...DCR_VERSION_PROFILES.flatMap((v) => [`${origin}/open-banking/${v.id}/register`, `${origin}/open-banking/${v.id}.0/register`]),
    ]),
    ...config.open_banking.dcr.audiences,
  ]);
}
