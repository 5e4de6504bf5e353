// What the meshlet paths share, whatever the database: a control plane with
// the policy `{ protocol: tcp, failover: { mode: managed, ... } }` for one
// service, an agent beside each database instance (its check and
// `instance.failover`), the writer's own agent with a dedicated upstream
// port (role primary), and the waits a run needs: `ready()` (the control
// plane publishes the primary with the other instance as a candidate, and a
// request passes through the writer's port) and `leader()` (the published
// primary, once it answers as one). meshlet-path.mjs (PostgreSQL) and
// meshlet-redis-path.mjs (Redis) give the database's half.
import getPort from 'get-port';
import { assertRunning, startMeshletAgent, startMeshletControlPlane } from './meshlet-mesh.mjs';
import { FatalError, waitUntil } from './wait-until.mjs';

/** The check and policy of each variant (the same for every database). */
export const MESHLET_SETTINGS = {
  defaults: { check: {}, failover: {} },
  tuned: {
    check: { intervalMs: 200, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 2 },
    failover: { leaseMs: 1000 },
  },
};

/**
 * Starts the mesh around `nodes` in `ctx` ({ group, dir, log }):
 * `service` (its name), `settings` ('defaults' | 'tuned'), `idOf(node)`
 * (instance id), `instance(node, check)` (the agent's `instance` block
 * given the variant's check settings), `first` (the node that is primary at
 * the start: its agent is started first and published before the others'),
 * `isPrimary(node)` (the database says so), `probe({ host, port })` (one
 * request through the writer's port), `label`, `place` (see pg-pair.mjs).
 */
export async function startManagedMeshlet(
  ctx,
  { service, settings, nodes, idOf, instance, first, isPrimary, probe, label, place },
) {
  const variant = MESHLET_SETTINGS[settings];
  const where = (name) => place?.(name) ?? { host: '127.0.0.1' };
  const cp = await startMeshletControlPlane(ctx, {
    place,
    services: { [service]: { protocol: 'tcp', failover: { mode: 'managed', ...variant.failover } } },
  });
  const failoverState = async () => {
    const r = await cp.api('GET', `/v1/services/${service}/failover`);
    if (r.status !== 200)
      throw new Error(`GET /v1/services/${service}/failover: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const agents = new Map();
  for (const node of nodes) {
    const id = idOf(node);
    const config = { instance: instance(node, variant.check) };
    agents.set(id, await startMeshletAgent(ctx, cp, id, config, { place, node: node.name }));
    if (node === first)
      await waitUntil(
        `${id} to be published as the primary`,
        async () => (await failoverState()).state.primary === id,
        { timeoutMs: 60_000, intervalMs: 100 },
      );
  }
  const writerPort = await getPort();
  const writerHost = where('writer').host;
  const writer = await startMeshletAgent(
    ctx,
    cp,
    'writer',
    { service: 'writer', upstreams: [{ service, port: writerPort, host: writerHost, role: 'primary' }] },
    { place },
  );

  const alive = () => assertRunning([cp.proc, writer.proc, ...[...agents.values()].map((a) => a.proc)]);
  /** The published primary with the other node a candidate, and a request through the writer's port. */
  const ready = () =>
    waitUntil(
      'meshlet to publish the primary with the standby as a candidate, and a request to pass',
      async () => {
        alive();
        const primaries = [];
        for (const n of nodes) if (await isPrimary(n).catch(() => false)) primaries.push(n);
        // Both agents start together: a standby promoted at bootstrap (before the primary's agent reported) is a
        // second primary, which no later state repairs.
        if (primaries.length > 1) throw new FatalError('both instances are primaries: a standby was promoted');
        const [primary] = primaries;
        if (!primary) throw new Error('no instance answers as a primary');
        const other = nodes.find((n) => n !== primary);
        const d = await failoverState();
        if (d.state.primary !== idOf(primary) || !d.state.candidates.includes(idOf(other)))
          throw new Error(`${primary.name} is the primary; the control plane says ${JSON.stringify(d)}`);
        await probe({ host: writerHost, port: writerPort });
        return primary;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
  const start = await ready();
  ctx.log(`${label}: primary ${start.name}, the writer's port ${writerPort}`);

  return {
    cp,
    failoverState,
    agents,
    writerAddress: { host: writerHost, port: writerPort },
    ready,
    /** The node meshlet publishes as primary, once it answers as one. */
    leader: () =>
      waitUntil(
        'meshlet to publish a primary that answers as one',
        async () => {
          alive();
          const { state } = await failoverState();
          const node = nodes.find((n) => idOf(n) === state.primary);
          return node && (await isPrimary(node)) ? node : false;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      ),
  };
}
