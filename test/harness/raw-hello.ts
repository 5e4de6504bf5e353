import { once } from 'node:events';
import WebSocket from 'ws';

/** What a raw hello got: admitted (a routing table came), or refused with a close code, a reason and the error message. */
export type HelloOutcome = { admitted: true } | { admitted: false; code: number; reason: string; error: any };

/**
 * Sends one hello on a fresh stream to `url`, as a script (an attacker's)
 * would, with `options` for the socket (a source address, TLS trust, a
 * client certificate): admitted once a routing table comes, else the close
 * code, its reason and the error message sent before it.
 */
export async function sendRawHello(
  url: string,
  hello: Record<string, unknown>,
  options: WebSocket.ClientOptions = {},
): Promise<HelloOutcome> {
  const ws = new WebSocket(url, options);
  const messages: any[] = [];
  await once(ws, 'open');
  const outcome = new Promise<HelloOutcome>((resolve) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      messages.push(m);
      if (m.type === 'routes') {
        resolve({ admitted: true });
        ws.close();
      }
    });
    ws.on('close', (code, reason) =>
      resolve({ admitted: false, code, reason: reason.toString(), error: messages.find((m) => m.type === 'error') }),
    );
  });
  ws.send(JSON.stringify({ type: 'hello', protocolVersion: 1, tableVersion: 0, ...hello }));
  return outcome;
}
