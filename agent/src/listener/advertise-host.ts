import { networkInterfaces } from 'node:os';

const WILDCARDS = new Set(['0.0.0.0', '::']);

/** `::ffff:10.0.0.1` → `10.0.0.1`, `fe80::1%eth0` → `fe80::1`: how the control plane reads a source address. */
function plainAddress(address: string): string {
  const a = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return mapped ? (mapped[1] as string) : a;
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\./.test(address);
}

/**
 * The address other agents should use for this one's inbound listener:
 * `configured` (`listeners.inbound.advertiseHost`) when set, else the bind
 * host when it is not a wildcard. Bound to a wildcard, the local address of
 * the agent's stream to the control plane (`streamLocal`), since that is
 * the address the control plane sees the agent connect from and accepts
 * (on a dual-stack or multi-homed host the first interface address may be
 * another one, and be refused). A loopback stream says nothing about how
 * other hosts reach the agent: then the first non-internal IPv4 address of
 * the host, as before, else loopback.
 */
export function advertiseHost(bindHost: string, configured: string | undefined, streamLocal?: string): string {
  if (configured) return configured;
  if (!WILDCARDS.has(bindHost)) return bindHost;
  const local = streamLocal === undefined ? undefined : plainAddress(streamLocal);
  if (local && !isLoopback(local) && !WILDCARDS.has(local)) return local;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
