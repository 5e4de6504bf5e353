import { jsonClientErrorHandler, type MeshletHttpError } from '@meshlet/shared';
import { ApiErrors } from '../errors.js';

/** What node's HTTP parser refused, said as the admin API says it: the problem and the fix. */
function explain(code: string | undefined): MeshletHttpError {
  if (code === 'HPE_HEADER_OVERFLOW')
    return ApiErrors.API_TOO_LARGE(
      'the request line and headers are over 16 KiB; send a shorter URL and fewer headers, and large data in a JSON body',
      { statusCode: 431 },
    );
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return ApiErrors.API_INVALID(
      'the request did not arrive whole in time (listen.limits.headersTimeoutMs and requestTimeoutMs); send it at once',
      { statusCode: 408 },
    );
  return ApiErrors.API_INVALID(
    `the request is not valid HTTP/1.1${code ? ` (${code})` : ''}; check the client or proxy that sent it`,
  );
}

/**
 * The control plane's `clientErrorHandler` (a fastify option): a request
 * node's parser refuses gets the admin API's JSON, `MESHLET_API_INVALID`
 * (400, 408) or `MESHLET_API_TOO_LARGE` (431), before the connection closes.
 */
export const apiClientErrors = jsonClientErrorHandler(explain);
