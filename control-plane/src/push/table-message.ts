import type { Routes, ServiceRoutes, TrustBundle } from '@meshlet/shared';

/** A routing table message and its JSON text, built once and shared by every agent that gets the same one. */
export interface TableMessage {
  message: Routes;
  text: string;
}

/** One service of the table: its routes and their JSON text, serialised once per change. */
export interface SerialisedService {
  routes: ServiceRoutes;
  text: string;
}

/**
 * Builds a `routes` message, full (no `base`) or a delta on `base`, from
 * services already serialised: the text is joined from their texts rather
 * than serialising the whole table again for every message.
 */
export function tableMessage(o: {
  version: number;
  nonce: string;
  base: number | undefined;
  services: ReadonlyArray<[string, SerialisedService]>;
  removed: readonly string[];
  /** The trust bundle, when the agent lacks it. */
  trust?: TrustBundle | undefined;
}): TableMessage {
  const services: Record<string, ServiceRoutes> = {};
  const parts: string[] = [];
  for (const [name, s] of o.services) {
    services[name] = s.routes;
    parts.push(`${JSON.stringify(name)}:${s.text}`);
  }
  const message: Routes = { type: 'routes', version: o.version, nonce: o.nonce, services };
  let text = `{"type":"routes","version":${o.version},"nonce":${JSON.stringify(o.nonce)}`;
  if (o.base !== undefined) {
    message.baseVersion = o.base;
    text += `,"baseVersion":${o.base}`;
  }
  text += `,"services":{${parts.join(',')}}`;
  if (o.removed.length > 0) {
    message.removed = [...o.removed];
    text += `,"removed":${JSON.stringify(o.removed)}`;
  }
  if (o.trust !== undefined) {
    message.trust = o.trust;
    text += `,"trust":${JSON.stringify(o.trust)}`;
  }
  return { message, text: `${text}}` };
}
