import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StoreRecord } from './lock-checker.js';

/** How a {@link FakeLockAgent} may be broken, for the checker to catch. */
export type FakeFlaw = 'none' | 'grants-held-locks';

/**
 * A stand-in for an agent's lock routes (`POST`/`PUT`/`DELETE
 * /v1/locks/NAME`, `/ready`), in process and in memory, so that the lock
 * clients and the checker can be tried without a mesh: tokens from a
 * counter, leases by the clock, waiting by polling. With a flaw it breaks
 * mutual exclusion the way a lock service without a real compare-and-set
 * would, and the checker must say so.
 */
export class FakeLockAgent {
  /** Token → who the "store" recorded, as etcd would at that revision. */
  readonly records = new Map<number, StoreRecord>();
  #revision = 0;
  #held: { token: number; client: string; until: number } | undefined;
  #server: Server | undefined;
  url = '';
  readonly #flaw: FakeFlaw;

  constructor(flaw: FakeFlaw = 'none') {
    this.#flaw = flaw;
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += String(c)));
      req.on('end', () => void this.#serve(req.method ?? '', req.url ?? '', raw, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.#server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  async #serve(method: string, url: string, raw: string, res: ServerResponse) {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url === '/ready') return send(200, { ready: true });
    const body = (raw ? JSON.parse(raw) : {}) as { ttlMs?: number; waitMs?: number; label?: string; token?: number };
    const free = () => !this.#held || this.#held.until <= Date.now();
    if (method === 'POST') {
      const sent = Date.now();
      const deadline = sent + (body.waitMs ?? 0);
      while (!free() && this.#flaw !== 'grants-held-locks' && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10));
      if (!free() && this.#flaw !== 'grants-held-locks')
        return send(409, { error: { code: 'MESHLET_LOCK_HELD', message: 'held' } });
      // The flaw: a second holder gets the token of the first (no compare-and-set on the key).
      const token = this.#flaw === 'grants-held-locks' && !free() ? (this.#held?.token as number) : ++this.#revision;
      const ttlMs = body.ttlMs ?? 15_000;
      const holder = { agentId: 'fake', instanceId: body.label ?? 'app' };
      this.#held = { token, client: holder.instanceId, until: sent + ttlMs };
      if (!this.records.has(token)) this.records.set(token, { createRevision: token, holder });
      return send(200, { name: 'x', service: 's', token, ttlMs, expiresAt: sent + ttlMs, holder });
    }
    const token = method === 'DELETE' ? Number(new URL(url, this.url).searchParams.get('token')) : body.token;
    if (!this.#held || this.#held.token !== token || free())
      return send(409, { error: { code: 'MESHLET_LOCK_NOT_HELD', message: 'not held' } });
    if (method === 'PUT') {
      const sent = Date.now();
      this.#held.until = sent + (body.ttlMs ?? 15_000);
      return send(200, { token, expiresAt: this.#held.until });
    }
    this.#held = undefined;
    return send(200, { released: true });
  }
}
