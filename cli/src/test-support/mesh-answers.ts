/**
 * The answers of a small mesh, as the admin API gives them: two services,
 * two instances (one draining), two agents (one behind with a NACK), a drain
 * event and an API-written policy. Routes for {@link useCannedServer}.
 */
import type { Canned } from './cli-harness.js';

export const SERVICES = {
  tableVersion: 12,
  services: [
    { name: 'hello', healthy: 2, total: 2, version: 11, activeTier: null, failbackAt: null, instances: [] },
    { name: 'orders', healthy: 1, total: 2, version: 12, activeTier: 1, failbackAt: null, instances: [] },
  ],
};
export const INSTANCES = {
  items: [
    { id: 'hello-1', service: 'hello', state: 'healthy', tier: 0, zone: 'eu-1a', reason: 'local health check passing' },
    { id: 'orders-1', service: 'orders', state: 'draining', tier: 0, zone: null, reason: 'drained by an operator' },
  ],
};
export const AGENTS = {
  tableVersion: 12,
  agents: [
    {
      agentId: 'client',
      connected: true,
      replica: null,
      instance: null,
      appliedVersion: 12,
      sentVersion: 12,
      inSync: true,
      nack: null,
    },
    {
      agentId: 'orders-1',
      connected: false,
      replica: 'cp-b',
      instance: { service: 'orders' },
      appliedVersion: 9,
      sentVersion: 10,
      inSync: false,
      nack: { version: 10, code: 'MESHLET_PROTOCOL_SCHEMA', error: 'bad ring', at: 'x' },
    },
  ],
};
export const EVENTS = {
  events: [
    {
      seq: 4,
      time: '2026-11-23T17:40:01.123Z',
      kind: 'drain',
      service: 'orders',
      instance: 'orders-1',
      from: 'healthy',
      to: 'draining',
      reason: 'drained by an operator',
    },
  ],
};
export const POLICIES = {
  items: [{ service: 'orders', source: 'api', resourceVersion: '21', policy: { balancer: { kind: 'least_request' } } }],
};

/** The list and item routes of the mesh above. */
export const MESH_ANSWERS: Record<string, Canned> = {
  'GET /v1/services': { body: SERVICES },
  'GET /v1/services/hello': { body: SERVICES.services[0] },
  'GET /v1/instances': { body: INSTANCES },
  'GET /v1/agents': { body: AGENTS },
  'GET /v1/events': { body: EVENTS },
  'GET /v1/policies': { body: POLICIES },
};
