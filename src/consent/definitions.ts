/**
 * The request validators of each API's current definition, read from the catalogue's stored
 * document once per document (by its hash) and kept for the few APIs a bank publishes.
 */
import type { GatewayStore } from '../storage/ports.ts';
import { DocumentSchemas } from './schemas.ts';
import type { ConsentApi } from './service.ts';

/** At most this many definitions are kept compiled; the oldest goes first. */
const MAX_KEPT = 64;

export function definitionSchemas(store: Pick<GatewayStore, 'getDocument'>): (api: ConsentApi) => Promise<DocumentSchemas> {
  const kept = new Map<string, Promise<DocumentSchemas>>();
  return (api) => {
    const key = `${api.id}:${api.documentHash}`;
    let found = kept.get(key);
    if (!found) {
      found = store.getDocument(api.id).then((text) => {
        if (text === undefined) throw new Error('the API has no stored definition');
        return new DocumentSchemas(text);
      });
      // A failed read is tried again by the next call.
      found.catch(() => kept.delete(key));
      kept.set(key, found);
      if (kept.size > MAX_KEPT) kept.delete(kept.keys().next().value!);
    }
    return found;
  };
}
