// Trace context: addTraceContextRaw on the upstream header list, with a
// valid incoming traceparent and request id (passed through), with a
// traceparent only (request id derived), and with neither (a new trace id
// drawn: randomUUID). The list is cut back to its length after each call,
// so every call sees the same input.
import { addTraceContextRaw } from '../../agent/dist/listener/trace-context.js';
import { rawUpstreamHeaders } from '../../agent/dist/listener/hop-headers.js';
import { REQUEST_HEADERS, request } from './fixtures.mjs';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

export const group = 'trace-context';

/** A case over the headers of a request with `extra` headers, restored after each call. */
function traceCase(name, extra, check) {
  const headers = rawUpstreamHeaders(request('GET', '/api/orders/42', [...REQUEST_HEADERS, ...extra]), 'orders');
  const length = headers.length;
  return {
    name,
    fn: () => {
      const ids = addTraceContextRaw(headers);
      if (headers.length !== length) headers.length = length;
      return ids;
    },
    check,
  };
}

export function cases() {
  return {
    close: () => undefined,
    list: [
      traceCase(
        'traceparent and x-request-id in: passed through',
        [
          ['traceparent', TRACEPARENT],
          ['x-request-id', 'req-1'],
        ],
        (ids) => ids.traceId === '4bf92f3577b34da6a3ce929d0e0e4736' && ids.requestId === 'req-1',
      ),
      traceCase(
        'traceparent in, no x-request-id',
        [['traceparent', TRACEPARENT]],
        (ids) => ids.requestId === ids.traceId,
      ),
      traceCase('none in: new trace (randomUUID)', [], (ids) => /^[0-9a-f]{32}$/.test(ids.traceId)),
    ],
  };
}
