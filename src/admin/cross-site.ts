/**
 * The admin APIs against cross-site requests a browser sends on its own credentials (Basic
 * credentials it cached, a session cookie): a page on another origin can make a browser send a
 * "simple" request (a form post, or a fetch without custom headers: GET or POST with text/plain,
 * urlencoded or multipart), and the browser attaches cached Basic credentials to it. So a change
 * must be a request no page can make across origins without a CORS preflight (which these APIs
 * never grant): a JSON body (Content-Type exactly application/json) or the header
 * X-Requested-With; PUT, PATCH and DELETE are never simple. And when the browser says where a
 * request comes from (Origin, Sec-Fetch-Site), it must be this server's own origin.
 *
 * A browser is also never sent a Basic challenge, so it never prompts for and caches the
 * credentials in the first place; scripts (curl, the command line, other HTTP libraries) still get
 * one, as RFC 7235 asks.
 */
import type { FastifyRequest } from 'fastify';
import { fail } from '../errors/app-error.ts';
import { fromOtherOrigin, header } from '../http/origins.ts';

/** Sent by the command line and accepted from any script: marks a change as not a browser's form post. */
export const CLIENT_HEADER = 'x-requested-with';
/** Sent by the console's scripts (which also send the session's x-csrf-token on every change). */
export const CONSOLE_HEADER = 'x-opendcr-console';

/** Headers no page can add to a cross-origin request without a preflight: any one makes a change acceptable (the console sends x-csrf-token with its session too). */
const CUSTOM_HEADERS = [CLIENT_HEADER, CONSOLE_HEADER, 'x-csrf-token'];

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** The only methods an HTML form or a no-cors fetch can send (Fetch: CORS-safelisted methods). */
const SIMPLE = new Set(['GET', 'HEAD', 'POST']);

/** Content-Type is application/json (parameters such as charset aside): something no cross-site form or no-cors fetch can send. */
export function isJsonRequest(req: FastifyRequest): boolean {
  const type = header(req, 'content-type');
  return type !== undefined && type.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

/** Refuses (403 ADMIN_CROSS_SITE) a change that a page on another origin could have made a browser send. */
export function refuseCrossSite(req: FastifyRequest, baseUrl: string): void {
  if (SAFE.has(req.method)) return;
  if (fromOtherOrigin(req, baseUrl)) {
    throw fail('ADMIN_CROSS_SITE', "a change to the admin APIs must come from this server's own pages or from a script, not from a page of another origin");
  }
  if (SIMPLE.has(req.method) && !isJsonRequest(req) && !CUSTOM_HEADERS.some((h) => header(req, h))) {
    throw fail(
      'ADMIN_CROSS_SITE',
      'a change to the admin APIs must send a JSON body (Content-Type: application/json) or the header X-Requested-With: a page of another site cannot make a browser send either',
    );
  }
}

/**
 * Whether a 401 may carry the Basic challenge: not to a browser (Origin, Sec-Fetch-*, a Mozilla
 * User-Agent, the console's header), which would prompt and then cache what was typed.
 */
export function mayChallenge(req: FastifyRequest): boolean {
  if (['origin', 'sec-fetch-site', 'sec-fetch-dest', 'sec-fetch-user', CONSOLE_HEADER].some((h) => header(req, h) !== undefined)) return false;
  return !/^mozilla\//i.test(header(req, 'user-agent') ?? '');
}
