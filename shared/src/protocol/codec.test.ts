import { describe, expect, it } from 'vitest';
import { createAgentMessageDecoder, createControlMessageDecoder, type Decoded } from './codec.js';

const decode = createAgentMessageDecoder(1024);

describe('agent message decoder', () => {
  it('accepts a valid hello and ignores unknown fields (forward compatibility)', () => {
    const r = decode(
      JSON.stringify({ type: 'hello', protocolVersion: 1, agentId: 'a-1', tableVersion: 0, futureField: true }),
    );
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

// Every agent message type, each refusal code with the field it names, and
// the size limit counted in bytes for both frame kinds.

const decodeAgent = createAgentMessageDecoder(4096);
const decodeControl = createControlMessageDecoder(4096);

const instance = {
  service: 'orders',
  id: 'orders-1',
  host: '10.0.0.7',
  port: 15006,
  tier: 0,
  weight: 1,
  labels: { role: 'primary' },
};

function refusal<M>(r: Decoded<M>): { code: string; field: string | undefined; message: string } {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r.message)}`);
  expect(r.error.type).toBe('error');
  return { code: r.error.code, field: r.error.field, message: r.error.message };
}

describe('agent message decoder: valid messages', () => {
  it.each([
    ['hello of a client-only agent', { type: 'hello', protocolVersion: 1, agentId: 'client-1', tableVersion: 0 }],
    [
      'hello with an instance and a join token',
      { type: 'hello', protocolVersion: 1, agentId: 'orders-1', joinToken: 't', instance, tableVersion: 7 },
    ],
    [
      'hello with a zoned instance',
      {
        type: 'hello',
        protocolVersion: 1,
        agentId: 'orders-1',
        instance: { ...instance, zone: 'eu-1a' },
        tableVersion: 0,
      },
    ],
    ['heartbeat', { type: 'heartbeat', seq: 0 }],
    ['healthy report', { type: 'health', status: 'healthy' }],
    ['unhealthy report with a reason', { type: 'health', status: 'unhealthy', reason: 'GET /healthz answered 503' }],
    ['ack', { type: 'ack', version: 3, nonce: 'abc' }],
    [
      'ack with ring checksums',
      { type: 'ack', version: 3, nonce: 'abc', ringChecksums: { orders: { version: 2, checksum: 'f00d' } } },
    ],
    [
      'nack of an undecodable table (version 0, empty nonce)',
      { type: 'nack', version: 0, nonce: '', error: 'not JSON' },
    ],
    ['nack', { type: 'nack', version: 4, nonce: 'n4', error: 'could not build the routing table' }],
    ['error', { type: 'error', code: 'MESHLET_PROTOCOL_SCHEMA', message: 'bad', field: 'version' }],
  ])('decodes a %s unchanged', (_what, message) => {
    const r = decodeAgent(JSON.stringify(message));
    expect(r).toEqual({ ok: true, message });
  });

  it('accepts unknown fields at the top level and inside nested objects (a newer peer may add fields)', () => {
    const message = {
      type: 'hello',
      protocolVersion: 1,
      agentId: 'orders-1',
      tableVersion: 0,
      instance: { ...instance, region: 'eu' },
      capabilities: ['ring-hash'],
    };
    const r = decodeAgent(JSON.stringify(message));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.message).toEqual(message);
    expect(decodeAgent('{"type":"ack","version":1,"nonce":"n","appliedAt":123}').ok).toBe(true);
  });
});

describe('agent message decoder: refusals', () => {
  it.each([
    ['truncated JSON', '{"type":"heartbeat",', 'MESHLET_PROTOCOL_INVALID_JSON', undefined],
    ['an empty frame', '', 'MESHLET_PROTOCOL_INVALID_JSON', undefined],
    ['null', 'null', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['a number', '42', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['a string', '"hello"', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['an array', '[{"type":"heartbeat","seq":1}]', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['an object without type', '{"seq":1}', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['a numeric type', '{"type":5,"seq":1}', 'MESHLET_PROTOCOL_SCHEMA', 'type'],
    ['an unknown type', '{"type":"teleport"}', 'MESHLET_PROTOCOL_UNKNOWN_TYPE', 'type'],
    [
      'a table sent the wrong way',
      '{"type":"routes","version":1,"nonce":"n","services":{}}',
      'MESHLET_PROTOCOL_UNKNOWN_TYPE',
      'type',
    ],
    ['a heartbeat without seq', '{"type":"heartbeat"}', 'MESHLET_PROTOCOL_SCHEMA', 'seq'],
    ['a negative heartbeat seq', '{"type":"heartbeat","seq":-1}', 'MESHLET_PROTOCOL_SCHEMA', 'seq'],
    ['a fractional heartbeat seq', '{"type":"heartbeat","seq":1.5}', 'MESHLET_PROTOCOL_SCHEMA', 'seq'],
    ['a health status outside the enum', '{"type":"health","status":"degraded"}', 'MESHLET_PROTOCOL_SCHEMA', 'status'],
    ['an ack without nonce', '{"type":"ack","version":1}', 'MESHLET_PROTOCOL_SCHEMA', 'nonce'],
    ['an ack with an empty nonce', '{"type":"ack","version":1,"nonce":""}', 'MESHLET_PROTOCOL_SCHEMA', 'nonce'],
    ['a nack without error', '{"type":"nack","version":1,"nonce":"n"}', 'MESHLET_PROTOCOL_SCHEMA', 'error'],
    [
      'a hello with a bad agent id',
      '{"type":"hello","protocolVersion":1,"agentId":"-x","tableVersion":0}',
      'MESHLET_PROTOCOL_SCHEMA',
      'agentId',
    ],
  ])('refuses %s', (_what, frame, code, field) => {
    const e = refusal(decodeAgent(frame));
    expect(e.code).toBe(code);
    expect(e.field).toBe(field);
  });

  it('names the nested field of a bad instance and says what is wrong with it', () => {
    const hello = {
      type: 'hello',
      protocolVersion: 1,
      agentId: 'orders-1',
      tableVersion: 0,
      instance: { ...instance, port: 70000 },
    };
    const e = refusal(decodeAgent(JSON.stringify(hello)));
    expect(e).toMatchObject({ code: 'MESHLET_PROTOCOL_SCHEMA', field: 'instance.port' });
    expect(e.message).toContain('"hello"');
    expect(e.message).toContain('instance.port must be <= 65535');
  });

  it('names a service name that is not a DNS label', () => {
    const hello = {
      type: 'hello',
      protocolVersion: 1,
      agentId: 'orders-1',
      tableVersion: 0,
      instance: { ...instance, service: 'Orders_API' },
    };
    expect(refusal(decodeAgent(JSON.stringify(hello)))).toMatchObject({
      code: 'MESHLET_PROTOCOL_SCHEMA',
      field: 'instance.service',
    });
  });

  it('lists the known types when refusing an unknown one, and does not echo a huge type back', () => {
    const e = refusal(decodeAgent(JSON.stringify({ type: 'x'.repeat(1000) })));
    expect(e.message).toContain('hello, heartbeat, health, subscribe, observations, ack, nack, csr, coord, error');
    expect(e.message.length).toBeLessThan(300);
  });
});

describe('size limit', () => {
  const limit = 64;
  const decode = createAgentMessageDecoder(limit);
  const frameOfSize = (bytes: number): string => {
    const head = '{"type":"heartbeat","seq":1,"pad":"';
    return `${head}${'x'.repeat(bytes - head.length - 2)}"}`;
  };

  it('accepts a frame of exactly the limit and refuses one byte more, as string and as Buffer', () => {
    expect(Buffer.byteLength(frameOfSize(limit))).toBe(limit);
    expect(decode(frameOfSize(limit)).ok).toBe(true);
    expect(decode(Buffer.from(frameOfSize(limit))).ok).toBe(true);
    for (const frame of [frameOfSize(limit + 1), Buffer.from(frameOfSize(limit + 1))]) {
      const e = refusal(decode(frame));
      expect(e.code).toBe('MESHLET_PROTOCOL_TOO_LARGE');
      expect(e.field).toBeUndefined();
      expect(e.message).toContain(`${limit + 1} bytes`);
    }
  });

  it('counts UTF-8 bytes of a string, not characters', () => {
    // 60 characters but 85 bytes: each "é" is two bytes in UTF-8.
    const frame = `{"type":"heartbeat","seq":1,"p":"${'é'.repeat(25)}"}`;
    expect(frame.length).toBeLessThanOrEqual(limit);
    expect(refusal(decode(frame)).code).toBe('MESHLET_PROTOCOL_TOO_LARGE');
  });

  it('checks the size before parsing, so an oversized frame of garbage is reported as too large', () => {
    expect(refusal(decode('{'.repeat(limit + 1))).code).toBe('MESHLET_PROTOCOL_TOO_LARGE');
    expect(refusal(decode(Buffer.alloc(limit + 1, 0xff))).code).toBe('MESHLET_PROTOCOL_TOO_LARGE');
  });
});

