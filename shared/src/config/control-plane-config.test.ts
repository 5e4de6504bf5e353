import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { loadConfig } from './load-config.js';

// Service policies in the control plane's file: defaults filled in, and a
// bad one refused with one issue per field, saying what is allowed.

const dir = mkdtempSync(join(tmpdir(), 'meshlet-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(yaml: string) {
  const file = join(dir, `cp-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig(ControlPlaneConfig, { argv: ['--config', file], env: {} }).config;
}

function issues(yaml: string) {
  try {
    load(yaml);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('services in the control-plane config', () => {
  it('fills every default into a partial policy, and keeps route overrides partial', () => {
    const c = load(
      'services:\n  orders:\n    balancer: { kind: maglev }\n    routes:\n      - { match: { methods: [GET] }, retries: { maxRetries: 0 } }\n',
    );
    const p = c.services.orders;
    expect(p?.balancer).toMatchObject({ kind: 'maglev', maglevTableSize: 65537 });
    expect(p?.retries).toMatchObject({ maxRetries: 2, statuses: [502, 503, 504], maxBufferBytes: 65536 });
    expect(p?.tiers).toEqual({
      mode: 'spill',
      overprovisioningFactor: 1.4,
      panicThresholdPercent: 50,
      zoneMinHealthyPercent: 70,
    });
    expect(p?.routes[0]?.retries).toEqual({ maxRetries: 0 });
  });

  it('defaults to no services', () => {
    expect(load('{}').services).toEqual({});
  });

  it('names a bad balancer kind once, with every allowed value', () => {
    expect(issues('services:\n  orders:\n    balancer: { kind: fastest }\n')).toEqual([
      {
        path: 'services.orders.balancer.kind',
        problem:
          'must be one of "round_robin", "weighted", "random", "least_request", "peak_ewma", "ring_hash", "maglev"',
        fix: 'pick one of the allowed values',
      },
    ]);
  });

  it('says a service name is not a valid name rather than an unknown field', () => {
    const [issue] = issues('services:\n  Bad_Name: {}\n');
    expect(issue?.path).toBe('services.Bad_Name');
    expect(issue?.problem).toContain('is not a valid name');
  });

  it('refuses out-of-range values and fields a route may not override', () => {
    const found = issues(
      'services:\n  orders:\n    retries: { maxRetries: 99 }\n    balancer: { ringMinSize: 10000000 }\n    routes:\n      - { retries: { budgetPercent: 5 }, timeouts: { connectMs: 5 } }\n',
    );
    expect(found.map((i) => i.path).sort()).toEqual([
      'services.orders.balancer.ringMinSize',
      'services.orders.retries.maxRetries',
      'services.orders.routes.0.retries.budgetPercent',
      'services.orders.routes.0.timeouts.connectMs',
    ]);
  });
});

describe('defaults', () => {
  it('fills the control-plane defaults from nothing', () => {
    const { config } = loadConfig(ControlPlaneConfig, { argv: [], env: {} });
    expect(config.push).toEqual({ debounceMs: 20, maxDelayMs: 500, startupGraceMs: 3000 });
    expect(config.auth).toEqual({
      allowInsecureRemote: false,
      allowSharedJoinToken: false,
      allowedHosts: [],
      protectDocs: false,
    });
    expect(config.tls).toEqual({ allowPlaintextRemote: false });
    expect(config.registry.forgetAfterMs).toBe(300_000);
    expect(config.registry.serviceExpiryMs).toBe(86_400_000);
    expect(config.tableBudget).toEqual({ maxHashEntries: 16_777_216, maxServices: 10_000, maxEndpoints: 100_000 });
  });
});
