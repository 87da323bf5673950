/**
 * `opendcr audit`: the registration audit trail (created, updated, deleted, rejected), newest
 * first; `--by-code` counts the rejections by their stable error code instead.
 */
import { Command, Option } from 'commander';
import type { Config } from '../../config/schema.ts';
import { AUDIT_EVENT_TYPES, AUDIT_LIST_MAX, openStorage } from '../../storage/index.ts';
import type { AuditEvent, AuditEventType } from '../../storage/index.ts';
import { CliError, printJson } from '../shared.ts';
import { formatTable, printable } from '../table.ts';
import { meaningOf } from '../../errors/codes.ts';

interface AuditOptions {
  clientId?: string;
  softwareId?: string;
  event?: AuditEventType;
  code?: string;
  byCode?: boolean;
  since?: string;
  limit: string;
  json?: boolean;
}

const DEFAULT_LIMIT = 50;

// A date, or a date-time with an explicit offset: JavaScript reads an offset-less date-time as
// local time, which would make the same command mean different instants on different hosts.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** `--since` as epoch seconds; CliError (exit 2) when it is not ISO-8601. */
export function parseSince(value: string): number {
  const ms = ISO_8601.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new CliError(`--since must be an ISO-8601 date (2025-01-31) or date-time with offset (2025-01-31T09:00:00Z), got "${value}"`, 2);
  }
  return Math.floor(ms / 1000);
}

/** `--limit` as an integer in 1..AUDIT_LIST_MAX; CliError (exit 2) otherwise. */
export function parseLimit(value: string): number {
  const n = /^\d{1,4}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= AUDIT_LIST_MAX)) {
    throw new CliError(`--limit must be an integer from 1 to ${AUDIT_LIST_MAX}, got "${value}"`, 2);
  }
  return n;
}

const iso = (at: number): string => new Date(at * 1000).toISOString();

// Software and client ids and rejection reasons can come from a TPP's request (see printable).
const cell = (v: string | null): string => (v === null ? '-' : printable(v));

/** Renders events as an aligned table; the reason column is last and unpadded. */
export function formatAuditTable(events: ReadonlyArray<AuditEvent>): string {
  const header = ['TIME', 'EVENT', 'SOFTWARE_ID', 'ORG_ID', 'CLIENT_ID', 'CODE', 'REASON'];
  return formatTable(
    header,
    events.map((e) => [iso(e.at), e.event, cell(e.softwareId), cell(e.orgId), cell(e.clientId), cell(e.code), cell(e.reason)]),
  );
}

/** JSON output: snake_case like the other commands, with both the ISO time and epoch seconds. */
const toJson = (e: AuditEvent & { id: number }) => ({
  id: e.id,
  time: iso(e.at),
  at: e.at,
  event: e.event,
  software_id: e.softwareId,
  org_id: e.orgId,
  client_id: e.clientId,
  code: e.code,
  reason: e.reason,
  version: e.version,
  method: e.method,
});

/** Rejections by code, most frequent first; rows from before codes existed count as "(none)". */
export function formatCodeTable(counts: ReadonlyArray<{ code: string | null; count: number }>): string {
  const rows = counts.map((c) => [String(c.count), c.code === null ? '(none: before codes were recorded)' : cell(c.code), meaningOf(c.code) ?? '']);
  return formatTable(['COUNT', 'CODE', 'MEANING'], rows, [0]);
}

export function auditCommand(getConfig: () => Config): Command {
  return new Command('audit')
    .description('Show the registration audit trail (DCR created, updated, deleted and rejected requests), newest first')
    .option('--client-id <id>', 'only events of this client_id')
    .option('--software-id <id>', 'only events of this software_id')
    .addOption(new Option('--event <type>', 'only events of this type').choices(AUDIT_EVENT_TYPES))
    .option('--code <code>', 'only rejections with this error code (e.g. SSA_SIGNATURE_INVALID; see docs/errors.md)')
    .option('--by-code', 'count rejections by error code (with --since and --software-id), most frequent first')
    .option('--since <time>', 'only events at or after this ISO-8601 date or date-time (e.g. 2025-01-31T09:00:00Z)')
    .option('--limit <n>', `at most this many events (1-${AUDIT_LIST_MAX})`, String(DEFAULT_LIMIT))
    .option('--json', 'print JSON')
    .action(async (opts: AuditOptions) => {
      // Check the arguments before opening the database: a typo should not touch storage.
      const filter = {
        limit: parseLimit(opts.limit),
        ...(opts.since === undefined ? {} : { since: parseSince(opts.since) }),
        ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
        ...(opts.softwareId === undefined ? {} : { softwareId: opts.softwareId }),
        ...(opts.event === undefined ? {} : { event: opts.event }),
        ...(opts.code === undefined ? {} : { code: opts.code }),
      };
      const config = getConfig();
      if (opts.byCode) {
        const storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 1, busyTimeoutMs: config.database.busy_timeout });
        let counts: Array<{ code: string | null; count: number }>;
        try {
          counts = await storage.audit.countRejections({
            ...(filter.since === undefined ? {} : { since: filter.since }),
            ...(filter.softwareId === undefined ? {} : { softwareId: filter.softwareId }),
          });
        } finally {
          await storage.close();
        }
        if (opts.json) return printJson(counts);
        process.stdout.write(counts.length === 0 ? 'No rejections match.\n' : formatCodeTable(counts));
        return undefined;
      }
      const storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 1, busyTimeoutMs: config.database.busy_timeout });
      let events: Array<AuditEvent & { id: number }>;
      try {
        events = await storage.audit.list(filter);
      } finally {
        await storage.close();
      }
      if (opts.json) return printJson(events.map(toJson));
      process.stdout.write(events.length === 0 ? 'No audit events match.\n' : formatAuditTable(events));
      return undefined;
    });
}
