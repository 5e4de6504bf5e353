import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalAddress } from '@meshlet/shared';

/** A host and port, as a listener binds or a URL names them. */
export interface HostPort {
  host: string;
  port: number;
}

/** How a name is turned into addresses (`dns.lookup`, every address); replaced in tests. */
export type Resolve = (host: string) => Promise<string[]>;

/** Every address `host` resolves to (itself when it is an IP address). */
export const systemResolve: Resolve = async (host) =>
  isIP(host) !== 0 ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * An address in its one spelling (see `canonicalAddress`: `::ffff:7f00:1`,
 * `::ffff:127.0.0.1` and `127.0.0.1` are one address, as are `0:0::1` and
 * `::1`); a string compare of spellings let the first ones past (found by
 * review: the admin listener was reachable as `[::ffff:7f00:1]`).
 */
function plain(address: string): string {
  return canonicalAddress(address)?.address ?? address.toLowerCase();
}

/** The addresses of this host: its interfaces' addresses and the unspecified ones (`0.0.0.0`, `::`). */
export function localAddresses(): Set<string> {
  const out = new Set([plain('0.0.0.0'), plain('::')]);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(plain(a.address));
  return out;
}

/** Whether `address` is this host's, in any spelling: loopback (127.0.0.0/8, `::1`), unspecified (0.0.0.0/8, `::`), or an interface's. */
export function isLocalAddress(address: string, local: ReadonlySet<string>): boolean {
  const c = canonicalAddress(address);
  if (c === undefined) return local.has(address.toLowerCase());
  return c.range === 'loopback' || c.range === 'unspecified' || local.has(c.address);
}

/** Options of {@link PassThroughGuard}. */
export interface PassThroughGuardOptions {
  /**
   * What pass-through never reaches: the agent's own listeners (any address
   * of this host on their ports) and the control plane's stream addresses.
   * Read at every check, so ports bound after start (0: any free port) count.
   */
  forbidden: () => readonly HostPort[];
  resolve?: Resolve;
  /** This host's addresses; default {@link localAddresses}, read at every check. */
  local?: () => ReadonlySet<string>;
}

/** What {@link PassThroughGuard.check} decided: where to connect, or why not. */
export type PassThroughCheck = { ok: true; address: string } | { ok: false; why: string };

/**
 * Decides whether a pass-through (`outboundTrafficPolicy.mode: allow-any`)
 * may reach `host:port`. The outbound listener is then an open forward
 * proxy for whoever reaches it (the local app, on loopback): it must not
 * carry the app, or a URL the app was handed, into the agent's own admin,
 * inbound or outbound listeners (a request to the outbound listener itself
 * would loop, taking a connection per hop) nor to the control plane's
 * stream. The name is resolved once here and the caller connects to the
 * address checked, so a name that resolves elsewhere the second time (DNS
 * rebinding) cannot slip past.
 */
export class PassThroughGuard {
  readonly #o: PassThroughGuardOptions;
  readonly #resolve: Resolve;

  constructor(options: PassThroughGuardOptions) {
    this.#o = options;
    this.#resolve = options.resolve ?? systemResolve;
  }

  /** Where to connect for `host:port`: its first address, unless any of its addresses is forbidden. */
  async check(host: string, port: number): Promise<PassThroughCheck> {
    let addresses: string[];
    try {
      addresses = await this.#resolve(host);
    } catch (e) {
      return { ok: false, why: `"${host}" does not resolve (${(e as Error).message})` };
    }
    const first = addresses[0];
    if (first === undefined) return { ok: false, why: `"${host}" resolves to no address` };
    const local = (this.#o.local ?? localAddresses)();
    for (const f of this.#o.forbidden()) {
      if (f.port !== port) continue;
      let theirs: string[];
      try {
        theirs = await this.#resolve(f.host);
      } catch {
        theirs = [];
      }
      const bindsLocal = theirs.length === 0 || theirs.some((a) => isLocalAddress(a, local));
      for (const a of addresses) {
        if ((bindsLocal && isLocalAddress(a, local)) || theirs.some((t) => plain(t) === plain(a)))
          return {
            ok: false,
            why: `${host}:${port} (${a}) is the agent's own listener or its control plane, which pass-through never reaches`,
          };
      }
    }
    return { ok: true, address: first };
  }
}
