/**
 * Hosts on a real network for a test: each in a network namespace of its own, joined to this one
 * by a veth pair (iproute2; needs root). Every host reaches this namespace's end of the first pair
 * through its default route, so the services the hosts share (links to PostgreSQL and Redis, the
 * key set host) listen there. Where namespaces cannot be made (not root, no `ip`), the hosts are
 * separate processes on loopback addresses instead, and `kind` says so.
 */
import { execFileSync } from 'node:child_process';

export interface Topology {
  readonly kind: 'netns' | 'loopback';
  /** An address of this namespace that every host reaches: shared services listen there. */
  readonly services: string;
  /** Per host: its address, and the command prefix that runs a program inside it. */
  readonly hosts: ReadonlyArray<{ readonly address: string; readonly prefix: readonly string[] }>;
  /** Why namespaces were not used (loopback only). */
  readonly reason?: string;
  /** Removes the namespaces (and with them the veth pairs). */
  close(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });

/** `count` hosts; `tag` (hex) makes names and subnets unique to this run. */
export function makeTopology(count: number, tag: string): Topology {
  const made: string[] = [];
  const close = () => {
    for (const ns of made.splice(0)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  };
  // 10.{200..249}.{host}.0/24: one subnet per host; 1 is this namespace's end, 2 the host's.
  const octet = 200 + (Number.parseInt(tag.slice(0, 4), 16) % 50);
  try {
    const hosts = Array.from({ length: count }, (_, i) => {
      const ns = `odcr-${tag}-${i}`;
      const outer = `odo${tag.slice(0, 8)}${i}`.slice(0, 15);
      const inner = `odi${tag.slice(0, 8)}${i}`.slice(0, 15);
      const [near, far] = [`10.${octet}.${i + 1}.1`, `10.${octet}.${i + 1}.2`];
      ip('netns', 'add', ns);
      made.push(ns);
      ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
      ip('link', 'set', inner, 'netns', ns);
      ip('addr', 'add', `${near}/24`, 'dev', outer);
      ip('link', 'set', outer, 'up');
      ip('-n', ns, 'addr', 'add', `${far}/24`, 'dev', inner);
      ip('-n', ns, 'link', 'set', inner, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'route', 'add', 'default', 'via', near);
      return { address: far, prefix: ['ip', 'netns', 'exec', ns] as const };
    });
    return { kind: 'netns', services: `10.${octet}.1.1`, hosts, close };
  } catch (err) {
    close();
    const reason = ((err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message).split('\n')[0]!;
    return {
      kind: 'loopback',
      services: '127.0.0.1',
      hosts: Array.from({ length: count }, (_, i) => ({ address: `127.0.0.${i + 2}`, prefix: [] })),
      reason,
      close: () => undefined,
    };
  }
}
