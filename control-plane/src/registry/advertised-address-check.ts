import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ValidationIssue } from '@meshlet/shared';

/** Why a registration's advertised address was refused (the `reason` label of `meshlet_cp_registration_refusals_total`). */
export type AddressRefusal = 'address_mismatch' | 'address_not_ip' | 'source_not_ip';

/** The verdict on an advertised address: accepted, or refused with a reason and a message naming the fix. */
export type AddressVerdict = { ok: true } | { ok: false; reason: AddressRefusal; message: string };

/** Options of {@link AdvertisedAddressCheck}. */
export interface AdvertisedAddressCheckOptions {
  /** CIDR ranges (`10.0.0.0/8`, `fd00::/8`) inside which any advertised address is accepted, whatever the source (`registry.allowedAddressRanges`). */
  allowedRanges: readonly string[];
  /**
   * Whether the control plane's stream listens on loopback only
   * (`listen.host`): only then is a loopback source an agent on this host.
   * Listening beyond loopback, a loopback source may be a same-host proxy
   * (every agent behind it looks like loopback) or any local process.
   */
  listensOnLoopback: boolean;
  /** Accept host names (`registry.allowHostNames`): weaker, a name's address is decided at each caller's lookup. */
  allowHostNames?: boolean;
  /** This host's own addresses; by default read from its network interfaces on each check. */
  localAddresses?: () => Iterable<string>;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, `fe80::1%eth0` → `fe80::1`, lower case: one spelling per address. */
export function normalizeAddress(address: string): string {
  // The zone names the local interface an address is reached through, which differs between the two ends.
  const a = address.toLowerCase().replace(/%.*$/, '');
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
 * A source that is not an IP address is refused first. Then accepted, in
 * order:
 * - `host` inside an allowed range (an operator's statement that addresses
 *   there are trusted: NAT, a proxy in front of the control plane);
 * - from a loopback source: `host` loopback or one of this host's own
 *   addresses, only when the control plane listens on loopback only (then
 *   the agent runs on its host, and any process there can bind those);
 *   listening beyond loopback, a loopback source may be a same-host proxy
 *   in front of every agent, or a local process registering the loopback
 *   address so that remote callers dial their own agent's admin port;
 * - `host` is the source address itself (IPv4-mapped IPv6 is read as IPv4,
 *   an IPv6 zone is ignored), loopback excepted as above.
 *
 * A host name is refused unless `allowHostNames`, or it is `localhost`
 * accepted as loopback: what it resolves to is not the registration's to
 * say, and resolving it here would check a different moment than the one
 * callers dial.
 */
export class AdvertisedAddressCheck {
  readonly #allowed: BlockList;
  readonly #local: () => Iterable<string>;
  readonly #loopbackListen: boolean;
  readonly #names: boolean;

  constructor(options: AdvertisedAddressCheckOptions) {
    this.#allowed = parseRanges(options.allowedRanges);
    this.#local = options.localAddresses ?? hostAddresses;
    this.#loopbackListen = options.listensOnLoopback;
    this.#names = options.allowHostNames === true;
  }

  /** The verdict on `host`, advertised by an agent whose stream comes from `source`. */
  check(host: string, source: string): AddressVerdict {
    const h = normalizeAddress(host);
    const s = normalizeAddress(source);
    if (isIP(s) === 0) {
      return {
        ok: false,
        reason: 'source_not_ip',
        message: `the address this agent connects from is unknown ("${source}"), so the advertised host ${host} cannot be checked: connect again`,
      };
    }
    const family = isIP(h);
    if (family !== 0 && this.#allowed.check(h, family === 6 ? 'ipv6' : 'ipv4')) return { ok: true };
    if (isLoopback(s)) {
      if (this.#loopbackListen && (isLoopback(h) || this.#isOwn(h))) return { ok: true };
      if (isLoopback(h) || this.#isOwn(h)) {
        return {
          ok: false,
          reason: 'address_mismatch',
          message: `the advertised host ${host} is a loopback or own address of the control plane's host, from a loopback connection, while the control plane listens beyond loopback (a same-host proxy or any local process could register it): set listeners.inbound.advertiseHost to the agent's address, or allow ${host} in the control plane's registry.allowedAddressRanges`,
        };
      }
    } else if (h === s) {
      return { ok: true };
    }
    if (family === 0 && h !== 'localhost') {
      if (this.#names) return { ok: true };
      return {
        ok: false,
        reason: 'address_not_ip',
        message: `the advertised host "${host}" is a name, not an address: a name's address is not the registration's to say: set listeners.inbound.advertiseHost to the agent's IP address (${s}), or accept names with the control plane's registry.allowHostNames`,
      };
    }
    return {
      ok: false,
      reason: 'address_mismatch',
      message: `the advertised host ${host} is not the address this agent connects from (${s}): set listeners.inbound.advertiseHost to ${s}, or allow the range of ${host} in the control plane's registry.allowedAddressRanges`,
    };
  }

  #isOwn(h: string): boolean {
    for (const a of this.#local()) if (normalizeAddress(a) === h) return true;
    return false;
  }
}
