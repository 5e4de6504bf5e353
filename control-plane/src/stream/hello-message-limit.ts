import type { WebSocket } from 'ws';

/** The part of ws's receiver (ws 8) that holds the per-socket message limit. */
interface Receiver {
  _maxPayload?: unknown;
}

/**
 * Lowers the largest message one WebSocket accepts to `bytes`, and returns
 * what restores the server's limit; undefined when the socket does not have
 * the ws 8 receiver this reaches into.
 *
 * ws has one `maxPayload` per server, and the stream needs two: a few KiB
 * before the hello (anyone can send that message) and `4 x
 * stream.maxMessageBytes` after it (an admitted agent's reports). ws checks
 * the limit when it reads a frame's length, before it buffers any of the
 * payload, and closes the socket with 1009 beyond it: exactly what a
 * stranger's first message needs. No public API sets it per socket, so this
 * sets the receiver's own field; `hello-message-limit.test.ts` fails if a
 * ws upgrade moves it.
 */
export function limitMessageSize(socket: WebSocket, bytes: number): (() => void) | undefined {
  const receiver = (socket as unknown as { _receiver?: Receiver })._receiver;
  if (receiver === undefined || typeof receiver._maxPayload !== 'number') return undefined;
  const previous = receiver._maxPayload;
  receiver._maxPayload = bytes;
  return () => {
    receiver._maxPayload = previous;
  };
}
