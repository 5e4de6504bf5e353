import type { IncomingMessage } from 'node:http';
import { randomFillSync } from 'node:crypto';

/** The ids a request travels with, for the access log. */
export interface TraceIds {
  traceId: string;
  requestId: string;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Trace ids drawn per refill of {@link POOL}: one `getrandom` call for 256 of them. */
const IDS_PER_REFILL = 256;
const ID_BYTES = 16;
const POOL = Buffer.alloc(IDS_PER_REFILL * ID_BYTES);
let poolAt = POOL.length;

/**
 * A new trace id: 16 random bytes as 32 hex digits, from a pool filled by
 * the system's CSPRNG 4 KiB at a time (as `randomUUID` does for its own
 * cache, without the dashes to strip afterwards). The span id a new
 * `traceparent` gets is digits 8 to 24 of it, so those are never all zeros
 * (invalid in W3C trace context, as an all-zero trace id is): such a draw
 * is drawn again.
 */
export function newTraceId(): string {
  for (;;) {
    if (poolAt === POOL.length) {
      randomFillSync(POOL);
      poolAt = 0;
    }
    const id = POOL.toString('hex', poolAt, poolAt + ID_BYTES);
    poolAt += ID_BYTES;
    if (!id.startsWith('0000000000000000', 8)) return id;
  }
}

/**
 * W3C trace context and request id, as Envoy and Linkerd handle them, on
 * undici's flat `[name, value, ...]` header list (names in any case): a
 * valid `traceparent` passes through untouched (the app's tracer owns the
 * spans); where it is absent or malformed a new one is started, sampled, so
 * the callee's logs can be joined to the caller's. `x-request-id` is kept, or
 * made from the trace id so both name the same request. Returns both ids.
 */
export function addTraceContextRaw(headers: string[]): TraceIds {
  let traceparent: string | undefined;
  let requestId: string | undefined;
  let at = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 11 && name.toLowerCase() === 'traceparent') {
      traceparent = headers[i + 1];
      at = i;
    } else if (name.length === 12 && name.toLowerCase() === 'x-request-id') requestId = headers[i + 1];
  }
  let traceId: string;
  if (traceparent !== undefined && TRACEPARENT.test(traceparent) && !traceparent.startsWith('ff')) {
    traceId = traceparent.slice(3, 35);
  } else {
    traceId = newTraceId();
    const value = `00-${traceId}-${traceId.slice(8, 24)}-01`;
    if (at >= 0) headers[at + 1] = value;
    else headers.push('traceparent', value);
  }
  if (requestId === undefined) {
    requestId = traceId;
    headers.push('x-request-id', traceId);
  }
  return { traceId, requestId };
}

/**
 * The ids of a request the agent did not forward (so did not add trace
 * context to): its own valid `traceparent`'s trace id and its `x-request-id`.
 */
export function incomingTraceIds(req: IncomingMessage): Partial<TraceIds> {
  const tp = req.headers.traceparent;
  const rid = req.headers['x-request-id'];
  return {
    traceId: typeof tp === 'string' && TRACEPARENT.test(tp) ? tp.slice(3, 35) : undefined,
    requestId: typeof rid === 'string' ? rid : undefined,
  };
}
