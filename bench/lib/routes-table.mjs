// The routing table a simulated agent holds, and how a `routes` message
// changes it (docs/protocol.md, shared/src/protocol/messages.ts).
//
// Tables are never mutated: many simulated agents share one parsed message
// (the control plane may send the same bytes to all of them), so a delta
// builds a new service map and a full table is held as received.

/** Code of the NACK that asks the control plane for a full table. */
export const DELTA_BASE_MISMATCH = 'MESHLET_DELTA_BASE_MISMATCH';

/**
 * Applies `msg` (a parsed `routes` message) over `held` (`{ version,
 * services }` or undefined). A message without `baseVersion` is a full table
 * and replaces what is held; one with `baseVersion` is a delta: its
 * `services` replace those of the held table and `removed` are dropped, and
 * it applies only over exactly that version.
 *
 * Returns `{ ok: true, table }` or `{ ok: false, code, error }`.
 */
export function applyRoutes(held, msg) {
  if (msg.baseVersion === undefined) return { ok: true, table: { version: msg.version, services: msg.services ?? {} } };
  if (!held || held.version !== msg.baseVersion) {
    return {
      ok: false,
      code: DELTA_BASE_MISMATCH,
      error: `delta over version ${msg.baseVersion}, but this agent holds ${held ? `version ${held.version}` : 'no table'}`,
    };
  }
  const services = { ...held.services, ...msg.services };
  for (const name of msg.removed ?? []) delete services[name];
  return { ok: true, table: { version: msg.version, services } };
}

/**
 * The health of endpoint `id` of `service` in `table`, as the protocol means
 * it (absent = healthy): 'healthy', 'unhealthy', 'draining', or 'missing'
 * when the table does not list the endpoint (or the service).
 */
export function endpointHealth(table, service, id) {
  const endpoints = table?.services[service]?.endpoints;
  if (!endpoints) return 'missing';
  for (const e of endpoints) if (e.id === id) return e.health ?? 'healthy';
  return 'missing';
}
