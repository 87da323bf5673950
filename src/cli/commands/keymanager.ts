/**
 * `opendcr keymanager add | list | show | enable | disable | remove`: the gateway's key managers
 * (WSO2's Admin portal), through the server's Admin REST API. `add` gives a discovery URL; the
 * server reads the issuer and endpoints from it and checks them before saving anything.
 */
import { Command, Option } from 'commander';
import type { Config } from '../../config/schema.ts';
import { ADMIN, adminCall, adminOptions, expectAnswer, segment, withAdmin, type AdminOptions, type AdminSession } from '../admin-client.ts';
import { CliError, printJson } from '../shared.ts';
import { formatTable, printable } from '../table.ts';

const KEY_MANAGERS = `${ADMIN}/key-managers`;

/** The server's key manager answer (admin-routes.ts keyManagerDto). */
interface KeyManagerDto {
  name: string;
  type: 'default' | 'custom';
  enabled: boolean;
  issuer: string;
  wellKnownEndpoint: string | null;
  endpoints: { jwks: string | null; introspection: string | null; token: string | null; revoke: string | null };
  enableSelfValidationJWT: boolean;
  tokenValidation: Array<{ type: string; value: string }>;
  consumerKeyClaim: string;
  scopesClaim: string;
  additionalProperties: { introspection_client_id?: string; audience?: string; roles_claim?: string };
}

interface AddOptions extends AdminOptions {
  discovery: string;
  issuer?: string;
  validation: 'jwt' | 'introspection';
  introspectionClientId?: string;
  audience?: string;
  reference?: string[];
  jwtIssuer?: string[];
  custom?: string[];
  clientIdClaim?: string;
  scopesClaim?: string;
  rolesClaim?: string;
  disabled?: boolean;
}

