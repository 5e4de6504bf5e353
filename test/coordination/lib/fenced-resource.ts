import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One write as the fenced resource saw it, in the order it decided them. */
export interface FencedWrite {
  /** Position in the resource's log (0, 1, …). */
  seq: number;
  /** When the resource decided it (ms, the test process's clock). */
  at: number;
  /** Who wrote (the client's id). */
  client: string;
  /** The fencing token the write carried. */
  token: number;
  /** Accepted, or refused as stale (a token below the highest accepted). */
  accepted: boolean;
  /** The highest token accepted before this write. */
  highest: number;
  /** The writer says it wrote after its own lease had ended (a simulated pause). */
  late?: boolean;
}

/**
 * A resource guarded by fencing tokens, as Kleppmann's argument asks of
 * every resource a lock protects: each write carries its holder's token, and
 * the resource refuses a token lower than the highest it has accepted (an
 * equal one is the same holder writing again). Decisions are serial (one
 * event loop) and every one is recorded, accepted or refused, so that the
 * checker can read the whole history afterwards.
 */
export class FencedResource {
  /** Every write decided so far, in order. */
  readonly writes: FencedWrite[] = [];
  #highest = 0;
  readonly #now: () => number;
  #server: Server | undefined;
  #url = '';

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The highest token accepted so far (0: none). */
  get highest(): number {
    return this.#highest;
  }

  /** `http://host:port` once {@link listen} resolved. */
  get url(): string {
    return this.#url;
  }

  /** Decides one write: accepted unless `token` is below the highest accepted. */
  write(client: string, token: number, late = false): FencedWrite {
    const accepted = token >= this.#highest;
    const w: FencedWrite = {
      seq: this.writes.length,
      at: this.#now(),
      client,
      token,
      accepted,
      highest: this.#highest,
      ...(late ? { late } : {}),
    };
    this.writes.push(w);
    if (accepted) this.#highest = token;
    return w;
  }

  /**
   * Serves `POST /write` `{client, token, late?}` on `host:port` (0: any free port):
   * 200 `{accepted: true, highest}`, or 409 `{error: {code: 'STALE_TOKEN', …}, highest}`.
   */
  async listen(host: string, port = 0): Promise<void> {
    const server = createServer((req, res) => void this.#serve(req, res));
    server.keepAliveTimeout = 2_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const a = server.address() as AddressInfo;
    this.#url = `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`;
  }

  /** Stops serving (open connections are dropped). */
  async close(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/write') return answer(404, { error: { code: 'NOT_FOUND' } });
    let raw = '';
    try {
      for await (const chunk of req) {
        raw += String(chunk);
        if (raw.length > 4096) return answer(413, { error: { code: 'TOO_LARGE' } });
      }
    } catch {
      return; // the writer went away mid-body: nothing was decided
    }
    let body: { client?: unknown; token?: unknown; late?: unknown };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return answer(400, { error: { code: 'BAD_JSON', message: 'send {"client": "...", "token": N}' } });
    }
    if (typeof body.client !== 'string' || !Number.isSafeInteger(body.token) || (body.token as number) < 1)
      return answer(400, { error: { code: 'BAD_WRITE', message: 'client: a string; token: an integer from 1' } });
    const w = this.write(body.client, body.token as number, body.late === true);
    if (w.accepted) return answer(200, { accepted: true, highest: this.#highest, seq: w.seq });
    return answer(409, {
      error: { code: 'STALE_TOKEN', message: `token ${w.token} is below ${w.highest}, already accepted` },
      highest: this.#highest,
      seq: w.seq,
    });
  }
}
