import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { waitFor } from './wait.js';

/** Options of {@link ProtocolInstance.start}. */
export interface ProtocolInstanceOptions {
  /** The control plane's stream URL. */
  streamUrl: string;
  service: string;
  /** The instance id, also the agent id of its hello. */
  id: string;
  /** A join credential for `service` (see `mintJoinCredential`). */
  joinToken: string;
  weight?: number;
}

/**
 * An instance registered over the real stream protocol by the test process
 * itself, instead of an agent process and a demo app: a hello with the
 * instance (plaintext, no workload certificate), `health: healthy`, a
 * heartbeat every 200 ms, an ACK for every table; and an HTTP server in
 * this process that callers' agents reach directly and that answers its id
 * in `x-instance`, as the demo app does. Cheap enough for a test to run
 * tens of them where each real instance costs two processes; the callers
 * (real agents) cannot tell the difference in their tables.
 */
export class ProtocolInstance {
  readonly id: string;
  readonly server: Server;
  readonly ws: WebSocket;
  /** Requests the HTTP server answered. */
  served = 0;
  #heartbeat: NodeJS.Timeout | undefined;

  private constructor(id: string, server: Server, ws: WebSocket) {
    this.id = id;
    this.server = server;
    this.ws = ws;
  }

  /** Starts the HTTP server, says hello and waits for the first routing table (admitted). */
  static async start(o: ProtocolInstanceOptions): Promise<ProtocolInstance> {
    const server = createServer((req, res) => {
      instance.served++;
      res.writeHead(200, { 'content-type': 'application/json', 'x-instance': o.id });
      res.end(JSON.stringify({ service: o.service, instance: o.id, path: req.url }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const ws = new WebSocket(o.streamUrl);
    const instance = new ProtocolInstance(o.id, server, ws);
    let admitted = false;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; version?: number; nonce?: string };
      if (m.type !== 'routes') return;
      admitted = true;
      instance.#send({ type: 'ack', version: m.version, nonce: m.nonce });
    });
    ws.on('error', () => undefined);
    await once(ws, 'open');
    instance.#send({
      type: 'hello',
      protocolVersion: 1,
      agentId: o.id,
      joinToken: o.joinToken,
      tableVersion: 0,
      instance: { service: o.service, id: o.id, host: '127.0.0.1', port, tier: 0, weight: o.weight ?? 1, labels: {} },
    });
    instance.#send({ type: 'health', status: 'healthy' });
    let seq = 0;
    instance.#heartbeat = setInterval(() => instance.#send({ type: 'heartbeat', seq: seq++ }), 200);
    await waitFor(`instance ${o.id} admitted by the control plane`, () => admitted);
    return instance;
  }

  /** As a `kill -9` of its agent: the stream is cut without a close frame and the app stops answering. */
  async kill(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.ws.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #send(m: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }
}
