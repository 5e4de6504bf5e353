import type { AgentSession } from '../stream/agent-session.js';
import type { JoinCredentialStore } from './join-credential-store.js';

/**
 * Closes the streams of agents that joined with a credential that is now
 * revoked: after a revoke through this replica, and after one through
 * another replica reaches this one through the store. An expired credential
 * does not end a live stream (expiry bounds joining, as a certificate's
 * validity bounds a handshake); revocation does. Returns how many went.
 */
export function sendAwayRevoked(sessions: ReadonlyMap<string, AgentSession>, credentials: JoinCredentialStore): number {
  let sent = 0;
  for (const session of [...sessions.values()]) {
    const id = session.credentialId;
    if (id === undefined) continue;
    const record = credentials.get(id);
    // A record gone (a restore from before it existed) counts as revoked too.
    if (record === undefined || record.revokedAt !== undefined) {
      session.revoked();
      sent++;
    }
  }
  return sent;
}
