/** The prefix of the OU by which a workload certificate names the join credential it was first issued under. */
const PREFIX = 'meshlet-credential:';

/**
 * The subject attribute (an OU) that binds a workload certificate to the
 * per-service join credential its agent joined with: a stream that logs in
 * with the certificate is refused once that credential is revoked, so
 * revoking a credential cuts off what it certified too.
 */
export function credentialUnit(credentialId: string): string {
  return PREFIX + credentialId;
}

/** The credential id a certificate subject's OU values name, if any. */
export function credentialOfUnits(units: readonly string[]): string | undefined {
  const unit = units.find((u) => u.startsWith(PREFIX));
  return unit === undefined ? undefined : unit.slice(PREFIX.length);
}
