import { describe, expect, it } from 'vitest';
import { startGrpcDemoApp } from './harness/grpc-app.js';
import { getJson } from './harness/http.js';
import { withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// `instance.healthCheck.kind: grpc` through real processes: the agent asks the
// gRPC demo app grpc.health.v1.Health/Check over h2c, and the control plane
// sees what it answers, with the reason.

interface InstanceView {
  id: string;
  state: string;
  reason: string;
}

async function greeter(cpPort: number, id: string): Promise<InstanceView | undefined> {
  const s = (await getJson(cpPort, '/v1/services')).services.find((x: { name: string }) => x.name === 'greeter');
  return s?.instances.find((i: InstanceView) => i.id === id);
}

describe('the gRPC health check of a gRPC app', () => {
  const mesh = withMesh();

  it('keeps a SERVING app healthy, takes it out on NOT_SERVING and while it is down, with the reason, and back', async () => {
    const cp = await mesh.controlPlane();
    const app = await startGrpcDemoApp({ instance: 'greeter-1' });
    await mesh.agent({
      agentId: 'greeter-1',
      cp,
      instance: { service: 'greeter', app, healthCheck: { kind: 'grpc', timeoutMs: 1_000 } },
    });
    const state = (want: string) => async () => {
      const i = await greeter(cp.port, 'greeter-1');
      return i?.state === want ? i : undefined;
    };
    await waitFor('greeter-1 to be healthy', state('healthy'));

    await app.setFault('not-serving');
    const notServing = await waitFor('greeter-1 to be unhealthy on NOT_SERVING', state('unhealthy'));
    expect(notServing.reason).toContain('gRPC Health/Check("") answered NOT_SERVING');

    await app.setFault('none');
    await waitFor('greeter-1 to be healthy again', state('healthy'));

    await app.proc.stop('SIGKILL');
    const down = await waitFor('greeter-1 to be unhealthy while its app is down', state('unhealthy'));
    expect(down.reason).toContain('gRPC Health/Check("") failed: ECONNREFUSED');
  });
});
