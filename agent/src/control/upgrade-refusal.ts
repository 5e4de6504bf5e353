import type { ClientRequest, IncomingMessage } from 'node:http';
import type WebSocket from 'ws';

/** Most of a refusal's body read: an error answer is a few hundred bytes. */
const MAX_BODY = 4096;

/** Why the control plane refused the stream's upgrade: its HTTP status, the error it named, how long it asked to wait. */
export interface UpgradeRefusal {
  status: number;
  /** `HTTP 401 MESHLET_STREAM_UNAUTHORIZED: <message>`, or the status alone when the body says nothing. */
  reason: string;
  /** From `Retry-After` (seconds), if any. */
  retryAfterMs?: number;
}

/** Reads what a refused upgrade's answer says, at most {@link MAX_BODY} bytes of it. */
export function readUpgradeRefusal(res: IncomingMessage): Promise<UpgradeRefusal> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      const status = res.statusCode ?? 0;
      let reason = `HTTP ${status}`;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          error?: { code?: unknown; message?: unknown };
        };
        if (typeof body.error?.code === 'string' && typeof body.error.message === 'string')
          reason = `HTTP ${status} ${body.error.code}: ${body.error.message}`;
      } catch {
        // Not meshlet's JSON (a proxy's page): the status says what there is to say.
      }
      const seconds = Number(res.headers['retry-after']);
      resolve({ status, reason, ...(Number.isFinite(seconds) && seconds > 0 ? { retryAfterMs: seconds * 1000 } : {}) });
    };
    res.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_BODY) chunks.push(d);
      else res.destroy();
    });
    res.on('end', done);
    res.on('close', done);
    res.on('error', () => {});
  });
}

/**
 * Listens for a refused upgrade on `ws` (a 401 for a wrong credential, a 429
 * or 503 from the control plane's limits before the hello): reads the
 * refusal, hands it to `refused`, then ends the socket. Without this, ws
 * reports only "Unexpected server response: 401", and the agent would lose
 * the reason the control plane gave.
 */
export function onUpgradeRefused(ws: WebSocket, refused: (refusal: UpgradeRefusal) => void): void {
  ws.on('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => {
    void readUpgradeRefusal(res).then((refusal) => {
      refused(refusal);
      ws.terminate();
    });
  });
}
