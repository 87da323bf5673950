/**
 * A cap on the connections one client address may hold open against a listener. Counted on the
 * raw TCP connection, before any TLS work: a connection over the cap is closed at once. Addresses
 * that speak for many clients (trusted load balancers) are exempt. The count is per process; with
 * worker processes each has its own.
 */
import type { Server } from 'node:net';

export interface ConnectionLimitOptions {
  readonly maxPerAddress: number;
  /** True for addresses the cap does not apply to. */
  readonly exempt: (address: string | undefined) => boolean;
  /** Told about refused connections, at most once a minute per address. */
  readonly onRefused?: (address: string, open: number) => void;
}

export interface ConnectionLimiter {
  /** Open connections per address (for tests and metrics). */
  open(address: string): number;
}

const REPORT_EVERY_MS = 60_000;

export function limitConnectionsPerAddress(server: Server, opts: ConnectionLimitOptions): ConnectionLimiter {
  if (!Number.isSafeInteger(opts.maxPerAddress) || opts.maxPerAddress < 1) throw new RangeError('maxPerAddress must be a positive integer');
  const open = new Map<string, number>();
  const reported = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || opts.exempt(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= opts.maxPerAddress) {
      socket.destroy();
      const now = Date.now();
      if ((reported.get(address) ?? 0) + REPORT_EVERY_MS <= now) {
        reported.set(address, now);
        opts.onRefused?.(address, count);
      }
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) {
        open.delete(address);
        reported.delete(address);
      } else {
        open.set(address, left);
      }
    });
  });
  return { open: (address) => open.get(address) ?? 0 };
}
