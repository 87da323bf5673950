/**
 * The sandbox through the operations API (sandbox mode only; the console's Sandbox page): initialise the
 * sandbox directory, enrol test TPPs, and download a TPP's bundle (transport certificate and key,
 * signing key, SSA, key set, server CA) as a zip, so a TPP developer can start without the CLI.
 * The same operations as `opendcr sandbox` (src/sandbox/service.ts); nothing here in production.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { zipSync, strToU8 } from 'fflate';
import { fail } from '../errors/app-error.ts';
import { errorHandler } from '../http/error-handler.ts';
import type { Config } from '../config/schema.ts';
import type { SandboxStore } from '../sandbox/store.ts';
import type { SandboxTpp } from '../sandbox/tpp.ts';
import { createTpp, initSandbox, SANDBOX_ROLES, sandboxJwksUrl, TPP_FILES } from '../sandbox/service.ts';
import { SANDBOX_PREFIX } from '../sandbox/routes.ts';
import { parseBody } from '../http/parse-body.ts';
import { OPERATIONS_API } from './operations-routes.ts';
import type { ConsoleSession } from './sessions.ts';
import type { RouteGuard } from '../http/guard.ts';

const SANDBOX_API = `${OPERATIONS_API}/sandbox`;

const httpsUri = z
  .string()
  .max(500)
  .refine((v) => {
    try {
      return new URL(v).protocol === 'https:';
    } catch {
      return false;
    }
  }, 'an absolute https URL');
const tppBody = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[^\p{Cc}]+$/u, 'no control characters'),
  roles: z
    .array(z.enum(SANDBOX_ROLES as [string, ...string[]]))
    .min(1)
    .max(3),
  redirectUris: z.array(httpsUri).min(1).max(10),
  environment: z.enum(['sandbox', 'production']).optional(),
});

const tppDto = (t: SandboxTpp) => ({
  softwareId: t.softwareId,
  orgId: t.orgId,
  name: t.name,
  roles: t.roles,
  redirectUris: t.redirectUris,
  environment: t.environment,
  signingKid: t.signingKey.kid,
  softwareJwksEndpoint: t.ssaClaims.software_jwks_endpoint,
});

export function sandboxApiRoutes(deps: {
  config: Config;
  store: SandboxStore;
  /** PEM of the CA of this server's TLS certificate, for the TPP to trust. */
  serverCaPem: string | undefined;
  requireAdmin: RouteGuard;
}) {
  const { config, store } = deps;
  const base = config.derived.baseUrl;
  // This server publishes the sandbox key sets under its own base URL.
  const sandboxBase = `${base}${SANDBOX_PREFIX}`;
  const tppOf = (softwareId: string): SandboxTpp => {
    const tpp = store.tpps().find((t) => t.softwareId === softwareId);
    if (!tpp) throw fail('SANDBOX_TPP_NOT_FOUND', 'no sandbox TPP with that software_id');
    return tpp;
  };

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.addHook('onRequest', deps.requireAdmin);
    app.setErrorHandler(errorHandler('admin'));
    app.addHook('onSend', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
    });

    app.get(SANDBOX_API, async () => {
      const directory = store.directory();
      return {
        initialised: directory !== undefined,
        directory: directory ? { issuer: directory.issuer, kid: directory.kid, jwksUrl: sandboxJwksUrl(sandboxBase) } : null,
        tpps: directory ? store.tpps().map(tppDto) : [],
      };
    });

    app.post(`${SANDBOX_API}/init`, async (_req, reply) => {
      if (store.directory()) throw fail('SANDBOX_EXISTS', 'the sandbox directory exists already');
      const result = await initSandbox(config, sandboxBase);
      return reply.code(201).send({ issuer: result.directory.issuer, kid: result.directory.kid, jwksUrl: sandboxJwksUrl(sandboxBase) });
    });

    app.post(`${SANDBOX_API}/tpps`, async (req, reply) => {
      if (!store.directory()) throw fail('SANDBOX_NOT_INITIALISED', 'there is no sandbox directory yet: initialise it first');
      const b = parseBody(tppBody, req.body, 'SANDBOX_TPP_INVALID');
      const created = await createTpp(config, sandboxBase, {
        name: b.name,
        roles: b.roles,
        redirectUris: b.redirectUris,
        ...(b.environment ? { environment: b.environment } : {}),
      });
      return reply.code(201).send(tppDto(created.tpp));
    });

    // Private keys inside: an administrator's download, never an auditor's.
    app.get<{ Params: { softwareId: string } }>(`${SANDBOX_API}/tpps/:softwareId/bundle.zip`, async (req, reply) => {
      const session = (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession;
      if (session && session.role !== 'admin') throw fail('ADMIN_READ_ONLY', 'the bundle holds private keys: an administrator downloads it');
      const tpp = tppOf(req.params.softwareId.slice(0, 100));
      const ssa = await tpp.mintSsa();
      const files: Record<string, Uint8Array> = {
        [TPP_FILES.tpp]: strToU8(`${JSON.stringify(tpp.toJSON(), null, 2)}\n`),
        [TPP_FILES.transportCert]: strToU8(tpp.transport.certPem),
        [TPP_FILES.transportChain]: strToU8(tpp.transport.chainPem),
        [TPP_FILES.transportKey]: strToU8(tpp.transport.keyPem),
        [TPP_FILES.signingKey]: strToU8(tpp.signingKey.key.export({ type: 'pkcs8', format: 'pem' }) as string),
        [TPP_FILES.softwareJwks]: strToU8(`${JSON.stringify(tpp.softwareJwks, null, 2)}\n`),
        [TPP_FILES.ssa]: strToU8(`${ssa}\n`),
        'README.txt': strToU8(readme(tpp, base, deps.serverCaPem !== undefined)),
        ...(deps.serverCaPem ? { 'server-ca.pem': strToU8(deps.serverCaPem) } : {}),
      };
      const folder = `sandbox-tpp-${tpp.softwareId}`;
      const zip = zipSync(Object.fromEntries(Object.entries(files).map(([name, data]) => [`${folder}/${name}`, data])), { level: 6 });
      return reply.header('content-type', 'application/zip').header('content-disposition', `attachment; filename="${folder}.zip"`).send(Buffer.from(zip));
    });
  };
}

