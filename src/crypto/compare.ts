/** Comparing secrets without telling an attacker, by the time it takes, how much of a guess was right. */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time string comparison (both hashed first, so neither length leaks either). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
