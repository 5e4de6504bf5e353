import type { ProbeResult } from './health-check.js';

/**
 * One probe of a database check with one deadline: `ask` (connect if need
 * be, then the check's query) must answer within `timeoutMs`, and `read`
 * turns its answer into the result. On an error or the deadline, `drop`
 * closes the connection the check keeps (the next probe opens a new one)
 * and the result names `what` and the error's code and message.
 */
export async function probeWithin<T>(
  what: string,
  timeoutMs: number,
  ask: () => Promise<T>,
  read: (answer: T) => ProbeResult,
  drop: () => void,
): Promise<ProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return read(await Promise.race([ask(), deadline]));
  } catch (e) {
    drop();
    const err = e as Error & { code?: string };
    return { ok: false, detail: `${what} failed: ${err.code ? `${err.code} ` : ''}${err.message}` };
  } finally {
    clearTimeout(timer);
  }
}
