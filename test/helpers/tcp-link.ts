/**
 * A network link between servers and a service (PostgreSQL, Redis) that a test can cut and
 * restore: a TCP forwarder. Cut, it drops every open connection and refuses new
 * ones, which is what a server sees when the service stops or the network between them fails;
 * restored, it listens again on the same port. The service itself keeps running for other tests.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpLink {
  /** Port the servers connect to (on the link's address). */
  readonly port: number;
  /** Whether the link forwards now. */
  readonly up: boolean;
  /** Drops every connection and stops accepting new ones. */
  cut(): Promise<void>;
  /** Accepts and forwards again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Forwards `address` (default 127.0.0.1), on a free port, to `target`. */
export async function startTcpLink(target: { host: string; port: number }, address = '127.0.0.1'): Promise<TcpLink> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const listen = async (): Promise<void> => {
    const s = createServer((inbound) => {
      const outbound = connect(target.port, target.host);
      sockets.add(inbound);
      sockets.add(outbound);
      const drop = () => {
        inbound.destroy();
        outbound.destroy();
        sockets.delete(inbound);
        sockets.delete(outbound);
      };
      inbound.on('error', drop).on('close', drop);
      outbound.on('error', drop).on('close', drop);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, address, () => resolve());
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    get up() {
      return server !== undefined;
    },
    cut: stop,
    async restore() {
      if (!server) await listen();
    },
    close: stop,
  };
}
