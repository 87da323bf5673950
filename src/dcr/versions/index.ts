/** Maps the version path segment (v3.1, v3.2, v3.3, and the seed's v3.3.0 form) to its profile. */
import type { DcrVersionProfile } from './types.ts';
import { v31 } from './v3.1.ts';
import { v32 } from './v3.2.ts';
import { v33 } from './v3.3.ts';

export type { DcrVersionProfile };
export const DCR_VERSION_PROFILES: readonly DcrVersionProfile[] = [v31, v32, v33];

const byPath = new Map<string, DcrVersionProfile>();
for (const p of DCR_VERSION_PROFILES) {
  byPath.set(p.id, p);
  byPath.set(`${p.id}.0`, p);
}

export function versionFromPath(segment: string): DcrVersionProfile | undefined {
  return byPath.get(segment);
}
