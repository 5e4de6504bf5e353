import { afterAll } from 'vitest';
import { Scratch } from '../../harness/mesh.js';
import { killAll } from '../../harness/process.js';
import { ChaosMesh } from './chaos-mesh.js';
import { ChaosNet } from './chaos-net.js';

/**
 * What a chaos test file gets: its own network of namespaces, a scratch
 * directory and a {@link ChaosMesh} launcher, made now and taken down
 * after the file (every process killed, then the namespaces and the bridge
 * removed, then the scratch directory).
 */
export function chaosSuite(): { net: ChaosNet; mesh: ChaosMesh; scratch: Scratch } {
  const net = ChaosNet.create();
  const scratch = new Scratch();
  const mesh = new ChaosMesh(scratch);
  afterAll(async () => {
    try {
      await killAll();
    } finally {
      try {
        net.destroy();
      } finally {
        scratch.remove();
      }
    }
  });
  return { net, mesh, scratch };
}
