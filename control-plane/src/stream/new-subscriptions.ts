import { type ErrorMessage, SharedErrorCodes } from '@meshlet/shared';

/** Most services one agent may subscribe to (the hello's own limit). */
export const MAX_SUBSCRIPTIONS = 10_000;

/**
 * The services of a `subscribe` message that an agent holding `held` does
 * not subscribe to yet (none: nothing to do), or the error to answer when
 * they would take it past {@link MAX_SUBSCRIPTIONS}.
 */
export function newSubscriptions(
  held: readonly string[],
  asked: readonly string[],
): { fresh: string[] } | { error: ErrorMessage } {
  const have = new Set(held);
  const fresh = [...new Set(asked)].filter((s) => !have.has(s));
  if (held.length + fresh.length <= MAX_SUBSCRIPTIONS) return { fresh };
  return {
    error: {
      type: 'error',
      code: SharedErrorCodes.PROTOCOL_SCHEMA,
      message: `an agent may subscribe to at most ${MAX_SUBSCRIPTIONS} services; it has ${held.length}`,
      field: 'services',
    },
  };
}
