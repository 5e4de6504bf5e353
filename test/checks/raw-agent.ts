import { once } from 'node:events';
import WebSocket from 'ws';
import type { ControlPlaneHandle } from '../harness/mesh.js';
import { waitFor } from '../harness/wait.js';

/** A hand-made agent speaking the stream protocol (no agent process): hello, an ACK for every table, heartbeats only when asked. */
export class RawAgent {
  constructor(readonly ws: WebSocket) {}

  static async connect(cp: ControlPlaneHandle, agentId: string, hello: Record<string, unknown>): Promise<RawAgent> {
    const ws = new WebSocket(cp.streamUrl);
    let admitted = false;
    const agent = new RawAgent(ws);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; version?: number; nonce?: string };
      if (m.type !== 'routes') return;
      admitted = true;
      agent.send({ type: 'ack', version: m.version, nonce: m.nonce });
    });
    ws.on('error', () => undefined);
    await once(ws, 'open');
    agent.send({ type: 'hello', protocolVersion: 1, agentId, tableVersion: 0, ...hello });
    await waitFor(`${agentId} admitted`, () => admitted);
    return agent;
  }

  send(m: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }
}
