import type { AgentConfig, ValidationIssue } from '@meshlet/shared';

/**
 * What the schema cannot say about `service`: an agent acts for one
 * service, so with an instance `service` may only repeat `instance.service`
 * (two different names would leave its credential matching one of them and
 * the operator guessing which); a client-only agent with a join token must
 * name its service: with a per-service credential (`mjc_...`) the control
 * plane refuses its every hello otherwise (`no_service`), and with the
 * shared token it would be admitted with no identity to certify, so no
 * certificate, and every mTLS peer out of its reach.
 */
export function agentServiceIssues(
  config: Pick<AgentConfig, 'service' | 'instance'> & { controlPlane?: { joinToken?: string | undefined } },
): ValidationIssue[] {
  const { service, instance } = config;
  const token = config.controlPlane?.joinToken;
  if (instance === undefined && service === undefined && token !== undefined)
    return [
      {
        path: 'service',
        problem: token.startsWith('mjc_')
          ? 'is not set, but this client-only agent (no instance) joins with a per-service credential, which admits it only for the service it names'
          : 'is not set, but this client-only agent (no instance) needs a service to be given a workload certificate for, without which it cannot call any mTLS peer',
        fix: 'set service to the service its credential was minted for ("meshctl token create --service <name>"), or MESHLET_SERVICE',
      },
    ];
  if (service === undefined || instance === undefined || service === instance.service) return [];
  return [
    {
      path: 'service',
      problem: `is ${service} but instance.service is ${instance.service}`,
      fix: 'remove service (an agent with an instance acts for instance.service), or make the two the same',
    },
  ];
}

/**
 * The service a client-only agent names in its hello, so that the control
 * plane can hold it to its join credential; undefined with an instance
 * (the hello's `instance.service` says it) or when none is configured.
 */
export function clientService(config: Pick<AgentConfig, 'service' | 'instance'>): string | undefined {
  return config.instance === undefined ? config.service : undefined;
}
