import type { Routes, ServiceRoutes } from '@meshlet/shared';

/**
 * Service `name` of `routes`, or `undefined` when the table does not hold it.
 * A table's services are a plain object keyed by service name, and a service
 * name is any DNS label: `routes.services[name]` answers
 * `Object.prototype.constructor` for a service named `constructor` that the
 * table does not hold. Every lookup by a name that may not be in the table
 * goes through here.
 */
export function serviceOf(routes: Routes | undefined, name: string): ServiceRoutes | undefined {
  return routes !== undefined && Object.hasOwn(routes.services, name) ? routes.services[name] : undefined;
}
