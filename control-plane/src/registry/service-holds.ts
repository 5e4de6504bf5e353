/** What can hold a service name in the mesh. */
export interface ServiceHoldSources {
  registry: { instancesOf: (service: string) => string[] };
  policies: { item: (service: string) => { source: string } };
  authz: { item: (service: string) => { source: string } };
}

/**
 * What keeps `service` from being forgotten, with the fix, or `undefined`
 * when nothing does: an instance listed (connected or recently gone), a
 * traffic policy or an authorization policy (through the API or in the
 * config file). Used by the expiry sweep and by `DELETE /v1/services/NAME`.
 */
export function serviceHeldBy(service: string, sources: ServiceHoldSources): string | undefined {
  const instances = sources.registry.instancesOf(service);
  if (instances.length > 0) {
    const shown = instances.slice(0, 5).join(', ') + (instances.length > 5 ? ', ...' : '');
    return `${instances.length} instance(s) listed (${shown}): stop them; a stopped instance leaves the listing registry.forgetAfterMs after it disconnects (see GET /v1/instances)`;
  }
  const policy = sources.policies.item(service).source;
  if (policy === 'api')
    return `a policy: delete it first (meshctl delete policy ${service}, or DELETE /v1/policies/${service})`;
  if (policy === 'config') return 'a policy in the config file: remove it from services in the file and restart';
  const authz = sources.authz.item(service).source;
  if (authz === 'api')
    return `an authorization policy: delete it first (meshctl delete authz ${service}, or DELETE /v1/authz/${service})`;
  if (authz === 'config')
    return 'an authorization policy in the config file: remove it from authz in the file and restart';
  return undefined;
}
