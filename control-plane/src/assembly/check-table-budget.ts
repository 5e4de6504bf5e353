import { type ControlPlaneConfig, tableBudgetProblem, type ValidationIssue } from '@meshlet/shared';

/**
 * The config file's service policies must fit the table budget by
 * themselves (a ring_hash or maglev policy claims its table before any
 * instance registers): else every table would be refused, at start.
 */
export function checkTableBudget(config: ControlPlaneConfig): ValidationIssue[] {
  const services = Object.fromEntries(
    Object.entries(config.services).map(([name, policy]) => [name, { policy, endpoints: [] }]),
  );
  const problem = tableBudgetProblem(services, config.tableBudget);
  return problem === undefined
    ? []
    : [
        {
          path: 'services',
          problem,
          fix: 'lower balancer.maglevTableSize or balancer.ringMinSize of the services in the file, or raise the tableBudget limit named',
        },
      ];
}
