/**
 * The administrator's side of the server's admin REST APIs, as `opendcr api | plan |
 * subscription` use them: the server of this data folder (or --server), its sandbox CA (or --ca),
 * HTTP Basic with the configuration's [super_admin] credentials (OPENDCR_ADMIN_PASSWORD), and
 * the server's `{code, message}` errors as one CliError (exit 1), printed too with --json.
 */
import { basename } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Agent, FormData, request } from 'undici';
import type { Config } from '../config/schema.ts';
import { cannotReach, localServer, readCaFile } from './server-url.ts';
import { CliError, printJson } from './shared.ts';
import { printable } from './table.ts';

export { ADMIN, DEVPORTAL, PUBLISHER } from '../apim/admin-paths.ts';

/** Options every admin subcommand takes. */
export interface AdminOptions {
  server?: string;
  ca?: string;
  json?: boolean;
}

export interface AdminSession {
  /** Base URL, no trailing slash. */
  readonly server: string;
  /** Where `server` came from, for messages. */
  readonly from: string;
  readonly caFile: string | undefined;
  readonly agent: Agent;
  readonly authorization: string;
}

/** The server's answer: `body` is parsed JSON when the answer is JSON, its text otherwise, undefined when empty. */
export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Adds --server, --ca and --json to an admin subcommand. */
export function adminOptions(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'server base URL (default: the server running on this data folder, else the configured base URL)')
    .option('--ca <file>', "CA certificate (PEM) for the server's TLS certificate (default: {data_dir}/pki/ca.pem when present)")
    .option('--json', "print the server's JSON answer");
}

/** Opens an admin session, runs `fn`, closes it. */
export async function withAdmin<T>(config: Config, opts: AdminOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> {
  const here = opts.server === undefined ? localServer(config) : undefined;
  const server = (opts.server ?? here!.url).replace(/\/+$/, '');
  if (!/^https:\/\/[^/]+/.test(server) || !URL.canParse(server)) throw new CliError(`--server must be an https URL, got "${server}"`, 2);
  const caFile = opts.ca ?? here?.caFile ?? localServer(config).caFile;
  const ca = caFile === undefined ? undefined : readCaFile(caFile);
  const { username, password } = config.super_admin;
  const agent = new Agent({ connect: ca ? { ca } : {} });
  const session: AdminSession = {
    server,
    from: here?.from ?? 'given with --server',
    caFile,
    agent,
    authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
  };
  try {
    return await fn(session);
  } finally {
    await agent.close();
  }
}

/** One request to the admin APIs: a JSON body or a multipart form; CliError "cannot reach …" when there is no answer. */
export async function adminCall(
  s: AdminSession,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  init: { json?: unknown; form?: FormData } = {},
): Promise<AdminAnswer> {
  const url = `${s.server}${path}`;
  // X-Requested-With: the admin APIs take a change without a JSON body (an import, publishing) only with it.
  const headers: Record<string, string> = { accept: 'application/json', authorization: s.authorization, 'x-requested-with': 'opendcr-cli' };
  let body: string | FormData | undefined;
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.form) {
    body = init.form;
  }
  let status: number;
  let text: string;
  try {
    const res = await request(url, { method, headers, body, dispatcher: s.agent });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    throw cannotReach(url, s.from, s.caFile, err);
  }
  if (text === '') return { status, body: undefined };
  try {
    return { status, body: JSON.parse(text) as unknown };
  } catch {
    return { status, body: text };
  }
}

/**
 * Returns the answer's body when its status is `expected`; otherwise (with --json, after printing
 * the server's JSON error) throws a CliError with the server's code and message: `the server
 * rejected <what> (HTTP 409): PLAN_IN_USE: …`. An invalid document's problems get a line each.
 */
export function expectAnswer(opts: AdminOptions, answer: AdminAnswer, expected: number, what: string): unknown {
  if (answer.status === expected) return answer.body;
  if (opts.json && answer.body !== undefined && typeof answer.body === 'object') printJson(answer.body);
  const b = answer.body as { code?: unknown; message?: unknown } | undefined;
  if (typeof b === 'object' && b !== null && typeof b.code === 'string') {
    const message = typeof b.message === 'string' ? printable(b.message) : '';
    const lines = [`the server rejected ${what} (HTTP ${answer.status}): ${printable(b.code)}: ${message}`];
    // `the document is invalid, nothing was changed: p1; p2`: one problem per line.
    const listed = b.code === 'API_DOCUMENT_INVALID' ? /^(.*?nothing was changed): (.+)$/.exec(message) : null;
    if (listed)
      lines.splice(0, 1, `the server rejected ${what} (HTTP ${answer.status}): ${b.code}: ${listed[1]}:`, ...listed[2]!.split('; ').map((p) => `  ${p}`));
    if (b.code === 'ADMIN_UNAUTHORIZED')
      lines.push("the command line uses [super_admin] username and password of its configuration (or OPENDCR_ADMIN_PASSWORD): give it the server's");
    throw new CliError(lines.join('\n'));
  }
  const detail = typeof answer.body === 'string' ? printable(answer.body.slice(0, 300)) : 'no error description';
  throw new CliError(`the server rejected ${what} (HTTP ${answer.status}): ${detail}`);
}

/** An OpenAPI or Swagger document from a file, as a multipart form with its field and the additionalProperties JSON. */
export function documentForm(file: string, field: string, props: Record<string, unknown>): FormData {
  let document: Buffer;
  try {
    document = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot read it (${code ?? (err as Error).message})`;
    throw new CliError(`${file}: ${why}`);
  }
  const form = new FormData();
  form.set(field, new Blob([document]), basename(file));
  form.set('additionalProperties', JSON.stringify(props));
  return form;
}

/** A path segment: an id or a name from the command line. */
export function segment(value: string, what: string): string {
  if (value.trim() === '') throw new CliError(`${what} must not be empty`, 2);
  return encodeURIComponent(value);
}
