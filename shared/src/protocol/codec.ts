import type { TSchema } from '@sinclair/typebox';
import { SharedErrorCodes } from '../errors.js';
import { compileValidator, type Validator } from '../validation.js';
import {
  type AgentMessage,
  agentMessageSchemas,
  type ControlMessage,
  controlMessageSchemas,
  type ErrorMessage,
} from './messages.js';

/** The result of decoding one frame: the typed message, or the error to send back. */
export type Decoded<M> = { ok: true; message: M } | { ok: false; error: ErrorMessage };

/** Decodes frames against a table of message schemas keyed by `type`. */
export type Decoder<M> = (frame: string | Buffer) => Decoded<M>;

function error(code: string, message: string, field?: string): { ok: false; error: ErrorMessage } {
  return {
    ok: false,
    error: field === undefined ? { type: 'error', code, message } : { type: 'error', code, message, field },
  };
}

/**
 * Builds a decoder. Looking the validator up by `type` first (rather than
 * validating a union) keeps the error about the one message the peer meant.
 */
export function createDecoder<M>(schemas: Record<string, TSchema>, maxBytes: number): Decoder<M> {
  const validators = new Map<string, Validator<TSchema>>();
  for (const [type, schema] of Object.entries(schemas)) validators.set(type, compileValidator(schema));
  const known = [...validators.keys()].join(', ');
  return (frame) => {
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
    if (size > maxBytes) {
      return error(
        SharedErrorCodes.PROTOCOL_TOO_LARGE,
        `message of ${size} bytes exceeds the limit of ${maxBytes} bytes; send smaller messages or raise the limit`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof frame === 'string' ? frame : frame.toString('utf8'));
    } catch (e) {
      return error(SharedErrorCodes.PROTOCOL_INVALID_JSON, `message is not valid JSON (${(e as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return error(SharedErrorCodes.PROTOCOL_SCHEMA, 'message must be a JSON object with a "type" field', 'type');
    }
    const type = (parsed as { type?: unknown }).type;
    if (typeof type !== 'string') {
      return error(SharedErrorCodes.PROTOCOL_SCHEMA, 'message has no string "type" field', 'type');
    }
    const validate = validators.get(type);
    if (!validate) {
      return error(
        SharedErrorCodes.PROTOCOL_UNKNOWN_TYPE,
        `unknown message type "${type.slice(0, 64)}"; expected one of ${known}`,
        'type',
      );
    }
    const result = validate(parsed);
    if (!result.ok) {
      const first = result.issues[0];
      const detail = result.issues.map((i) => `${i.path || '(root)'} ${i.problem}`).join('; ');
      return error(SharedErrorCodes.PROTOCOL_SCHEMA, `invalid "${type}" message: ${detail}`, first?.path);
    }
    return { ok: true, message: parsed as M };
  };
}

/** Decoder used by the control plane for what agents send. */
export function createAgentMessageDecoder(maxBytes: number): Decoder<AgentMessage> {
  return createDecoder<AgentMessage>(agentMessageSchemas, maxBytes);
}

/** Decoder used by the agent for what the control plane sends. */
export function createControlMessageDecoder(maxBytes: number): Decoder<ControlMessage> {
  return createDecoder<ControlMessage>(controlMessageSchemas, maxBytes);
}
