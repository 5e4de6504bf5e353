/** The parts of the agent's workload certificate a stream presents (the `WorkloadCertificate` the agent holds). */
export interface ClientCertificateSource {
  spiffeId: string;
  /** The leaf followed by its issuers, PEM. */
  certChainPem: string;
  /** Never logged. */
  keyPem: string;
  notAfterMs: number;
}

/** What the stream's TLS client presents: `ws`'s `cert` and `key` options. */
export interface ClientCertificate {
  cert: string;
  key: string;
  spiffeId: string;
}

/**
 * The client certificate a stream to `url` presents, if any: the agent's
 * workload certificate while it is valid by `now`, and only on `wss://`
 * (a plain stream has no handshake to present it in). With none (no
 * certificate yet, an expired one, plain ws), the agent joins with its join
 * credential alone; with one, it still sends the credential, and the control
 * plane prefers the certificate, so that a credential revoked since does
 * not keep a certified agent out.
 */
export function clientCertificate(
  url: string,
  held: ClientCertificateSource | undefined,
  now: number,
): ClientCertificate | undefined {
  if (held === undefined || !url.startsWith('wss://') || now >= held.notAfterMs) return undefined;
  return { cert: held.certChainPem, key: held.keyPem, spiffeId: held.spiffeId };
}
