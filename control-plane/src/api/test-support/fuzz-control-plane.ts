import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileValidator, ControlPlaneConfig, createLogger } from '@meshlet/shared';
import { ControlPlane } from '../../control-plane.js';

/** A running control plane for the fuzz tests, and a function that stops it and removes its data. */
export interface FuzzControlPlane {
  port: number;
  stop: () => Promise<void>;
}

/**
 * Starts a whole control plane in process on an ephemeral loopback port, with
 * the file store in a temporary directory, no token (the loopback default)
 * and a silent log.
 */
export async function startFuzzControlPlane(): Promise<FuzzControlPlane> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshlet-cp-fuzz-'));
  const config = compileValidator(ControlPlaneConfig, { useDefaults: true })({ listen: { port: 0 }, dataDir });
  if (!config.ok) throw new Error(JSON.stringify(config.issues));
  const cp = new ControlPlane(config.value, createLogger('fuzz', 'silent'));
  const { port } = await cp.start();
  return {
    port,
    stop: async () => {
      await cp.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
