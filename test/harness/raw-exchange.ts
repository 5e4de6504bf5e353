import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';

// Raw bytes on a socket for the listener fuzz tests (issue 16): one
// connection per case, the bytes written and the write side closed, then
// read until the server answers, closes, or the deadline passes.

/** What came back: a status line, a close without one, or nothing before the deadline. */
export type RawOutcome = { kind: 'answer'; status: number } | { kind: 'closed' } | { kind: 'deadline' };

/**
 * Sends `bytes` to `127.0.0.1:port` on a new connection, half-closes it
 * (unless `halfClose` is false: a whole request then needs no more bytes)
 * and waits for the first status line (the connection is then dropped), a
 * close, or `deadlineMs`.
 */
export function rawExchange(
  port: number,
  bytes: Uint8Array | string,
  deadlineMs = 3000,
  { halfClose = true }: { halfClose?: boolean } = {},
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let head = '';
    let settled = false;
    const done = (outcome: RawOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done({ kind: 'deadline' }), deadlineMs);
    socket.on('error', () => done({ kind: 'closed' }));
    socket.on('close', () => done({ kind: 'closed' }));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const line = /^HTTP\/1\.[01] (\d{3})[^\n]*\n/.exec(head);
      if (line) done({ kind: 'answer', status: Number(line[1]) });
      else if (head.length > 64 * 1024 || (head.length >= 12 && !head.startsWith('HTTP/')))
        done({ kind: 'answer', status: 0 });
    });
    socket.on('connect', () => {
      socket.write(bytes, () => {
        if (halfClose) socket.end();
      });
    });
  });
}

let gcFn: (() => void) | undefined;

/** `process.memoryUsage().heapUsed` after a full garbage collection (gc exposed at runtime if need be). */
export function heapAfterGc(): number {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  return process.memoryUsage().heapUsed;
}

const CRLF = '\r\n';

/** Header lines, right and wrong: framing conflicts, upgrades, huge and malformed ones. */
const headerLine = fc.oneof(
  fc.constantFrom(
    'Content-Length: 5',
    'Content-Length: 0',
    'Content-Length: -1',
    'Content-Length: 1, 2',
    'Content-Length: 99999999999999999999',
    'Content-Length:  3 ',
    'Content-Length: 0x10',
    'Transfer-Encoding: chunked',
    'Transfer-Encoding: chunked, identity',
    'Transfer-Encoding: gzip, chunked',
    'Transfer-Encoding: identity',
    'Transfer-Encoding: xchunked',
    'Transfer-Encoding:\tchunked',
    'Transfer-Encoding : chunked',
    'Upgrade: websocket',
    'Upgrade: h2c',
    'Upgrade: \u0000',
    'Upgrade: websocket, tls/1.3, x'.repeat(50),
    'Connection: Upgrade',
    'Connection: keep-alive, Upgrade, close',
    'Connection: close',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    'Expect: 100-continue',
    'Expect: 999-odd',
    'Host: 127.0.0.1',
    'Host: ',
    'Host: evil.example',
    'Host: [::1',
    'Host: a b',
    'Origin: http://evil.example',
    'Content-Type: application/json',
    'Content-Type: text/plain; charset=utf-32',
    'Authorization: Bearer x',
    'X-Meshlet-Request: 1',
    ' folded: continuation',
    'no colon here',
    ': no name',
    'X-Nul: a\u0000b',
    'X-High: \u00ff\u00fe',
    'traceparent: 00-zz-zz-01',
  ),
  fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 40 })).map(([n, v]) => `${n}: ${v}`),
  fc.integer({ min: 1, max: 120 }).map((k) => `X-Big: ${'a'.repeat(k * 1024)}`),
  fc.integer({ min: 1, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => `X-Many-${i}: v`).join(CRLF)),
);

/** Bodies after the head: plain bytes, right and wrong chunked encodings. */
const body = fc.oneof(
  fc.constantFrom(
    '',
    'hello',
    '5\r\nhello\r\n0\r\n\r\n',
    'zz\r\nhello\r\n0\r\n\r\n',
    '-1\r\nx\r\n0\r\n\r\n',
    'ffffffffffffffffff\r\nx\r\n',
    '5;ext="x"\r\nhello\r\n0\r\nTrailer: y\r\n\r\n',
    '5\r\nhelloXX0\r\n\r\n',
    '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    '5\nhello\n0\n\n',
  ),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
);

/** One request: an odd or right request line, header lines, line endings, a body. */
const request = (paths: readonly string[]) =>
  fc
    .record({
      method: fc.constantFrom(
        'GET',
        'POST',
        'PUT',
        'DELETE',
        'HEAD',
        'OPTIONS',
        'CONNECT',
        'TRACE',
        'get',
        'PR I',
        'X'.repeat(300),
        '',
      ),
      target: fc.oneof(
        fc.constantFrom(
          ...paths,
          '*',
          '/',
          '//',
          '/%',
          '/%00',
          '/..%2f..%2f',
          'http://evil.example/',
          '127.0.0.1:1',
          '/?a=%zz&b',
        ),
        fc.string({ maxLength: 30 }).map((s) => `/${s}`),
        fc.integer({ min: 1, max: 100 }).map((k) => `/${'p'.repeat(k * 1024)}`),
      ),
      version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/9.9', 'http/1.1', ''),
      host: fc.boolean(),
      headers: fc.array(headerLine, { maxLength: 6 }),
      eol: fc.constantFrom(CRLF, CRLF, CRLF, '\n', '\r'),
      body,
    })
    .map(({ method, target, version, host, headers, eol, body: b }) => {
      const lines = [`${method} ${target} ${version}`, ...(host ? ['Host: 127.0.0.1'] : []), ...headers];
      return `${lines.join(eol)}${eol}${eol}${b}`;
    });

/** A byte-level mutation of a text: bytes flipped, the text cut short. */
const mutate = (text: string) =>
  fc
    .tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.option(fc.nat()))
    .map(([flips, cut]) => {
      const bytes = Buffer.from(text, 'latin1');
      for (const [at, v] of flips) if (bytes.length > 0) bytes[at % bytes.length] = v;
      return cut === null || bytes.length === 0 ? bytes : bytes.subarray(0, cut % bytes.length);
    });

/**
 * Raw bytes for an HTTP/1.1 listener: requests with odd request lines,
 * conflicting framing, upgrades, huge headers and bad chunks (one, or
 * several pipelined), those mutated byte by byte, or random bytes. `paths`
 * are the listener's real paths, so that the routes themselves are reached.
 */
export function rawHttpBytes(paths: readonly string[]): fc.Arbitrary<Buffer> {
  const pipelined = fc.array(request(paths), { minLength: 1, maxLength: 3 }).map((r) => r.join(''));
  return fc.oneof(
    { weight: 4, arbitrary: pipelined.map((t) => Buffer.from(t, 'latin1')) },
    { weight: 2, arbitrary: pipelined.chain(mutate) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)) },
  );
}
