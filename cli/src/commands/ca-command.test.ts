import { describe, expect, it } from 'vitest';
import type { CaStatusView } from './ca-command.js';
import { useCannedServer } from '../test-support/cli-harness.js';

// meshctl ca rotate follows the rotation by polling GET /v1/ca once a second;
// a step shorter than that (removing-root often lasts one 500 ms tick of the
// leader) used to go unprinted, and test/ca-rotation.test.ts failed about one
// run in two waiting for "step 3/3 removing-root".

const status = (step: CaStatusView['step'], generation: number): CaStatusView => ({
  step,
  description: step === 'done' ? 'done: the new root is the only one' : `${step} description`,
  generation,
  activeIssuer: 'ab'.repeat(32),
  roots: [{ subject: 'CN=root', fingerprint: 'cd'.repeat(32), notBefore: '', notAfter: '' }],
  issuers: [],
  agents: { connected: 3, behind: [] },
  certificates: [],
});

const { run } = useCannedServer({
  'POST /v1/ca/rotate': { status: 202, body: status('adding-root', 1) },
  'GET /v1/ca': { body: status('done', 3) },
});

describe('meshctl ca rotate', () => {
  it('names the steps that began and ended between two looks, in order', async () => {
    const r = await run('ca', 'rotate', '--wait', '30s');
    expect(r.code).toBe(0);
    const steps = r.stderr.split('\n').filter((l) => l.startsWith('step '));
    expect(steps).toEqual([
      'step 1/3 adding-root: adding-root description (0 of 3 agents behind)',
      'step 2/3 switching-issuer: begun and done between two looks',
      'step 3/3 removing-root: begun and done between two looks',
    ]);
    expect(r.stdout).toContain('root rotation done');
  });
});
