import { type Static, Type } from '@sinclair/typebox';
import { SERVICE_NAME_RULE } from './service-name.js';

/** In `from`: any caller that presented a verified mesh certificate (of the mesh's trust domain). */
export const AUTHZ_ANY_AUTHENTICATED = '*';
/** In `from`: a plaintext caller, which only a service in permissive mTLS mode lets in. */
export const AUTHZ_UNAUTHENTICATED = 'unauthenticated';

const SERVICE = SERVICE_NAME_RULE.pattern.slice(1, -1);

/** A caller in a rule's `from`: a service name, `*`, `unauthenticated`, or a full SPIFFE id. */
export const AuthzPrincipal = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: `^(\\*|${AUTHZ_UNAUTHENTICATED}|${SERVICE}|spiffe://[a-z0-9._-]+/[!-~]+)$`,
  fix: 'use a service name such as "web", "*" (any authenticated mesh workload), "unauthenticated" (plaintext callers in permissive mode) or a SPIFFE id such as "spiffe://meshlet.local/svc/web"',
});

/** An HTTP method, as it is sent: upper case. */
export const AuthzMethod = Type.String({
  minLength: 1,
  maxLength: 32,
  pattern: '^[A-Z]+$',
  fix: 'use an upper-case HTTP method such as "GET" or "POST"',
});

/** A path prefix; matched against the request's normalized path (dot segments resolved, repeated slashes merged). */
export const AuthzPathPrefix = Type.String({
  minLength: 1,
  maxLength: 1024,
  pattern: '^/[^?#\\s]*$',
  fix: 'use a path prefix starting with "/", without query or fragment, such as "/api/"',
});

/** One rule. Every condition given must match; a condition left out matches anything. */
export const AuthzRule = Type.Object(
  {
    /** Named in denials, logs and metrics; absent: the rule is named `rules[<index>]`. */
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 63,
        pattern: '^[A-Za-z0-9._-]+$',
        fix: 'use letters, digits, ".", "_" and "-", such as "web-reads"',
      }),
    ),
    action: Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
      default: 'allow',
      fix: 'use allow or deny',
    }),
    /** Callers; absent: any caller, authenticated or not. */
    from: Type.Optional(Type.Array(AuthzPrincipal, { minItems: 1, maxItems: 1000 })),
    /** Methods; absent: any. */
    methods: Type.Optional(Type.Array(AuthzMethod, { minItems: 1, maxItems: 32 })),
    /** Path prefixes; absent: any path. */
    paths: Type.Optional(Type.Array(AuthzPathPrefix, { minItems: 1, maxItems: 1000 })),
  },
  { additionalProperties: false },
);
/** {@inheritDoc AuthzRule} */
export type AuthzRule = Static<typeof AuthzRule>;

/**
 * Per-service authorization policy: who may call the service, with which
 * methods, on which paths. The control plane holds it (its config file's
 * `authz`, and `PUT /v1/authz/NAME`) and ships it in the routing table as
 * the optional `authz` of the service's routes; the callee's agent applies
 * it to every inbound request. Semantics follow Istio's
 * AuthorizationPolicy: any matching `deny` rule denies; otherwise, when the
 * policy has `allow` rules, one of them must match; a policy with only
 * `deny` rules allows the rest. An empty `rules` list is refused (Istio
 * reads one as allow-nothing; meshlet asks for that to be written as a
 * deny rule). No policy at all: every caller that passed the service's
 * mTLS mode is allowed. Beyond the schema, {@link authzPolicyIssues} checks
 * SPIFFE ids and that paths are normalized. See docs/security.md.
 */
export const AuthzPolicy = Type.Object(
  {
    /** `enforce` denies; `audit` only logs and counts what it would deny (to try a policy on live traffic first). */
    mode: Type.Union([Type.Literal('enforce'), Type.Literal('audit')], {
      default: 'enforce',
      fix: 'use enforce or audit',
    }),
    rules: Type.Array(AuthzRule, {
      default: [],
      minItems: 1,
      maxItems: 1000,
      fix: 'give at least one rule: delete the policy to allow all; write a deny rule with no conditions to deny all',
    }),
  },
  { additionalProperties: false },
);
/** {@inheritDoc AuthzPolicy} */
export type AuthzPolicy = Static<typeof AuthzPolicy>;
