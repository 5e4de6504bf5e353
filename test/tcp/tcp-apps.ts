// Apps for the TCP services' tests: an in-process echo server that also
// answers the agents' HTTP health check, and a client that speaks lines.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** An echo app: `who` answers its id, any other line is echoed; `GET /healthz` gets an HTTP 200 (its agent's check). */
export interface EchoApp {
  id: string;
  server: Server;
  port: number;
  /** Connections it has taken (health checks excluded). */
  connections: number;
  close(): Promise<void>;
  listen(): Promise<void>;
}

/** Starts an echo app on a free loopback port (or `port`). */
export async function echoApp(id: string, port = 0): Promise<EchoApp> {
  const sockets = new Set<Socket>();
  const app: EchoApp = {
    id,
    server: createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      let buffered = '';
      let first = true;
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        if (first && buffered.length >= 4) {
          first = false;
          if (buffered.startsWith('GET ')) {
            socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
            return;
          }
          app.connections++;
        }
        if (first) return;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) !== -1) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          socket.write(line === 'who' ? `${id}\n` : `${line}\n`);
        }
      });
    }),
    port,
    connections: 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => app.server.close(() => r()));
    },
    async listen() {
      app.server.listen(app.port, '127.0.0.1');
      await once(app.server, 'listening');
      app.port = (app.server.address() as AddressInfo).port;
    },
  };
  await app.listen();
  return app;
}

/** A line client on `port`: `ask` sends a line and resolves with the next line back (or `closed`). */
export async function lineClient(port: number): Promise<{ socket: Socket; ask(line: string): Promise<string> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let buffered = '';
  const waiting: Array<(line: string) => void> = [];
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  socket.once('close', () => {
    for (const w of waiting.splice(0)) w('closed');
  });
  return {
    socket,
    ask(line) {
      return new Promise((resolve) => {
        if (socket.destroyed) return resolve('closed');
        waiting.push(resolve);
        socket.write(`${line}\n`);
      });
    },
  };
}

/** Sends `bytes` to `port` raw and resolves with everything it got back once the other side closed (or `timeoutMs` passed: `open`). */
export async function rawExchange(
  port: number,
  bytes: Buffer | string,
  timeoutMs = 8000,
): Promise<{ answer: string; closed: boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let answer = '';
  socket.on('data', (c: Buffer) => (answer += c.toString('utf8')));
  await once(socket, 'connect');
  socket.write(bytes);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.destroy();
  return { answer, closed };
}
