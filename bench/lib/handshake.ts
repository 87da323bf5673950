/**
 * Server CPU per mutual-TLS handshake: `count` sequential connections that present the TPP's
 * transport certificate, first each with a full handshake, then each resuming the session of the
 * previous one (TLS 1.3 session ticket, as an HTTP client's session cache does). The server's CPU
 * time is read from /proc for the primary and every worker, before and after, less its idle rate.
 */
import { connect, type ConnectionOptions } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { treeCpuSeconds } from './proc.ts';
import type { TlsIdentity } from './setup.ts';

export interface HandshakeCost {
  count: number;
  /** Server CPU milliseconds per connection. */
  fullCpuMs: number;
  resumedCpuMs: number;
  /** Share of the "resumed" connections the server really resumed. */
  resumedShare: number;
  /** Client-side connect-to-secure time, median, milliseconds. */
  fullWallMs: number;
  resumedWallMs: number;
  protocol: string;
}

interface Conn {
  reused: boolean;
  wallMs: number;
  session: Buffer | undefined;
  protocol: string;
}

function once(opts: ConnectionOptions): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let wallMs = 0;
    let reused = false;
    let protocol = '';
    let session: Buffer | undefined;
    const socket = connect(opts);
    socket.setTimeout(10_000, () => socket.destroy(new Error('handshake timed out')));
    socket.on('session', (s: Buffer) => {
      session = s;
    });
    socket.once('secureConnect', () => {
      wallMs = performance.now() - t0;
      reused = socket.isSessionReused();
      protocol = String(socket.getProtocol());
      // TLS 1.3 tickets follow the handshake; close once the server has had time to send them.
      setTimeout(() => socket.end(), 5);
    });
    socket.once('error', reject);
    socket.once('close', () => resolve({ reused, wallMs, session, protocol }));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export async function measureHandshakes(opts: { port: number; ca: string; tls: TlsIdentity; serverPid: number; count: number }): Promise<HandshakeCost> {
  const base: ConnectionOptions = { host: '127.0.0.1', port: opts.port, servername: 'localhost', ca: opts.ca, cert: opts.tls.cert, key: opts.tls.key };
  // Idle CPU of the server (timers, the trust store watcher), to subtract.
  const idle0 = treeCpuSeconds(opts.serverPid);
  const tIdle = performance.now();
  await sleep(1000);
  const idlePerMs = (treeCpuSeconds(opts.serverPid) - idle0) / (performance.now() - tIdle);

  const batch = async (resume: boolean) => {
    let session = resume ? (await once(base)).session : undefined;
    const walls: number[] = [];
    let reused = 0;
    let protocol = '';
    await sleep(200);
    const cpu0 = treeCpuSeconds(opts.serverPid);
    const t0 = performance.now();
    for (let i = 0; i < opts.count; i++) {
      const c = await once(resume && session ? { ...base, session } : base);
      walls.push(c.wallMs);
      if (c.reused) reused++;
      if (resume && c.session) session = c.session;
      protocol = c.protocol;
    }
    await sleep(200);
    const cpu = treeCpuSeconds(opts.serverPid) - cpu0 - idlePerMs * (performance.now() - t0);
    return { cpuMs: (Math.max(cpu, 0) * 1000) / opts.count, wallMs: median(walls), reused, protocol };
  };
  const full = await batch(false);
  const resumed = await batch(true);
  return {
    count: opts.count,
    fullCpuMs: full.cpuMs,
    resumedCpuMs: resumed.cpuMs,
    resumedShare: resumed.reused / opts.count,
    fullWallMs: full.wallMs,
    resumedWallMs: resumed.wallMs,
    protocol: full.protocol,
  };
}
