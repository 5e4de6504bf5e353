import { httpErrorBody, isServiceName, type MeshletHttpError } from '@meshlet/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Subscriptions } from '../control/subscriptions.js';
import { AgentErrors } from '../errors.js';
import type { RouteTable } from '../route/route-table.js';
import { ShardEventStream } from '../sharding/shard-event-stream.js';
import type { ShardMap, ShardOwner } from '../sharding/shard-map.js';
import type { ShardMaps } from '../sharding/shard-maps.js';

/** Most keys one `POST /v1/shards/SERVICE/lookup` takes. */
export const MAX_LOOKUP_KEYS = 10_000;
/** Most keys one event stream follows by name (`?keys=` and `?key=`). */
export const MAX_STREAM_KEYS = 1000;
/** Longest key, in characters: a request key is a header, cookie or query value, all far shorter. */
export const MAX_KEY_LENGTH = 8192;

/** What the shard routes read. */
export interface ShardRouteDeps {
  table: () => RouteTable | undefined;
  maps: ShardMaps;
  /** Subscribes to a service the table lacks and waits for it, as the data path does. */
  subscribe?: Pick<Subscriptions, 'wait'> | undefined;
  /** This agent's own instance id, when it fronts one: event streams tell it the parts it gained and lost. */
  self?: string | undefined;
  /** Between event-stream heartbeats; default 15 s. */
  heartbeatMs?: number;
}

const bad = (message: string, field: string) => ({ err: AgentErrors.BAD_REQUEST(message), extra: { field } });

/**
 * The shard API on the agent's admin listener: `GET /v1/shards/SERVICE`
 * (the whole map), `GET /v1/shards/SERVICE?key=K` (one key's owner), `POST
 * /v1/shards/SERVICE/lookup` (many keys), `GET /v1/shards/SERVICE/events`
 * (server-sent events of ownership moves). A service the agent does not
 * hold is subscribed to and waited for (`controlPlane.subscribeWaitMs`), as
 * a request for it on the data path would be; see docs/coordination.md.
 */
export function registerShardRoutes(app: FastifyInstance, deps: ShardRouteDeps): void {
  const streams = new Set<ShardEventStream>();
  // An event stream never ends by itself: closing the listener would wait for every app to hang up.
  app.addHook('preClose', async () => {
    for (const s of streams) s.close();
  });
  app.get('/v1/shards/:service', async (req, reply) => {
    const query = req.query as Record<string, unknown>;
    if (query.key === undefined) {
      const found = await mapFor(deps, req, reply);
      if (found === undefined) return reply;
      const { map } = found;
      return { service: map.service, ...mapFields(map), ...map.view() };
    }
    const key = oneKey(query.key);
    if (typeof key !== 'string') return send(reply, key.err, key.extra);
    const found = await mapFor(deps, req, reply);
    if (found === undefined) return reply;
    const { map, table } = found;
    // A key the data path refuses gets the data path's answer (range maps: 400 invalid, 404 in no range).
    const refused = map.refuse?.(key);
    if (refused !== undefined) return send(reply, refused.refusal, refused.extra);
    // Spread whole: a provider may add what its kind knows (a range map, the range the key fell in).
    const candidates = map.candidates?.(key, table);
    return {
      service: map.service,
      key,
      ...map.lookup(key),
      routedTo: map.routedTo(key, table),
      ...(candidates === undefined ? {} : { candidates }),
      ...mapFields(map),
    };
  });

  app.post('/v1/shards/:service/lookup', { bodyLimit: 4 * 1024 * 1024 }, async (req, reply) => {
    const keys = lookupKeys(req.body);
    if (!Array.isArray(keys)) return send(reply, keys.err, keys.extra);
    const found = await mapFor(deps, req, reply);
    if (found === undefined) return reply;
    const { map, table } = found;
    const invalid = invalidKey(map, keys, (i) => `keys[${i}]`);
    if (invalid !== undefined) return send(reply, invalid.err, invalid.extra);
    const owners: Array<string | null> = [];
    const hashes: number[] = [];
    const routedTo: Array<string | null> = [];
    const instances: Record<string, ShardOwner> = {};
    for (const key of keys) {
      const l = map.lookup(key);
      owners.push(l.owner?.instanceId ?? null);
      if (l.owner) instances[l.owner.instanceId] = l.owner;
      if (l.hash !== undefined) hashes.push(l.hash);
      routedTo.push(map.routedTo(key, table));
    }
    return {
      service: map.service,
      ...mapFields(map),
      instances,
      owners,
      ...(hashes.length === keys.length ? { hashes } : {}),
      routedTo,
    };
  });

  app.get('/v1/shards/:service/events', async (req, reply) => {
    const keys = streamKeys(req.query as Record<string, unknown>);
    if (!Array.isArray(keys)) return send(reply, keys.err, keys.extra);
    const found = await mapFor(deps, req, reply);
    if (found === undefined) return reply;
    const invalid = invalidKey(found.map, keys, () => 'keys');
    if (invalid !== undefined) return send(reply, invalid.err, invalid.extra);
    reply.hijack();
    // The reader left while the map was made (a large table is built in slices): nothing to follow or clean up.
    if (reply.raw.destroyed) return reply;
    const stream = new ShardEventStream(reply.raw, {
      service: found.map.service,
      maps: deps.maps,
      initial: found.map,
      interest: { self: deps.self, keys },
      ...(deps.heartbeatMs === undefined ? {} : { heartbeatMs: deps.heartbeatMs }),
    });
    stream.start();
    if (stream.closed) return reply;
    streams.add(stream);
    reply.raw.once('close', () => streams.delete(stream));
    return reply;
  });
}

