import type { FailoverState } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { isFenced } from './open-tcp-connections.js';

const state = (term: number, primary?: string): FailoverState => ({
  term,
  ...(primary ? { holder: primary, primary } : {}),
  candidates: [],
});

describe('isFenced (caller-side fencing)', () => {
  it('keeps a connection whose term and primary are still the table’s', () => {
    expect(isFenced({ endpoint: 'pg-1', term: 3 }, state(3, 'pg-1'), true)).toBe(false);
  });

  it('fences a connection once the term changed, even back to the same instance', () => {
    expect(isFenced({ endpoint: 'pg-1', term: 3 }, state(4, 'pg-2'), true)).toBe(true);
    expect(isFenced({ endpoint: 'pg-1', term: 3 }, state(4, 'pg-1'), true)).toBe(true);
  });

  it('fences when the table names no primary, another primary, no failover state, or the service is no longer managed', () => {
    expect(isFenced({ endpoint: 'pg-1', term: 3 }, state(3), true)).toBe(true);
    expect(isFenced({ endpoint: 'pg-1', term: 3 }, state(3, 'pg-2'), true)).toBe(true);
    expect(isFenced({ endpoint: 'pg-1', term: 3 }, undefined, true)).toBe(true);
    expect(isFenced({ endpoint: 'pg-1', term: 3 }, state(3, 'pg-1'), false)).toBe(true);
  });

  it('never fences a connection opened without a term (no role, or an unmanaged service)', () => {
    expect(isFenced({ endpoint: 'pg-1', term: undefined }, state(9, 'pg-2'), true)).toBe(false);
  });
});
