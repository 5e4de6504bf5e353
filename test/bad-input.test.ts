import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { httpRequest } from './harness/http.js';
import { mintJoinCredential } from './harness/join-credential.js';
import {
  AGENT_BIN,
  type AgentHandle,
  type AppHandle,
  CP_BIN,
  type ControlPlaneHandle,
  endpointIds,
  withMesh,
} from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

/** The join credential the raw peers present (for a client-only agent of service `raw`), minted once the control plane runs. */
let credential = '';

/** A raw protocol client: what a buggy or hostile agent can send. */
class RawPeer {
  readonly ws: WebSocket;
  readonly received: any[] = [];
  closed: { code: number; reason: string } | undefined;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (d) => this.received.push(JSON.parse(d.toString())));
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.ws.on('error', () => undefined);
  }

  async open(): Promise<this> {
    await once(this.ws, 'open');
    return this;
  }

  hello(agentId: string, extra: Record<string, unknown> = {}): void {
    const join = { joinToken: credential, service: 'raw' };
    this.ws.send(JSON.stringify({ type: 'hello', protocolVersion: 1, agentId, tableVersion: 0, ...join, ...extra }));
  }

  /** Waits for the next error message the control plane sends. */
  async nextError(): Promise<any> {
    const start = this.received.filter((m) => m.type === 'error').length;
    return waitFor('an error reply', () => this.received.filter((m) => m.type === 'error')[start], {
      timeoutMs: 5_000,
    });
  }

  async closedWith(): Promise<{ code: number; reason: string }> {
    return waitFor('the stream to close', () => this.closed, { timeoutMs: 5_000 });
  }
}

async function rejectedCount(cpPort: number, code: string): Promise<number> {
  const text = (await httpRequest(cpPort, '/metrics')).body;
  const m = text.match(new RegExp(`meshlet_cp_stream_rejected_messages_total\\{code="${code}"\\} (\\d+)`));
  return m ? Number(m[1]) : 0;
}

describe('bad input on the agent stream', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let app: AppHandle;

  beforeAll(async () => {
    const started = await mesh.start({
      controlPlane: { stream: { maxMessageBytes: 4096, helloTimeoutMs: 1000 } },
      instances: { hello: ['hello-1'] },
      client: { calls: ['hello'] },
    });
    ({ cp, client } = started);
    app = started.apps['hello-1'] as AppHandle;
    credential = await mintJoinCredential(cp, 'raw');
  });

  it('answers non-JSON, unknown types and schema violations with an error, counts them, and keeps the stream', async () => {
    const peer = await new RawPeer(cp.streamUrl).open();
    peer.hello('raw-1');
    await waitFor('the first table', () => peer.received.find((m) => m.type === 'routes'));

    peer.ws.send('{"type": "heartbeat", oops');
    expect(await peer.nextError()).toMatchObject({ type: 'error', code: 'MESHLET_PROTOCOL_INVALID_JSON' });

    peer.ws.send(JSON.stringify({ type: 'teleport', to: 'mars' }));
    const unknown = await peer.nextError();
    expect(unknown).toMatchObject({ code: 'MESHLET_PROTOCOL_UNKNOWN_TYPE', field: 'type' });
    expect(unknown.message).toContain('teleport');

    peer.ws.send(JSON.stringify({ type: 'health', status: 'maybe' }));
    const schema = await peer.nextError();
    expect(schema).toMatchObject({ code: 'MESHLET_PROTOCOL_SCHEMA', field: 'status' });

    peer.ws.send(JSON.stringify({ type: 'heartbeat' }));
    expect(await peer.nextError()).toMatchObject({ code: 'MESHLET_PROTOCOL_SCHEMA', field: 'seq' });

    expect(peer.closed).toBeUndefined();
    expect(await rejectedCount(cp.port, 'MESHLET_PROTOCOL_INVALID_JSON')).toBeGreaterThanOrEqual(1);
    expect(await rejectedCount(cp.port, 'MESHLET_PROTOCOL_UNKNOWN_TYPE')).toBeGreaterThanOrEqual(1);
    expect(await rejectedCount(cp.port, 'MESHLET_PROTOCOL_SCHEMA')).toBeGreaterThanOrEqual(2);
    peer.ws.close();
  });

  it('closes with a reason on a message over the size limit', async () => {
    const before = await rejectedCount(cp.port, 'MESHLET_PROTOCOL_TOO_LARGE');
    const peer = await new RawPeer(cp.streamUrl).open();
    peer.hello('raw-2');
    peer.ws.send(JSON.stringify({ type: 'heartbeat', seq: 1, pad: 'x'.repeat(8000) }));
    expect(await peer.nextError()).toMatchObject({ code: 'MESHLET_PROTOCOL_TOO_LARGE' });
    const closed = await peer.closedWith();
    expect(closed.code).toBe(1009);
    expect(closed.reason).toContain('exceeds the limit of 4096 bytes');

    // Far beyond the limit, ws refuses the frame itself; that is counted too.
    const huge = await new RawPeer(cp.streamUrl).open();
    huge.hello('raw-3');
    huge.ws.send('x'.repeat(64 * 1024));
    expect((await huge.closedWith()).code).toBe(1009);
    await waitFor(
      'both to be counted',
      async () => (await rejectedCount(cp.port, 'MESHLET_PROTOCOL_TOO_LARGE')) >= before + 2,
    );
  });

  it('closes a stream whose first message is not a hello, or that says no hello in time', async () => {
    const peer = await new RawPeer(cp.streamUrl).open();
    peer.ws.send(JSON.stringify({ type: 'heartbeat', seq: 0 }));
    expect(await peer.nextError()).toMatchObject({ code: 'MESHLET_HELLO_REQUIRED' });
    expect(await peer.closedWith()).toMatchObject({ code: 4001 });

    // Regression: a close reason that echoed non-ASCII peer text past 123 bytes crashed the control plane.
    const euro = await new RawPeer(cp.streamUrl).open();
    euro.ws.send(JSON.stringify({ type: '€'.repeat(60) }));
    expect(await euro.closedWith()).toMatchObject({ code: 4001 });
    expect((await httpRequest(cp.port, '/healthz')).status).toBe(200);

    const silent = await new RawPeer(cp.streamUrl).open();
    const closed = await silent.closedWith();
    expect(closed.code).toBe(4001);
    expect(closed.reason).toContain('no hello');
  });

  it('refuses another protocol version with a clear reason', async () => {
    const peer = await new RawPeer(cp.streamUrl).open();
    peer.hello('raw-4', { protocolVersion: 99 });
    const err = await peer.nextError();
    expect(err).toMatchObject({ code: 'MESHLET_PROTOCOL_VERSION_MISMATCH' });
    expect(err.message).toContain('protocol version 99');
    expect(await peer.closedWith()).toMatchObject({ code: 4002 });
  });

  it('keeps serving the other agents throughout', async () => {
    expect((await httpRequest(cp.port, '/healthz')).status).toBe(200);
    await app.setFault('unhealthy');
    await waitFor('the client to get the new table', async () => (await endpointIds(client, 'hello')).length === 0);
    await app.setFault('none');
    await waitFor('hello-1 back', async () => (await endpointIds(client, 'hello')).length === 1);
    const a = await httpRequest(client.outboundPort as number, 'http://hello/');
    expect(a.status).toBe(200);
  });
});

