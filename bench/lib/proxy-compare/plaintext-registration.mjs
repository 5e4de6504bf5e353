// The plaintext mesh path of bench/proxy-compare.mjs needs an endpoint that
// callers reach without TLS. Every agent now holds a workload identity and
// says so in its hello (`instance.mtls: true`), and a caller with a
// certificate never calls such an endpoint in plaintext; the agent has no
// setting that turns this off (docs/security.md, "Mutual TLS in the
// listeners"). An endpoint registered without `mtls` (as an agent from before
// mTLS, or any registrant that does not say it) is called in plaintext, and an
// inbound listener in permissive mode relays a plaintext request to its app.
//
// So this registers, over the real stream protocol (hello, health,
// heartbeats, ACKs, with a join credential for its service), one instance of
// `service` at the inbound port of an agent whose own service is permissive,
// without `mtls`: the caller agent then runs its plaintext pool and the callee
// agent its plaintext relay, the code a plaintext mesh runs today. The agents
// run unchanged; only who advertises the endpoint differs.
import WebSocket from 'ws';

/**
 * Registers `{ service, id, host: 127.0.0.1, port }` (no `mtls`) at the
 * control plane's stream `url` with `credential`, and keeps the stream alive
 * (a heartbeat every second, every table ACKed). Resolves once the hello was
 * sent, to `{ close() }`.
 */
export function registerPlaintextEndpoint({ url, credential, service, id, port }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let seq = 0;
    let timer;
    ws.on('open', () => {
      ws.send(
        JSON.stringify({
          type: 'hello',
          protocolVersion: 1,
          agentId: id,
          joinToken: credential,
          tableVersion: 0,
          instance: { service, id, host: '127.0.0.1', port, tier: 0, weight: 100, labels: {} },
          upstreams: [],
        }),
      );
      ws.send(JSON.stringify({ type: 'health', status: 'healthy' }));
      timer = setInterval(() => ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++ })), 1000);
      timer.unref();
      resolve({
        close() {
          clearInterval(timer);
          ws.close();
        },
      });
    });
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.type === 'routes') ws.send(JSON.stringify({ type: 'ack', version: m.version, nonce: m.nonce }));
    });
    ws.on('close', (code, reason) => {
      clearInterval(timer);
      reject(new Error(`the plaintext registration's stream closed: ${code} ${String(reason)}`));
    });
    ws.on('error', (err) => reject(err));
  });
}
