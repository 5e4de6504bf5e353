import { AgentConfig, ConfigError, compileValidator, createLogger } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { Agent } from '../agent.js';
import { controlPlaneUrlIssues, controlPlaneUrls, DEFAULT_CONTROL_PLANE_URL } from './control-plane-urls.js';

const validate = compileValidator(AgentConfig, { useDefaults: true });
const config = (controlPlane: Record<string, unknown>) => {
  const r = validate({ agentId: 'a-1', controlPlane });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
};

describe('controlPlane.url and controlPlane.urls', () => {
  it('falls back to the default stream when neither is set', () => {
    expect(controlPlaneUrls(config({}).controlPlane)).toEqual([DEFAULT_CONTROL_PLANE_URL]);
  });

  it('uses url alone, or the whole list of urls', () => {
    expect(controlPlaneUrls(config({ url: 'ws://one:1/v1/stream' }).controlPlane)).toEqual(['ws://one:1/v1/stream']);
    const urls = ['ws://127.0.0.1:1/v1/stream', 'wss://b:2/v1/stream'];
    expect(controlPlaneUrls(config({ urls }).controlPlane)).toEqual(urls);
    expect(controlPlaneUrlIssues(config({ urls }).controlPlane)).toEqual([]);
  });

  it('refuses both, naming both fields, and so does the agent', () => {
    const c = config({ url: 'ws://127.0.0.1:1/v1/stream', urls: ['ws://localhost:1/v1/stream'] });
    const issues = controlPlaneUrlIssues(c.controlPlane);
    expect(issues).toHaveLength(1);
    const text = JSON.stringify(issues);
    expect(text).toContain('controlPlane.url');
    expect(text).toContain('controlPlane.urls');
    expect(() => new Agent(c, createLogger('test', 'silent'))).toThrow(ConfigError);
  });

  it('refuses an empty list, more than 16 entries, and an entry that is not ws:// or wss://', () => {
    for (const urls of [[], Array.from({ length: 17 }, (_, i) => `ws://h${i}:1/v1/stream`), ['http://a:1/v1/stream']]) {
      expect(validate({ agentId: 'a-1', controlPlane: { urls } }).ok).toBe(false);
    }
    expect(
      validate({
        agentId: 'a-1',
        controlPlane: { urls: Array.from({ length: 16 }, (_, i) => `ws://h${i}:1/v1/stream`) },
      }).ok,
    ).toBe(true);
  });

  it('an agent refuses ws:// to a control plane that is not on loopback, naming the URL, the setting and the fix', () => {
    for (const cp of [
      { url: 'ws://10.0.0.5:15010/v1/stream' },
      { url: 'ws://cp.example:15010/v1/stream' },
      { urls: ['ws://127.0.0.1:1/v1/stream', 'ws://[2001:db8::1]:15010/v1/stream'] },
    ]) {
      const c = config(cp);
      const issues = controlPlaneUrlIssues(c.controlPlane);
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toBe('url' in cp ? 'controlPlane.url' : 'controlPlane.urls');
      expect(issues[0]?.problem).toContain('is plain ws:// to a control plane that is not on loopback');
      expect(issues[0]?.fix).toContain('wss://');
      expect(issues[0]?.fix).toContain('controlPlane.allowPlaintextRemote: true');
      expect(() => new Agent(c, createLogger('test', 'silent'))).toThrow(ConfigError);
    }
  });

  it('takes ws:// on loopback, wss:// anywhere, and ws:// beyond loopback only with allowPlaintextRemote', () => {
    for (const url of [
      'ws://127.0.0.1:1/v1/stream',
      'ws://localhost:1/v1/stream',
      'ws://[::1]:1/v1/stream',
      'wss://cp.example/v1/stream',
    ])
      expect(controlPlaneUrlIssues(config({ url }).controlPlane)).toEqual([]);
    expect(
      controlPlaneUrlIssues(config({ url: 'ws://10.0.0.5:15010/v1/stream', allowPlaintextRemote: true }).controlPlane),
    ).toEqual([]);
  });
});
