import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, setLogLevel } from './logger.js';

describe('setLogLevel', () => {
  it('changes the level of a whole family of loggers at once, from any member', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const root = createLogger('t', 'info', sink);
    const http = root.child({ component: 'http' });
    const deep = http.child({ request: 1 });
    deep.debug('hidden');
    setLogLevel(http, 'debug');
    expect([root.level, http.level, deep.level]).toEqual(['debug', 'debug', 'debug']);
    deep.debug('shown');
    root.child({ component: 'late' }).debug('also shown');
    setLogLevel(root, 'error');
    deep.warn('hidden again');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown', 'also shown']);
  });
});

describe('createLogger', () => {
  it('redacts a workload private key (keyPem) wherever it is logged', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('t', 'info', sink);
    const keyPem = '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----';
    log.info({ keyPem, certificate: { keyPem }, identity: { current: { keyPem } } }, 'identity');
    expect(lines.join('')).not.toContain('secret');
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      keyPem: '[redacted]',
      certificate: { keyPem: '[redacted]' },
    });
  });
});
