import { describe, expect, it } from 'vitest';
import { createAgentMessageDecoder, createControlMessageDecoder } from './codec.js';

const decode = createAgentMessageDecoder(1024);

describe('agent message decoder', () => {
  it('accepts a valid hello and ignores unknown fields (forward compatibility)', () => {
    const r = decode(JSON.stringify({ type: 'hello', protocolVersion: 1, agentId: 'a-1', tableVersion: 0, futureField: true }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.message).toMatchObject({ type: 'hello', agentId: 'a-1' });
  });

  it('decodes Buffers as well as strings', () => {
    expect(decode(Buffer.from('{"type":"heartbeat","seq":3}')).ok).toBe(true);
  });

  it.each([
    ['{nope', 'MESHLET_PROTOCOL_INVALID_JSON', undefined],
    ['[1,2]', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['{"seq":1}', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['{"type":"routes","version":1}', 'MESHLET_PROTOCOL_UNKNOWN_TYPE', 'type'],
    ['{"type":"health","status":"meh"}', 'MESHLET_PROTOCOL_SCHEMA', 'status'],
    ['{"type":"ack","version":0,"nonce":"x"}', 'MESHLET_PROTOCOL_SCHEMA', 'version'],
  ])('refuses %s with %s', (frame, code, field) => {
    const r = decode(frame);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(code);
      expect(r.error.field).toBe(field);
      expect(r.error.message.length).toBeGreaterThan(10);
    }
  });

  it('refuses a message over the limit before parsing it', () => {
    const r = decode(`{"type":"heartbeat","seq":1,"pad":"${'x'.repeat(2000)}"}`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('MESHLET_PROTOCOL_TOO_LARGE');
  });

  it('does not let an agent send a routing table', () => {
    expect(createControlMessageDecoder(1024)('{"type":"hello"}').ok).toBe(false);
    const table = { type: 'routes', version: 2, nonce: 'n', services: { hello: { endpoints: [] } } };
    expect(createControlMessageDecoder(1024)(JSON.stringify(table)).ok).toBe(true);
  });
});
