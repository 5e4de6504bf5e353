import type { Socket } from 'node:net';

/** Why a relayed TCP connection ended (the `reason` label of the close metric, and the access log's). */
export type TcpCloseReason =
  'client-closed' | 'upstream-closed' | 'client-error' | 'upstream-error' | 'idle-timeout' | 'fenced' | 'shutdown';

/** Every {@link TcpCloseReason}, for metric children and docs. */
export const TCP_CLOSE_REASONS: readonly TcpCloseReason[] = [
  'client-closed',
  'upstream-closed',
  'client-error',
  'upstream-error',
  'idle-timeout',
  'fenced',
  'shutdown',
];

/** What a finished relay moved: bytes from the client on, bytes from the upstream back, and why it ended. */
export interface TcpRelayResult {
  /** Bytes read from the client and sent on (the preamble and answer lines are not counted). */
  sent: number;
  /** Bytes read from the upstream and sent back to the client. */
  received: number;
  reason: TcpCloseReason;
}

/**
 * Two sockets joined both ways: `pipe` gives backpressure (a slow reader
 * pauses the other side; nothing is buffered past the streams' high-water
 * marks), a half-close is passed on, and the first error, the idle timeout
 * (no byte either way for `idleMs`; 0: none) or {@link close} destroys both.
 * `done` resolves once both sockets are closed, with the bytes moved and
 * the first reason the connection began to end.
 */
export class TcpRelay {
  readonly done: Promise<TcpRelayResult>;
  readonly #client: Socket;
  readonly #upstream: Socket;
  #sent = 0;
  #received = 0;
  #reason: TcpCloseReason | undefined;

  /** `head`: bytes the client already sent past the preamble, `tail`: bytes the upstream sent past its answer. */
  constructor(client: Socket, upstream: Socket, idleMs: number, head?: Buffer, tail?: Buffer) {
    this.#client = client;
    this.#upstream = upstream;
    let closed = 0;
    this.done = new Promise((resolve) => {
      const onClose = (): void => {
        if (++closed === 2)
          resolve({ sent: this.#sent, received: this.#received, reason: this.#reason ?? 'client-closed' });
      };
      client.once('close', onClose);
      upstream.once('close', onClose);
    });
    client.on('error', () => this.close('client-error'));
    upstream.on('error', () => this.close('upstream-error'));
    client.once('end', () => this.#first('client-closed'));
    upstream.once('end', () => this.#first('upstream-closed'));
    // A side that closes (not just half-closes) takes the other with it.
    client.once('close', () => this.close('client-closed'));
    upstream.once('close', () => this.close('upstream-closed'));
    client.on('data', (chunk: Buffer) => (this.#sent += chunk.length));
    upstream.on('data', (chunk: Buffer) => (this.#received += chunk.length));
    if (idleMs > 0) {
      const idle = (): void => this.close('idle-timeout');
      client.setTimeout(idleMs, idle);
      upstream.setTimeout(idleMs, idle);
    }
    if (head !== undefined && head.length > 0) {
      this.#sent += head.length;
      upstream.write(head);
    }
    if (tail !== undefined && tail.length > 0) {
      this.#received += tail.length;
      client.write(tail);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Ends the connection at once, both ways (a fence, the idle timeout, a stopping agent); the first reason is kept. */
  close(reason: TcpCloseReason): void {
    this.#first(reason);
    this.#client.destroy();
    this.#upstream.destroy();
  }

  #first(reason: TcpCloseReason): void {
    this.#reason ??= reason;
  }
}
