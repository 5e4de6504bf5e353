import ipaddr from 'ipaddr.js';

/** An IP address in one spelling, and what kind of address it is. */
export interface CanonicalAddress {
  /** IPv4 dotted quad, or IPv6 in its full normalized form; an IPv4-mapped IPv6 address is its IPv4 one. */
  address: string;
  /** `loopback` (all of 127.0.0.0/8, `::1`), `unspecified` (0.0.0.0/8, `::`), or another ipaddr.js range name. */
  range: string;
}

/**
 * Reads an IP literal in any spelling the kernel accepts for a connect
 * (`::ffff:7f00:1`, `0:0::1`, `[::1]`, `127.000.000.001` is not one: it is a
 * name) and gives its one canonical spelling: an IPv4-mapped IPv6 address
 * becomes its IPv4 address, IPv6 is written out in full, so that addresses
 * compare as strings. Undefined for anything that is not an IP literal.
 * ipaddr.js (already a dependency, see `addressKey`) parses; node:net's
 * `isIP` only tells whether a string is one.
 */
export function canonicalAddress(literal: string): CanonicalAddress | undefined {
  const text = literal.startsWith('[') && literal.endsWith(']') ? literal.slice(1, -1) : literal;
  if (!ipaddr.isValid(text)) return undefined;
  let parsed = ipaddr.parse(text);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress())
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  // ipaddr.js accepts IPv4 shorthands (127.1, 0x7f000001); the kernel connects them too, and they are spelled out.
  const address = parsed.kind() === 'ipv6' ? (parsed as ipaddr.IPv6).toNormalizedString() : parsed.toString();
  const range = parsed.kind() === 'ipv4' && address.startsWith('0.') ? 'unspecified' : parsed.range();
  return { address, range };
}
