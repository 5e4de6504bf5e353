import type { ServerResponse } from 'node:http';
import { ownerNameOf, type ShardChange, type ShardInterest, shardChange } from './shard-change.js';
import type { ShardMap } from './shard-map.js';
import type { ShardMaps, ShardWatcher } from './shard-maps.js';
import type { RouteTable } from '../route/route-table.js';

/** A stream whose reader is this far behind (bytes not yet sent) is closed; it reconnects and reads the map again. */
export const MAX_UNSENT_BYTES = 16 * 1024 * 1024;

/** Options of a {@link ShardEventStream}. */
export interface ShardEventStreamOptions {
  service: string;
  maps: ShardMaps;
  /** The map when the stream opens: the first event states it, later ones are changes from it. */
  initial: ShardMap;
  interest: ShardInterest;
  /** A comment line this often keeps proxies and idle timeouts from closing the stream; default 15 s. */
  heartbeatMs?: number;
}

/**
 * One app's `GET /v1/shards/SERVICE/events`: server-sent events on `res`.
 * First `map` (the map it starts from: version, checksum, the parts this
 * agent's own instance owns, the owners of the keys asked about), then a
 * `moved` event (a {@link ShardChange}) on every routing table whose map of
 * the service differs from the one before: which parts of the key space
 * moved from which owner to which, what the agent's own instance gained and
 * lost, and which of the keys asked about changed owner.
 */
export class ShardEventStream {
  readonly #res: ServerResponse;
  readonly #o: ShardEventStreamOptions;
  #last: ShardMap | undefined;
  /** The newest table this stream has stated: an older one's result (a watcher added while one was made) is ignored. */
  #tableVersion: number;
  #stop: (() => void) | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(res: ServerResponse, options: ShardEventStreamOptions) {
    this.#res = res;
    this.#o = options;
    this.#last = options.initial;
    this.#tableVersion = options.initial.tableVersion;
  }

  /** Sends the head and the `map` event, and follows the service until the reader goes away. */
  start(): void {
    const res = this.#res;
    // The reader left while the first map was made: its `close` came already and will not again.
    if (res.destroyed || res.closed) {
      this.close();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    this.#send('map', this.#baseline(this.#o.initial));
    this.#stop = this.#o.maps.watch(
      this.#o.service,
      (result, table) => this.#onTable(result, table),
      this.#o.initial.tableVersion,
    );
    this.#heartbeat = setInterval(() => this.#write(': heartbeat\n\n'), this.#o.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
    res.once('close', () => this.close());
  }

  /** Whether the stream is over (the reader left, or {@link close}). */
  get closed(): boolean {
    return this.#closed;
  }

  #onTable(result: Parameters<ShardWatcher>[0], table: RouteTable): void {
    // Never backwards: a table older than one this stream stated is over already.
    if (table.version < this.#tableVersion) return;
    this.#tableVersion = table.version;
    const map = result !== undefined && 'map' in result ? result.map : undefined;
    const reason =
      map !== undefined
        ? undefined
        : result !== undefined && 'refusal' in result
          ? result.refusal.message
          : table.service(this.#o.service) === undefined
            ? `service "${this.#o.service}" left the routing table (version ${table.version})`
            : `service "${this.#o.service}" is no longer sharded in routing table version ${table.version}`;
    const change = shardChange(this.#o.service, this.#last, map, this.#o.interest, reason);
    this.#last = map;
    if (change !== undefined) this.#send('moved', change);
  }

  /** Stops following the service and ends the response. */
  close(): void {
    this.#closed = true;
    this.#stop?.();
    this.#stop = undefined;
    clearInterval(this.#heartbeat);
    if (!this.#res.writableEnded) this.#res.end();
  }

  #baseline(map: ShardMap): Record<string, unknown> {
    const out: Record<string, unknown> = {
      service: this.#o.service,
      kind: map.kind,
      version: map.version,
      checksum: map.checksum,
      tableVersion: map.tableVersion,
      members: map.members,
    };
    const self = this.#o.interest.self;
    if (self !== undefined && map.members.includes(self))
      out.self = {
        instanceId: self,
        // A range map's subset owner: self is one of its instances.
        ranges: map.view().ranges.filter((r) => (map.membersOf?.(r.owner) ?? [r.owner]).includes(self)),
      };
    if (this.#o.interest.keys.length > 0)
      out.keys = this.#o.interest.keys.map((key) => {
        const l = map.lookup(key);
        return { key, ...(l.hash === undefined ? {} : { hash: l.hash }), owner: ownerNameOf(l) };
      });
    return out;
  }

  #send(event: string, data: Record<string, unknown> | ShardChange): void {
    this.#write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #write(text: string): void {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    if (res.writableLength > MAX_UNSENT_BYTES) {
      // A reader that does not read would make the agent hold every event for it.
      res.destroy();
      return;
    }
    res.write(text);
  }
}