const out = (text: string): void => {
  process.stdout.write(text);
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

const describe = (k: KeyManagerDto): string =>
  `${[
    `${printable(k.name)} (${k.type === 'default' ? 'resident' : 'external'}, ${k.enabled ? 'enabled' : 'disabled'})`,
    `  issuer:        ${printable(k.issuer)}`,
    ...(k.wellKnownEndpoint ? [`  discovery:     ${printable(k.wellKnownEndpoint)}`] : []),
    ...(k.type === 'custom'
      ? [
          `  validation:    ${k.enableSelfValidationJWT ? `self-validated JWTs (keys: ${printable(k.endpoints.jwks ?? '-')})` : `introspection at ${printable(k.endpoints.introspection ?? '-')} as ${printable(k.additionalProperties.introspection_client_id ?? '-')}`}`,
          `  owns tokens:   ${k.tokenValidation.map((r) => `${r.type} ${printable(r.value)}`).join('; ') || '-'}`,
          `  claims:        client id ${printable(k.consumerKeyClaim)}, scopes ${printable(k.scopesClaim)}${k.additionalProperties.roles_claim ? `, roles ${printable(k.additionalProperties.roles_claim)}` : ''}`,
          ...(k.additionalProperties.audience ? [`  audience:      ${printable(k.additionalProperties.audience)}`] : []),
        ]
      : []),
  ].join('\n')}\n`;

export function keyManagerCommand(getConfig: () => Config): Command {
  const cmd = new Command('keymanager').description(
    "Manage the gateway's key managers: the resident one and external OAuth/OIDC servers (through the server's Admin REST API)",
  );
  const admin = <T>(opts: AdminOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> => withAdmin(getConfig(), opts, fn);
  const one = async (s: AdminSession, opts: AdminOptions, name: string) =>
    expectAnswer(opts, await adminCall(s, 'GET', `${KEY_MANAGERS}/${segment(name, 'the key manager name')}`), 200, 'the key manager') as KeyManagerDto;

  adminOptions(cmd.command('list'))
    .description('List the key managers')
    .action((opts: AdminOptions) =>
      admin(opts, async (s) => {
        const answer = expectAnswer(opts, await adminCall(s, 'GET', KEY_MANAGERS), 200, 'the list') as { list: KeyManagerDto[] };
        if (opts.json) return printJson(answer);
        const rows = answer.list.map((k) => [
          printable(k.name),
          k.type === 'default' ? 'resident' : 'external',
          k.enabled ? 'yes' : 'no',
          k.type === 'default' ? '-' : k.enableSelfValidationJWT ? 'jwt' : 'introspection',
          printable(k.issuer),
        ]);
        return out(formatTable(['NAME', 'KIND', 'ENABLED', 'VALIDATION', 'ISSUER'], rows));
      }),
    );

  adminOptions(cmd.command('show'))
    .description('Show one key manager: issuer, endpoints, validation, token handling, claim mappings')
    .argument('<name>', 'key manager name (see keymanager list)')
    .action((name: string, opts: AdminOptions) =>
      admin(opts, async (s) => {
        const k = await one(s, opts, name);
        return opts.json ? printJson(k) : out(describe(k));
      }),
    );

  adminOptions(cmd.command('add'))
    .description('Add an external key manager by its discovery URL; the server validates it (issuer, key set or introspection endpoint) before saving')
    .argument('<name>', 'key manager name: 1 to 64 letters, digits, spaces, dots, dashes or underscores')
    .requiredOption(
      '--discovery <url>',
      'its discovery document (https://…/.well-known/openid-configuration); the host must be in [oauth] allowed_outbound_hosts',
    )
    .option('--issuer <iss>', 'expected issuer (checked against the discovery document)')
    .addOption(
      new Option('--validation <how>', 'jwt: self-validate JWTs with its key set; introspection: ask it (RFC 7662)')
        .choices(['jwt', 'introspection'])
        .default('jwt'),
    )
    .option(
      '--introspection-client-id <id>',
      "the gateway's client id at the key manager (introspection); the secret is read from OPENDCR_INTROSPECTION_SECRET",
    )
    .option('--audience <aud>', 'expected aud of its JWTs')
    .option('--reference <regex>', 'owns opaque tokens matching this regular expression (repeatable)', collect)
    .option('--jwt-issuer <iss>', 'owns JWTs with this iss (repeatable; default: its issuer)', collect)
    .option('--custom <claim=value>', 'owns JWTs whose claim has this value (repeatable)', collect)
    .option('--client-id-claim <claim>', 'claim with the client id (default client_id)')
    .option('--scopes-claim <claim>', 'claim with the scopes (default scope)')
    .option('--roles-claim <claim>', 'claim with the TPP roles (AISP, PISP, CBPII)')
    .option('--disabled', 'add it disabled')
    .action((name: string, opts: AddOptions) => {
      const secret = process.env['OPENDCR_INTROSPECTION_SECRET'];
      if (opts.validation === 'introspection' && (!opts.introspectionClientId || !secret)) {
        throw new CliError('introspection needs --introspection-client-id and the secret in OPENDCR_INTROSPECTION_SECRET (never on the command line)', 2);
      }
      const rules = [
        ...(opts.reference ?? []).map((value) => ({ type: 'REFERENCE', value })),
        ...(opts.jwtIssuer ?? []).map((value) => ({ type: 'JWT', value })),
        ...(opts.custom ?? []).map((value) => ({ type: 'CUSTOM', value })),
      ];
      const extra = {
        ...(opts.validation === 'introspection' ? { introspection_client_id: opts.introspectionClientId, introspection_client_secret: secret } : {}),
        ...(opts.audience ? { audience: opts.audience } : {}),
        ...(opts.rolesClaim ? { roles_claim: opts.rolesClaim } : {}),
      };
      const body = {
        name,
        wellKnownEndpoint: opts.discovery,
        enableSelfValidationJWT: opts.validation === 'jwt',
        enabled: opts.disabled !== true,
        ...(opts.issuer ? { issuer: opts.issuer } : {}),
        ...(rules.length ? { tokenValidation: rules } : {}),
        ...(opts.clientIdClaim ? { consumerKeyClaim: opts.clientIdClaim } : {}),
        ...(opts.scopesClaim ? { scopesClaim: opts.scopesClaim } : {}),
        ...(Object.keys(extra).length ? { additionalProperties: extra } : {}),
      };
      return admin(opts, async (s) => {
        const k = expectAnswer(opts, await adminCall(s, 'POST', KEY_MANAGERS, { json: body }), 201, 'the key manager') as KeyManagerDto;
        return opts.json ? printJson(k) : out(`Added key manager\n${describe(k)}`);
      });
    });

  for (const [verb, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    adminOptions(cmd.command(verb))
      .description(enabled ? 'Enable a key manager: it owns its tokens again' : 'Disable a key manager: it owns no tokens (the resident one included)')
      .argument('<name>', 'key manager name')
      .action((name: string, opts: AdminOptions) =>
        admin(opts, async (s) => {
          const k = expectAnswer(
            opts,
            await adminCall(s, 'PUT', `${KEY_MANAGERS}/${segment(name, 'the key manager name')}`, { json: { enabled } }),
            200,
            'the change',
          ) as KeyManagerDto;
          return opts.json ? printJson(k) : out(`Key manager ${printable(k.name)} ${k.enabled ? 'enabled' : 'disabled'}\n`);
        }),
      );
  }

  adminOptions(cmd.command('remove'))
    .description('Remove an external key manager (the resident one can only be disabled)')
    .argument('<name>', 'key manager name')
    .action((name: string, opts: AdminOptions) =>
      admin(opts, async (s) => {
        expectAnswer(opts, await adminCall(s, 'DELETE', `${KEY_MANAGERS}/${segment(name, 'the key manager name')}`), 200, 'the removal');
        return opts.json ? printJson({ name, removed: true }) : out(`Removed key manager ${printable(name)}\n`);
      }),
    );
  return cmd;
}
