import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { EnvHttpProxyAgent, ProxyAgent } from 'undici';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type AgentHandle, ROOT, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// The clients apps use to reach a proxy, against real processes on
// loopback (a control plane, a hello instance and a client agent, mTLS on
// between the agents as by default): undici's ProxyAgent and
// EnvHttpProxyAgent tunnel with CONNECT, curl -p does, Node 24's
// NODE_USE_ENV_PROXY does, and a WebSocket client can. Each must get 200
// from hello through the client agent's outbound listener.

/** What a command printed and how it ended. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a child: this one without any proxy variable, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(https?|all|no|grpc)_proxy$/i.test(k)) delete env[k];
  delete env.NODE_USE_ENV_PROXY;
  return { ...env, ...extra };
}

/** Runs `file` with `args` (20 s at most), never throwing: the exit code says how it ended. */
function run(file: string, args: string[], env: NodeJS.ProcessEnv = childEnv({})): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd: ROOT, timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * A Node 24 binary, when this machine has one: the running Node when it is
 * 24 or later, else the one .ci/run installs for its Node 24 shard.
 */
function node24(): string | undefined {
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  const installed = join(ROOT, '.ci', '.node-24', 'node_modules', '.bin', 'node');
  return existsSync(installed) ? installed : undefined;
}

