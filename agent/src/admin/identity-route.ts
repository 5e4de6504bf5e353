import type { FastifyInstance } from 'fastify';
import type { WorkloadIdentity } from '../identity/workload-identity.js';

/**
 * `GET /identity`: the agent's workload certificate as peers see it (its
 * SPIFFE ID, instance, expiry, the chain and the trust bundle, all public),
 * or `{ identity: null }` before the first one. Never the private key.
 */
export function registerIdentityRoute(app: FastifyInstance, identity: WorkloadIdentity): void {
  app.get('/identity', async () => {
    const c = identity.current();
    if (c === undefined) return { identity: null };
    return {
      identity: {
        spiffeId: c.spiffeId,
        trustDomain: c.trustDomain,
        service: c.service,
        instanceId: c.instanceId,
        notAfter: new Date(c.notAfterMs).toISOString(),
        certChainPem: c.certChainPem,
        trustBundlePem: c.trustBundlePem,
      },
    };
  });
}
