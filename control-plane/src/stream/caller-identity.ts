/**
 * What a calling agent counts as in the callers' quorum: the service of the
 * workload certificate it authenticated its stream with
 * (`certificate/<service>`), else the per-service join credential it was
 * admitted with (`credential/<id>`: `/` is not allowed in agent ids, so
 * these never collide), else its agent id.
 *
 * A certificate counts per service, not per instance: a credential's holder
 * can get certificates for as many instance ids as it likes, and must not
 * become that many callers by reconnecting with them; the replicas of a
 * calling service are one caller on either path.
 *
 * The credential is the one thing an agent cannot choose: agent ids and
 * instance ids are what it says in its hello, so one process could open any
 * number of streams under any number of them. Agents admitted with the
 * shared join token or with none have no identity but their agent id (the
 * shared token is documented as insecure for this reason).
 */
export function callerIdentity(agentId: string, credentialId: string | undefined, certifiedFor?: string): string {
  if (certifiedFor !== undefined) return `certificate/${certifiedFor}`;
  return credentialId === undefined ? agentId : `credential/${credentialId}`;
}
