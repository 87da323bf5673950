/**
 * Which socket peers are the configured proxies (`[apimgt.mutual_ssl] trusted_proxies`: exact
 * addresses or CIDR ranges). Only they may speak for the client: the client-certificate header,
 * X-Forwarded-*.
 */
import { BlockList, isIP } from 'node:net';

/** A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; match them against IPv4 entries. */
export function normalisePeer(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** Why an entry is not an address or CIDR range, or undefined when it is one. */
export function proxyEntryError(entry: string): string | undefined {
  const [rawAddress, prefix, extra] = entry.trim().split('/');
  const family = isIP(normalisePeer(rawAddress ?? ''));
  if (!family || extra !== undefined) return `"${entry}" is not an IP address or CIDR range`;
  if (prefix !== undefined && (!/^\d+$/.test(prefix) || Number(prefix) > (family === 4 ? 32 : 128))) {
    return `"${entry}" has an invalid prefix length`;
  }
  return undefined;
}

/**
 * Builds the matcher once. Invalid entries throw here, at startup, rather than silently trusting
 * nobody (or everybody) later.
 */
export function createPeerMatcher(entries: readonly string[]): (address: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const error = proxyEntryError(entry);
    if (error) throw new TypeError(`trusted_proxies: ${error}`);
    const [rawAddress, prefix] = entry.trim().split('/');
    const address = normalisePeer(rawAddress!);
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (remoteAddress) => {
    if (!remoteAddress) return false;
    const address = normalisePeer(remoteAddress);
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}
