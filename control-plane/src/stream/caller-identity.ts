/**
 * What a calling agent counts as in the callers' quorum: the per-service
 * join credential it was admitted with (`credential/<id>`: `/` is not
 * allowed in agent ids, so the two never collide), else its agent id.
 *
 * The credential is the one thing an agent cannot choose: agent ids and
 * instance ids are what it says in its hello, so one process could open any
 * number of streams under any number of them. Agents admitted with the
 * shared join token or with none have no identity but their agent id (the
 * shared token is documented as insecure for this reason).
 */
export function callerIdentity(agentId: string, credentialId: string | undefined): string {
  return credentialId === undefined ? agentId : `credential/${credentialId}`;
}
