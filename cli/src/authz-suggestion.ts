/** The answer of `GET /v1/authz/NAME/callers`. */
export interface CallersAnswer {
  service: string;
  /** ISO 8601: since when the control plane has been collecting. */
  since: string;
  callers: Array<{ service: string; requests: number; lastSeenAt: string }>;
  unidentifiedRequests: number;
  /** The control plane runs replicas: only the callers reported to the replica that answered are in `callers`. */
  replicated?: boolean;
}

/** What `meshctl authz suggest` prints: a document for `apply -f`, and the comments that go above it. */
export interface Suggestion {
  document: {
    kind: 'AuthorizationPolicy';
    service: string;
    policy: { mode: 'enforce' | 'audit'; rules: Array<{ name: string; action: 'allow'; from: string[] }> };
  };
  comments: string[];
}

/**
 * A least-privilege authorization policy from the callers the control plane
 * has seen: one allow rule naming each of them, nothing else; undefined when
 * no caller was seen (a policy allowing nobody would cut the service off, and
 * an empty one is refused: neither is a suggestion).
 */
export function suggestAuthzPolicy(seen: CallersAnswer, mode: 'enforce' | 'audit'): Suggestion | undefined {
  if (seen.callers.length === 0) return undefined;
  const from = seen.callers.map((c) => c.service).sort();
  const comments = [
    `Suggested by meshctl authz suggest ${seen.service}: the callers the control plane has seen since ${seen.since}:`,
    ...seen.callers.map((c) => `  ${c.service}: ${c.requests} requests, last at ${c.lastSeenAt}`),
    'Callers that were quiet since then, and plaintext callers, are not in it; methods and paths are not narrowed.',
    "Callers are self-reported: each caller's own agent said whom it called; the callee did not verify them. Review the list before applying.",
  ];
  if (seen.replicated === true)
    comments.push(
      'The control plane runs replicas: only the agents connected to the replica that answered were seen; callers connected to other replicas may be missing.',
    );
  if (seen.unidentifiedRequests > 0)
    comments.push(
      `${seen.unidentifiedRequests} requests came from agents with no service identity (no per-service credential): not in it.`,
    );
  comments.push(
    mode === 'audit'
      ? 'mode: audit: nothing is denied; watch meshlet_agent_authz_decisions_total{decision="audited"}, then apply with mode: enforce.'
      : 'Try it first with --mode audit. Apply with: meshctl apply -f FILE',
  );
  return {
    document: {
      kind: 'AuthorizationPolicy',
      service: seen.service,
      policy: { mode, rules: [{ name: 'seen-callers', action: 'allow', from }] },
    },
    comments,
  };
}
