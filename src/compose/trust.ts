/**
 * Which CAs the server trusts for client certificates: the database's (the cluster's, changed
 * through the admin API) and the trust store folder's (this host's). The client certificate of a
 * request is judged against them; when they change (the folder here, a notice from another
 * worker or host, or a timer that catches a notice missed while the shared state was down), every
 * listener's TLS context is reloaded.
 */
import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:https';
import type { Config } from '../config/schema.ts';
import { type ClientCertificate, createClientCertificateSource } from '../http/client-cert.ts';
import type { Logger } from '../logger.ts';
import { CHANNELS, type SharedState } from '../shared-state/index.ts';
import type { Storage } from '../storage/ports.ts';
import { createTrustAnchors, type TrustAnchors } from '../tls/trust-anchors.ts';
import { createTruststore } from '../tls/truststore.ts';
import type { Scope } from './scope.ts';
import type { ServerTls } from './tls.ts';

export interface Trust {
  readonly anchors: TrustAnchors;
  /** The CA certificates trusted now. */
  caPems(): readonly string[];
  /** The transport certificate of a request (TLS, or a trusted proxy's header). */
  clientCert(req: IncomingMessage): ClientCertificate | undefined;
  /** Reads the CAs again; when they changed, every followed listener takes them. */
  reload(why: string): Promise<void>;
  /** A listener whose TLS context follows the trusted CAs. */
  follow(server: Server): void;
  /** Reloads on a change in the folder, a notice, or the check interval, until the scope closes. */
  watch(): Promise<void>;
}

export async function openTrust(deps: { config: Config; logger: Logger; storage: Storage; shared: SharedState; tls: ServerTls; scope: Scope }): Promise<Trust> {
  const { config, logger, tls, scope } = deps;
  const truststoreDir = config.derived.truststoreDir;
  const folder = createTruststore(truststoreDir);
  const anchors = createTrustAnchors({ folder, store: deps.storage.trustAnchors });
  let caPems = await anchors.loadCaPems();
  if (caPems.length === 0 && config.server.mode === 'production') {
    logger.warn(
      { truststore_dir: truststoreDir },
      'no CA is trusted for client certificates yet (none in the database, none in the trust store folder): every client certificate is refused until one is added with `opendcr truststore add`',
    );
  }
  const certificates = createClientCertificateSource({
    header: config.apimgt.mutual_ssl.client_certificate_header,
    encoded: config.apimgt.mutual_ssl.client_certificate_encode,
    trustedProxies: config.apimgt.mutual_ssl.trusted_proxies,
    getCaPems: () => caPems,
  });
  const listeners: Server[] = [];
  const reload = async (why: string) => {
    const pems = await anchors.loadCaPems();
    if (pems.join('\n') === caPems.join('\n')) return;
    caPems = pems;
    for (const server of listeners) server.setSecureContext(tls.secure(caPems));
    logger.info({ count: pems.length, why }, 'trust store reloaded');
  };
  const reloadQuietly = (why: string) => {
    reload(why).catch((err: unknown) => logger.warn({ err }, 'could not reload the trust store'));
  };
  return {
    anchors,
    caPems: () => caPems,
    clientCert: (req) => certificates.fromRequest(req),
    reload,
    follow: (server) => {
      listeners.push(server);
    },
    async watch() {
      const watcher = folder.watch(() => reloadQuietly('folder'));
      scope.defer('trust store folder watch', () => watcher.close());
      const timer = setInterval(() => reloadQuietly('timer'), config.oauth.key_rotation.check_interval * 1000);
      timer.unref();
      scope.defer('trust store timer', () => clearInterval(timer));
      const unsubscribe = await deps.shared.subscribe(CHANNELS.trust, () => reloadQuietly('notice'));
      scope.defer('trust store notices', unsubscribe);
    },
  };
}
