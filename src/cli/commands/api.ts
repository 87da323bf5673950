/**
 * `opendcr api import | reimport | list | show | publish | deprecate | retire | block | republish
 * | delete`: the gateway catalogue's APIs, through the server's Publisher REST API (WSO2's paths),
 * so the running servers serve each change within a second or two. A human summary by default;
 * `--json` prints the server's JSON answer. A rejected request exits 1 with the server's code and
 * message; bad options exit 2.
 */
import { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { TPP_ROLES } from '../../ob/roles.ts';
import { adminCall, adminOptions, documentForm, expectAnswer, PUBLISHER, segment, withAdmin, type AdminOptions, type AdminSession } from '../admin-client.ts';
import { CliError, printJson } from '../shared.ts';
import { formatTable, printable } from '../table.ts';

/** The server's re-import preview (catalogue.ts ReimportPreview). */
interface PreviewDto {
  documentVersion: { before: string | null; after: string };
  operations: { added: string[]; removed: string[]; changed: Array<{ operation: string }>; unchanged: number };
  requiredRoles: { before: string[]; after: string[] };
}

/** The operation fields of the server's API answer (admin-routes.ts apiDto). */
interface OperationDto {
  target: string;
  verb: string;
  operationId: string | null;
  scopes: string[];
  flows: string[];
  idempotency: boolean;
  jwsSignature: boolean;
  throttlingLimit: { requestCount: number; unitTime: number; timeUnit: string } | null;
}

interface ApiDto {
  id: string;
  name: string;
  context: string;
  version: string;
  lifeCycleStatus: string;
  policies: string[];
  endpointConfig: { production_endpoints: { url: string } };
  requiredRoles: string[];
  verifyJwsSignature: boolean;
  serveConsents?: boolean;
  operations: OperationDto[];
  documentHash: string;
  createdTime: string;
  lastUpdatedTime: string;
}

interface ImportOptions extends AdminOptions {
  backend?: string;
  context?: string;
  version?: string;
  name?: string;
  plans?: string;
  roles?: string;
  verifyJws?: boolean;
  serveConsents?: boolean;
}

const out = (text: string): void => {
  process.stdout.write(text);
};

/** `Gold,Bronze` → ['Gold', 'Bronze']; CliError (exit 2) when empty. */
function list(value: string, option: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new CliError(`${option} needs a comma-separated list, got "${value}"`, 2);
  return [...new Set(items)];
}

/** additionalProperties of an import or re-import: only what the options give. */
function importProps(opts: ImportOptions): Record<string, unknown> {
  const roles = opts.roles === undefined ? undefined : list(opts.roles, '--roles').map((r) => r.toUpperCase());
  const bad = roles?.filter((r) => !(TPP_ROLES as readonly string[]).includes(r)) ?? [];
  if (bad.length > 0) throw new CliError(`--roles must be among ${TPP_ROLES.join(', ')}, got ${bad.join(', ')}`, 2);
  const text = (value: string | undefined, option: string): string | undefined => {
    if (value !== undefined && value.trim() === '') throw new CliError(`${option} must not be empty`, 2);
    return value;
  };
  const backend = text(opts.backend, '--backend');
  const context = text(opts.context, '--context');
  const version = text(opts.version, '--version');
  const name = text(opts.name, '--name');
  return {
    ...(name === undefined ? {} : { name }),
    ...(context === undefined ? {} : { context }),
    ...(version === undefined ? {} : { version }),
    ...(backend === undefined ? {} : { endpointConfig: { production_endpoints: { url: backend } } }),
    ...(opts.plans === undefined ? {} : { policies: list(opts.plans, '--plans') }),
    ...(roles === undefined ? {} : { roles }),
    ...(opts.verifyJws === undefined ? {} : { verifyJwsSignature: opts.verifyJws }),
    ...(opts.serveConsents === undefined ? {} : { serveConsents: opts.serveConsents }),
  };
}

/** The options of import and reimport. */
function documentOptions(cmd: Command, reimport: boolean): Command {
  adminOptions(cmd);
  if (reimport) cmd.option('--backend <url>', 'new backend URL: http(s)://host[:port][/path], or internal:dcr for the built-in DCR service (default: keep)');
  else cmd.requiredOption('--backend <url>', 'backend URL: http(s)://host[:port][/path], or internal:dcr for the built-in DCR service');
  const keep = reimport ? 'keep' : '';
  cmd
    .option('--context <path>', `base path served (default: ${keep || "the document's servers[0].url or basePath"})`)
    .option('--version <version>', `API version (default: ${keep || "the document's info.version"})`)
    .option('--name <name>', `API name (default: ${keep || "the document's info.title"})`)
    .option('--plans <names>', `business plans offered, comma-separated, the first the default (default: ${keep || 'Unlimited'}; see plan list)`)
    .option('--roles <roles>', `required TPP roles, comma-separated, among ${TPP_ROLES.join(', ')} (default: from the operations' scopes)`)
    .option('--verify-jws', 'verify x-jws-signature on the operations that declare it')
    .option('--serve-consents', 'serve the OB consent resources (account-access-consents, domestic-payment-consents, …) here, the rest at the backend');
  if (reimport)
    cmd.option('--no-verify-jws', 'stop verifying x-jws-signature').option('--no-serve-consents', 'send the consent resources to the backend again');
  return cmd;
}

const dash = (items: readonly string[]): string => (items.length ? items.map(printable).join(',') : '-');

function summary(api: ApiDto): string {
  const row = (k: string, v: string) => `  ${k.padEnd(11)} ${v}\n`;
  return (
    `${printable(api.name)} ${printable(api.version)} (${api.id})\n` +
    row('state', api.lifeCycleStatus) +
    row('context', printable(api.context)) +
    row('backend', printable(api.endpointConfig.production_endpoints.url)) +
    row('plans', dash(api.policies)) +
    row('roles', dash(api.requiredRoles)) +
    row('verify JWS', api.verifyJwsSignature ? 'yes' : 'no') +
    row('consents', api.serveConsents ? 'served here' : 'at the backend') +
    row('operations', String(api.operations.length)) +
    row('document', `sha256 ${api.documentHash}`) +
    row('created', api.createdTime) +
    row('updated', api.lastUpdatedTime)
  );
}

/** METHOD PATH FLOWS SCOPES FLAGS (idempotency, jws, a per-operation limit). */
function operationsTable(ops: readonly OperationDto[]): string {
  const rows = ops.map((o) => {
    const flags = [
      ...(o.idempotency ? ['idempotency'] : []),
      ...(o.jwsSignature ? ['jws'] : []),
      ...(o.throttlingLimit
        ? [`limit ${o.throttlingLimit.requestCount}/${o.throttlingLimit.unitTime > 1 ? o.throttlingLimit.unitTime : ''}${o.throttlingLimit.timeUnit}`]
        : []),
    ];
    return [o.verb, printable(o.target), o.flows.length ? o.flows.join(',') : 'none (no token)', dash(o.scopes), flags.length ? flags.join(',') : '-'];
  });
  return formatTable(['METHOD', 'PATH', 'FLOWS', 'SCOPES', 'FLAGS'], rows);
}

/** WSO2's lifecycle actions the subcommands apply, and what each says. */
const LIFECYCLE = [
  ['publish', 'Publish', 'Publish the API (from CREATED): the gateway serves it and TPPs with a required role can subscribe'],
  ['deprecate', 'Deprecate', 'Deprecate the API (from PUBLISHED or BLOCKED): still served, no new subscriptions'],
  ['retire', 'Retire', 'Retire the API (from DEPRECATED): no longer served'],
  ['block', 'Block', 'Block the API (from PUBLISHED or DEPRECATED): calls are answered 503 until it is re-published'],
  ['republish', 'Re-Publish', 'Publish the API again (from BLOCKED or DEPRECATED)'],
] as const;

export function apiCommand(getConfig: () => Config): Command {
  const cmd = new Command('api').description(
    "Manage the gateway's APIs: import OpenAPI/Swagger documents, publish, deprecate, retire, block (through the server's Publisher REST API)",
  );
  const admin = <T>(opts: AdminOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> => withAdmin(getConfig(), opts, fn);

  documentOptions(cmd.command('import'), false)
    .description('Import an API from its OpenAPI 3.x or Swagger 2.0 document (JSON or YAML); it starts CREATED (publish it to serve it)')
    .argument('<file>', 'the OpenAPI or Swagger document')
    .action((file: string, opts: ImportOptions) => {
      const form = documentForm(file, 'file', importProps(opts));
      return admin(opts, async (s) => {
        const api = expectAnswer(opts, await adminCall(s, 'POST', `${PUBLISHER}/apis/import-openapi`, { form }), 201, 'the import') as ApiDto;
        if (opts.json) return printJson(api);
        out(`Imported ${summary(api)}Publish it with: opendcr api publish ${api.id}\n`);
        return undefined;
      });
    });

  documentOptions(cmd.command('reimport'), true)
    .description('Replace the document (and routes) of an API in one change; options not given are kept. An invalid document changes nothing')
    .argument('<id>', 'API id (see api list)')
    .argument('<file>', 'the new OpenAPI or Swagger document')
    .option('--dry-run', 'show what the re-import would add, remove and change, and change nothing')
    .action((id: string, file: string, opts: ImportOptions & { dryRun?: boolean }) => {
      const path = `${PUBLISHER}/apis/${segment(id, 'the API id')}/swagger`;
      const form = documentForm(file, 'apiDefinition', importProps(opts));
      if (opts.dryRun) {
        return admin(opts, async (s) => {
          const p = expectAnswer(opts, await adminCall(s, 'POST', `${path}/preview`, { form }), 200, 'the preview') as PreviewDto;
          if (opts.json) return printJson(p);
          return out(
            [
              `Document version ${printable(p.documentVersion.before ?? '?')} -> ${printable(p.documentVersion.after)}; roles ${dash(p.requiredRoles.before)} -> ${dash(p.requiredRoles.after)}`,
              ...p.operations.added.map((o) => `  + ${printable(o)}`),
              ...p.operations.removed.map((o) => `  - ${printable(o)}`),
              ...p.operations.changed.map((c) => `  ~ ${printable(c.operation)}`),
              `${p.operations.added.length} added, ${p.operations.removed.length} removed, ${p.operations.changed.length} changed, ${p.operations.unchanged} unchanged; nothing was changed (run without --dry-run to apply)`,
              '',
            ].join('\n'),
          );
        });
      }
      return admin(opts, async (s) => {
        const api = expectAnswer(opts, await adminCall(s, 'PUT', path, { form }), 200, 'the re-import') as ApiDto;
        if (opts.json) return printJson(api);
        out(`Re-imported ${summary(api)}`);
        return undefined;
      });
    });

  adminOptions(cmd.command('list'))
    .description('List the APIs of the catalogue, in every state')
    .action((opts: AdminOptions) =>
      admin(opts, async (s) => {
        const answer = expectAnswer(opts, await adminCall(s, 'GET', `${PUBLISHER}/apis`), 200, 'the list') as { list: ApiDto[] };
        if (opts.json) return printJson(answer);
        if (answer.list.length === 0) return out('No APIs. Import one with: opendcr api import FILE --backend URL\n');
        const rows = answer.list.map((a) => [
          a.id,
          a.lifeCycleStatus,
          printable(a.version),
          printable(a.context),
          String(a.operations.length),
          dash(a.policies),
          dash(a.requiredRoles),
          printable(a.name),
        ]);
        return out(formatTable(['ID', 'STATE', 'VERSION', 'CONTEXT', 'OPS', 'PLANS', 'ROLES', 'NAME'], rows, [4]));
      }),
    );

  adminOptions(cmd.command('show'))
    .description('Show an API and its operations: method, path, token flows, scopes, idempotency and JWS flags')
    .argument('<id>', 'API id (see api list)')
    .action((id: string, opts: AdminOptions) =>
      admin(opts, async (s) => {
        const api = expectAnswer(opts, await adminCall(s, 'GET', `${PUBLISHER}/apis/${segment(id, 'the API id')}`), 200, 'the request') as ApiDto;
        if (opts.json) return printJson(api);
        return out(`${summary(api)}\n${operationsTable(api.operations)}`);
      }),
    );

  for (const [name, action, description] of LIFECYCLE) {
    const sub = adminOptions(cmd.command(name)).description(description).argument('<id>', 'API id (see api list)');
    if (action === 'Publish') sub.option('--subscribe-existing', "also subscribe every registered TPP holding a required role (on the API's first plan)");
    sub.action((id: string, opts: AdminOptions & { subscribeExisting?: boolean }) =>
      admin(opts, async (s) => {
        const query = `action=${encodeURIComponent(action)}&apiId=${segment(id, 'the API id')}${opts.subscribeExisting ? '&subscribeExisting=true' : ''}`;
        const answer = expectAnswer(opts, await adminCall(s, 'POST', `${PUBLISHER}/apis/change-lifecycle?${query}`), 200, `${action}`) as {
          lifecycleState: { state: string };
          subscribed: number;
        };
        if (opts.json) return printJson(answer);
        return out(`API ${id} is now ${answer.lifecycleState.state}${opts.subscribeExisting ? `; subscribed ${answer.subscribed} registration(s)` : ''}\n`);
      }),
    );
  }

  adminOptions(cmd.command('delete'))
    .description('Delete an API and its subscriptions (in any state)')
    .argument('<id>', 'API id (see api list)')
    .action((id: string, opts: AdminOptions) =>
      admin(opts, async (s) => {
        expectAnswer(opts, await adminCall(s, 'DELETE', `${PUBLISHER}/apis/${segment(id, 'the API id')}`), 200, 'the deletion');
        if (opts.json) return printJson({ id, deleted: true });
        return out(`Deleted API ${id}\n`);
      }),
    );
  return cmd;
}
