import type { Hello } from '@meshlet/shared';
import { claimedService, type JoinDecision } from '../join/check-join.js';
import type { CertifiedAgent } from './stream-certificate-auth.js';

/**
 * Decides a hello that came with a valid workload certificate: the
 * certificate is who the agent is, so the hello must claim exactly that
 * workload (its instance's service, or a client-only agent's `service`, is
 * the certificate's service; its instance id, or a client-only agent's agent
 * id, is the certificate's instance), else it is refused (`wrong_service`,
 * `wrong_instance`) rather than judged by its join credential: a certificate
 * taken from `hello` must not open a stream that speaks for `orders`. The
 * hello's join credential is not looked at: an expired or absent one does
 * not matter while the certificate is valid. A certificate issued under a
 * credential since revoked never gets here: `admitHello` ignores it, and the
 * hello's own credential decides.
 */
export function certificateJoin(hello: Hello, certificate: CertifiedAgent): JoinDecision {
  const { service, instanceId, credentialId } = certificate;
  const claimed = claimedService(hello);
  if (claimed.conflict !== undefined) return { ok: false, reason: 'wrong_service', message: claimed.conflict };
  if (claimed.service !== service) {
    const what = claimed.service === undefined ? 'names no service' : `claims ${claimed.service}`;
    return {
      ok: false,
      reason: 'wrong_service',
      message: `client certificate is for service ${service}; the hello ${what}: an agent acts only for its certificate's service`,
    };
  }
  const claimedInstance = hello.instance?.id ?? hello.agentId;
  if (claimedInstance !== instanceId) {
    const what = hello.instance === undefined ? 'agent' : 'instance';
    return {
      ok: false,
      reason: 'wrong_instance',
      message: `client certificate is for instance ${instanceId} of ${service}; the hello is ${what} ${claimedInstance}: present that instance's own certificate`,
    };
  }
  return { ok: true, service, ...(credentialId === undefined ? {} : { credentialId }) };
}
