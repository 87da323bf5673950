/**
 * Node's compile cache for this installation: every module (ours, after type stripping, and the
 * dependencies) is compiled once and reused by later starts and by every worker process, which
 * roughly halves a warm start (bench/README.md). It lives beside the code it caches, in
 * node_modules/.cache/opendcr, writable by whoever installed the code and nobody else; where that
 * folder cannot be written (a read-only image) the server starts as before. Call it before
 * importing the modules it should cover. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';

export function useCompileCache(): void {
  try {
    enableCompileCache(fileURLToPath(new URL('../node_modules/.cache/opendcr', import.meta.url)));
  } catch {
    // An optimisation only.
  }
}