function readme(tpp: SandboxTpp, base: string, withCa: boolean): string {
  return [
    `Sandbox TPP "${tpp.name}"`,
    '',
    `software_id   ${tpp.softwareId}`,
    `org_id        ${tpp.orgId}`,
    `roles         ${tpp.roles.join(', ')}`,
    `signing kid   ${tpp.signingKey.kid} (PS256)`,
    `key set       ${tpp.ssaClaims.software_jwks_endpoint}`,
    '',
    'Files',
    `  ${TPP_FILES.transportCert}, ${TPP_FILES.transportChain}, ${TPP_FILES.transportKey}: the OB transport certificate (mutual TLS) and its key`,
    `  ${TPP_FILES.signingKey}: the request-signing key (PS256)`,
    `  ${TPP_FILES.softwareJwks}: the public key set the sandbox directory publishes for this software`,
    `  ${TPP_FILES.ssa}: a software statement signed by the sandbox directory (minted at download)`,
    `  ${TPP_FILES.tpp}: the whole TPP, keys included, as the server keeps it in {data_dir}/sandbox/tpps/${tpp.softwareId}/`,
    ...(withCa ? ["  server-ca.pem: the CA of the server's TLS certificate (trust it to call the server)"] : []),
    '',
    'Server',
    `  discovery     ${base}/.well-known/openid-configuration`,
    `  registration  ${base}/open-banking/v3.3/register`,
    '',
    'Register: sign a registration request JWT (PS256, kid above, software_statement = ssa.jwt) and POST it',
    'to the registration endpoint with content-type application/jwt, over mutual TLS with the transport',
    `certificate. On the server's machine, \`opendcr tpp register --tpp ${tpp.softwareId}\` does it for you.`,
    '',
  ].join('\n');
}
