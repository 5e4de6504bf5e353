import { type InstanceRole, isServiceName } from '@meshlet/shared';

/** The ALPN protocol of a TCP connection between agents inside mutual TLS. */
export const TCP_ALPN = 'meshlet-tcp/1';

/** The first line of a plaintext TCP connection to an inbound listener (agents without identity, permissive mode). */
export const TCP_MAGIC = Buffer.from('MESHLET-TCP/1\n', 'latin1');

/** The longest preamble line a callee reads, newline included: a caller sending more is refused. */
export const MAX_PREAMBLE_BYTES = 1024;

/** Longest message carried in an `ERR` answer (the line stays short, and never holds more than the callee says). */
const MAX_ERR_MESSAGE = 300;

/**
 * What a caller's agent says first on a TCP connection to a callee's agent:
 * the service it means, and for `role: primary` the failover term it
 * believes in (the callee's fence refuses any other term).
 */
export interface TcpPreamble {
  v: 1;
  service: string;
  role?: InstanceRole | undefined;
  term?: number | undefined;
}

/** A preamble read from a line, or why it cannot be. */
export type ParsedPreamble = { ok: true; preamble: TcpPreamble } | { ok: false; problem: string };

/** What a callee answered: `OK`, or `ERR CODE message`. */
export type TcpAnswer = { ok: true } | { ok: false; code: string; message: string };

/** The preamble as the caller sends it: one line of JSON. */
export function encodePreamble(p: TcpPreamble): Buffer {
  const body: TcpPreamble = { v: 1, service: p.service };
  if (p.role !== undefined) body.role = p.role;
  if (p.term !== undefined) body.term = p.term;
  return Buffer.from(`${JSON.stringify(body)}\n`, 'utf8');
}

/** Reads one preamble line (without its newline); every field is checked, unknown ones refused. */
export function parsePreamble(line: string): ParsedPreamble {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, problem: 'the preamble is not one line of JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, problem: 'the preamble is not a JSON object' };
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!['v', 'service', 'role', 'term'].includes(key))
      return { ok: false, problem: `the preamble has an unknown field ${JSON.stringify(key.slice(0, 40))}` };
  if (o.v !== 1) return { ok: false, problem: 'the preamble version "v" must be 1' };
  if (typeof o.service !== 'string' || !isServiceName(o.service))
    return { ok: false, problem: 'the preamble\'s "service" is not a service name' };
  if (o.role !== undefined && o.role !== 'primary' && o.role !== 'replica')
    return { ok: false, problem: 'the preamble\'s "role" must be primary or replica' };
  if (o.term !== undefined && !(Number.isSafeInteger(o.term) && (o.term as number) >= 0))
    return { ok: false, problem: 'the preamble\'s "term" must be a non-negative integer' };
  const preamble: TcpPreamble = { v: 1, service: o.service };
  if (o.role !== undefined) preamble.role = o.role as InstanceRole;
  if (o.term !== undefined) preamble.term = o.term as number;
  return { ok: true, preamble };
}

/** The callee's answer that admits the connection: from the next byte on, the app's bytes. */
export const TCP_OK = Buffer.from('OK\n', 'latin1');

/** The callee's refusal: one line, code and a bounded message with no line breaks, then the connection closes. */
export function encodeRefusal(code: string, message: string): Buffer {
  const text = message.replace(/[\r\n]+/g, ' ').slice(0, MAX_ERR_MESSAGE);
  return Buffer.from(`ERR ${code} ${text}\n`, 'utf8');
}

/** Reads the callee's answer line (without its newline). */
export function parseAnswer(line: string): TcpAnswer {
  if (line === 'OK') return { ok: true };
  const m = /^ERR ([A-Z0-9_]{1,64})(?: (.*))?$/.exec(line);
  if (m) return { ok: false, code: m[1] as string, message: m[2] ?? '' };
  return {
    ok: false,
    code: 'MESHLET_TCP_PREAMBLE_INVALID',
    message: `the callee answered ${JSON.stringify(line.slice(0, 80))}`,
  };
}
