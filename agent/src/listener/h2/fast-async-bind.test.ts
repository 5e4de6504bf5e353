import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { useFastAsyncBind } from './fast-async-bind.js';

describe('useFastAsyncBind', () => {
  useFastAsyncBind();

  it('runs the bound function in the async scope it was bound in, whoever calls it', () => {
    const als = new AsyncLocalStorage<string>();
    const bound = als.run('bound here', () => new AsyncResource('test').bind(() => als.getStore()));
    expect(als.run('called here', () => bound())).toBe('bound here');
  });

  it("passes the arguments and the caller's this, or the thisArg given", () => {
    const r = new AsyncResource('test');
    const f = r.bind(function (this: unknown, a: number, b: number) {
      return [this, a + b];
    });
    const target = { f };
    expect(target.f(1, 2)).toEqual([target, 3]);
    const self = { name: 'self' };
    // Node's bind takes a thisArg too (its types leave it out).
    const bindWithThis = r.bind.bind(r) as unknown as (fn: () => unknown, thisArg: unknown) => () => unknown;
    const g = bindWithThis(function (this: unknown) {
      return this;
    }, self);
    expect(g()).toBe(self);
  });

  it("keeps fn's length and the asyncResource property, with no deprecation warning", () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const r = new AsyncResource('test');
      const bound = r.bind((a: number, b: number) => a + b) as ((a: number, b: number) => number) & {
        asyncResource: AsyncResource;
      };
      expect(bound.length).toBe(2);
      expect(bound.asyncResource).toBe(r);
      // A plain property: nothing made by deprecate() per call.
      expect(Object.getOwnPropertyDescriptor(bound, 'asyncResource')?.get).toBeUndefined();
      expect(bound(2, 3)).toBe(5);
      expect(AsyncResource.bind((x: number) => x * 2)(4)).toBe(8);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => (w as { code?: string }).code === 'DEP0172')).toEqual([]);
  });

  it('refuses what is not a function, as Node does', () => {
    expect(() => new AsyncResource('test').bind(42 as never)).toThrow(TypeError);
  });

  it('installs once', () => {
    const bind = AsyncResource.prototype.bind;
    useFastAsyncBind();
    expect(AsyncResource.prototype.bind).toBe(bind);
  });
});
