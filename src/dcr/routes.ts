/**
 * The OB DCR HTTP surface: POST /open-banking/{v3.1|v3.2|v3.3}/register and
 * GET/PUT/DELETE …/register/{ClientId} (also the seed's v3.3.0 form). Bodies are read as raw text
 * (a compact JWS); every response is JSON with no-store caching (the request front adds the
 * x-fapi-interaction-id, as on every route).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClientCertificate } from '../http/client-cert.ts';
import { fail } from '../errors/app-error.ts';
import { requestContext } from '../http/front.ts';
import type { DcrService, DcrRequest, DcrResult } from './service.ts';
import { versionFromPath } from './versions/index.ts';
import { dcrOpenApi, type DcrOpenApiOptions } from './openapi.ts';

const BODY_LIMIT = 64 * 1024;

type Params = { version: string; clientId?: string };

export const OPENAPI_PATH = '/api-docs/open-banking/:version/dcr-openapi.json';

export function dcrRoutes(deps: {
  dcr: DcrService;
  clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
  baseUrl: string;
  openApi?: DcrOpenApiOptions;
}) {
  function toRequest(req: FastifyRequest<{ Params: Params }>): DcrRequest {
    const version = versionFromPath(req.params.version);
    if (!version) throw fail('DCR_VERSION_UNKNOWN', `unknown DCR API version ${req.params.version.slice(0, 16)}; use v3.1, v3.2 or v3.3`);
    return {
      version,
      certificate: deps.clientCert(req.raw),
      contentType: req.headers['content-type'],
      body: req.body,
      authorization: req.headers.authorization,
    };
  }

  function send(reply: FastifyReply, result: DcrResult) {
    reply.code(result.status);
    return result.body === undefined ? reply.send() : reply.type('application/json').send(result.body);
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    // The body is a compact JWS whatever the Content-Type claims; the service checks the media type.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));

    app.addHook('onRequest', async (req, reply) => {
      reply.header('cache-control', 'no-store');
      reply.header('pragma', 'no-cache');
      // The access log names the client a management call is about.
      const clientId = (req.params as Partial<Params>).clientId;
      const ctx = requestContext(reply.raw);
      if (ctx && typeof clientId === 'string') ctx.clientId = clientId.slice(0, 64);
    });

    // Our own description of the API (official OB definitions with FAPI's tighter rules).
    app.get<{ Params: Params }>(OPENAPI_PATH, async (req) => {
      const version = versionFromPath(req.params.version);
      if (!version) throw fail('DCR_VERSION_UNKNOWN', `unknown DCR API version ${req.params.version.slice(0, 16)}; use v3.1, v3.2 or v3.3`);
      return dcrOpenApi(version.id, deps.baseUrl, deps.openApi);
    });

    const base = '/open-banking/:version/register';
    app.post<{ Params: Params }>(base, async (req, reply) => {
      const result = await deps.dcr.register(toRequest(req));
      const ctx = requestContext(reply.raw);
      if (ctx && typeof result.body?.['client_id'] === 'string') ctx.clientId = result.body['client_id'];
      return send(reply, result);
    });
    app.get<{ Params: Params & { clientId: string } }>(`${base}/:clientId`, async (req, reply) =>
      send(reply, await deps.dcr.read(toRequest(req), req.params.clientId)),
    );
    app.put<{ Params: Params & { clientId: string } }>(`${base}/:clientId`, async (req, reply) =>
      send(reply, await deps.dcr.update(toRequest(req), req.params.clientId)),
    );
    app.delete<{ Params: Params & { clientId: string } }>(`${base}/:clientId`, async (req, reply) =>
      send(reply, await deps.dcr.remove(toRequest(req), req.params.clientId)),
    );

    const notAllowed = (allow: string) => async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      toRequest(req);
      reply.header('allow', allow);
      throw fail('METHOD_NOT_ALLOWED', `method ${req.method} is not allowed here; use ${allow}`);
    };
    app.route<{ Params: Params }>({ method: ['GET', 'PUT', 'DELETE', 'PATCH'], url: base, handler: notAllowed('POST') });
    app.route<{ Params: Params }>({ method: ['POST', 'PATCH'], url: `${base}/:clientId`, handler: notAllowed('GET, PUT, DELETE') });
  };
}
