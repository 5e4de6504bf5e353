import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants } from 'node:http2';
import type { HealthCheck, ProbeResult } from './health-check.js';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  GRPC_CODE_NAMES,
  SERVING_STATUS,
} from './grpc-health-message.js';

/** An answer larger than this is not a HealthCheckResponse: the probe stops reading and fails. */
const MAX_ANSWER_BYTES = 64 * 1024;
const PATH = '/grpc.health.v1.Health/Check';

/**
 * The standard gRPC health check (`grpc.health.v1.Health/Check`) over
 * cleartext HTTP/2 to the local app, with Node's `http2` (no gRPC library in
 * the agent). `SERVING` passes; any other status, a non-OK `grpc-status`, a
 * non-gRPC answer, an error or no answer within the timeout fails, with the
 * reason in `detail`. One HTTP/2 connection is kept between probes (as a
 * gRPC client keeps its channel) and opened again after it closes.
 */
export class GrpcHealthCheck implements HealthCheck {
  readonly #authority: string;
  readonly #service: string;
  readonly #timeoutMs: number;
  readonly #request: Buffer;
  #session: ClientHttp2Session | undefined;
  /** Why each session failed (a refused connection, a peer that does not speak HTTP/2): the reason a probe names. */
  readonly #sessionErrors = new WeakMap<ClientHttp2Session, string>();

  constructor(app: { host: string; port: number }, service: string, timeoutMs: number) {
    const host = app.host.includes(':') ? `[${app.host}]` : app.host;
    this.#authority = `http://${host}:${app.port}`;
    this.#service = service;
    this.#timeoutMs = timeoutMs;
    this.#request = encodeHealthCheckRequest(service);
  }

  async probe(): Promise<ProbeResult> {
    const what = `gRPC Health/Check(${JSON.stringify(this.#service)})`;
    return new Promise((resolve) => {
      let stream: ClientHttp2Stream | undefined;
      let settled = false;
      const finish = (ok: boolean, detail: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (stream && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
        resolve({ ok, detail: `${what} ${detail}` });
      };
      const timer = setTimeout(() => {
        // A session that cannot answer in time is dropped: the next probe connects anew.
        this.#drop();
        finish(false, `failed: no answer within ${this.#timeoutMs} ms`);
      }, this.#timeoutMs);
      let session: ClientHttp2Session | undefined;
      try {
        session = this.#connection();
        stream = session.request({
          ':method': 'POST',
          ':path': PATH,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${this.#timeoutMs}m`,
          'user-agent': 'meshlet-health-check',
        });
      } catch (e) {
        this.#drop();
        return finish(false, `failed: ${errorText(e)}`);
      }
      let httpStatus = 0;
      let grpcStatus: string | undefined;
      let grpcMessage = '';
      const chunks: Buffer[] = [];
      let size = 0;
      const readStatus = (headers: Record<string, unknown>) => {
        if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
        if (headers['grpc-message'] !== undefined) grpcMessage = decodeMessage(String(headers['grpc-message']));
      };
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status']);
        readStatus(headers);
      });
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) return finish(false, `failed: an answer over ${MAX_ANSWER_BYTES} bytes`);
        chunks.push(chunk);
      });
      let streamError: string | undefined;
      stream.on('error', (e) => void (streamError = errorText(e)));
      stream.on('close', () => {
        // A stream cancelled because its connection failed: the session's error (emitted after) is the reason.
        if (httpStatus === 0)
          return void setImmediate(() => {
            const why = (session && this.#sessionErrors.get(session)) ?? streamError;
            finish(false, `failed: ${why ?? 'the stream closed without an answer'}`);
          });
        if (streamError !== undefined) return finish(false, `failed: ${streamError}`);
        if (httpStatus !== 200) return finish(false, `answered HTTP ${httpStatus}, not gRPC`);
        if (grpcStatus === undefined) return finish(false, 'answered without a grpc-status');
        if (grpcStatus !== '0') {
          const name = GRPC_CODE_NAMES[Number(grpcStatus)] ?? grpcStatus;
          return finish(false, `answered ${name}${grpcMessage ? `: ${grpcMessage.slice(0, 200)}` : ''}`);
        }
        const decoded = decodeHealthCheckResponse(Buffer.concat(chunks));
        if ('error' in decoded) return finish(false, `answered ${decoded.error}`);
        const status = SERVING_STATUS[decoded.status] ?? `status ${decoded.status}`;
        finish(decoded.status === 1, `answered ${status}`);
      });
      stream.end(this.#request);
    });
  }

  /** Closes the kept connection (the agent is stopping). */
  close(): void {
    this.#drop();
  }

  #connection(): ClientHttp2Session {
    if (this.#session && !this.#session.closed && !this.#session.destroyed) return this.#session;
    const session = connect(this.#authority);
    // A refused or reset connection fails the probe through its stream; the session is dropped.
    session.on('error', (e) => {
      this.#sessionErrors.set(session, errorText(e));
      this.#drop(session);
    });
    // GOAWAY (a server's max connection age, a restart): finish what is in flight, connect anew for the next probe.
    session.on('goaway', () => {
      if (this.#session === session) this.#session = undefined;
      session.close();
    });
    session.on('close', () => this.#drop(session));
    session.unref();
    this.#session = session;
    return session;
  }

  #drop(session = this.#session): void {
    if (!session) return;
    if (this.#session === session) this.#session = undefined;
    if (!session.destroyed) session.destroy();
  }
}

function errorText(e: unknown): string {
  const err = e as Error & { code?: string };
  // ERR_HTTP2_ERROR alone says little: its message says what broke (a peer that answers HTTP/1.1: "Protocol error").
  return err.code === 'ERR_HTTP2_ERROR' ? `${err.code} (${err.message})` : (err.code ?? err.message);
}

/** `grpc-message` is percent-encoded (gRPC over HTTP/2); undecodable text is shown as sent. */
function decodeMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
