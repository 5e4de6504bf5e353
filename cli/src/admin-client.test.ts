import { describe, expect, it } from 'vitest';
import { leaderTarget } from './admin-client.js';

const refusal = (leader: unknown, code = 'MESHLET_NOT_LEADER') =>
  JSON.stringify({ error: { code, message: 'this control-plane replica follows', leader } });

describe('leaderTarget', () => {
  it("is the leader's URL, without a trailing slash", () => {
    expect(leaderTarget(refusal('http://10.0.0.1:15010'), 'http://10.0.0.2:15010')).toEqual({
      url: 'http://10.0.0.1:15010',
    });
    expect(leaderTarget(refusal('https://cp-1.example:15010/'), 'https://cp.example:15010')).toEqual({
      url: 'https://cp-1.example:15010',
    });
    // http to https is fine: only the other way round exposes the token.
    expect(leaderTarget(refusal('https://10.0.0.1:15010'), 'http://10.0.0.2:15010')).toEqual({
      url: 'https://10.0.0.1:15010',
    });
  });

  it('is none for another error, no leader, something that is not an http(s) URL, or the server itself', () => {
    const server = 'http://10.0.0.2:15010';
    expect(leaderTarget(refusal('http://10.0.0.1:15010', 'MESHLET_CONFLICT'), server)).toBeUndefined();
    for (const leader of [
      undefined,
      null,
      '',
      42,
      'not a url',
      'ftp://10.0.0.1',
      'http://10.0.0.1:15010/?x=1',
      'http://10.0.0.1:15010/#top',
      `${server}/`,
    ]) {
      expect(leaderTarget(refusal(leader), server), String(leader)).toBeUndefined();
    }
    expect(leaderTarget('<html>Service Unavailable</html>', server)).toBeUndefined();
  });

  it('refuses to send the token over plain http when the server was reached over https', () => {
    const t = leaderTarget(refusal('http://10.0.0.1:15010'), 'https://cp.example:15010');
    expect(t).toEqual({
      refused: expect.stringMatching(
        /^meshctl did not resend it to the leader at http:\/\/10\.0\.0\.1:15010: that URL is plain http and the token would cross the network unencrypted; /,
      ),
    });
  });
});
