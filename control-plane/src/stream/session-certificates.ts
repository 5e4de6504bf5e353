import type { Certificate, ErrorMessage, Hello, Identity } from '@meshlet/shared';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Admission } from './admit-hello.js';
import type { AgentSession, SessionContext } from './agent-session.js';
import { CertificateRequests, grantOf, type WorkloadGrant, withCredential } from './certificate-requests.js';

/** What one admitted stream's certificates start from. */
export interface SessionCertificateStart {
  hello: Hello;
  admitted: Extract<Admission, { ok: true }>;
  record: AgentRecord;
  /** The stream authenticated with a valid certificate of its grant (it holds that identity from the start). */
  presented: boolean;
  reply: (message: Certificate | ErrorMessage | Identity) => void;
}

/**
 * The certificate side of an admitted stream: what it may be certified as
 * (its credential's service, its hello's instance, the credential itself,
 * written into its certificates), where each issue is noted (its record,
 * for `/v1/agents`; its issuer counts for a root rotation only once the
 * agent ACKs with it), and who else holds the identity (the first connected
 * agent certified for a service and instance keeps it). Tells the agent its
 * identity at once; says at error when it has none to be certified for.
 */
export function sessionCertificates(ctx: SessionContext, start: SessionCertificateStart): CertificateRequests {
  const { hello, admitted, record } = start;
  const issued = (certificate: NonNullable<AgentRecord['certificate']> & { issuer: string }): void => {
    const { issuer: _issuer, ...held } = certificate;
    record.certificate = held;
  };
  const holderOf = (grant: WorkloadGrant): string | undefined => {
    for (const [agentId, session] of ctx.sessions as ReadonlyMap<string, AgentSession>) {
      const held = agentId === hello.agentId ? undefined : session.certified;
      if (held?.service === grant.service && held.instanceId === grant.instanceId) return agentId;
    }
    return undefined;
  };
  const certificates = new CertificateRequests(
    { ...ctx, issued, holderOf },
    hello.agentId,
    withCredential(grantOf(hello, admitted.service), admitted.credentialId),
    start.reply,
    start.presented,
  );
  const identity = certificates.identity();
  if (identity) start.reply(identity);
  else if (ctx.issuer)
    ctx.log.error(
      { agentId: hello.agentId },
      'admitted an agent with no identity to certify (a client-only agent on the shared token naming no service): it gets no certificate and cannot call any mTLS peer; set service in its config',
    );
  return certificates;
}
