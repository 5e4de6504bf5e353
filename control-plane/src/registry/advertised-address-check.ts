import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ValidationIssue } from '@meshlet/shared';

/** Why a registration's advertised address was refused (the `reason` label of `meshlet_cp_registration_refusals_total`). */
export type AddressRefusal = 'address_mismatch' | 'address_not_ip';

/** The verdict on an advertised address: accepted, or refused with a reason and a message naming the fix. */
export type AddressVerdict = { ok: true } | { ok: false; reason: AddressRefusal; message: string };

/** Options of {@link AdvertisedAddressCheck}. */
export interface AdvertisedAddressCheckOptions {
  /** CIDR ranges (`10.0.0.0/8`, `fd00::/8`) inside which any advertised address is accepted, whatever the source (`registry.allowedAddressRanges`). */
  allowedRanges: readonly string[];
  /** This host's own addresses; by default read from its network interfaces on each check. */
  localAddresses?: () => Iterable<string>;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, lower case: one spelling per address. */
export function normalizeAddress(address: string): string {
  const a = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped ? (mapped[1] as string) : a;
}

/** Whether `address` (normalised) is a loopback address, or the name `localhost`. */
export function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address);
}

function hostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address);
  return out;
}

/**
 * Parses CIDR ranges into a {@link BlockList} (Node's own matcher, so no
 * library); throws with the bad entry named. A bare address counts as a
 * single-address range.
 */
export function parseRanges(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [address = '', bits, extra] = range.split('/');
    const family = isIP(address);
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || bits === '')
      throw new Error(
        `registry.allowedAddressRanges: "${range}" is not a CIDR range: write an address and a prefix length, such as 10.0.0.0/8 or fd00::/8`,
      );
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

/** The entries of `registry.allowedAddressRanges` that are not CIDR ranges, as config issues. */
export function addressRangeIssues(ranges: readonly string[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  ranges.forEach((range, i) => {
    try {
      parseRanges([range]);
    } catch {
      issues.push({
        path: `registry.allowedAddressRanges.${i}`,
        problem: `"${range}" is not a CIDR range`,
        fix: 'write an address and a prefix length, such as 10.0.0.0/8 or fd00::/8',
      });
    }
  });
  return issues;
}

/**
 * Decides whether an agent connected from `source` may advertise `host` as
 * its instance's address. Without this, whoever may register an instance
 * could point its callers at any address and port (another host, an
 * agent's admin port), since callers dial what the table says.
 *
 * Accepted, in order:
 * - `host` inside an allowed range (an operator's statement that addresses
 *   there are trusted: NAT, a proxy in front of the control plane);
 * - `host` is the source address itself (IPv4-mapped IPv6 is read as IPv4);
 * - the source is loopback (the agent runs on the control plane's host) and
 *   `host` is loopback or one of this host's own addresses: any process
 *   there can bind those anyway.
 *
 * A host name is refused unless it is `localhost` from a loopback source:
 * what it resolves to is not the registration's to say, and resolving it
 * here would check a different moment than the one callers dial.
 */
export class AdvertisedAddressCheck {
  readonly #allowed: BlockList;
  readonly #local: () => Iterable<string>;

  constructor(options: AdvertisedAddressCheckOptions) {
    this.#allowed = parseRanges(options.allowedRanges);
    this.#local = options.localAddresses ?? hostAddresses;
  }

  /** The verdict on `host`, advertised by an agent whose stream comes from `source`. */
  check(host: string, source: string): AddressVerdict {
    const h = normalizeAddress(host);
    const s = normalizeAddress(source);
    const family = isIP(h);
    if (family !== 0 && this.#allowed.check(h, family === 6 ? 'ipv6' : 'ipv4')) return { ok: true };
    if (h === s) return { ok: true };
    if (isLoopback(s)) {
      if (isLoopback(h)) return { ok: true };
      for (const a of this.#local()) if (normalizeAddress(a) === h) return { ok: true };
    }
    if (family === 0 && h !== 'localhost') {
      return {
        ok: false,
        reason: 'address_not_ip',
        message: `the advertised host "${host}" is a name, not an address: a name's address is not the registration's to say: set listeners.inbound.advertiseHost to the agent's IP address (${s})`,
      };
    }
    return {
      ok: false,
      reason: 'address_mismatch',
      message: `the advertised host ${host} is not the address this agent connects from (${s}): set listeners.inbound.advertiseHost to ${s}, or allow the range of ${host} in the control plane's registry.allowedAddressRanges`,
    };
  }
}
