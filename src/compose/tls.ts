/**
 * The server's TLS: its certificate (the configured files, or in sandbox mode a development CA and
 * certificate generated once in the data folder), the settings every listener shares, and the
 * HTTPS server each listener runs on, with its waits and per-address connection limit bounded.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../config/schema.ts';
import { limitConnectionsPerAddress } from '../http/connection-limits.ts';
import { createPeerMatcher } from '../http/trusted-peer.ts';
import type { Logger } from '../logger.ts';
import type { Storage } from '../storage/ports.ts';
import { ensureSandboxPki } from '../tls/sandbox-pki.ts';

// FAPI 1.0 Advanced §8.5: TLS 1.2 limited to these suites (ECDSA twins for EC server keys); TLS 1.3 as is.
const TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
].join(':');

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export interface ServerTls {
  /** PEM of the CA that signed the server certificate (sandbox mode), for clients to trust. */
  readonly serverCaPem: string | undefined;
  /** The secure context of every listener, with the client CAs trusted now. */
  secure(caPems: readonly string[]): SecureContextOptions;
  /** An HTTPS server for one listener: certificates requested, waits and connections bounded. */
  httpsServer(listener: Listener, caPems: readonly string[]): Server;
}

export async function serverTls(config: Config, logger: Logger, storage: Storage): Promise<ServerTls> {
  const { dataDir, truststoreDir } = config.derived;
  let cert: string;
  let key: string;
  let serverCaPem: string | undefined;
  if (config.keystore.tls.cert_file && config.keystore.tls.key_file) {
    cert = readFileSync(config.keystore.tls.cert_file, 'utf8');
    key = readFileSync(config.keystore.tls.key_file, 'utf8');
  } else {
    const pki = await ensureSandboxPki({ dataDir, truststoreDir, hostname: config.server.hostname });
    if (pki.created) logger.info({ dir: `${dataDir}/pki` }, 'sandbox: generated a development CA and server certificate');
    cert = pki.serverCertPem;
    key = pki.serverKeyPem;
    serverCaPem = pki.caCertPem;
  }
  // Shared ticket keys so a TLS session resumes on any worker or host using the same storage.
  const ticketKeys = Buffer.from(await storage.meta.setIfAbsent('tls_ticket_keys', randomBytes(48).toString('base64')), 'base64');
  const secure = (caPems: readonly string[]): SecureContextOptions => ({
    cert,
    key,
    ca: [...caPems],
    ciphers: TLS12_CIPHERS,
    minVersion: 'TLSv1.2',
    ticketKeys,
  });
  const exempt = createPeerMatcher(config.apimgt.mutual_ssl.trusted_proxies);
  return {
    serverCaPem,
    secure,
    httpsServer(listener, caPems) {
      const created = createHttpsServer(
        {
          ...secure(caPems),
          // Certificates are requested on every connection and checked per route (FAPI mTLS),
          // so a TPP without one still gets a proper OAuth error instead of a TLS alert.
          requestCert: true,
          rejectUnauthorized: false,
          keepAlive: true,
          // Bounded waits (idle and trickling connections once stayed open for minutes):
          // handshake, headers (an idle new connection included), the whole request, idle keep-alive.
          handshakeTimeout: config.server.tls_handshake_timeout * 1000,
          headersTimeout: config.server.headers_timeout * 1000,
          requestTimeout: config.server.request_timeout * 1000,
          keepAliveTimeout: config.server.keep_alive_timeout * 1000,
          // How often Node checks the header and request timeouts (its default, 30 s, would let them overrun by that much).
          connectionsCheckingInterval: 1000,
          sessionTimeout: 300,
        },
        listener,
      );
      limitConnectionsPerAddress(created, {
        maxPerAddress: config.server.max_connections_per_address,
        exempt,
        onRefused: (address, open) =>
          logger.warn({ address, open, limit: config.server.max_connections_per_address }, 'connection refused: too many open connections from one address'),
      });
      return created;
    },
  };
}
