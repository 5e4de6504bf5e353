/** What separates the SPIFFE ID from the instance id in a workload certificate's common name. */
const INSTANCE_SEGMENT = '/instance/';

/**
 * The subject common name of a workload certificate:
 * `spiffe://<trustDomain>/svc/<service>/instance/<instanceId>`.
 *
 * The instance goes in the CN (the one URI SAN is the SPIFFE ID, and
 * X.509-SVID allows only one), in a form that can never be a host name: it
 * holds `:` and `/`, which no DNS name and no URL host has. A TLS client
 * that forgets `spiffeServerCheck` falls back to Node's default
 * `checkServerIdentity`, which matches the CN when a certificate has no DNS
 * SAN; a bare instance id such as `orders` would match a caller dialling the
 * host `orders`. This form matches no host, so such a caller fails closed.
 * It also reads plainly in `openssl x509 -subject`.
 */
export function instanceCommonName(spiffeUri: string, instanceId: string): string {
  return `${spiffeUri}${INSTANCE_SEGMENT}${instanceId}`;
}

/**
 * The instance id a common name of {@link instanceCommonName}'s form names
 * under `spiffeUri`, or undefined when it has another form or another
 * SPIFFE ID.
 */
export function instanceFromCommonName(commonName: string, spiffeUri: string): string | undefined {
  const prefix = `${spiffeUri}${INSTANCE_SEGMENT}`;
  if (!commonName.startsWith(prefix)) return undefined;
  const id = commonName.slice(prefix.length);
  return id.length > 0 && !id.includes('/') ? id : undefined;
}
