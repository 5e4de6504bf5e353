import type { ServerResponse } from 'node:http';

/**
 * Waits `ms` (a retry's backoff) unless the client leaves first. Resolves
 * true when the client is still there to answer; false when it left,
 * meanwhile or before.
 */
export async function waitWhileConnected(ms: number, res: ServerResponse): Promise<boolean> {
  const waited =
    ms <= 0 ||
    (await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        res.off('close', gone);
        resolve(ok);
      };
      const gone = () => done(false);
      const timer = setTimeout(() => done(true), ms);
      res.once('close', gone);
    }));
  return waited && !res.destroyed;
}
