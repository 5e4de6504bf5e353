import { parseSpiffeId } from '@meshlet/shared';
import { AUTHZ_UNAUTHENTICATED } from '@meshlet/shared';

/** The caller of an inbound request, as authorization sees it. */
export interface AuthzCaller {
  /** The verified SPIFFE id from the caller's certificate; undefined for a plaintext caller. */
  readonly spiffeId: string | undefined;
  /** The caller's service when its id is a meshlet id of this mesh's trust domain; else undefined. */
  readonly service: string | undefined;
  /** How metrics and denials name it: the service, the whole id (another trust domain), or `unauthenticated`. */
  readonly label: string;
}

/**
 * Reads a caller's verified SPIFFE id (undefined: plaintext). `trustDomain`
 * given: an id of another trust domain is no mesh workload (it matches
 * neither `*` nor a service name, only its own full id).
 */
export function authzCaller(spiffeId: string | undefined, trustDomain?: string): AuthzCaller {
  if (spiffeId === undefined) return UNAUTHENTICATED;
  // Read once per caller, not per request: a busy connection asks for the same id again and again.
  const key = `${trustDomain ?? ''} ${spiffeId}`;
  let caller = known.get(key);
  if (caller === undefined) {
    caller = readCaller(spiffeId, trustDomain);
    if (known.size >= MAX_KNOWN_CALLERS) known.delete(known.keys().next().value as string);
    known.set(key, caller);
  }
  return caller;
}

const UNAUTHENTICATED: AuthzCaller = Object.freeze({
  spiffeId: undefined,
  service: undefined,
  label: AUTHZ_UNAUTHENTICATED,
});
/** Callers already read, by trust domain and id (the oldest goes first past the cap). */
const known = new Map<string, AuthzCaller>();
const MAX_KNOWN_CALLERS = 1000;

function readCaller(spiffeId: string, trustDomain: string | undefined): AuthzCaller {
  let service: string | undefined;
  try {
    const id = parseSpiffeId(spiffeId);
    // `unauthenticated` is reserved (no credential is minted for it): a certificate naming it is no mesh service.
    if ((trustDomain === undefined || id.trustDomain === trustDomain) && id.service !== AUTHZ_UNAUTHENTICATED)
      service = id.service;
  } catch {
    // Not a meshlet id: only a rule naming it whole can match it.
  }
  return Object.freeze({ spiffeId, service, label: service ?? spiffeId });
}
