/**
 * The two tiny protobuf messages of the gRPC health checking protocol
 * (grpc.health.v1), encoded by hand so the agent needs no protobuf or gRPC
 * library: `HealthCheckRequest { string service = 1; }` and
 * `HealthCheckResponse { ServingStatus status = 1; }`, each in gRPC's
 * length-prefixed frame (1 byte compressed flag, 4 bytes big-endian length).
 */

/** `HealthCheckResponse.ServingStatus` by number. */
export const SERVING_STATUS: Readonly<Record<number, string>> = {
  0: 'UNKNOWN',
  1: 'SERVING',
  2: 'NOT_SERVING',
  3: 'SERVICE_UNKNOWN',
};

/** The gRPC status code names (grpc-status trailer), for readable reasons. */
export const GRPC_CODE_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** The gRPC frame of a `HealthCheckRequest` for `service` ("" = the whole server: an empty message). */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const message =
    name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** Reads a varint at `at`; `undefined` past the end or over 64 bits. */
function readVarint(buf: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/**
 * The `status` of the gRPC frame(s) of a `HealthCheckResponse` (0, UNKNOWN,
 * when the field is absent, as proto3 defines), or an error naming what is
 * wrong: no frame, a compressed frame (the agent offers no compression), a
 * truncated or malformed message. Unknown fields are skipped.
 */
export function decodeHealthCheckResponse(body: Buffer): { status: number } | { error: string } {
  if (body.length < 5) return { error: body.length === 0 ? 'an empty answer' : 'a truncated gRPC frame' };
  if (body[0] !== 0) return { error: 'a compressed gRPC frame (none was offered)' };
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) return { error: 'a truncated gRPC frame' };
  const msg = body.subarray(5, 5 + length);
  let status = 0;
  let at = 0;
  while (at < msg.length) {
    const key = readVarint(msg, at);
    if (!key) return { error: 'a malformed HealthCheckResponse' };
    at = key.next;
    const field = Math.floor(key.value / 8);
    const wire = key.value % 8;
    if (wire === 0) {
      const v = readVarint(msg, at);
      if (!v) return { error: 'a malformed HealthCheckResponse' };
      if (field === 1) status = v.value;
      at = v.next;
    } else if (wire === 2) {
      const len = readVarint(msg, at);
      if (!len || len.next + len.value > msg.length) return { error: 'a malformed HealthCheckResponse' };
      at = len.next + len.value;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
      if (at > msg.length) return { error: 'a malformed HealthCheckResponse' };
    } else {
      return { error: 'a malformed HealthCheckResponse' };
    }
  }
  return { status };
}