/** Opens a CONNECT tunnel to `target` through the listener on `port`; resolves with the socket and the answer head. */
async function tunnel(port: number, target: string): Promise<{ socket: Socket; head: string }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`);
  let got = Buffer.alloc(0);
  for (;;) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got = Buffer.concat([got, chunk]);
    const end = got.indexOf('\r\n\r\n');
    if (end !== -1) {
      socket.pause();
      if (end + 4 < got.length) socket.unshift(got.subarray(end + 4));
      return { socket, head: got.subarray(0, end).toString('latin1') };
    }
  }
}

/** Sends `text` on a new connection to `port`, collecting what comes back until `enough` holds or it closes. */
async function rawExchange(port: number, text: string, enough: (got: string) => boolean): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let got = '';
  let closed = false;
  socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  socket.write(text);
  await waitFor('the answer on the raw connection', () => closed || enough(got), { timeoutMs: 5_000 });
  socket.destroy();
  return got;
}

describe('CONNECT and proxy-aware clients through the outbound listener', () => {
  const mesh = withMesh();
  let client: AgentHandle;
  let proxy: string;
  let port: number;

  beforeAll(async () => {
    ({ client } = await mesh.start({ instances: { hello: ['hello-1'] }, client: { calls: ['hello'] } }));
    port = client.outboundPort as number;
    proxy = `http://127.0.0.1:${port}`;
  });

  it("fetch with undici's ProxyAgent (CONNECT) gets 200 from hello", async () => {
    const dispatcher = new ProxyAgent(proxy);
    try {
      const r = await fetch('http://hello/via-proxy-agent', {
        dispatcher: dispatcher as never,
        signal: AbortSignal.timeout(10_000),
      });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ service: 'hello', instance: 'hello-1', path: '/via-proxy-agent' });
    } finally {
      await dispatcher.close();
    }
  });

  it("fetch with undici's EnvHttpProxyAgent set globally and HTTP_PROXY in the environment gets 200", async () => {
    // In a child process, so that the variable is read from a real environment when the agent is made.
    const script = `import { setGlobalDispatcher, EnvHttpProxyAgent } from 'undici';
setGlobalDispatcher(new EnvHttpProxyAgent());
const r = await fetch('http://hello/env', { signal: AbortSignal.timeout(10000) });
console.log(r.status, (await r.json()).instance);`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], childEnv({ HTTP_PROXY: proxy }));
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('200 hello-1');
    // And in this process, with the dispatcher given the proxy directly.
    const dispatcher = new EnvHttpProxyAgent({ httpProxy: proxy });
    try {
      const a = await fetch('http://hello/', { dispatcher: dispatcher as never, signal: AbortSignal.timeout(10_000) });
      expect(a.status).toBe(200);
    } finally {
      await dispatcher.close();
    }
  });

  it.skipIf(node24() === undefined)(
    `Node 24 fetch with NODE_USE_ENV_PROXY=1 and HTTP_PROXY gets 200 (${node24() === undefined ? 'skipped: no Node 24 binary here (.ci/run installs one under .ci/.node-24)' : 'with a Node 24 binary'})`,
    async () => {
      const script = `const r = await fetch('http://hello/node24', { signal: AbortSignal.timeout(10000) });
console.log(process.versions.node.split('.')[0], r.status, (await r.json()).instance);`;
      const env = childEnv({ HTTP_PROXY: proxy, NODE_USE_ENV_PROXY: '1' });
      const r = await run(node24() as string, ['--input-type=module', '-e', script], env);
      expect(r.stdout.trim()).toMatch(/^(2[4-9]|[3-9]\d) 200 hello-1$/);
    },
  );

  it('curl -p -x (a CONNECT tunnel) gets 200', async () => {
    const r = await run('curl', ['-sS', '-p', '-x', proxy, '-o', '-', '-w', '\n%{http_code}', 'http://hello/curl-p']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('200');
    expect(r.stdout).toContain('"instance":"hello-1"');
  });

  it('curl -x without -p (an absolute-form request) gets 200', async () => {
    const r = await run('curl', ['-sS', '-x', proxy, '-o', '/dev/null', '-w', '%{http_code}', 'http://hello/curl-x']);
    expect(r.stdout).toBe('200');
  });

  it('curl -p -x to an unknown service: the CONNECT is answered 404, not closed silently', async () => {
    const r = await run('curl', [
      '-sS',
      '-p',
      '-x',
      proxy,
      '-o',
      '/dev/null',
      '-w',
      '%{http_connect}',
      'http://nosuch/',
    ]);
    expect(r.stdout).toBe('404');
    expect(r.stderr).toContain('CONNECT tunnel failed, response 404');
  });

  it('a WebSocket client over a CONNECT tunnel (ws with createConnection) echoes through the mesh', async () => {
    const { socket, head } = await tunnel(port, 'hello:80');
    expect(head).toBe('HTTP/1.1 200 Connection established');
    // The tunnel helper paused the socket; the WebSocket's HTTP client reads it from here on.
    const ws = new WebSocket('ws://hello/chat', { createConnection: () => socket.resume() });
    try {
      await once(ws, 'open', { signal: AbortSignal.timeout(10_000) });
      ws.send('ping');
      const [data] = (await once(ws, 'message', { signal: AbortSignal.timeout(10_000) })) as [Buffer];
      expect(data.toString()).toBe('hello-1: ping');
    } finally {
      ws.terminate();
    }
  });

  it('a request header over 16 KiB gets a JSON 431 naming the limit and its setting, not a bare 431', async () => {
    const big = 'x'.repeat(20_000);
    const r = await run('curl', ['-sS', '-x', proxy, '-H', `x-big: ${big}`, '-w', '\n%{http_code}', 'http://hello/']);
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('431');
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      error: {
        code: 'MESHLET_HEADERS_TOO_LARGE',
        listener: 'outbound',
        limitBytes: 16_384,
        message: expect.stringContaining('--max-http-header-size'),
      },
    });
  });

  it('Expect: 100-continue for an unknown service gets the 404 at once and no 100 (the body is never asked for)', async () => {
    const got = await rawExchange(
      port,
      'POST http://nosuch/upload HTTP/1.1\r\nhost: nosuch\r\ncontent-length: 1000000\r\nexpect: 100-continue\r\n\r\n',
      (g) => g.includes('\r\n\r\n{'),
    );
    expect(got.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect(got).not.toContain('100 Continue');
  });

  it('Expect: 100-continue for a known service: 100 once routed, then the body reaches the app', async () => {
    const body = 'a'.repeat(5000);
    const head = `POST http://hello/upload HTTP/1.1\r\nhost: hello\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\n\r\n`;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    try {
      socket.write(head);
      await waitFor('the 100 Continue', () => got.includes('\r\n\r\n'), { timeoutMs: 5_000 });
      expect(got).toBe('HTTP/1.1 100 Continue\r\n\r\n');
      socket.write(body);
      await waitFor('the answer', () => /"path":"\/upload"/.test(got), { timeoutMs: 5_000 });
      expect(got).toMatch(/HTTP\/1\.1 200 OK/);
    } finally {
      socket.destroy();
    }
  });
});

describe('h2c inside a CONNECT tunnel', () => {
  const mesh = withMesh();
  let client: AgentHandle;
  let proxy: string;

  beforeAll(async () => {
    ({ client } = await mesh.start({ instances: { hello: ['hello-1'] }, client: { calls: ['hello'] } }));
    proxy = `http://127.0.0.1:${client.outboundPort as number}`;
  });

  it('curl --http2-prior-knowledge -p -x: h2c inside the CONNECT tunnel gets 200 from an HTTP/1.1 app', async () => {
    const r = await run('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '-p',
      '-x',
      proxy,
      '-o',
      '/dev/null',
      '-w',
      '%{http_version} %{http_code}',
      'http://hello/h2',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('2 200');
  });

  // The answer's trailers go through the compatibility response: sending them a second time crashed the agent once.
  it('the client agent still answers after an h2c request', async () => {
    const r = await run('curl', ['-sS', '-x', proxy, '-o', '/dev/null', '-w', '%{http_code}', 'http://hello/after-h2']);
    expect(r.stdout).toBe('200');
  });
});
