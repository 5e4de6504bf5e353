export * from './agent.js';
export * from './balancer/balancer.js';
export * from './balancer/round-robin.js';
export * from './errors.js';
export * from './route/route-table.js';
export * from './identity/workload-key.js';
export * from './identity/workload-identity.js';
export * from './identity/static-workload-identity.js';
