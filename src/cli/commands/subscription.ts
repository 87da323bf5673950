/**
 * `opendcr subscription list | add | block | unblock | set-plan`: which application may call which
 * API on which business plan, through the server's Devportal and Publisher REST APIs. An
 * application is a key manager's client: a registered TPP (a DCR client of the resident key
 * manager), subscribed when it registers (or with `api publish --subscribe-existing`), or an
 * external key manager's client, subscribed by hand naming its key manager.
 */
import { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { adminCall, adminOptions, DEVPORTAL, expectAnswer, PUBLISHER, segment, withAdmin, type AdminOptions, type AdminSession } from '../admin-client.ts';
import { RESIDENT_KEY_MANAGER } from '../../storage/catalogue-records.ts';
import { printJson } from '../shared.ts';
import { formatTable, printable } from '../table.ts';

/** The server's subscription answer (admin-routes.ts subscriptionDto). */
interface SubscriptionDto {
  subscriptionId: string;
  applicationId: string;
  keyManager: string;
  apiId: string;
  throttlingPolicy: string;
  status: 'UNBLOCKED' | 'BLOCKED';
  createdTime: string;
}

const out = (text: string): void => {
  process.stdout.write(text);
};

const line = (s: SubscriptionDto): string =>
  `subscription ${s.subscriptionId}: client ${printable(s.applicationId)} of ${printable(s.keyManager)}, API ${s.apiId}, plan ${printable(s.throttlingPolicy)}, ${s.status}\n`;

export function subscriptionCommand(getConfig: () => Config): Command {
  const cmd = new Command('subscription').description(
    "Manage the gateway's subscriptions (a key manager's client × an API × a business plan): list, add, block, unblock, change plan",
  );
  const admin = <T>(opts: AdminOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> => withAdmin(getConfig(), opts, fn);

  adminOptions(cmd.command('list'))
    .description('List subscriptions (at most 1000), of one client and/or one key manager and/or one API')
    .option('--client <client-id>', "only this client_id's (at any key manager, unless --key-manager)")
    .option('--key-manager <name>', "only this key manager's clients (see keymanager list)")
    .option('--api <api-id>', "only this API's (see api list)")
    .action((opts: AdminOptions & { client?: string; keyManager?: string; api?: string }) =>
      admin(opts, async (s) => {
        const query = new URLSearchParams({
          ...(opts.client ? { applicationId: opts.client } : {}),
          ...(opts.keyManager ? { keyManager: opts.keyManager } : {}),
          ...(opts.api ? { apiId: opts.api } : {}),
        }).toString();
        const answer = expectAnswer(opts, await adminCall(s, 'GET', `${DEVPORTAL}/subscriptions${query ? `?${query}` : ''}`), 200, 'the list') as {
          list: SubscriptionDto[];
        };
        if (opts.json) return printJson(answer);
        if (answer.list.length === 0) return out('No subscriptions match.\n');
        const rows = answer.list.map((x) => [
          x.subscriptionId,
          x.status,
          printable(x.throttlingPolicy),
          x.apiId,
          x.createdTime,
          printable(x.keyManager),
          printable(x.applicationId),
        ]);
        return out(formatTable(['ID', 'STATUS', 'PLAN', 'API_ID', 'CREATED', 'KEY_MANAGER', 'CLIENT_ID'], rows));
      }),
    );

  adminOptions(cmd.command('add'))
    .description("Subscribe a key manager's client to a published API (a registered TPP unless --key-manager names an external key manager)")
    .argument('<client-id>', 'the client_id, at its key manager')
    .argument('<api-id>', 'a PUBLISHED API (see api list)')
    .option('--key-manager <name>', 'whose client it is (see keymanager list)', RESIDENT_KEY_MANAGER)
    .option('--plan <plan>', 'a business plan the API offers (default: its first)')
    .action((clientId: string, apiId: string, opts: AdminOptions & { keyManager: string; plan?: string }) =>
      admin(opts, async (s) => {
        const json = { applicationId: clientId, keyManager: opts.keyManager, apiId, ...(opts.plan ? { throttlingPolicy: opts.plan } : {}) };
        const sub = expectAnswer(opts, await adminCall(s, 'POST', `${DEVPORTAL}/subscriptions`, { json }), 201, 'the subscription') as SubscriptionDto;
        if (opts.json) return printJson(sub);
        return out(line(sub));
      }),
    );

  for (const [name, path, description] of [
    ['block', 'block-subscription', "Block a subscription: the gateway refuses its client's calls to that API"],
    ['unblock', 'unblock-subscription', 'Unblock a subscription'],
  ] as const) {
    adminOptions(cmd.command(name))
      .description(description)
      .argument('<id>', 'subscription id (see subscription list)')
      .action((id: string, opts: AdminOptions) =>
        admin(opts, async (s) => {
          const query = `subscriptionId=${segment(id, 'the subscription id')}${name === 'block' ? '&blockState=BLOCKED' : ''}`;
          const sub = expectAnswer(
            opts,
            await adminCall(s, 'POST', `${PUBLISHER}/subscriptions/${path}?${query}`),
            200,
            `the ${name} request`,
          ) as SubscriptionDto;
          if (opts.json) return printJson(sub);
          return out(line(sub));
        }),
      );
  }

  adminOptions(cmd.command('set-plan'))
    .description('Move a subscription to another business plan the API offers')
    .argument('<id>', 'subscription id (see subscription list)')
    .argument('<plan>', 'business plan name (one the API offers; see api show)')
    .action((id: string, plan: string, opts: AdminOptions) =>
      admin(opts, async (s) => {
        const answer = await adminCall(s, 'PUT', `${DEVPORTAL}/subscriptions/${segment(id, 'the subscription id')}`, { json: { throttlingPolicy: plan } });
        const sub = expectAnswer(opts, answer, 200, 'the plan change') as SubscriptionDto;
        if (opts.json) return printJson(sub);
        return out(line(sub));
      }),
    );
  return cmd;
}
