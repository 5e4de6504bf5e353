/**
 * Resolves or rejects as `p` does, or rejects with `new Error(message)` after
 * `ms`, whichever comes first; the timer never outlives the race. For etcd
 * calls, which etcd3 retries on other members for longer than a caller may
 * wait.
 */
export async function within<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
