/**
 * One-time state every worker expects to find: database schema, signing keys, cookie and TLS
 * ticket keys, first scopes, and in sandbox mode the development CA and server certificate.
 * Idempotent. The cluster primary runs it before forking so workers never race to create them;
 * it deliberately loads neither the HTTP stack nor oidc-provider, to keep the primary small.
 */
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Config } from './config/schema.ts';
import type { Logger } from './logger.ts';
import { openStorage } from './storage/index.ts';
import { initializeKeyManagerState } from './oauth/state.ts';
import { ensureSandboxPki } from './tls/sandbox-pki.ts';

export async function prepareSharedState(config: Config, logger: Logger): Promise<void> {
  const { dataDir, truststoreDir } = config.derived;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 2, busyTimeoutMs: config.database.busy_timeout });
  try {
    await initializeKeyManagerState(storage, config);
    await storage.meta.setIfAbsent('tls_ticket_keys', randomBytes(48).toString('base64'));
    if (!config.keystore.tls.cert_file) {
      const pki = await ensureSandboxPki({ dataDir, truststoreDir, hostname: config.server.hostname });
      if (pki.created) logger.info({ dir: `${dataDir}/pki` }, 'sandbox: generated a development CA and server certificate');
    }
  } finally {
    await storage.close();
  }
}
