/**
 * `opendcr subscription list | block | unblock | set-plan`: which registered TPP (DCR client) may
 * call which API on which business plan, through the server's Devportal and Publisher REST APIs.
 * Registrations are subscribed when they register (or with `api publish --subscribe-existing`).
 */
import { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { adminCall, adminOptions, DEVPORTAL, expectAnswer, PUBLISHER, segment, withAdmin, type AdminOptions, type AdminSession } from '../admin-client.ts';
import { printJson } from '../shared.ts';
import { formatTable, printable } from '../table.ts';

/** The server's subscription answer (admin-routes.ts subscriptionDto). */
interface SubscriptionDto {
  subscriptionId: string;
  applicationId: string;
  apiId: string;
  throttlingPolicy: string;
  status: 'UNBLOCKED' | 'BLOCKED';
  createdTime: string;
}

const out = (text: string): void => {
  process.stdout.write(text);
};

const line = (s: SubscriptionDto): string =>
  `subscription ${s.subscriptionId}: client ${printable(s.applicationId)}, API ${s.apiId}, plan ${printable(s.throttlingPolicy)}, ${s.status}\n`;

export function subscriptionCommand(getConfig: () => Config): Command {
  const cmd = new Command('subscription').description('Manage the gateway\'s subscriptions (a registered client × an API × a business plan): list, block, unblock, change plan');
  const admin = <T>(opts: AdminOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> => withAdmin(getConfig(), opts, fn);

  adminOptions(cmd.command('list'))
    .description('List subscriptions (at most 1000), of one client and/or one API')
    .option('--client <client-id>', 'only this DCR client_id\'s')
    .option('--api <api-id>', 'only this API\'s (see api list)')
    .action((opts: AdminOptions & { client?: string; api?: string }) => admin(opts, async (s) => {
      const query = new URLSearchParams({ ...(opts.client ? { applicationId: opts.client } : {}), ...(opts.api ? { apiId: opts.api } : {}) }).toString();
      const answer = expectAnswer(opts, await adminCall(s, 'GET', `${DEVPORTAL}/subscriptions${query ? `?${query}` : ''}`), 200, 'the list') as { list: SubscriptionDto[] };
      if (opts.json) return printJson(answer);
      if (answer.list.length === 0) return out('No subscriptions match.\n');
      const rows = answer.list.map((x) => [x.subscriptionId, x.status, printable(x.throttlingPolicy), x.apiId, x.createdTime, printable(x.applicationId)]);
      return out(formatTable(['ID', 'STATUS', 'PLAN', 'API_ID', 'CREATED', 'CLIENT_ID'], rows));
    }));

  for (const [name, path, description] of [
    ['block', 'block-subscription', 'Block a subscription: the gateway refuses its client\'s calls to that API'],
    ['unblock', 'unblock-subscription', 'Unblock a subscription'],
  ] as const) {
    adminOptions(cmd.command(name))
      .description(description)
      .argument('<id>', 'subscription id (see subscription list)')
      .action((id: string, opts: AdminOptions) => admin(opts, async (s) => {
        const query = `subscriptionId=${segment(id, 'the subscription id')}${name === 'block' ? '&blockState=BLOCKED' : ''}`;
        const sub = expectAnswer(opts, await adminCall(s, 'POST', `${PUBLISHER}/subscriptions/${path}?${query}`), 200, `the ${name} request`) as SubscriptionDto;
        if (opts.json) return printJson(sub);
        return out(line(sub));
      }));
  }

  adminOptions(cmd.command('set-plan'))
    .description('Move a subscription to another business plan the API offers')
    .argument('<id>', 'subscription id (see subscription list)')
    .argument('<plan>', 'business plan name (one the API offers; see api show)')
    .action((id: string, plan: string, opts: AdminOptions) => admin(opts, async (s) => {
      const answer = await adminCall(s, 'PUT', `${DEVPORTAL}/subscriptions/${segment(id, 'the subscription id')}`, { json: { throttlingPolicy: plan } });
      const sub = expectAnswer(opts, answer, 200, 'the plan change') as SubscriptionDto;
      if (opts.json) return printJson(sub);
      return out(line(sub));
    }));
  return cmd;
}
