import { describe, expect, it } from 'vitest';
import { normalizeTarget } from './normalize-path.js';

describe('normalizeTarget', () => {
  it.each([
    ['/api/orders?x=1', '/api/orders', '/api/orders?x=1'],
    ['/public/../admin', '/admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin', '/admin'],
    ['/public/%2E%2E/admin?q', '/admin', '/admin?q'],
    ['/./admin', '/admin', '/admin'],
    ['//admin/users', '/admin/users', '/admin/users'],
    ['/api//../admin', '/api/admin', '/api/admin'],
    ['\\admin', '/admin', '/admin'],
    ['/a%2Fb', '/a%2Fb', '/a%2Fb'],
    ['http://elsewhere/admin?x', '/admin', '/admin?x'],
    ['*', '*', '*'],
  ])('%s → %s', (target, path, url) => {
    expect(normalizeTarget(target)).toEqual({ path, url });
  });
});
