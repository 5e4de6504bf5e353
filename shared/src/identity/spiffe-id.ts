import { MeshletError, SharedErrorCodes } from '../errors.js';
import { isServiceName, SERVICE_NAME_RULE } from '../protocol/service-name.js';

/** The trust domain of a mesh that configures none. */
export const DEFAULT_TRUST_DOMAIN = 'meshlet.local';

/**
 * The rule for trust domains, from the SPIFFE ID specification as go-spiffe
 * enforces it: lower-case letters, digits, `.`, `-` and `_`, at most 255
 * characters. No upper case (a SPIFFE ID compares byte for byte), no port,
 * no user info.
 */
export const TRUST_DOMAIN_RULE = {
  maxLength: 255,
  pattern: '^[a-z0-9._-]+$',
  fix: 'use lower-case letters, digits, ".", "-" and "_", such as "meshlet.local" or "prod.example.com"',
} as const;

const TRUST_DOMAIN_PATTERN = new RegExp(TRUST_DOMAIN_RULE.pattern);
const SCHEME = 'spiffe://';
/** meshlet names workloads by service, under this one path segment. */
const SERVICE_SEGMENT = 'svc';

/** A workload identity of the mesh: `spiffe://<trustDomain>/svc/<service>`. */
export interface SpiffeId {
  /** The mesh the identity belongs to, such as `meshlet.local`. */
  readonly trustDomain: string;
  /** The service, by the mesh's service-name rule, such as `orders`. */
  readonly service: string;
}

/** Whether `name` is a trust domain by {@link TRUST_DOMAIN_RULE}. */
export function isTrustDomain(name: string): boolean {
  return name.length <= TRUST_DOMAIN_RULE.maxLength && TRUST_DOMAIN_PATTERN.test(name);
}

function invalid(field: string, value: string, problem: string, fix: string): MeshletError {
  return new MeshletError(SharedErrorCodes.SPIFFE_ID_INVALID, `${field} ${JSON.stringify(value)} ${problem}; ${fix}`);
}

/** Checks a trust domain; a {@link MeshletError} `MESHLET_SPIFFE_ID_INVALID` naming `field` when it breaks the rule. */
export function checkTrustDomain(trustDomain: string, field = 'trustDomain'): string {
  if (!isTrustDomain(trustDomain)) {
    throw invalid(field, trustDomain, 'is not a SPIFFE trust domain', TRUST_DOMAIN_RULE.fix);
  }
  return trustDomain;
}

/**
 * The URI of `id`, `spiffe://<trustDomain>/svc/<service>`. Both parts are
 * checked, so a URI this returns always parses back to `id`.
 */
export function formatSpiffeId(id: SpiffeId): string {
  checkTrustDomain(id.trustDomain);
  if (!isServiceName(id.service)) {
    throw invalid('service', id.service, 'is not a service name', SERVICE_NAME_RULE.fix);
  }
  return `${SCHEME}${id.trustDomain}/${SERVICE_SEGMENT}/${id.service}`;
}

/**
 * Reads a meshlet SPIFFE ID. Anything else is refused with
 * `MESHLET_SPIFFE_ID_INVALID` saying what is wrong: another scheme, upper
 * case, a port, a query or fragment, a path other than `/svc/<service>`, a
 * service name that breaks the mesh's rule. Strict on purpose: a SPIFFE ID
 * is compared as a string, so two spellings of one identity must not exist.
 */
export function parseSpiffeId(uri: string, field = 'spiffeId'): SpiffeId {
  const expected = `the form is ${SCHEME}<trustDomain>/${SERVICE_SEGMENT}/<service>, such as ${SCHEME}${DEFAULT_TRUST_DOMAIN}/${SERVICE_SEGMENT}/orders`;
  if (!uri.startsWith(SCHEME)) {
    throw invalid(field, uri, `does not start with "${SCHEME}"`, expected);
  }
  const rest = uri.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (!isTrustDomain(trustDomain)) {
    throw invalid(field, uri, `has the trust domain ${JSON.stringify(trustDomain)}`, TRUST_DOMAIN_RULE.fix);
  }
  const segments = slash === -1 ? [] : rest.slice(slash + 1).split('/');
  const [kind, service] = segments;
  if (segments.length !== 2 || kind !== SERVICE_SEGMENT || service === undefined) {
    throw invalid(field, uri, `has a path other than /${SERVICE_SEGMENT}/<service>`, expected);
  }
  if (!isServiceName(service)) {
    throw invalid(
      field,
      uri,
      `names the service ${JSON.stringify(service)}, not a service name`,
      SERVICE_NAME_RULE.fix,
    );
  }
  return { trustDomain, service };
}

/** Whether two identities are the same workload identity. */
export function sameSpiffeId(a: SpiffeId, b: SpiffeId): boolean {
  return a.trustDomain === b.trustDomain && a.service === b.service;
}