describe('invalid config files', () => {
  const { scratch } = withMesh();

  function run(bin: string, file: string) {
    return spawnSync(process.execPath, [bin, '--config', file], { encoding: 'utf8', timeout: 20_000 });
  }

  it('makes the control plane exit non-zero naming the field and the fix', () => {
    const file = scratch.config('cp-bad', { listen: { port: 70000 }, heartbeat: { timeoutMS: 5 } });
    const r = run(CP_BIN, file);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('listen.port: must be <= 65535');
    expect(r.stderr).toContain('heartbeat.timeoutMS: is not a known field. Fix: remove it or check its spelling');
  });

  it('makes the agent exit non-zero naming the field and the fix', () => {
    const file = scratch.config('agent-bad', { instance: { service: 'Hello World', app: { port: 'eighty' } } });
    const r = run(AGENT_BIN, file);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('agentId: is required but missing. Fix: add "agentId"');
    expect(r.stderr).toContain('instance.service: must match');
    expect(r.stderr).toContain('Fix: use a DNS label');
    expect(r.stderr).toContain('instance.app.port: must be of type integer');
  });

  it('reports a file that is not YAML, and a missing file', () => {
    const file = join(scratch.dir, 'broken.yaml');
    writeFileSync(file, 'listen: [unclosed\n');
    const r = run(CP_BIN, file);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('is not valid YAML');
    const missing = run(AGENT_BIN, join(scratch.dir, 'nope.yaml'));
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('cannot read config file');
  });

  it('refuses a control plane reachable from other hosts without an admin token', () => {
    const file = scratch.config('cp-open', { listen: { host: '0.0.0.0', port: 0 } });
    const r = run(CP_BIN, file);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('auth.adminToken: is required when listen.host is 0.0.0.0');
  });

  it('shared token refused without the flag: a control plane with auth.joinToken alone does not start', () => {
    const file = scratch.config('cp-shared', {
      listen: { host: '127.0.0.1', port: 0 },
      auth: { joinToken: 'j'.repeat(24) },
    });
    const r = run(CP_BIN, file);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('auth.joinToken: is a join token shared by every agent');
    expect(r.stderr).toContain('auth.allowSharedJoinToken: true');
    expect(r.stderr).not.toContain('j'.repeat(24));
  });

  it('refuses auth.allowSharedJoinToken without a token, and a shared token that looks like a credential', () => {
    const flagOnly = run(
      CP_BIN,
      scratch.config('cp-flag-only', { listen: { port: 0 }, auth: { allowSharedJoinToken: true } }),
    );
    expect(flagOnly.status).toBe(2);
    expect(flagOnly.stderr).toContain('auth.joinToken: is not set, but auth.allowSharedJoinToken is true');
    const token = `mjc_${'0'.repeat(16)}_shared-token`;
    const lookalike = run(
      CP_BIN,
      scratch.config('cp-mjc', { listen: { port: 0 }, auth: { joinToken: token, allowSharedJoinToken: true } }),
    );
    expect(lookalike.status).toBe(2);
    expect(lookalike.stderr).toContain('auth.joinToken: starts with mjc_');
    expect(lookalike.stderr).not.toContain(token);
  });

  it('a client-only agent with a credential and no service does not start, naming service', () => {
    const credential = `mjc_${'0'.repeat(16)}_${'s'.repeat(43)}`;
    const file = scratch.config('agent-no-service', { agentId: 'web-1', controlPlane: { joinToken: credential } });
    const r = run(AGENT_BIN, file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      'service: is not set, but this client-only agent (no instance) joins with a per-service credential',
    );
    expect(r.stderr).not.toContain(credential);
  });

  it('refuses an allowed address range that is not a CIDR range, naming the entry and the fix', () => {
    const file = scratch.config('cp-ranges', { registry: { allowedAddressRanges: ['10.0.0.0/8', '10.0.0.0/33'] } });
    const r = run(CP_BIN, file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('registry.allowedAddressRanges.1: "10.0.0.0/33" is not a CIDR range');
    expect(r.stderr).toContain('such as 10.0.0.0/8 or fd00::/8');
  });
});
