import type { Redis } from 'ioredis';
import type { HealthCheck, ProbeResult } from './health-check.js';
import { probeWithin } from './probe-within.js';

/** Where a {@link RedisHealthCheck} connects. */
export interface RedisCheckTarget {
  host: string;
  port: number;
  /** From the environment variable `passwordEnv` names (`AUTH`); never logged nor put in a probe's detail. */
  password?: string | undefined;
}

/** What a `ROLE` reply says, as a probe's result. */
export function roleResult(reply: unknown, what: string): ProbeResult {
  if (!Array.isArray(reply)) return { ok: false, detail: `${what}: ROLE answered ${typeof reply}` };
  const kind = String(reply[0]);
  if (kind === 'master') {
    const offset = Number(reply[1]);
    const replicas = Array.isArray(reply[2]) ? reply[2].length : 0;
    return {
      ok: true,
      role: 'primary',
      replicationOffset: Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined,
      detail: `${what}: master at offset ${reply[1]} with ${replicas} replica(s)`,
    };
  }
  if (kind === 'slave') {
    // [slave, masterHost, masterPort, state, offset]; the offset is -1 before the first sync.
    const state = String(reply[3]);
    const offset = Number(reply[4]);
    const link = state === 'connected' ? 'link up' : `link ${state} (not streaming from its master)`;
    return {
      ok: true,
      role: 'replica',
      replicationOffset: Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined,
      detail: `${what}: replica of ${reply[1]}:${reply[2]}, ${link}, offset ${reply[4]}`,
    };
  }
  if (kind === 'sentinel') return { ok: false, detail: `${what}: is a Sentinel, not a data server` };
  return { ok: false, detail: `${what}: ROLE answered an unknown role ${kind.slice(0, 40)}` };
}

/**
 * Asks the app (Redis) `ROLE` with ioredis: `master` → `primary` with its
 * replication offset, `slave` → `replica` with its offset (a replica whose
 * link to its master is down is still healthy, serving reads, and the
 * detail says so), `sentinel` → fails. One connection is kept between
 * probes and opened anew after an error or a timeout; ioredis's own
 * reconnecting and offline queue are off, so a probe never waits for more
 * than the check's timeout. `ioredis` is loaded on the first probe.
 */
export class RedisHealthCheck implements HealthCheck {
  readonly #target: RedisCheckTarget;
  readonly #timeoutMs: number;
  #client: Redis | undefined;
  #closed = false;

  constructor(target: RedisCheckTarget, timeoutMs: number) {
    this.#target = target;
    this.#timeoutMs = timeoutMs;
  }

  async probe(): Promise<ProbeResult> {
    const what = `redis ${this.#target.host}:${this.#target.port}`;
    return probeWithin(
      what,
      this.#timeoutMs,
      () => this.#role(),
      (reply) => roleResult(reply, what),
      () => this.#drop(),
    );
  }

  close(): void {
    this.#closed = true;
    this.#drop();
  }

  async #role(): Promise<unknown> {
    const client = this.#client ?? (await this.#connect());
    return client.call('ROLE');
  }

  async #connect(): Promise<Redis> {
    const mod = await import('ioredis');
    const t = this.#target;
    const client = new mod.Redis({
      host: t.host,
      port: t.port,
      ...(t.password !== undefined ? { password: t.password } : {}),
      lazyConnect: true,
      connectTimeout: this.#timeoutMs,
      commandTimeout: this.#timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      retryStrategy: () => null,
      connectionName: 'meshlet-health-check',
    });
    // ioredis rejects a failed connect with "Connection is closed."; the reason comes as an `error` event.
    let reason: Error | undefined;
    client.on('error', (e: Error) => (reason ??= e));
    client.on('end', () => {
      if (this.#client === client) this.#client = undefined;
    });
    this.#client = client;
    try {
      await client.connect();
    } catch (e) {
      if (this.#client === client) this.#client = undefined;
      client.disconnect();
      throw reason ?? e;
    }
    if (this.#closed) {
      this.#drop();
      throw new Error('the check was stopped');
    }
    return client;
  }

  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.disconnect();
  }
}
