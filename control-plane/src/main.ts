#!/usr/bin/env node
import { ControlPlaneConfig, main } from '@meshlet/shared';
import { ControlPlane, checkSecurity } from './control-plane.js';

main({
  name: 'meshlet-control-plane',
  schema: ControlPlaneConfig,
  check: checkSecurity,
  start: async (config, log) => {
    const cp = new ControlPlane(config, log);
    await cp.start();
    return cp;
  },
});
