/**
 * The rule for service names, as plain values: the `ServiceName` schema is
 * built from them, and a client that must not load TypeBox and ajv to start
 * (meshctl) checks a name with {@link isServiceName} before sending it, so it
 * refuses exactly what the mesh refuses.
 */
export const SERVICE_NAME_RULE = {
  /** A DNS label is at most 63 characters. */
  maxLength: 63,
  /** Lower-case letters, digits and `-`, neither first nor last. */
  pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$',
  /** What to do about a name that breaks the rule. */
  fix: 'use a DNS label: lower-case letters, digits and "-", such as "orders" or "user-api"',
} as const;

const PATTERN = new RegExp(SERVICE_NAME_RULE.pattern);

/** Whether `name` is a service name: a DNS label, so that it can be a `Host` header. */
export function isServiceName(name: string): boolean {
  return name.length <= SERVICE_NAME_RULE.maxLength && PATTERN.test(name);
}
