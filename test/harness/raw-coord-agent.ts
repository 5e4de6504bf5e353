import { once } from 'node:events';
import WebSocket from 'ws';
import { waitFor } from './wait.js';

/**
 * An agent stream written by hand that asks for locks: it says hello (with
 * an instance of `service`, or none), sends heartbeats, and sends `coord`
 * messages, matching each `coordResult` by id. What a real agent does on its
 * stream, and what a hostile one could send instead.
 */
export class RawCoordAgent {
  readonly messages: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #heartbeats: NodeJS.Timeout | undefined;
  #id = 0;

  private constructor(
    readonly ws: WebSocket,
    readonly id: string,
  ) {
    ws.on('message', (d) => this.messages.push(JSON.parse(d.toString())));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        clearInterval(this.#heartbeats);
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /** Opens a stream to `url` as agent `agentId`, instance `instanceId` of `service` (undefined: a client-only agent). */
  static async open(
    url: string,
    agentId: string,
    service: string | undefined,
    instanceId = `${agentId}-i`,
    extra: Record<string, unknown> = {},
  ): Promise<RawCoordAgent> {
    const agent = new RawCoordAgent(new WebSocket(url), agentId);
    await once(agent.ws, 'open');
    const instance =
      service === undefined
        ? {}
        : { instance: { service, id: instanceId, host: '127.0.0.1', port: 15000, tier: 0, weight: 1, labels: {} } };
    agent.send({ type: 'hello', protocolVersion: 1, tableVersion: 0, agentId, ...instance, ...extra });
    let seq = 0;
    agent.#heartbeats = setInterval(() => agent.send({ type: 'heartbeat', seq: seq++ }), 200);
    await waitFor(`agent ${agentId} admitted`, () => agent.messages.some((m) => m.type === 'routes'));
    return agent;
  }

  send(message: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Sends one `coord` (kind lock unless given) and resolves with its `coordResult`. */
  async ask(request: Record<string, unknown>): Promise<any> {
    const id = ++this.#id;
    this.send({ type: 'coord', id, kind: 'lock', ...request });
    let result: any;
    await waitFor(`the answer to coord ${JSON.stringify(request)}`, () => {
      result = this.messages.find((m) => m.type === 'coordResult' && m.id === id);
      return result !== undefined;
    });
    return result;
  }

  /** The `coordEvent`s received so far. */
  events(): any[] {
    return this.messages.filter((m) => m.type === 'coordEvent');
  }

  /** Waits for a `coordEvent` matching `pred` and returns it. */
  async event(what: string, pred: (e: any) => boolean, timeoutMs = 10_000): Promise<any> {
    let found: any;
    await waitFor(
      what,
      () => {
        found = this.events().find(pred);
        return found !== undefined;
      },
      { timeoutMs },
    );
    return found;
  }

  close(): void {
    clearInterval(this.#heartbeats);
    this.ws.close();
  }

  /** Drops the connection without a close handshake, as a crash or a cut cable would. */
  kill(): void {
    clearInterval(this.#heartbeats);
    this.ws.terminate();
  }
}