describe('control message decoder', () => {
  const endpoint = { id: 'orders-1', host: '10.0.0.7', port: 15006, tier: 0, weight: 1, labels: {} };

  it('decodes a routing table and an error, from a string or a Buffer', () => {
    const table = {
      type: 'routes',
      version: 9,
      nonce: 'n9',
      services: { orders: { endpoints: [endpoint] }, empty: { endpoints: [] } },
    };
    expect(decodeControl(JSON.stringify(table))).toEqual({ ok: true, message: table });
    expect(decodeControl(Buffer.from(JSON.stringify(table)))).toEqual({ ok: true, message: table });
    expect(decodeControl('{"type":"error","code":"MESHLET_JOIN_TOKEN_INVALID","message":"m"}').ok).toBe(true);
  });

  it.each([
    ['version 0', { type: 'routes', version: 0, nonce: 'n', services: {} }, 'version'],
    ['no nonce', { type: 'routes', version: 1, services: {} }, 'nonce'],
    ['no services', { type: 'routes', version: 1, nonce: 'n' }, 'services'],
    [
      'an endpoint port out of range',
      { type: 'routes', version: 1, nonce: 'n', services: { orders: { endpoints: [{ ...endpoint, port: 0 }] } } },
      'services.orders.endpoints.0.port',
    ],
    [
      'an endpoint without host',
      {
        type: 'routes',
        version: 1,
        nonce: 'n',
        services: { orders: { endpoints: [{ ...endpoint, host: undefined }] } },
      },
      'services.orders.endpoints.0.host',
    ],
  ])('refuses a table with %s, naming the field', (_what, table, field) => {
    expect(refusal(decodeControl(JSON.stringify(table)))).toMatchObject({ code: 'MESHLET_PROTOCOL_SCHEMA', field });
  });

  it('refuses the agent-only message types', () => {
    for (const type of ['hello', 'heartbeat', 'health', 'ack', 'nack']) {
      const e = refusal(decodeControl(JSON.stringify({ type })));
      expect(e.code).toBe('MESHLET_PROTOCOL_UNKNOWN_TYPE');
      expect(e.message).toContain('routes, identity, certificate, coordResult, coordEvent, error');
    }
  });
});

describe('review regressions', () => {
  const control = createControlMessageDecoder(4096);
  const agent = createAgentMessageDecoder(4096);

  it('refuses a routing table whose service name is not a DNS label', () => {
    const r = control(JSON.stringify({ type: 'routes', version: 1, nonce: 'n', services: { x_y: { endpoints: [] } } }));
    expect(r.ok).toBe(false);
  });

  it('refuses a hello whose tableVersion would stop versions from growing', () => {
    const r = agent(JSON.stringify({ type: 'hello', protocolVersion: 1, agentId: 'a', tableVersion: 2 ** 53 }));
    expect(r.ok).toBe(false);
  });

  it('refuses an empty or overlong label key', () => {
    for (const key of ['', 'k'.repeat(64)]) {
      const instance = { service: 's', id: 'i', host: 'h', port: 1, tier: 0, weight: 1, labels: { [key]: 'v' } };
      expect(
        agent(JSON.stringify({ type: 'hello', protocolVersion: 1, agentId: 'a', tableVersion: 0, instance })).ok,
      ).toBe(false);
    }
  });
});
