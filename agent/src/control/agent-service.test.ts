import { describe, expect, it } from 'vitest';
import { agentServiceIssues, clientService } from './agent-service.js';

const instance = { service: 'orders' } as Parameters<typeof agentServiceIssues>[0]['instance'];

describe('agentServiceIssues', () => {
  it('accepts a client-only agent naming its service, and an instance with or without the same name', () => {
    expect(agentServiceIssues({ service: 'web' })).toEqual([]);
    expect(agentServiceIssues({ instance })).toEqual([]);
    expect(agentServiceIssues({ service: 'orders', instance })).toEqual([]);
  });

  it("refuses a service other than the instance's, naming both and the fix", () => {
    expect(agentServiceIssues({ service: 'web', instance })).toEqual([
      {
        path: 'service',
        problem: 'is web but instance.service is orders',
        fix: 'remove service (an agent with an instance acts for instance.service), or make the two the same',
      },
    ]);
  });

  it('a client-only agent with a credential and no service is a start-up config error naming service', () => {
    const credential = 'mjc_0123456789abcdef_0123456789012345678901234567890123456789012';
    const issues = agentServiceIssues({ controlPlane: { joinToken: credential } });
    expect(issues).toEqual([expect.objectContaining({ path: 'service', fix: expect.stringContaining('set service') })]);
    expect(JSON.stringify(issues)).not.toContain(credential);
    expect(agentServiceIssues({ service: 'web', controlPlane: { joinToken: credential } })).toEqual([]);
    expect(agentServiceIssues({ instance, controlPlane: { joinToken: credential } })).toEqual([]);
  });

  it('a client-only agent on the shared token with no service is a config error too: it would get no certificate', () => {
    const shared = 'shared-token-0123456789';
    const issues = agentServiceIssues({ controlPlane: { joinToken: shared } });
    expect(issues).toEqual([
      expect.objectContaining({ path: 'service', problem: expect.stringContaining('certificate') }),
    ]);
    expect(JSON.stringify(issues)).not.toContain(shared);
    expect(agentServiceIssues({ service: 'web', controlPlane: { joinToken: shared } })).toEqual([]);
  });
});

describe('clientService', () => {
  it('is the configured service of a client-only agent only', () => {
    expect(clientService({ service: 'web' })).toBe('web');
    expect(clientService({})).toBeUndefined();
    expect(clientService({ service: 'orders', instance })).toBeUndefined();
  });
});
