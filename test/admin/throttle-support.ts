/** What the password throttle's tests share. */
import { setTimeout as sleep } from 'node:timers/promises';

/** The throttle's counting window (src/admin/password-throttle.ts PASSWORD_WINDOW), seconds. */
const WINDOW = 300;

/**
 * The throttle counts in fixed 5-minute windows: a test that crossed into the next window would
 * see its counts start again. Waits (at most `margin` seconds) until a test of up to `margin`
 * seconds fits in the current window.
 */
export async function awayFromWindowEdge(margin = 30): Promise<void> {
  const left = WINDOW - ((Date.now() / 1000) % WINDOW);
  if (left < margin) await sleep((left + 1) * 1000);
}
