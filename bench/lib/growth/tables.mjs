// Routing tables of a given size for bench/growth.mjs, as the control plane
// sends them (shared/src/protocol/messages.ts `Routes`): `services` services
// of `perService` endpoints each, and the called service `hello` with
// `calledEndpoints` endpoints.
//
// The called endpoints all answer: each is the one app (bench/app-1k.mjs,
// listening on 0.0.0.0) at its own loopback address 127.0.x.y (the whole of
// 127/8 reaches the loopback interface on Linux), so the agent holds one
// origin, one connection pool and its own connections per endpoint, as with
// that many instances; only the app process is shared. The other services'
// endpoints are never called (ports nobody listens on).

/** The address of called endpoint `i` (0-based): 127.0.0.2 ... 127.0.0.201, 127.0.1.2 ... (no .0, .1 or .255). */
export function loopbackAlias(i) {
  return `127.0.${Math.floor(i / 200)}.${2 + (i % 200)}`;
}

/** An endpoint as the table lists it. */
export function endpoint(id, host, port, extra = {}) {
  return { id, host, port, tier: 0, weight: 1, labels: {}, ...extra };
}

/**
 * A full table (`Routes`, version `version`): `hello` with `calledEndpoints`
 * endpoints at `appPort` on loopback aliases, and `services - 1` others
 * (`svc-0001`, ...) of `perService` endpoints each; `policy` for every service.
 */
export function growthTable({ services, calledEndpoints, appPort, perService = 3, version = 1, policy }) {
  const out = {};
  const hello = [];
  for (let i = 0; i < calledEndpoints; i++) hello.push(endpoint(`hello-${i}`, loopbackAlias(i), appPort));
  out.hello = { endpoints: hello, ...(policy ? { policy } : {}) };
  for (let s = 1; s < services; s++) {
    const name = `svc-${String(s).padStart(4, '0')}`;
    const eps = [];
    for (let i = 0; i < perService; i++) eps.push(endpoint(`${name}-${i}`, '127.0.0.1', 20000 + ((s * 7 + i) % 20000)));
    out[name] = { endpoints: eps, ...(policy ? { policy } : {}) };
  }
  return { type: 'routes', version, nonce: `n${version}`, services: out };
}
