import type { AddressInfo } from 'node:net';
import type { AgentConfig, Logger } from '@meshlet/shared';
import { controlPlaneUrls } from '../control/control-plane-urls.js';
import { type HostPort, PassThroughGuard } from './pass-through-guard.js';
import { PassThrough } from './pass-through.js';

/** One of the agent's listeners, as far as its bound address goes. */
export interface Bound {
  server: { address(): AddressInfo | string | null };
}

/** Where each control-plane URL's stream listens (`ws` 80, `wss` 443 when the URL names no port). */
export function controlPlaneAddresses(cp: AgentConfig['controlPlane']): HostPort[] {
  const out: HostPort[] = [];
  for (const url of controlPlaneUrls(cp)) {
    try {
      const u = new URL(url);
      const port = u.port !== '' ? Number(u.port) : u.protocol === 'wss:' ? 443 : 80;
      out.push({ host: u.hostname.replace(/^\[|\]$/g, ''), port });
    } catch {
      // Refused at start already (controlPlaneUrlIssues).
    }
  }
  return out;
}

/**
 * The outbound listener's pass-through under `outboundTrafficPolicy.mode:
 * allow-any`, or undefined under `registry-only`. It never reaches the
 * agent's own listeners (`listeners`, read at every check, so ports bound as 0
 * count) nor the control plane's stream addresses.
 */
export function agentPassThrough(
  config: AgentConfig,
  listeners: () => ReadonlyArray<Bound | undefined>,
  log: Logger,
): PassThrough | undefined {
  if (config.outboundTrafficPolicy.mode !== 'allow-any') return undefined;
  const cp = controlPlaneAddresses(config.controlPlane);
  const own = (): HostPort[] => {
    const out: HostPort[] = [];
    for (const s of listeners()) {
      const a = s?.server.address();
      if (a !== null && a !== undefined && typeof a !== 'string') out.push({ host: a.address, port: a.port });
    }
    return out;
  };
  const guard = new PassThroughGuard({ forbidden: () => [...own(), ...cp] });
  return new PassThrough({ guard, connectTimeoutMs: config.proxy.connectTimeoutMs, log });
}
