import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { type AuthzPolicy, createLogger } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FencedRequest, FenceVerdict, PrimaryFence } from '../failover/primary-fence.js';
import { TcpInbound } from './tcp-inbound.js';

// The callee side on real loopback sockets: a listener hands every
// connection to TcpInbound as the inbound listener does after mTLS (the
// caller's SPIFFE ID verified), in front of an echo app. The fence is a
// stand-in with the contract's behaviour: role=primary callers only for
// its own term, and a fence event closing what it admitted as primary.

class TermFence implements PrimaryFence {
  term = 2;
  readonly #listeners = new Set<() => void>();
  admit(r: FencedRequest): FenceVerdict {
    if (r.role !== 'primary' || r.term === this.term) return { ok: true };
    return {
      ok: false,
      code: 'MESHLET_PRIMARY_FENCED',
      message: `term ${r.term} is not this primary's term ${this.term}`,
    };
  }
  onFence(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  fence(): void {
    this.term++;
    for (const l of this.#listeners) l();
  }
}

const log = createLogger('test', 'silent');
let app: Server;
let front: Server;
let port: number;
let policy: AuthzPolicy | undefined;
const fence = new TermFence();
let inbound: TcpInbound;

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Opens a connection with `preamble` and resolves with the first line back and the socket. */
async function open(preamble: string): Promise<{ socket: Socket; first: string; next: () => Promise<string> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let buffered = '';
  const waiting: Array<(l: string) => void> = [];
  socket.on('data', (c: Buffer) => {
    buffered += c.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const l = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(l);
    }
  });
  socket.once('close', () => waiting.splice(0).forEach((w) => w('closed')));
  const next = () => new Promise<string>((r) => waiting.push(r));
  const first = next();
  socket.write(preamble);
  return { socket, first: await first, next };
}

beforeAll(async () => {
  app = createServer((s) => s.pipe(s));
  const appPort = await listen(app);
  inbound = new TcpInbound({
    service: 'pg',
    app: { host: '127.0.0.1', port: appPort },
    connectTimeoutMs: 1000,
    preambleTimeoutMs: 200,
    protocol: () => 'tcp',
    tcp: () => undefined,
    mode: () => 'strict',
    authz: {
      service: 'pg',
      policy: () => policy,
      trustDomain: () => 'meshlet.local',
      log,
    },
    fence,
    log,
    clock: () => performance.now(),
  });
  front = createServer((s) => void inbound.accept(s, 'spiffe://meshlet.local/svc/writer'));
  port = await listen(front);
});

afterAll(() => {
  inbound.close();
  front.close();
  app.close();
});

describe('TcpInbound', () => {
  it('answers OK only after its checks, then relays both ways', async () => {
    const c = await open('{"v":1,"service":"pg","role":"primary","term":2}\nping\n');
    expect(c.first).toBe('OK');
    expect(await c.next()).toBe('ping');
    c.socket.destroy();
  });

  it('attack: a stale caller (an old table) presenting an old term to the primary is refused before the app', async () => {
    const c = await open('{"v":1,"service":"pg","role":"primary","term":1}\nINSERT stale\n');
    expect(c.first).toMatch(/^ERR MESHLET_PRIMARY_FENCED term 1/);
    expect(await c.next()).toBe('closed');
  });

  it('closes the connections it admitted as primary when the fence says so, and keeps replica ones', async () => {
    const primary = await open(`{"v":1,"service":"pg","role":"primary","term":${fence.term}}\n`);
    const replica = await open('{"v":1,"service":"pg","role":"replica"}\n');
    expect([primary.first, replica.first]).toEqual(['OK', 'OK']);
    const closed = once(primary.socket, 'close');
    fence.fence();
    await closed;
    replica.socket.write('still\n');
    expect(await replica.next()).toBe('still');
    replica.socket.destroy();
  });

  it('attack: a connection that asked for no role (a writer behind a role-less port) to the primary is closed when the fence says so', async () => {
    const roleless = await open('{"v":1,"service":"pg"}\n');
    expect(roleless.first).toBe('OK');
    const closed = once(roleless.socket, 'close');
    fence.fence();
    await closed;
  });

  it("attack: a caller the service's authorization policy denies is refused; principal rules apply, HTTP conditions never allow", async () => {
    policy = { mode: 'enforce', rules: [{ action: 'allow', from: ['writer'], paths: ['/'] }] };
    expect((await open('{"v":1,"service":"pg"}\n')).first).toMatch(/^ERR MESHLET_AUTHZ_DENIED writer may not connect/);
    policy = { mode: 'enforce', rules: [{ action: 'deny', from: ['writer'], methods: ['GET'] }] };
    expect((await open('{"v":1,"service":"pg"}\n')).first).toMatch(/^ERR MESHLET_AUTHZ_DENIED/);
    policy = { mode: 'enforce', rules: [{ action: 'allow', from: ['writer'] }] };
    const ok = await open('{"v":1,"service":"pg"}\n');
    expect(ok.first).toBe('OK');
    ok.socket.destroy();
    policy = undefined;
  });

  it('attack: a preamble naming another service, or none in time, is refused', async () => {
    expect((await open('{"v":1,"service":"billing"}\n')).first).toMatch(/^ERR MESHLET_TCP_WRONG_SERVICE/);
    expect((await open('{"v":1,')).first).toMatch(
      /^ERR MESHLET_TCP_PREAMBLE_INVALID the preamble was not complete within 200 ms/,
    );
  });
});

describe('TcpInbound, a fence event while the app connection opens', () => {
  /** Admits the first primary caller, then fences at once (before the app connection can have opened). */
  class RacingFence extends TermFence {
    override admit(r: FencedRequest): FenceVerdict {
      const verdict = super.admit(r);
      if (verdict.ok && r.role === 'primary') queueMicrotask(() => this.fence());
      return verdict;
    }
  }
  /** The app records every byte that reaches it; the fence event comes before its connection can have opened. */
  let slowApp: Server;
  let racing: TcpInbound;
  let racingFront: Server;
  let racingPort: number;
  const reached: string[] = [];

  beforeAll(async () => {
    slowApp = createServer((s) => {
      s.on('data', (c: Buffer) => reached.push(c.toString()));
      s.on('error', () => undefined);
    });
    const appPort = await listen(slowApp);
    racing = new TcpInbound({
      service: 'pg',
      app: { host: '127.0.0.1', port: appPort },
      connectTimeoutMs: 1000,
      protocol: () => 'tcp',
      tcp: () => undefined,
      mode: () => 'strict',
      authz: { service: 'pg', policy: () => undefined, trustDomain: () => 'meshlet.local', log },
      fence: new RacingFence(),
      log,
      clock: () => performance.now(),
    });
    racingFront = createServer((s) => void racing.accept(s, 'spiffe://meshlet.local/svc/writer'));
    racingPort = await listen(racingFront);
  });

  afterAll(() => {
    racing.close();
    racingFront.close();
    slowApp.close();
  });

  it('attack: the primary fences itself between admitting a caller and its app connection opening: the caller gets no OK and no byte reaches the app', async () => {
    const socket = connect({ host: '127.0.0.1', port: racingPort });
    socket.on('error', () => undefined);
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString()));
    const closed = once(socket, 'close');
    socket.write('{"v":1,"service":"pg","role":"primary","term":2}\nINSERT late\n');
    await closed;
    expect(got).toMatch(/^ERR MESHLET_PRIMARY_FENCED/);
    expect(reached.join('')).toBe('');
  });
});
