import { describe, expect, it } from 'vitest';
import { encodePreamble, encodeRefusal, parseAnswer, parsePreamble } from './tcp-preamble.js';

describe('the TCP preamble codec', () => {
  it('round-trips a preamble as one line of JSON', () => {
    const line = encodePreamble({ v: 1, service: 'pg', role: 'primary', term: 7 }).toString('utf8');
    expect(line).toBe('{"v":1,"service":"pg","role":"primary","term":7}\n');
    expect(parsePreamble(line.trimEnd())).toEqual({
      ok: true,
      preamble: { v: 1, service: 'pg', role: 'primary', term: 7 },
    });
    expect(encodePreamble({ v: 1, service: 'redis' }).toString()).toBe('{"v":1,"service":"redis"}\n');
  });

  it.each([
    ['not json', 'not one line of JSON'],
    ['[1]', 'not a JSON object'],
    ['{"v":2,"service":"pg"}', '"v" must be 1'],
    ['{"v":1}', 'not a service name'],
    ['{"v":1,"service":"../etc"}', 'not a service name'],
    ['{"v":1,"service":"pg","role":"leader"}', 'primary or replica'],
    ['{"v":1,"service":"pg","term":-1}', 'non-negative integer'],
    ['{"v":1,"service":"pg","term":1.5}', 'non-negative integer'],
    ['{"v":1,"service":"pg","caller":"spiffe://x/svc/admin"}', 'unknown field "caller"'],
  ])('refuses %s, saying why', (line, problem) => {
    const parsed = parsePreamble(line);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problem).toContain(problem);
  });

  it('reads the callee answers, and a refusal is one bounded line', () => {
    expect(parseAnswer('OK')).toEqual({ ok: true });
    expect(parseAnswer('ERR MESHLET_AUTHZ_DENIED writer may not connect')).toEqual({
      ok: false,
      code: 'MESHLET_AUTHZ_DENIED',
      message: 'writer may not connect',
    });
    expect(parseAnswer('HTTP/1.1 400 Bad Request')).toMatchObject({ ok: false, code: 'MESHLET_TCP_PREAMBLE_INVALID' });
    const refusal = encodeRefusal('MESHLET_X', `line one\r\nline two ${'y'.repeat(1000)}`).toString();
    expect(refusal.startsWith('ERR MESHLET_X line one line two')).toBe(true);
    expect(refusal.indexOf('\n')).toBe(refusal.length - 1);
    expect(refusal.length).toBeLessThan(400);
  });
});
