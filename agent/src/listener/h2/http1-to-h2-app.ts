import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import { CALLER_HEADER } from '../caller-headers.js';
import type { AppSession } from './app-session.js';
import { requestHeadersH2, responseHeadersH2 } from './h2-headers.js';
import type { H2Outcome } from './relay-h2.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Relays an HTTP/1.1 request to an app that speaks HTTP/2 only (its
 * service's policy says `protocol: http2` or `grpc`): the request becomes
 * a stream on the app's session (caller in `x-meshlet-caller`, forged
 * identity headers dropped), its answer an HTTP/1.1 answer, streamed both
 * ways with backpressure; trailers do not survive HTTP/1.1 and are dropped.
 */
export async function relayHttp1ToH2App(
  app: AppSession,
  req: IncomingMessage,
  res: ServerResponse,
  caller: string | undefined,
  requestTimeoutMs: number,
): Promise<H2Outcome> {
  let session;
  try {
    session = await app.get();
  } catch (e) {
    return { kind: 'failed', error: e as Error, headersSent: false };
  }
  const headers = requestHeadersH2(
    req.headers,
    { method: req.method ?? 'GET', path: req.url ?? '/', authority: req.headers.host ?? 'localhost' },
    true,
  );
  if (caller !== undefined) headers[CALLER_HEADER] = caller;
  const hasBody =
    req.headers['transfer-encoding'] !== undefined ||
    (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
  return new Promise((resolve) => {
    let up: ReturnType<typeof session.request>;
    try {
      up = session.request(headers, { endStream: !hasBody });
    } catch (e) {
      resolve({ kind: 'failed', error: Object.assign(e as Error, { code: 'ECONNRESET' }), headersSent: false });
      return;
    }
    up.on('error', () => undefined);
    let settled = false;
    let status = 0;
    const finish = (outcome: H2Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer =
      requestTimeoutMs > 0 && requestTimeoutMs < MAX_TIMER_MS
        ? setTimeout(() => {
            up.close(constants.NGHTTP2_CANCEL);
            finish({
              kind: 'failed',
              error: Object.assign(new Error(`no answer within ${requestTimeoutMs} ms`), {
                code: 'UND_ERR_HEADERS_TIMEOUT',
              }),
              headersSent: false,
            });
          }, requestTimeoutMs)
        : undefined;
    if (hasBody) req.pipe(up);
    res.once('close', () => {
      if (!up.closed) up.close(constants.NGHTTP2_CANCEL);
      if (!res.writableFinished)
        finish({
          kind: 'failed',
          error: Object.assign(new Error('the caller left'), { code: 'UND_ERR_ABORTED' }),
          headersSent: res.headersSent,
        });
    });
    up.once('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
      clearTimeout(timer);
      status = h[':status'] ?? 502;
      const out = responseHeadersH2(h);
      delete out[':status'];
      try {
        res.writeHead(status, out);
      } catch (e) {
        up.close(constants.NGHTTP2_CANCEL);
        finish({ kind: 'failed', error: Object.assign(e as Error, { code: 'ECONNRESET' }), headersSent: false });
        return;
      }
      up.pipe(res);
    });
    up.once('close', () => {
      if (status === 0) {
        finish({
          kind: 'failed',
          error: Object.assign(new Error(`the app reset the stream before answering (HTTP/2 error ${up.rstCode})`), {
            code: up.rstCode === constants.NGHTTP2_REFUSED_STREAM ? 'ECONNREFUSED' : 'ECONNRESET',
          }),
          headersSent: false,
        });
        return;
      }
      if (up.rstCode !== undefined && up.rstCode !== constants.NGHTTP2_NO_ERROR) res.destroy();
      finish({ kind: 'relayed', status, grpcStatus: undefined });
    });
  });
}
