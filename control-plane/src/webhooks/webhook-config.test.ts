import { compileValidator, ControlPlaneConfig } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';

// The `webhooks` section of the control plane's config, as the config loader
// validates it (defaults filled in).
const validate = compileValidator(ControlPlaneConfig, { useDefaults: true });

describe('webhooks config', () => {
  it('is empty by default and fills in format, kinds and timeoutMs', () => {
    const none = validate({});
    expect(none.ok && none.value.webhooks).toEqual([]);
    const one = validate({
      webhooks: [{ url: 'https://hooks.example.com/meshlet', headers: { Authorization: 'Bearer x' } }],
    });
    expect(one.ok && one.value.webhooks).toEqual([
      {
        url: 'https://hooks.example.com/meshlet',
        format: 'json',
        kinds: ['health', 'failover', 'drain', 'sharding', 'primary'],
        timeoutMs: 5000,
        headers: { Authorization: 'Bearer x' },
      },
    ]);
  });

  it.each([
    ['a URL that is not http(s)', { url: 'ftp://example.com/x' }, 'webhooks.0.url'],
    ['an unknown format', { url: 'http://127.0.0.1:9/x', format: 'xml' }, 'webhooks.0.format'],
    ['an unknown kind', { url: 'http://127.0.0.1:9/x', kinds: ['health', 'ring'] }, 'webhooks.0.kinds.1'],
    ['no kind at all', { url: 'http://127.0.0.1:9/x', kinds: [] }, 'webhooks.0.kinds'],
    [
      'a header value with a line break',
      { url: 'http://127.0.0.1:9/x', headers: { 'X-A': 'a\r\nX-B: b' } },
      'webhooks.0.headers.X-A',
    ],
    ['a header name with a space', { url: 'http://127.0.0.1:9/x', headers: { 'X A': 'a' } }, 'webhooks.0.headers.X A'],
    ['an unknown field', { url: 'http://127.0.0.1:9/x', minIntervalMs: 10 }, 'webhooks.0.minIntervalMs'],
  ])('refuses %s', (_what, hook, path) => {
    const r = validate({ webhooks: [hook] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain(path);
  });

  it('refuses more than 20 webhooks', () => {
    const r = validate({ webhooks: Array.from({ length: 21 }, (_, i) => ({ url: `http://127.0.0.1:9/${i}` })) });
    expect(r.ok).toBe(false);
  });
});
