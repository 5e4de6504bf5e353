import { type Static, Type } from '@sinclair/typebox';
import { ServiceName } from '../protocol/messages.js';
import { ServicePolicy } from '../protocol/policy.js';
import { LogConfig, listenerSchema } from './common.js';

/** Control-plane configuration: YAML file, then `MESHLET_*` variables, then flags. */
export const ControlPlaneConfig = Type.Object(
  {
    listen: listenerSchema('127.0.0.1', 15010),
    dataDir: Type.String({ minLength: 1, default: './data/control-plane' }),
    heartbeat: Type.Object(
      {
        /** An agent silent for longer than this leaves the routing table. */
        timeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 3000 }),
        checkIntervalMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 250 }),
      },
      { default: {}, additionalProperties: false },
    ),
    push: Type.Object(
      {
        debounceMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 20 }),
        maxDelayMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 500 }),
        /** After a start, wait this long for agents to reconnect before pushing a table built from a partial registry. */
        startupGraceMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 3000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    stream: Type.Object(
      {
        maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 1024 * 1024 }),
        helloTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 5000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    registry: Type.Object(
      {
        /** A disconnected agent is listed this long in `/v1/agents`, then forgotten. */
        forgetAfterMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 300_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    auth: Type.Object(
      {
        /** Agents must present this token in their hello. Required when listening beyond loopback. */
        joinToken: Type.Optional(Type.String({ minLength: 16 })),
        /** Bearer token for the admin routes (`/v1/services`, `/v1/agents`, `/metrics`). Required when listening beyond loopback. */
        adminToken: Type.Optional(Type.String({ minLength: 16 })),
        /** Listen beyond loopback without join and admin tokens (not recommended). */
        allowInsecureRemote: Type.Boolean({ default: false }),
      },
      { default: {}, additionalProperties: false },
    ),
    /**
     * Traffic policy per service (balancer, tiers, retries, timeouts, routes...),
     * shipped to callers in the routing table. A service named here is in the
     * table even before any instance registers.
     */
    services: Type.Record(ServiceName, ServicePolicy, { default: {}, additionalProperties: false }),
    log: LogConfig,
  },
  { additionalProperties: false },
);
/** {@inheritDoc ControlPlaneConfig} */
export type ControlPlaneConfig = Static<typeof ControlPlaneConfig>;
