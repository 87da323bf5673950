/**
 * The paths the server serves itself, which no API context may take: the gateway looks at a
 * request before the rest of the server does, so an API published under `/oauth2` or `/admin`
 * broke the token endpoint, the key set and the console on every worker until it was deleted.
 * A context overlaps a reserved path when either is the other or lies under it, segment by
 * segment and in any letter case (a proxy in front may not keep case).
 * The DCR paths may be taken only by the API served by the DCR service itself (`internal:dcr`).
 * They are the versions DCR serves (`/open-banking/v3.3/register`, and the `v3.3.0` form): an API
 * of another version family may take its own `/open-banking/v4.0` (the OB Events API lives there),
 * since DCR has nothing at `/open-banking/v4.0/register` to break.
 */
import { DCR_VERSIONS } from '../config/schema.ts';

/** Everything the key manager, the admin APIs and console, health, metrics and the sandbox serve. */
const SERVER_PATHS: readonly string[] = [
  '/oauth2',
  '/.well-known',
  '/admin',
  '/api',
  '/api-docs',
  '/health',
  '/ready',
  '/live',
  '/metrics',
  '/sandbox',
  '/gateway',
  '/psu',
];
/** The OB DCR endpoints (`/open-banking/{version}/register[/{ClientId}]`) of each version DCR serves, in both its path forms. */
const DCR_PATHS: readonly string[] = DCR_VERSIONS.flatMap((v) => [`/open-banking/${v}/register`, `/open-banking/${v}.0/register`]);

const segments = (path: string) =>
  path
    .split('/')
    .filter(Boolean)
    .map((s) => s.toLowerCase());

function overlaps(context: string, reserved: string): boolean {
  const c = segments(context);
  const r = segments(reserved);
  for (let i = 0; i < Math.min(c.length, r.length); i++) {
    if (r[i] !== c[i]) return false;
  }
  return true;
}

/** The reserved path a context overlaps, or undefined when it is free. */
export function reservedOverlap(context: string, internalDcr: boolean): string | undefined {
  return [...SERVER_PATHS, ...(internalDcr ? [] : DCR_PATHS)].find((r) => overlaps(context, r));
}
