import { isIP } from 'node:net';
import type { AgentConfig, Logger, ValidationIssue } from '@meshlet/shared';

/** The stream the agent uses when neither `controlPlane.url` nor `controlPlane.urls` is set. */
export const DEFAULT_CONTROL_PLANE_URL = 'ws://127.0.0.1:15010/v1/stream';

/** Whether `host` (a URL's hostname) only reaches this machine: `localhost`, 127.0.0.0/8, `::1`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/**
 * The `ws://` URLs among `urls` that leave this machine: the join credential
 * would cross the network in the clear to them (and anyone on the path could
 * answer as the control plane).
 */
export function plaintextRemoteUrls(urls: readonly string[]): string[] {
  return urls.filter((u) => {
    try {
      const url = new URL(u);
      return url.protocol === 'ws:' && !isLoopbackHost(url.hostname);
    } catch {
      return false;
    }
  });
}

/**
 * What the schema cannot say about `controlPlane`: `url` and `urls` are
 * alternatives. Both set is refused rather than one silently winning, since
 * an operator who adds `urls` beside an old `url` (or a
 * `MESHLET_CONTROL_PLANE_URL` left in the environment) would otherwise not
 * get the replicas they think they configured. A `ws://` URL beyond
 * loopback is refused unless `allowPlaintextRemote` says the operator means
 * it (a private network they trust; the agent then warns at start).
 */
export function controlPlaneUrlIssues(cp: AgentConfig['controlPlane']): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (cp.url !== undefined && cp.urls !== undefined)
    issues.push({
      path: 'controlPlane.url',
      problem: 'is set together with controlPlane.urls',
      fix: 'set only one of controlPlane.url and controlPlane.urls (put every replica in controlPlane.urls)',
    });
  if (cp.allowPlaintextRemote !== true) {
    const path = cp.urls !== undefined ? 'controlPlane.urls' : 'controlPlane.url';
    for (const u of plaintextRemoteUrls(controlPlaneUrls(cp)))
      issues.push({
        path,
        problem: `${u} is plain ws:// to a control plane that is not on loopback: the join credential and every table would cross the network unencrypted`,
        fix: 'use wss:// (serve the control plane with tls.certFile and tls.keyFile), or set controlPlane.allowPlaintextRemote: true on a network you trust (insecure)',
      });
  }
  return issues;
}

/** The control-plane streams to use, in order: `urls`, else `[url]`, else the default. */
export function controlPlaneUrls(cp: AgentConfig['controlPlane']): string[] {
  return cp.urls !== undefined ? [...cp.urls] : [cp.url ?? DEFAULT_CONTROL_PLANE_URL];
}

/**
 * Says at every start, at warn, that the operator let the join credential
 * cross the network in the clear (`controlPlane.allowPlaintextRemote` with a
 * `ws://` URL beyond loopback), so that it cannot be forgotten.
 */
export function warnPlaintextRemote(cp: AgentConfig['controlPlane'], log: Logger): void {
  const urls = plaintextRemoteUrls(controlPlaneUrls(cp));
  if (urls.length === 0) return;
  log.warn(
    { urls, setting: 'controlPlane.allowPlaintextRemote' },
    'INSECURE: the join credential and routing tables go to a control plane beyond loopback over plain ws://; anyone on the path can read them or answer as the control plane. Use wss://',
  );
}
