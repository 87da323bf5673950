/**
 * `opendcr plan list | add | remove`: the gateway's business plans (WSO2's subscription
 * throttling policies), through the server's Admin REST API. Built-in plans (Unlimited, Gold,
 * Silver, Bronze) cannot be removed; a plan an API offers or a subscription uses is refused
 * (PLAN_IN_USE) until those change.
 */
import { Command, Option } from 'commander';
import type { Config } from '../../config/schema.ts';
import { ADMIN, adminCall, adminOptions, expectAnswer, segment, withAdmin, type AdminOptions, type AdminSession } from '../admin-client.ts';
import { CliError, printJson } from '../shared.ts';
import { formatTable, printable } from '../table.ts';

const POLICIES = `${ADMIN}/throttling/policies/subscription`;

/** The server's plan answer (admin-routes.ts policyDto). */
interface PolicyDto {
  policyName: string;
  displayName: string;
  description: string;
  builtIn: boolean;
  defaultLimit: { requestCount: { timeUnit: string; unitTime: number; requestCount: number } | null };
  rateLimitCount: number;
  rateLimitTimeUnit?: string;
  stopOnQuotaReach: boolean;
}

interface AddOptions extends AdminOptions {
  requests: string;
  per: 'sec' | 'min' | 'hour' | 'day';
  unitTime: string;
  burst?: string;
  burstPer?: 'sec' | 'min';
  stopOnQuota: boolean;
  displayName?: string;
  description?: string;
}

const out = (text: string): void => {
  process.stdout.write(text);
};

/** A positive integer option; CliError (exit 2) otherwise. The server checks the ranges. */
function count(value: string, option: string): number {
  const n = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!(Number.isSafeInteger(n) && n >= 1)) throw new CliError(`${option} must be a positive whole number, got "${value}"`, 2);
  return n;
}

const limitText = (p: PolicyDto): string => {
  const l = p.defaultLimit.requestCount;
  return l ? `${l.requestCount}/${l.unitTime > 1 ? l.unitTime : ''}${l.timeUnit}` : 'unlimited';
};

export function planCommand(getConfig: () => Config): Command {
  const cmd = new Command('plan').description("Manage the gateway's business plans (subscription throttling policies, through the server's Admin REST API)");
  const admin = <T>(opts: AdminOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> => withAdmin(getConfig(), opts, fn);

  adminOptions(cmd.command('list'))
    .description('List the business plans, built-in and custom')
    .action((opts: AdminOptions) =>
      admin(opts, async (s) => {
        const answer = expectAnswer(opts, await adminCall(s, 'GET', POLICIES), 200, 'the list') as { list: PolicyDto[] };
        if (opts.json) return printJson(answer);
        const rows = answer.list.map((p) => [
          printable(p.policyName),
          limitText(p),
          p.rateLimitCount > 0 ? `${p.rateLimitCount}/${p.rateLimitTimeUnit ?? '?'}` : '-',
          p.stopOnQuotaReach ? 'stop' : 'count only',
          p.builtIn ? 'built-in' : 'custom',
          printable(p.description),
        ]);
        return out(formatTable(['NAME', 'LIMIT', 'BURST', 'OVER QUOTA', 'KIND', 'DESCRIPTION'], rows));
      }),
    );

  adminOptions(cmd.command('add'))
    .description('Add a custom business plan: at most --requests per --unit-time --per, with an optional burst limit')
    .argument('<name>', 'plan name: 1 to 64 letters, digits, dashes or underscores')
    .requiredOption('--requests <n>', 'requests allowed per period')
    .addOption(new Option('--per <unit>', 'time unit of the period').choices(['sec', 'min', 'hour', 'day']).makeOptionMandatory())
    .option('--unit-time <n>', 'length of the period in --per units (1 to 1000)', '1')
    .option('--burst <n>', 'burst limit: at most this many requests per --burst-per')
    .addOption(new Option('--burst-per <unit>', 'time unit of the burst limit').choices(['sec', 'min']))
    .option('--no-stop-on-quota', 'only count requests over the quota instead of refusing them')
    .option('--display-name <text>', 'display name (default: the name)')
    .option('--description <text>', 'description')
    .action((name: string, opts: AddOptions) => {
      if ((opts.burst === undefined) !== (opts.burstPer === undefined))
        throw new CliError('--burst and --burst-per go together (e.g. --burst 10 --burst-per sec)', 2);
      const body = {
        policyName: name,
        ...(opts.displayName === undefined ? {} : { displayName: opts.displayName }),
        ...(opts.description === undefined ? {} : { description: opts.description }),
        defaultLimit: {
          type: 'REQUESTCOUNTLIMIT',
          requestCount: { timeUnit: opts.per, unitTime: count(opts.unitTime, '--unit-time'), requestCount: count(opts.requests, '--requests') },
        },
        ...(opts.burst === undefined ? {} : { rateLimitCount: count(opts.burst, '--burst'), rateLimitTimeUnit: opts.burstPer }),
        stopOnQuotaReach: opts.stopOnQuota,
      };
      return admin(opts, async (s) => {
        const plan = expectAnswer(opts, await adminCall(s, 'POST', POLICIES, { json: body }), 201, 'the plan') as PolicyDto;
        if (opts.json) return printJson(plan);
        return out(
          `Added business plan ${printable(plan.policyName)}: ${limitText(plan)}${plan.rateLimitCount > 0 ? `, burst ${plan.rateLimitCount}/${plan.rateLimitTimeUnit ?? '?'}` : ''}${plan.stopOnQuotaReach ? '' : ', over quota counted only'}\n`,
        );
      });
    });

  adminOptions(cmd.command('remove'))
    .description('Remove a custom business plan; refused while an API offers it or a subscription uses it')
    .argument('<name>', 'plan name (see plan list)')
    .action((name: string, opts: AdminOptions) =>
      admin(opts, async (s) => {
        expectAnswer(opts, await adminCall(s, 'DELETE', `${POLICIES}/${segment(name, 'the plan name')}`), 200, 'the removal');
        if (opts.json) return printJson({ policyName: name, removed: true });
        return out(`Removed business plan ${printable(name)}\n`);
      }),
    );
  return cmd;
}
