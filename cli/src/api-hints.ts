/**
 * The meshctl command that shows what an admin API route lists, for the
 * routes the API's messages point to (`no instance "x"; see GET /v1/instances`).
 */
const COMMAND_OF_ROUTE: Readonly<Record<string, string>> = {
  '/v1/services': 'meshctl get services',
  '/v1/instances': 'meshctl get instances',
  '/v1/agents': 'meshctl get agents',
  '/v1/policies': 'meshctl get policies',
  '/v1/authz': 'meshctl get authz',
  '/v1/events': 'meshctl get events',
  '/v1/cluster': 'meshctl get cluster',
  '/v1/locks': 'meshctl get locks',
  '/v1/elections': 'meshctl get elections',
  '/v1/join-credentials': 'meshctl token list',
  '/v1/ca': 'meshctl ca status',
};

/**
 * Rewrites the admin API's hints for meshctl users: `GET /v1/instances`
 * becomes `meshctl get instances`. The API keeps naming its routes (its
 * users are scripts and other clients); someone at a shell is told the
 * command to type. Routes without a meshctl command stay as they are.
 */
export function meshctlHints(message: string): string {
  return message.replace(/\bGET (\/v1\/[a-z-]+)(?![\w/-])/g, (route, path: string) => COMMAND_OF_ROUTE[path] ?? route);
}
