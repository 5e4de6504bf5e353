import type { AddressInfo } from 'node:net';
import { createLogger } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { createAdminServer } from '../../admin/admin-server.js';
import type { Coordination } from '../coordination.js';
import { CoordStandIn } from './coord-stand-in.js';

/** A real admin listener serving the app's coordination routes, the control plane played by a {@link CoordStandIn}. */
export interface CoordAdmin {
  standIn: CoordStandIn;
  app: FastifyInstance;
  port: number;
  coordination: Coordination;
}

/** Starts an admin listener on `host` (port 0) for agent `a1`; close `app` and `standIn` after the test. */
export async function startCoordAdmin(host = '127.0.0.1', maxOpenRequests?: number): Promise<CoordAdmin> {
  const standIn = new CoordStandIn();
  const coordination = standIn.attach('a1', maxOpenRequests === undefined ? {} : { maxOpenRequests });
  const app = createAdminServer(
    {
      agentId: 'a1',
      table: () => undefined,
      listening: () => true,
      controlPlane: () => ({ connected: true, url: 'ws://x', urls: ['ws://x'], lastClose: undefined }),
      appHealth: () => undefined,
      subscriptions: () => ({ declared: [], learned: [] }),
      ringChecksums: () => undefined,
      coordination,
    },
    createLogger('test', 'silent'),
  );
  await app.listen({ host, port: 0 });
  return { standIn, app, port: (app.server.address() as AddressInfo).port, coordination };
}
