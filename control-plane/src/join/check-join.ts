import { createHash, timingSafeEqual } from 'node:crypto';
import type { Hello } from '@meshlet/shared';
import { isJoinCredential, type JoinCredentialStore } from './join-credential-store.js';

/** Why a hello was refused, as the refusal metric labels it. */
export type JoinRefusal =
  | 'missing'
  | 'shared_token_mismatch'
  | 'malformed'
  | 'unknown'
  | 'expired'
  | 'revoked'
  | 'wrong_service'
  | 'wrong_instance'
  | 'no_service'
  | 'instance_held';

/** The outcome of {@link checkJoin}: admitted (with the credential used, if any) or refused with a reason the agent reads. */
export type JoinDecision =
  | { ok: true; credentialId?: string; service?: string }
  | { ok: false; reason: JoinRefusal; message: string; credentialId?: string };

/** What {@link checkJoin} checks a hello against. */
export interface JoinPolicy {
  /** The shared `auth.joinToken`, if configured and allowed (`auth.allowSharedJoinToken`); undefined otherwise. */
  sharedToken: string | undefined;
  credentials: JoinCredentialStore;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Compares tokens in constant time (hashing first makes the lengths equal). */
function tokenMatches(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

const HOW_TO =
  'set controlPlane.joinToken in the agent config to a credential from "meshctl token create --service <name>"';

/**
 * The service a hello acts for: its instance's, or the one a client-only
 * agent names. Both given and different is a contradiction, reported as
 * such.
 */
export function claimedService(hello: Hello): { service?: string; conflict?: string } {
  const registered = hello.instance?.service;
  if (registered !== undefined && hello.service !== undefined && hello.service !== registered)
    return { conflict: `the hello names service ${hello.service} but registers an instance of ${registered}` };
  const service = registered ?? hello.service;
  return service === undefined ? {} : { service };
}

/**
 * Decides whether a hello may join. Secure by default: every hello needs a
 * valid per-service credential (`mjc_...`), which admits an agent only for
 * its service: the instance the agent registers, or for a client-only
 * agent the service it names in its hello (`service` in its config), must
 * be the credential's. The shared `auth.joinToken` admits any agent as any
 * service, and only when the operator allowed it
 * (`auth.allowSharedJoinToken`; the caller passes it as `sharedToken` only
 * then); a hello whose `service` differs from its instance's is refused on
 * both paths.
 */
export function checkJoin(hello: Hello, policy: JoinPolicy): JoinDecision {
  const credential = checkCredential(hello.joinToken, policy);
  if (!credential.ok) return credential;
  const { credentialId: id, service } = credential;
  if (id === undefined || service === undefined) {
    // The shared token admits any service, but not a hello that contradicts
    // itself: one naming a service other than its instance's would be listed
    // as one service and route as another.
    const { conflict } = claimedService(hello);
    if (conflict !== undefined) return { ok: false, reason: 'wrong_service', message: conflict };
    return { ok: true };
  }
  const claimed = claimedService(hello);
  if (claimed.conflict !== undefined)
    return { ok: false, reason: 'wrong_service', message: claimed.conflict, credentialId: id };
  if (claimed.service === undefined) {
    return {
      ok: false,
      reason: 'no_service',
      message: `a client-only agent must name its service: set service: ${service} in the agent config (the service its credential ${id} is for)`,
      credentialId: id,
    };
  }
  if (claimed.service !== service) {
    const verb = hello.instance === undefined ? 'act for' : 'register';
    return {
      ok: false,
      reason: 'wrong_service',
      message: `a credential for ${service} cannot ${verb} ${claimed.service}`,
      credentialId: id,
    };
  }
  return { ok: true, credentialId: id, service };
}

/**
 * Whether `token` is a join credential this control plane accepts, whatever
 * service it is for: a per-service credential that is known, unexpired and
 * not revoked (its id and service returned), or the shared join token where
 * it is allowed. The stream's upgrade checks this before any message; the
 * hello is checked in full by {@link checkJoin}.
 */
export function checkCredential(token: string | undefined, policy: JoinPolicy): JoinDecision {
  if (token !== undefined && isJoinCredential(token)) {
    const check = policy.credentials.verify(token);
    if (!check.ok) {
      const id = check.id === undefined ? '' : ` ${check.id}`;
      const message = {
        malformed: `join credential is malformed: ${HOW_TO}`,
        unknown: `join credential${id} is unknown or its secret is wrong: ${HOW_TO}`,
        expired: `join credential${id} has expired: mint a new one with "meshctl token create"`,
        revoked: `join credential${id} was revoked: mint a new one with "meshctl token create"`,
      }[check.reason];
      return {
        ok: false,
        reason: check.reason,
        message,
        ...(check.id === undefined ? {} : { credentialId: check.id }),
      };
    }
    return { ok: true, credentialId: check.credential.id, service: check.credential.service };
  }
  if (policy.sharedToken !== undefined && token !== undefined && tokenMatches(policy.sharedToken, token))
    return { ok: true };
  if (token === undefined) return { ok: false, reason: 'missing', message: `join credential required: ${HOW_TO}` };
  const why = policy.sharedToken === undefined ? ' (this control plane accepts no shared join token)' : '';
  return {
    ok: false,
    reason: 'shared_token_mismatch',
    message: `join token rejected${why}: ${HOW_TO}`,
  };
}

/** Refusals that mean the credential itself is wrong (a guess, a typo, a stale one), as opposed to a valid one misused. */
export const WRONG_CREDENTIAL: ReadonlySet<JoinRefusal> = new Set([
  'malformed',
  'unknown',
  'expired',
  'revoked',
  'shared_token_mismatch',
]);
