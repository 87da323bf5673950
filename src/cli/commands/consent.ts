/**
 * `opendcr consent list | show | revoke`: the bank staff's view of Open Banking consents, through
 * the server's operations API (a revocation must reach the running server: it stops the consent's
 * tokens on every host). `revoke` revokes an authorised consent, or rejects one still awaiting the
 * customer.
 */
import { Command, Option } from 'commander';
import type { Config } from '../../config/schema.ts';
import { CONSENT_KINDS, CONSENT_STATUSES } from '../../storage/consent-records.ts';
import { adminCall, adminOptions, expectAnswer, segment, withAdmin, type AdminOptions, type AdminSession } from '../admin-client.ts';
import { CliError, printJson } from '../shared.ts';
import { formatTable, printable } from '../table.ts';

const CONSENTS = '/api/opendcr/v1/consents';

/** The server's consent answer (src/admin/consent-routes.ts consentDto). */
interface ConsentDto {
  consentId: string;
  type: string;
  status: string;
  apiVersion: string;
  keyManager: string;
  clientId: string;
  psu: string | null;
  accounts: string[];
  createdAt: string;
  statusUpdatedAt: string;
  expiresAt: string | null;
  deletedAt: string | null;
  data: Record<string, unknown>;
  history?: Array<{ at: string; from: string | null; to: string; actor: string; actorId: string | null; reason: string | null }>;
}

const out = (text: string): void => {
  process.stdout.write(text);
};

/** A consent and its history, for a person. Values a TPP or PSU sent are shown printable only. */
function describe(c: ConsentDto): string {
  const lines = [
    `consent ${printable(c.consentId)}: ${c.type}, ${c.status}${c.deletedAt ? ` (deleted by the TPP at ${c.deletedAt})` : ''}`,
    `  application: client ${printable(c.clientId)} of ${printable(c.keyManager)} (API ${c.apiVersion})`,
    `  customer:    ${c.psu === null ? '-' : printable(c.psu)}; accounts: ${c.accounts.length ? c.accounts.map(printable).join(', ') : '-'}`,
    `  created ${c.createdAt}; status since ${c.statusUpdatedAt}; ends ${c.expiresAt ?? 'never'}`,
  ];
  const permissions = c.data['Permissions'];
  if (Array.isArray(permissions)) lines.push(`  permissions: ${permissions.map((p) => printable(String(p))).join(', ')}`);
  if (c.history?.length) {
    lines.push('  history:');
    for (const e of c.history) {
      lines.push(
        `    ${e.at}  ${e.from ?? '-'} → ${e.to}  by ${e.actor}${e.actorId ? ` ${printable(e.actorId)}` : ''}${e.reason ? ` (${printable(e.reason)})` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export function consentCommand(getConfig: () => Config): Command {
  const cmd = new Command('consent').description("Open Banking consents: list, show one with its history, revoke one (bank staff's side)");
  const admin = <T>(opts: AdminOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> => withAdmin(getConfig(), opts, fn);

  adminOptions(cmd.command('list'))
    .description('List consents, newest first')
    .option('--client <client-id>', "only this TPP client's")
    .option('--psu <psu>', "only this customer's")
    .addOption(new Option('--status <status>', 'only in this status').choices(CONSENT_STATUSES))
    .addOption(new Option('--type <type>', 'only of this type').choices(CONSENT_KINDS))
    .option('--deleted', 'include consents the TPP deleted')
    .option('--limit <n>', 'at most this many (1-500)', '100')
    .action((opts: AdminOptions & { client?: string; psu?: string; status?: string; type?: string; deleted?: boolean; limit: string }) =>
      admin(opts, async (s) => {
        if (!/^\d{1,3}$/.test(opts.limit)) throw new CliError(`--limit must be an integer from 1 to 500, got "${opts.limit}"`, 2);
        const query = new URLSearchParams({
          limit: opts.limit,
          ...(opts.client ? { client_id: opts.client } : {}),
          ...(opts.psu ? { psu: opts.psu } : {}),
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.type ? { type: opts.type } : {}),
          ...(opts.deleted ? { deleted: 'true' } : {}),
        });
        const answer = expectAnswer(opts, await adminCall(s, 'GET', `${CONSENTS}?${query}`), 200, 'the list') as { list: ConsentDto[]; next?: string };
        if (opts.json) return printJson(answer);
        if (answer.list.length === 0) return out('No consents match.\n');
        const rows = answer.list.map((c) => [
          printable(c.consentId),
          c.type,
          c.deletedAt ? `${c.status} (deleted)` : c.status,
          printable(c.clientId),
          c.psu === null ? '-' : printable(c.psu),
          c.createdAt,
          c.expiresAt ?? '-',
        ]);
        out(formatTable(['CONSENT_ID', 'TYPE', 'STATUS', 'CLIENT_ID', 'PSU', 'CREATED', 'ENDS'], rows));
        if (answer.next) out(`(more: the next page is --limit ${opts.limit} from the server's next token ${answer.next})\n`);
      }),
    );

  adminOptions(cmd.command('show'))
    .description('Show one consent with its whole history (who changed it, when, why)')
    .argument('<consent-id>')
    .action((id: string, opts: AdminOptions) =>
      admin(opts, async (s) => {
        const c = expectAnswer(opts, await adminCall(s, 'GET', `${CONSENTS}/${segment(id, 'the consent id')}`), 200, 'the consent') as ConsentDto;
        return opts.json ? printJson(c) : out(describe(c));
      }),
    );

  adminOptions(cmd.command('revoke'))
    .description('Stop a consent as bank staff: an authorised one is revoked, one awaiting the customer rejected; its tokens stop on every host')
    .argument('<consent-id>')
    .option('--reason <text>', 'why, kept in its history')
    .action((id: string, opts: AdminOptions & { reason?: string }) =>
      admin(opts, async (s) => {
        const json = opts.reason ? { reason: opts.reason } : {};
        const c = expectAnswer(
          opts,
          await adminCall(s, 'POST', `${CONSENTS}/${segment(id, 'the consent id')}/stop`, { json }),
          200,
          'the revocation',
        ) as ConsentDto;
        return opts.json ? printJson(c) : out(describe(c));
      }),
    );
  return cmd;
}
