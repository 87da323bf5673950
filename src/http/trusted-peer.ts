/** Is a socket peer one of the configured proxies (exact addresses or CIDR ranges)? */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const cache = new WeakMap<readonly string[], BlockList>();

function blockListFor(entries: readonly string[]): BlockList {
  let list = cache.get(entries);
  if (!list) {
    list = new BlockList();
    for (const e of entries) {
      const [addr, bits] = e.split('/');
      const type = isIPv6(addr!) ? 'ipv6' : 'ipv4';
      if (bits !== undefined) list.addSubnet(addr!, Number(bits), type);
      else if (isIPv4(addr!) || isIPv6(addr!)) list.addAddress(addr!, type);
    }
    cache.set(entries, list);
  }
  return list;
}

/** IPv4-mapped IPv6 peers (::ffff:10.0.0.1) are compared as IPv4. */
export function normalizePeer(address: string | undefined): string | undefined {
  if (!address) return undefined;
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

export function isTrustedPeer(address: string | undefined, trusted: readonly string[]): boolean {
  if (trusted.length === 0) return false;
  const peer = normalizePeer(address);
  if (!peer) return false;
  return blockListFor(trusted).check(peer, isIPv6(peer) ? 'ipv6' : 'ipv4');
}
