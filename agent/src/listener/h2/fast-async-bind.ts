import { AsyncResource } from 'node:async_hooks';

/**
 * Whether `AsyncResource.prototype.bind` is Node's slow one: it defines the
 * deprecated `asyncResource` property (DEP0172) of each bound function as an
 * accessor made by `deprecate()`, which sets the prototype of two new
 * functions per call (nodejs/node#58218; Node 24 stopped setting the
 * prototype, Node's main branch dropped the property).
 */
function slowBind(): boolean {
  const probe = new AsyncResource('meshlet-bind-probe').bind(() => undefined);
  return Object.getOwnPropertyDescriptor(probe, 'asyncResource')?.get !== undefined;
}

let installed = false;

/**
 * Replaces Node's `AsyncResource.prototype.bind`, when it is the slow one
 * (Node 20 to 23), with one that does the same without the deprecation
 * wrappers: the bound function runs `fn` in the resource's async scope
 * (`this` as given, or the caller's), keeps `fn`'s `length`, and carries
 * `asyncResource` as a plain property (no DEP0172 warning when it is read).
 *
 * Why an HTTP/2 module does this: node:http2's `ClientHttp2Session.request`
 * binds every new stream's start to an `AsyncResource`, so each request to
 * an agent or to the app paid for two `deprecate()` wrappers and their
 * accessors: about 20 µs of CPU per request, a third of what a minimal
 * node:http2 relay costs in all (68 µs against 42 µs per request, h2load
 * 4 x 4 streams, docs/benchmarks.md "HTTP/2 hop (issue 20)"). The change is
 * process-wide (there is one `AsyncResource` class); installing it twice
 * does nothing more.
 */
export function useFastAsyncBind(): void {
  if (installed) return;
  installed = true;
  if (!slowBind()) return;
  AsyncResource.prototype.bind = function bind<Func extends (...args: never[]) => unknown>(
    this: AsyncResource,
    fn: Func,
    thisArg?: unknown,
  ): Func & { asyncResource: AsyncResource } {
    if (typeof fn !== 'function') throw new TypeError('The "fn" argument must be of type function');
    let bound: (...args: unknown[]) => unknown;
    if (thisArg === undefined) {
      // The caller's `this` goes through, as with Node's own.
      const run = (self: unknown, args: unknown[]): unknown => this.runInAsyncScope(fn as never, self, ...args);
      bound = function (this: unknown, ...args: unknown[]): unknown {
        return run(this, args);
      };
    } else bound = this.runInAsyncScope.bind(this, fn as never, thisArg) as (...args: unknown[]) => unknown;
    Object.defineProperty(bound, 'length', {
      configurable: true,
      enumerable: false,
      value: fn.length,
      writable: false,
    });
    (bound as unknown as { asyncResource: AsyncResource }).asyncResource = this;
    return bound as unknown as Func & { asyncResource: AsyncResource };
  } as typeof AsyncResource.prototype.bind;
}
