import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@meshlet/shared';

/** A real agent logger whose JSON lines are kept, parsed, for assertions. */
export function capturedLogger(): { root: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { root: createLogger('meshlet-agent', 'info', sink), lines };
}