/** The map's identity fields in an answer: `ring` for hash maps (the published ring's version), `map` for others. */
function mapFields(map: ShardMap): Record<string, unknown> {
  const id = { version: map.version, checksum: map.checksum };
  return {
    kind: map.kind,
    ...(map.kind === 'ring_hash' || map.kind === 'maglev' ? { ring: id } : { map: id }),
    tableVersion: map.tableVersion,
  };
}

/** The first of `keys` the map's data path refuses as invalid (a key in no range is not: its owner is `null`). */
function invalidKey(
  map: ShardMap,
  keys: readonly string[],
  field: (i: number) => string,
): { err: MeshletHttpError; extra: Record<string, unknown> } | undefined {
  if (map.refuse === undefined) return undefined;
  for (let i = 0; i < keys.length; i++) {
    const r = map.refuse(keys[i] as string);
    if (r?.why === 'invalid') return { err: r.refusal, extra: { ...r.extra, field: field(i) } };
  }
  return undefined;
}

function send(reply: FastifyReply, err: MeshletHttpError, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(err.statusCode).send(httpErrorBody(err, extra));
}

/**
 * The service's map, or `undefined` once an error is sent (or the client
 * left while the agent waited for the service).
 */
async function mapFor(
  deps: ShardRouteDeps,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<{ map: ShardMap; table: RouteTable } | undefined> {
  const service = (req.params as { service: string }).service;
  if (!isServiceName(service)) {
    send(
      reply,
      AgentErrors.BAD_REQUEST(
        `${JSON.stringify(service.slice(0, 100))} is not a service name: use lower-case letters, digits and "-" (a DNS label)`,
      ),
      { field: 'service' },
    );
    return undefined;
  }
  let table = deps.table();
  if (table !== undefined && table.service(service) === undefined) {
    // The response, not the request: a request's `close` comes once its body is read, its response's only when it is done.
    const wait = deps.subscribe?.wait(service, reply.raw);
    if (wait !== undefined && (await wait) === 'gone') return undefined;
    table = deps.table();
  }
  if (table === undefined) {
    send(
      reply,
      AgentErrors.NO_ROUTING_TABLE(
        'the agent has no routing table yet: it has not reached the control plane and none is persisted; retry once GET /ready answers 200',
      ),
      { service },
    );
    return undefined;
  }
  const svc = table.service(service);
  if (svc === undefined) {
    send(
      reply,
      AgentErrors.UNKNOWN_SERVICE(
        `service "${service}" is not in this agent's routing table (version ${table.version}): the agent subscribed to it and the control plane sent none; a service appears once one of its instances has registered (check the name, or declare it in the agent's upstreams)`,
      ),
      { service },
    );
    return undefined;
  }
  const result = await deps.maps.resolve(service, table);
  if (result === undefined) {
    const kind = svc.policy.balancer.kind;
    send(
      reply,
      AgentErrors.NOT_SHARDED(
        `service "${service}" is balanced by ${kind}, which gives keys no owner: set its policy's balancer to {kind: ring_hash} or {kind: maglev}, with a hashKey naming where requests carry the key, or give it a sharding: {kind: range} policy`,
      ),
      { service, balancer: kind },
    );
    return undefined;
  }
  if ('refusal' in result) {
    send(reply, result.refusal, { service });
    return undefined;
  }
  return { map: result.map, table };
}

function keyProblem(key: unknown, field: string): string | undefined {
  if (typeof key !== 'string' || key === '')
    return `${field} must be a non-empty string (a request without a key gets a random pick: it has no owner)`;
  if (key.length > MAX_KEY_LENGTH)
    return `${field} is ${key.length} characters long; keys are at most ${MAX_KEY_LENGTH}`;
  return undefined;
}

function oneKey(value: unknown): string | ReturnType<typeof bad> {
  if (Array.isArray(value))
    return bad(
      `give one key in ?key=, not ${value.length}; for many keys POST /v1/shards/SERVICE/lookup {"keys": [...]}`,
      'key',
    );
  const problem = keyProblem(value, 'query parameter "key"');
  return problem === undefined ? (value as string) : bad(problem, 'key');
}

function lookupKeys(body: unknown): string[] | ReturnType<typeof bad> {
  const keys = (body as { keys?: unknown } | undefined)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    return bad('the body must be {"keys": ["k1", "k2", ...]} with at least one key', 'keys');
  if (keys.length > MAX_LOOKUP_KEYS)
    return bad(`${keys.length} keys in one lookup; send at most ${MAX_LOOKUP_KEYS} per request`, 'keys');
  for (let i = 0; i < keys.length; i++) {
    const problem = keyProblem(keys[i], `keys[${i}]`);
    if (problem !== undefined) return bad(problem, `keys[${i}]`);
  }
  return keys as string[];
}

/** `?keys=a,b,c` (split on commas) and `?key=k` (repeatable, taken whole: for keys with commas). */
function streamKeys(query: Record<string, unknown>): string[] | ReturnType<typeof bad> {
  const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const keys: unknown[] = [];
  for (const v of list(query.keys)) keys.push(...(typeof v === 'string' ? v.split(',') : [v]));
  keys.push(...list(query.key));
  if (keys.length > MAX_STREAM_KEYS)
    return bad(`${keys.length} keys to follow; a stream follows at most ${MAX_STREAM_KEYS} by name`, 'keys');
  for (const k of keys) {
    const problem = keyProblem(k, 'each key of "keys"');
    if (problem !== undefined) return bad(problem, 'keys');
  }
  return [...new Set(keys as string[])];
}
