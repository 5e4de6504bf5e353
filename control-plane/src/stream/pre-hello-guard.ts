import type { Duplex } from 'node:stream';
import type { Logger } from '@meshlet/shared';
import type { WebSocket } from 'ws';
import { endSocket } from './end-socket.js';
import { limitMessageSize } from './hello-message-limit.js';

/** What {@link PreHelloGuard} enforces. */
export interface PreHelloLimits {
  /** The largest message before the hello (`stream.helloMaxBytes`). */
  helloMaxBytes: number;
  /** How long the stream may stay silent (`stream.helloTimeoutMs`). */
  helloTimeoutMs: number;
}

/** What the stream's upgrade left for its session: the credential it proved, its socket, its place, if any. */
export interface StreamStart {
  /** The join credential of the upgrade's `Authorization` header, checked there. */
  credential?: string;
  /** Gives back the place the stream took among the unauthenticated ones. */
  release?: () => void;
  /** The TCP (or TLS) socket under the WebSocket. */
  raw?: Duplex;
}

/**
 * What holds a stream to account until its hello is admitted: its first
 * message may be at most `helloMaxBytes` (refused at the frame header, never
 * buffered), the hello must come within `helloTimeoutMs` (else `timedOut`
 * runs), a close ends the socket without waiting for a close handshake
 * ({@link end}), and the place the stream took among the unauthenticated
 * ones (if it took one) is given back at the hello or the close, whichever
 * comes first.
 */
export class PreHelloGuard {
  #timer: NodeJS.Timeout | undefined;
  readonly #restore: (() => void) | undefined;
  readonly #release: (() => void) | undefined;
  readonly #socket: WebSocket;
  readonly #raw: Duplex | undefined;

  constructor(socket: WebSocket, limits: PreHelloLimits, timedOut: () => void, log: Logger, start: StreamStart = {}) {
    this.#socket = socket;
    this.#raw = start.raw;
    this.#release = start.release;
    this.#restore = limitMessageSize(socket, limits.helloMaxBytes);
    if (this.#restore === undefined)
      log.warn(
        'cannot limit the size of hellos on this ws version; the server-wide message limit applies before hello',
      );
    this.#timer = setTimeout(timedOut, limits.helloTimeoutMs);
  }

  /** The hello was admitted: the agent's messages may be as large as any agent's. */
  admitted(): void {
    this.#stop();
    this.#restore?.();
  }

  /** Ends the socket of a stream closed before its hello, once its close frame is out; no close handshake. */
  end(): void {
    if (this.#raw) endSocket(this.#raw);
    else this.#socket.terminate();
  }

  /** The hello was refused, or the stream closed. */
  closed(): void {
    this.#stop();
  }

  #stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#release?.();
  }
}
