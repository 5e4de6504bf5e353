import { describe, expect, it } from 'vitest';
import { meshctl, useCannedServer } from '../test-support/cli-harness.js';

// meshctl token create: off a terminal stdout is the credential alone, so that
// `$(meshctl token create ...)` captures it; the service name is checked before sending.

const CREDENTIAL = `mjc_0123456789abcdef_${'A'.repeat(43)}`;
const MINTED = {
  id: '0123456789abcdef',
  service: 'orders',
  createdAt: '2026-12-04T12:00:00.000Z',
  expiresAt: '2026-12-05T12:00:00.000Z',
  credential: CREDENTIAL,
};

const { server, base } = useCannedServer({ 'POST /v1/join-credentials': { status: 201, body: MINTED } });

describe('meshctl token create', () => {
  it('off a terminal prints only the credential on stdout and the guidance on stderr', async () => {
    const r = await meshctl(['token', 'create', '--service', 'orders', ...base]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${CREDENTIAL}\n`);
    expect(r.stderr).toContain('controlPlane.joinToken');
    expect(r.stderr).toContain('meshctl token revoke 0123456789abcdef');
    expect(r.stderr).not.toContain(CREDENTIAL);
  });

  it('on a terminal prints the credential once, then the guidance, on stdout', async () => {
    const r = await meshctl(['token', 'create', '--service', 'orders', ...base], { tty: { columns: 100 } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith(`${CREDENTIAL}\n\n`)).toBe(true);
    expect(r.stdout.split(CREDENTIAL)).toHaveLength(2);
    expect(r.stdout).toContain('meshctl token revoke 0123456789abcdef');
  });

  it('refuses a service that is not a service name before sending anything', async () => {
    const before = server.seen.length;
    const r = await meshctl(['token', 'create', '--service', 'Orders_1', ...base]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('--service "Orders_1" is not a service name');
    expect(r.stderr).toContain('DNS label');
    expect(server.seen.length).toBe(before);
  });
});
