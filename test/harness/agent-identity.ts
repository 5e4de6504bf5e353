import { certificateFingerprint } from '@meshlet/shared/identity';
import { getJson } from './http.js';
import type { AgentHandle } from './mesh.js';

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The SHA-256 fingerprints of the certificates in `pem`, in order. */
export const fingerprints = (pem: string): string[] => (pem.match(PEM) ?? []).map((c) => certificateFingerprint(c));

/** An agent's certificate issuer and trust bundle roots (fingerprints), from its admin `/identity`. */
export async function identityOf(agent: AgentHandle): Promise<{ issuer: string; roots: string[] }> {
  const { identity } = await getJson(agent.adminPort, '/identity');
  return {
    issuer: fingerprints(identity.certChainPem as string)[1] as string,
    roots: fingerprints(identity.trustBundlePem),
  };
}
