import type { IncomingMessage } from 'node:http';
import { rawUpstreamHeaders } from './hop-headers.js';

/** The header that tells the app which mesh workload called: its SPIFFE ID, set by the callee's agent only. */
export const CALLER_HEADER = 'x-meshlet-caller';

/**
 * Whether a request header from outside must not reach the app: every
 * `x-meshlet-*` header (only the agent speaks in that namespace, and the
 * calling agent sets none on requests), and `x-forwarded-client-cert`, the
 * header Envoy-based meshes (Istio, Consul) use for the caller's
 * certificate, which an app written for them might trust.
 */
export function isSpoofableIdentityHeader(lowerName: string): boolean {
  return lowerName.startsWith('x-meshlet-') || lowerName === 'x-forwarded-client-cert';
}

/**
 * The request headers for the app (undici's flat `[name, value, ...]`
 * list, changed in place): spoofable identity headers removed, and
 * `x-meshlet-caller` added with the caller's SPIFFE ID when the connection
 * proved one.
 */
export function withCallerHeader<T extends string[]>(headers: T, caller: string | undefined): T {
  for (let i = headers.length - 2; i >= 0; i -= 2)
    if (isSpoofableIdentityHeader((headers[i] as string).toLowerCase())) headers.splice(i, 2);
  if (caller !== undefined) headers.push(CALLER_HEADER, caller);
  return headers;
}

/**
 * The request headers for the app in one pass over the raw list: what
 * `withCallerHeader(rawUpstreamHeaders(req), caller)` gives, without the
 * second loop (and its lower-casing of every name) per request.
 */
export function appRequestHeaders(req: IncomingMessage, caller: string | undefined): string[] & { hasBody?: boolean } {
  const headers = rawUpstreamHeaders(req, undefined, isSpoofableIdentityHeader);
  if (caller !== undefined) headers.push(CALLER_HEADER, caller);
  return headers;
}
