/**
 * The CA certificates trusted for client (transport) certificates, from two sources: the
 * database (shared by every host on it; what `opendcr truststore add` writes, announced to every
 * worker and host as a change notice) and the trust store folder (per host; for single-host use
 * and configuration management). A running server merges both.
 */
import type { TrustAnchorStore } from '../storage/ports.ts';
import { inspectCa, type Truststore, type TrustedCa } from './truststore.ts';

export type AnchorSource = 'database' | 'folder';

export interface TrustAnchors {
  /** PEMs of every valid CA of both sources (an expired one in the database is skipped). */
  loadCaPems(): Promise<string[]>;
  list(): Promise<Array<TrustedCa & { source: AnchorSource }>>;
  /**
   * Adds a CA (PEM text or a PEM/DER file path) to the database; `added` is false when the same
   * certificate was there already.
   * @throws {TruststoreError} for anything that is not one valid CA certificate.
   */
  add(pemOrPath: string, name?: string): Promise<{ ca: TrustedCa; added: boolean }>;
  /** Removes by name or fingerprint from the database, else from the folder; false when in neither. */
  remove(nameOrFingerprint: string): Promise<AnchorSource | false>;
}

export function createTrustAnchors(deps: { folder: Truststore; store: TrustAnchorStore; now?: () => Date }): TrustAnchors {
  const now = deps.now ?? (() => new Date());
  const fromDatabase = async (): Promise<TrustedCa[]> => {
    const out: TrustedCa[] = [];
    for (const a of await deps.store.list()) {
      try {
        out.push(inspectCa(a.pem, a.name, now()));
      } catch {
        // Expired (or unreadable) since it was added: no longer used, nor listed.
      }
    }
    return out;
  };
  return {
    async loadCaPems() {
      const db = await fromDatabase();
      const seen = new Set(db.map((c) => c.fingerprint256));
      return [
        ...db.map((c) => c.pem),
        ...deps.folder
          .list()
          .filter((c) => !seen.has(c.fingerprint256))
          .map((c) => c.pem),
      ];
    },
    async list() {
      return [
        ...(await fromDatabase()).map((c) => ({ ...c, source: 'database' as const })),
        ...deps.folder.list().map((c) => ({ ...c, source: 'folder' as const })),
      ];
    },
    async add(pemOrPath, name) {
      const ca = inspectCa(pemOrPath, name, now());
      const result = await deps.store.add({ name: ca.name, fingerprint256: ca.fingerprint256, pem: ca.pem, addedAt: Math.floor(now().getTime() / 1000) });
      return { ca, added: result === 'added' };
    },
    async remove(nameOrFingerprint) {
      if (await deps.store.remove(nameOrFingerprint)) return 'database';
      return deps.folder.remove(nameOrFingerprint) ? 'folder' : false;
    },
  };
}
