#!/usr/bin/env node
import { ControlPlaneConfig, main } from '@meshlet/shared';
import { ControlPlane, checkSecurity } from './control-plane.js';
import { checkStore, createStore } from './store/create-store.js';
import { checkIdentity } from './identity/identity-settings.js';
import { checkTableBudget } from './assembly/check-table-budget.js';
import { shardingConfigIssues } from './sharding/sharding-config-issues.js';

main({
  name: 'meshlet-control-plane',
  schema: ControlPlaneConfig,
  check: (config) => [
    ...checkSecurity(config),
    ...checkStore(config),
    ...checkIdentity(config),
    ...checkTableBudget(config),
    ...shardingConfigIssues(config),
  ],
  start: async (config, log) => {
    const cp = new ControlPlane(config, log, createStore(config, log));
    await cp.start();
    return cp;
  },
});
