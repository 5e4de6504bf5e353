import type { Logger } from '@meshlet/shared';

/**
 * Warns, once at start, about control-plane URLs whose stream is weaker than
 * the configuration implies: workload certificates (and the roots that come
 * with them) over a plain `ws://` stream to another host, where whoever is on
 * the path can hand the agent roots of their own; or a `controlPlane.caFile`
 * set for a URL that is not `wss://`, so nothing is encrypted anyway.
 */
export function warnInsecureStreams(
  urls: readonly string[],
  setup: { certificates: boolean; ca: boolean },
  log: Logger,
): void {
  if (setup.certificates) {
    for (const url of urls) {
      if (url.startsWith('ws://') && !isLoopbackUrl(url))
        log.warn(
          { url },
          'workload certificates and their trust bundle come over a plain ws:// stream to another host: whoever ' +
            'is on the path can hand this agent roots of their own; use wss:// (controlPlane.caFile) in production',
        );
    }
  }
  if (setup.ca) {
    for (const url of urls) {
      if (!url.startsWith('wss://'))
        log.warn(
          { url },
          'controlPlane.caFile is set but this control-plane URL is not wss://: the stream is not encrypted',
        );
    }
  }
}

/** Whether `url`'s host is a loopback address or `localhost` (a plain stream there never leaves the host). */
function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
