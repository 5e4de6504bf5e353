import type { AgentConfig, ValidationIssue } from '@meshlet/shared';

/**
 * What the schema cannot say about `service`: an agent acts for one
 * service, so with an instance `service` may only repeat `instance.service`
 * (two different names would leave its credential matching one of them and
 * the operator guessing which); a client-only agent with a per-service
 * credential (`mjc_...`) must name its service, or the control plane
 * refuses its every hello (`no_service`).
 */
export function agentServiceIssues(
  config: Pick<AgentConfig, 'service' | 'instance'> & { controlPlane?: { joinToken?: string | undefined } },
): ValidationIssue[] {
  const { service, instance } = config;
  if (instance === undefined && service === undefined && config.controlPlane?.joinToken?.startsWith('mjc_') === true)
    return [
      {
        path: 'service',
        problem:
          'is not set, but this client-only agent (no instance) joins with a per-service credential, which admits it only for the service it names',
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
