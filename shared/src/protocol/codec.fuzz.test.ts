import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAgentMessageDecoder, createControlMessageDecoder, type Decoded } from './codec.js';
import { agentMessageSchemas, controlMessageSchemas } from './messages.js';

// Generated input thrown at both ends' stream decoders (issue 16, fuzzing):
// whatever arrives, the decoder returns a typed message or a clear error with
// a stable code, and never throws. The suite runs a few thousand cases per
// target; `MESHLET_FUZZ_RUNS=100000 npx vitest run shared/src/protocol/codec.fuzz.test.ts`
// runs the long campaign recorded in docs/reliability.md.

const RUNS = Number(process.env.MESHLET_FUZZ_RUNS ?? 2000);
const MAX_BYTES = 64 * 1024;

const decoders = [
  { end: 'control plane (agent messages)', decode: createAgentMessageDecoder(MAX_BYTES), types: agentMessageSchemas },
  {
    end: 'agent (control-plane messages)',
    decode: createControlMessageDecoder(MAX_BYTES),
    types: controlMessageSchemas,
  },
] as const;

/** The decoder's contract, whatever the frame: a known message type, or an error with a code and a message. */
function holds(result: Decoded<{ type: string }>, types: Record<string, unknown>): void {
  if (result.ok) {
    expect(Object.keys(types)).toContain(result.message.type);
    return;
  }
  expect(result.error.type).toBe('error');
  expect(result.error.code).toMatch(/^MESHLET_[A-Z_]+$/);
  expect(result.error.message.length).toBeGreaterThan(0);
  if (result.error.field !== undefined) expect(typeof result.error.field).toBe('string');
}

/** A frame shaped like a message: a real `type`, then any fields, so that the schemas themselves are exercised. */
const shaped = (types: Record<string, unknown>) =>
  fc
    .record({
      type: fc.constantFrom(...Object.keys(types)),
      rest: fc.dictionary(
        fc.oneof(
          fc.constantFrom('version', 'nonce', 'agentId', 'instance', 'services', 'trust', 'endpoints', 'csrPem', 'seq'),
          fc.string(),
        ),
        fc.jsonValue({ maxDepth: 4 }),
        { maxKeys: 8 },
      ),
    })
    .map(({ type, rest }) => JSON.stringify({ ...rest, type }));

describe('the stream decoders under generated input', () => {
  for (const { end, decode, types } of decoders) {
    it(`${end}: any string, JSON value, message-shaped object or bytes gives a message or a clear error, never a throw`, () => {
      const frames = fc.oneof(
        fc.string({ maxLength: 2000 }),
        fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v) ?? 'null'),
        shaped(types),
        fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
      );
      fc.assert(
        fc.property(frames, (frame) => holds(decode(frame) as Decoded<{ type: string }>, types)),
        { numRuns: RUNS },
      );
    });
  }

  it('refuses a frame over the size limit by its length, before parsing it', () => {
    for (const { decode } of decoders) {
      const result = decode('x'.repeat(MAX_BYTES + 1));
      expect(result.ok).toBe(false);
    }
  });
});
