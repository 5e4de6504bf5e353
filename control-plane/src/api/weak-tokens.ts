import type { AuthToken } from './auth-tokens.js';

/** Estimated bits below which a token is called weak: 128, what `openssl rand -hex 16` gives. */
export const MIN_TOKEN_BITS = 128;
/** Shannon entropy per character below which a token repeats too few characters (random hex has about 3.7). */
const MIN_BITS_PER_CHAR = 3;

/** A token that looks weak: its name (never the token) and why. */
export interface WeakToken {
  name: string;
  reason: string;
}

/**
 * Why `token` looks guessable, or undefined. Two estimates, both cheap and
 * without a dictionary (these are machine tokens, not passwords a person
 * chose): its length times the bits of the character classes it uses
 * (lower, upper, digits, others), under {@link MIN_TOKEN_BITS}; and the
 * Shannon entropy of its characters, under 3 bits each (`changeme-changeme`,
 * `aaaa...`). A library such as zxcvbn judges human passwords against
 * dictionaries: heavier than this needs, and it says nothing more about a
 * random token.
 */
export function tokenWeakness(token: string): string | undefined {
  const chars = [...token];
  let pool = 0;
  if (/[a-z]/.test(token)) pool += 26;
  if (/[A-Z]/.test(token)) pool += 26;
  if (/[0-9]/.test(token)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(token)) pool += 33;
  const bits = Math.floor(chars.length * Math.log2(Math.max(pool, 2)));
  if (bits < MIN_TOKEN_BITS)
    return `${chars.length} characters of ${pool} kinds give about ${bits} bits, fewer than ${MIN_TOKEN_BITS}`;
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) perChar -= (n / chars.length) * Math.log2(n / chars.length);
  if (perChar < MIN_BITS_PER_CHAR)
    return `it repeats ${counts.size} distinct characters (${perChar.toFixed(1)} bits of entropy per character, fewer than ${MIN_BITS_PER_CHAR})`;
  return undefined;
}

/** The admin API's tokens that look weak (see {@link tokenWeakness}), by name. */
export function weakTokens(tokens: readonly AuthToken[]): WeakToken[] {
  return tokens.flatMap((t) => {
    const reason = tokenWeakness(t.token);
    return reason === undefined ? [] : [{ name: t.name, reason }];
  });
}
