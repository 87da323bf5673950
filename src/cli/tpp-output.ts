/**
 * How the TPP commands and the demo show their work: decoded JWTs, HTTP exchanges with their
 * bodies, and the equivalent curl command lines.
 */
import { STATUS_CODES } from 'node:http';
import { relative } from 'node:path';
import { decodeJwt } from 'jose';
import type { Exchange, TppSession } from './tpp-client.ts';

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export const pretty = (value: unknown): string => JSON.stringify(value, null, 2);

/** The claims of a JWT, or undefined when `token` is not one (an opaque token). */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  if (!JWT.test(token)) return undefined;
  try {
    return decodeJwt(token) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Long JWTs inside a shown object (the SSA inside a request or a response) are cut: they are
 * shown decoded elsewhere, and `--json` prints them whole. The access token stays whole, as
 * people copy it from the screen.
 */
export function abbreviateJwts(claims: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(claims).map(([k, v]) => [
      k,
      k !== 'access_token' && typeof v === 'string' && v.length > 80 && JWT.test(v) ? `${v.slice(0, 40)}…(${v.length} characters)` : v,
    ]),
  );
}

/** `POST https://… → 201 Created` followed by the body, pretty-printed. */
export function formatExchange(ex: Exchange): string {
  const line = `${ex.method} ${ex.url} → ${ex.status} ${STATUS_CODES[ex.status] ?? ''}`.trimEnd();
  if (ex.body === undefined) return `${line}\n`;
  const body = typeof ex.body === 'object' && ex.body !== null && !Array.isArray(ex.body) ? abbreviateJwts(ex.body as Record<string, unknown>) : ex.body;
  return `${line}\n${typeof body === 'string' ? body : pretty(body)}\n`;
}

/** A titled block: a heading line, then indented text. */
export function section(title: string, text: string): string {
  return `${title}\n${text
    .trimEnd()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
}

// POSIX shell single quotes; plain words stay unquoted so the line reads easily.
const sh = (s: string): string => (/^[A-Za-z0-9_./:@=,%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** Where curl runs: file paths are shown relative to `cwd` when given. */
export interface CurlContext {
  readonly session: TppSession;
  readonly cwd?: string;
}

const path = (c: CurlContext, file: string): string => sh(c.cwd ? relative(c.cwd, file) : file);

/** The mTLS options every curl line carries: the TPP's transport chain and key, the server CA. */
function tlsOptions(c: CurlContext): string[] {
  return [
    `--cert ${path(c, c.session.files.transportChain)}`,
    `--key ${path(c, c.session.files.transportKey)}`,
    ...(c.session.caFile ? [`--cacert ${path(c, c.session.caFile)}`] : []),
  ];
}

const lines = (parts: string[]): string => `${parts.join(' \\\n     ')}\n`;
const bearer = (c: CurlContext, tokenFile: string) => `-H "Authorization: Bearer $(cat ${path(c, tokenFile)})"`;

/** curl for a JOSE-bodied request (POST or PUT /register) whose JWT is in `jwtFile`. */
export function curlJose(c: CurlContext, ex: Exchange, jwtFile: string, tokenFile?: string): string {
  return lines([
    `curl -X ${ex.method}`,
    ...tlsOptions(c),
    `-H 'Content-Type: application/jose'`,
    ...(tokenFile ? [bearer(c, tokenFile)] : []),
    `--data-binary @${path(c, jwtFile)}`,
    sh(ex.url),
  ]);
}

/** curl for the token request; the client assertion (if any) is read from `assertionFile`. */
export function curlToken(c: CurlContext, ex: Exchange, form: Readonly<Record<string, string>>, assertionFile?: string): string {
  const fields = Object.entries(form).map(([k, v]) =>
    k === 'client_assertion' && assertionFile ? `--data-urlencode client_assertion@${path(c, assertionFile)}` : `--data-urlencode ${sh(`${k}=${v}`)}`,
  );
  return lines([`curl -X POST`, ...tlsOptions(c), ...fields, sh(ex.url)]);
}

/** curl for GET or DELETE with the bearer token read from `tokenFile`. */
export function curlBearer(c: CurlContext, ex: Exchange, tokenFile: string): string {
  return lines([`curl -X ${ex.method}`, ...tlsOptions(c), bearer(c, tokenFile), sh(ex.url)]);
}
