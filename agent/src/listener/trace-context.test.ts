import { describe, expect, it } from 'vitest';
import { addTraceContextRaw, newTraceId } from './trace-context.js';

describe('trace context', () => {
  it('draws trace ids of 32 hex digits from its pool, all different across refills', () => {
    const seen = new Set<string>();
    // 600 ids: more than two refills of the 256-id pool.
    for (let i = 0; i < 600; i++) {
      const id = newTraceId();
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(id.slice(8, 24)).not.toBe('0000000000000000');
      seen.add(id);
    }
    expect(seen.size).toBe(600);
  });

  it('starts a sampled traceparent whose span id is digits 8 to 24 of the trace id, and an x-request-id', () => {
    const headers = ['host', 'hello'];
    const ids = addTraceContextRaw(headers);
    const tp = headers[headers.indexOf('traceparent') + 1];
    expect(tp).toBe(`00-${ids.traceId}-${ids.traceId.slice(8, 24)}-01`);
    expect(headers[headers.indexOf('x-request-id') + 1]).toBe(ids.traceId);
    expect(ids.requestId).toBe(ids.traceId);
  });

  it('keeps a valid traceparent and an x-request-id the caller sent', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const headers = ['TraceParent', tp, 'X-Request-Id', 'abc'];
    expect(addTraceContextRaw(headers)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', requestId: 'abc' });
    expect(headers).toEqual(['TraceParent', tp, 'X-Request-Id', 'abc']);
  });
});
