import { describe, expect, it } from 'vitest';
import { tokenWeakness, weakTokens } from './weak-tokens.js';

describe('tokenWeakness', () => {
  it('calls short tokens and tokens of few characters weak', () => {
    // The 16-character token: about 95 bits at best.
    expect(tokenWeakness('Abcdef0123456789')).toContain('fewer than 128');
    expect(tokenWeakness('password1234password1234')).toContain('fewer than 128');
    expect(tokenWeakness('changeme-changeme-changeme-changeme')).toContain('distinct characters');
    expect(tokenWeakness('a'.repeat(64))).toBeDefined();
  });

  it('passes random tokens of 128 bits and more', () => {
    expect(tokenWeakness('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08')).toBeUndefined();
    expect(tokenWeakness('3q2-7wEvVHyJ2kZxP0mN4bLc8sRt1uYa')).toBeUndefined();
    expect(tokenWeakness('admin-token-0123456789abcdef')).toBeUndefined();
  });

  it('names the weak tokens, never their value', () => {
    const weak = weakTokens([
      { name: 'auth.adminToken', token: 'Abcdef0123456789', role: 'admin' },
      { name: 'ci', token: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', role: 'read-only' },
    ]);
    expect(weak.map((w) => w.name)).toEqual(['auth.adminToken']);
    expect(JSON.stringify(weak)).not.toContain('Abcdef0123456789');
  });
});
