import { describe, expect, it } from 'vitest';
import { streamUpgradeHeaders } from './stream-upgrade-headers.js';

describe('streamUpgradeHeaders', () => {
  it('sends the join credential as a bearer token', () => {
    expect(streamUpgradeHeaders('mjc_abc.def')).toEqual({ authorization: 'Bearer mjc_abc.def' });
  });

  it('sends nothing without a credential', () => {
    expect(streamUpgradeHeaders(undefined)).toEqual({});
  });

  it('leaves a token that cannot be a header value to the hello', () => {
    expect(streamUpgradeHeaders('has a space in it')).toEqual({});
    expect(streamUpgradeHeaders('line\nbreak')).toEqual({});
    expect(streamUpgradeHeaders('naïve-token-value')).toEqual({});
  });
});
