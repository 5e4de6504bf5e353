import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { applyAgentV8Flags } from './apply-agent-v8-flags.js';

describe('applyAgentV8Flags', () => {
  it('applies nothing when MESHLET_AGENT_V8_FLAGS is unset or blank', () => {
    expect(applyAgentV8Flags({})).toBe('');
    expect(applyAgentV8Flags({ MESHLET_AGENT_V8_FLAGS: '  ' })).toBe('');
  });

  it('applies the flags given, trimmed', () => {
    // --stack-size only changes later frames' limit: harmless inside the test process.
    expect(applyAgentV8Flags({ MESHLET_AGENT_V8_FLAGS: ' --stack-size=984 ' })).toBe('--stack-size=984');
    expect(getHeapStatistics().total_heap_size).toBeGreaterThan(0);
  });
});
