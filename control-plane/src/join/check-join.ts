import { createHash, timingSafeEqual } from 'node:crypto';
import type { Hello } from '@meshlet/shared';
import { isJoinCredential, type JoinCredentialStore } from './join-credential-store.js';

/** Why a hello was refused, as the refusal metric labels it. */
export type JoinRefusal =
  'missing' | 'shared_token_mismatch' | 'malformed' | 'unknown' | 'expired' | 'revoked' | 'wrong_service';

/** The outcome of {@link checkJoin}: admitted (with the credential used, if any) or refused with a reason the agent reads. */
export type JoinDecision =
  | { ok: true; credentialId?: string; service?: string }
  | { ok: false; reason: JoinRefusal; message: string; credentialId?: string };

/** What {@link checkJoin} checks a hello against. */
export interface JoinPolicy {
  /** The shared `auth.joinToken`, if configured. */
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
 * Decides whether a hello may join. A per-service credential (`mjc_...`)
 * admits an agent only for its service: the instance the agent registers
 * must be of that service (an agent without an instance only sends traffic
 * and registers nothing). The shared `auth.joinToken` admits any agent as
 * any service (the older, weaker way). With neither a shared token nor any
 * credential ever minted, no credential is required (the loopback default);
 * once one is minted, every hello needs a valid one.
 */
export function checkJoin(hello: Hello, policy: JoinPolicy): JoinDecision {
  const token = hello.joinToken;
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
    const { id, service } = check.credential;
    const claimed = hello.instance?.service;
    if (claimed !== undefined && claimed !== service) {
      return {
        ok: false,
        reason: 'wrong_service',
        message: `a credential for ${service} cannot register ${claimed}`,
        credentialId: id,
      };
    }
    return { ok: true, credentialId: id, service };
  }
  if (policy.sharedToken !== undefined && token !== undefined && tokenMatches(policy.sharedToken, token))
    return { ok: true };
  if (policy.sharedToken === undefined && !policy.credentials.any()) return { ok: true };
  if (token === undefined) return { ok: false, reason: 'missing', message: `join credential required: ${HOW_TO}` };
  return {
    ok: false,
    reason: 'shared_token_mismatch',
    message: `join token rejected: ${HOW_TO}`,
  };
}
