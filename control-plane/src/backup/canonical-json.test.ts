import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object keys at every depth and leaves array order alone', () => {
    expect(canonicalJson({ b: [{ z: 1, a: 2 }, 3], a: { d: null, c: 'x' } })).toBe(
      '{"a":{"c":"x","d":null},"b":[{"a":2,"z":1},3]}',
    );
  });

  it('gives the same text for the same data in any key order', () => {
    expect(canonicalJson({ x: 1, y: { p: true, q: [1, 2] } })).toBe(canonicalJson({ y: { q: [1, 2], p: true }, x: 1 }));
  });

  it('sorts keys by UTF-16 code unit and writes strings and numbers as JSON.stringify does (RFC 8785)', () => {
    expect(canonicalJson({ é: 1, z: 2, A: 3, '\u{1F600}': 4, '\uFB33': 5 })).toBe(
      '{"A":3,"z":2,"é":1,"\u{1F600}":4,"\uFB33":5}',
    );
    expect(canonicalJson([1e21, 0.1, -0, 'a"\n\u2028'])).toBe('[1e+21,0.1,0,"a\\"\\n\u2028"]');
  });

  it('drops undefined members and writes undefined array items as null, as JSON does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
    expect(canonicalJson({ at: new Date(0) })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });

  it('refuses what JSON cannot hold at the top', () => {
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});
