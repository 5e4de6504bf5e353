import { fuzzRuns } from '@meshlet/test-harness/fuzz-values';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeHealthCheckResponse, encodeHealthCheckRequest } from './grpc-health-message.js';

// protobufjs (what @grpc/proto-loader encodes with) is the reference the hand-made codec is checked against.
const root = protobuf.Root.fromJSON({
  nested: {
    Req: { fields: { service: { type: 'string', id: 1 } } },
    Res: {
      fields: { status: { type: 'int32', id: 1 }, extra: { type: 'string', id: 7 }, big: { type: 'fixed64', id: 9 } },
    },
  },
});
const Req = root.lookupType('Req');
const Res = root.lookupType('Res');
const frame = (msg: Uint8Array) =>
  Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), Buffer.from(msg)]).fill(0, 1, 4);

describe('grpc.health.v1 messages by hand', () => {
  it('encodes HealthCheckRequest as protobufjs does, in a gRPC frame', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: 'grapheme' }), (service) => {
        const got = encodeHealthCheckRequest(service);
        expect(got.readUInt8(0)).toBe(0);
        expect(got.readUInt32BE(1)).toBe(got.length - 5);
        expect(Req.decode(got.subarray(5)).toJSON()).toEqual(service === '' ? {} : { service });
        // protobufjs (proto2 semantics here) writes an empty string field that proto3 leaves out.
        if (service !== '') expect(Buffer.from(got.subarray(5))).toEqual(Buffer.from(Req.encode({ service }).finish()));
      }),
      { numRuns: fuzzRuns(200) },
    );
  });

  it('decodes the status of a HealthCheckResponse, skipping fields it does not know', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.option(fc.string({ maxLength: 40 })), (status, extra) => {
        const msg = Res.encode({ status, ...(extra === null ? {} : { extra, big: 7 }) }).finish();
        const body = Buffer.concat([Buffer.from([0]), Buffer.alloc(4), Buffer.from(msg)]);
        body.writeUInt32BE(msg.length, 1);
        expect(decodeHealthCheckResponse(body)).toEqual({ status });
      }),
      { numRuns: fuzzRuns(200) },
    );
    expect(decodeHealthCheckResponse(frame(new Uint8Array()))).toEqual({ status: 0 });
  });

  it('names what is wrong with an answer that is not a HealthCheckResponse frame', () => {
    expect(decodeHealthCheckResponse(Buffer.alloc(0))).toEqual({ error: 'an empty answer' });
    expect(decodeHealthCheckResponse(Buffer.from([0, 0, 0]))).toEqual({ error: 'a truncated gRPC frame' });
    expect(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 9, 8]))).toEqual({ error: 'a truncated gRPC frame' });
    expect(decodeHealthCheckResponse(Buffer.from([1, 0, 0, 0, 2, 8, 1]))).toEqual({
      error: 'a compressed gRPC frame (none was offered)',
    });
    expect(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 8, 0x80]))).toEqual({
      error: 'a malformed HealthCheckResponse',
    });
    expect(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x12, 5]))).toEqual({
      error: 'a malformed HealthCheckResponse',
    });
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const r = decodeHealthCheckResponse(Buffer.from(bytes));
        expect('status' in r || 'error' in r).toBe(true);
      }),
      { numRuns: fuzzRuns(500) },
    );
  });
});
