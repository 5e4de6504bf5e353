import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The prefix length by which IPv6 callers are grouped when not configured:
 * a /64 is the smallest network a site or a host is usually given
 * (RFC 6177, RFC 7421), so one caller can pick any of its 2^64 addresses.
 */
export const DEFAULT_IPV6_PREFIX_LENGTH = 64;

/**
 * The key under which a caller is counted by a per-address cap or throttle.
 *
 * - An IPv4 address is its own key (`10.0.0.1`).
 * - An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack
 *   listener sees of an IPv4 caller) is read as the IPv4 address, so one
 *   caller has one key whichever socket family it reached.
 * - Any other IPv6 address is keyed by its first `ipv6PrefixLength` bits,
 *   the rest zeroed, in its RFC 5952 spelling with the length
 *   (`2001:db8:1:2::/64`); the zone (`%eth0`) is dropped, as it names the
 *   local interface, not the caller. 128 keys each address by itself
 *   (still `/128`, so a key is never mistaken for an address).
 * - Anything else (no address: a socket already closed) is returned as it
 *   came, `undefined` as `''`.
 *
 * Node has no call for this: `net.BlockList` answers whether an address is
 * inside subnets given to it beforehand, and `net.SocketAddress` neither
 * masks nor gives the bytes; ipaddr.js (already in the tree, under fastify's
 * proxy-addr) parses every IPv6 spelling, including embedded IPv4.
 *
 * @param ipv6PrefixLength - bits of an IPv6 address that name its caller, 1 to 128
 */
export function addressKey(
  remoteAddress: string | undefined,
  ipv6PrefixLength: number = DEFAULT_IPV6_PREFIX_LENGTH,
): string {
  if (remoteAddress === undefined) return '';
  const address = remoteAddress.replace(/%.*$/, '');
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6) return remoteAddress;
  const parsed = ipaddr.IPv6.parse(address);
  if (parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString();
  const bytes = parsed.toByteArray();
  for (let i = 0; i < 16; i++) {
    const keep = Math.min(8, Math.max(0, ipv6PrefixLength - i * 8));
    bytes[i] = (bytes[i] as number) & ((0xff00 >> keep) & 0xff);
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${ipv6PrefixLength}`;
}
