/** What the password throttle's tests share. */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The `[admin] login_window` the throttle's tests set: a day, so that a test almost never starts
 * near the end of a window (where its counts would start again half way) and almost never waits.
 */
export const TEST_LOGIN_WINDOW = 86_400;

/**
 * The throttle counts in fixed windows of `[admin] login_window` seconds: a test that crossed into
 * the next window would see its counts start again. Waits (at most `margin` seconds) until a test
 * of up to `margin` seconds fits in the current window.
 */
export async function awayFromWindowEdge(window = TEST_LOGIN_WINDOW, margin = 30): Promise<void> {
  const left = window - ((Date.now() / 1000) % window);
  if (left < margin) await sleep((left + 1) * 1000);
}
