import type { Hello } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { helloCredential } from './hello-credential.js';

const hello = (joinToken?: string): Hello => ({
  type: 'hello',
  protocolVersion: 1,
  agentId: 'a',
  tableVersion: 0,
  ...(joinToken === undefined ? {} : { joinToken }),
});

describe('helloCredential', () => {
  it('takes the hello as it is when the upgrade carried no credential (an agent older than the header)', () => {
    expect(helloCredential(hello('t'), undefined)).toEqual({ ok: true, hello: hello('t') });
  });

  it("gives a hello without a credential the upgrade's", () => {
    expect(helloCredential(hello(), 'mjc_x.y')).toEqual({ ok: true, hello: hello('mjc_x.y') });
  });

  it('accepts the same credential in both, and refuses two different ones, naming the header', () => {
    expect(helloCredential(hello('t'), 't').ok).toBe(true);
    const refused = helloCredential(hello('t'), 'u');
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.message).toContain('Authorization: Bearer');
  });
});
