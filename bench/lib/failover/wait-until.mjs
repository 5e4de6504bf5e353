// Waiting on a condition with a deadline, as @meshlet/test-harness/wait's
// waitFor, except that an error marked fatal (a process the path needs has
// exited) ends the wait at once instead of being retried until the deadline.
import { waitFor } from '@meshlet/test-harness/wait';

/** An error that no retry can cure. */
export class FatalError extends Error {}

/** Polls `check` until it returns a value other than undefined/false; a {@link FatalError} is thrown at once. */
export async function waitUntil(what, check, options = {}) {
  let fatal;
  try {
    return await waitFor(
      what,
      async () => {
        try {
          return await check();
        } catch (e) {
          if (e instanceof FatalError) {
            fatal = e;
            return true;
          }
          throw e;
        }
      },
      options,
    ).then((v) => {
      if (fatal) throw fatal;
      return v;
    });
  } finally {
    // nothing to release
  }
}
