/** What a service's authorization policy decided about one inbound request. */
export type AuthzDecision =
  | { readonly kind: 'allow' }
  /** Enforced: the request is answered 403. `rule` names the rule that denied (`rules[i]` when unnamed). */
  | { readonly kind: 'deny'; readonly rule: string; readonly reason: string }
  /** Audit mode: the policy would have denied; the request goes through, and is logged and counted. */
  | { readonly kind: 'audit-deny'; readonly rule: string; readonly reason: string };

/** The `rule` of a denial because the policy has allow rules and none matched. */
export const NO_ALLOW_RULE_MATCHED = 'no-allow-rule-matched';
