import type { Hello } from '@meshlet/shared';

/** The hello to admit (carrying the credential of its upgrade), or why the two credentials disagree. */
export type HelloCredential = { ok: true; hello: Hello } | { ok: false; message: string };

/**
 * Joins the credential an agent sent at the upgrade with its hello's. Agents
 * send it in both (the hello's field stays for control planes older than the
 * header); when both are there they must be the same, or one of them is not
 * the agent's own. A hello without one takes the upgrade's, already checked.
 */
export function helloCredential(hello: Hello, upgraded: string | undefined): HelloCredential {
  if (upgraded === undefined) return { ok: true, hello };
  if (hello.joinToken === undefined) return { ok: true, hello: { ...hello, joinToken: upgraded } };
  if (hello.joinToken !== upgraded)
    return {
      ok: false,
      message:
        'the hello carries another join credential than the upgrade\'s "Authorization: Bearer" header: send the same one in both',
    };
  return { ok: true, hello };
}
