import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { type Clock, systemClock } from '@meshlet/shared/clock';
import type { CliIo } from '../cli-io.js';
import { runCli } from '../run-cli.js';

/** A request the canned server received. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A canned answer, or a function that writes one itself (for streams). */
export type Canned =
  | { status?: number; body?: unknown; headers?: Record<string, string> }
  | ((req: SeenRequest, res: ServerResponse) => void);

/**
 * A stand-in for the remote admin API on a loopback port: real sockets,
 * canned answers keyed by `METHOD /path?query` (or `METHOD /path` for any
 * query). Unknown routes get the API's 404.
 */
export class CannedServer {
  readonly seen: SeenRequest[] = [];
  readonly routes = new Map<string, Canned>();
  readonly #server: Server;
  #port = 0;

  constructor(routes: Record<string, Canned> = {}) {
    for (const [k, v] of Object.entries(routes)) this.routes.set(k, v);
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen: SeenRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.seen.push(seen);
        const canned =
          this.routes.get(`${seen.method} ${seen.url}`) ?? this.routes.get(`${seen.method} ${seen.url.split('?')[0]}`);
        if (typeof canned === 'function') return canned(seen, res);
        const a = canned ?? {
          status: 404,
          body: { error: { code: 'MESHLET_NOT_FOUND', message: `no route ${seen.method} ${seen.url}` } },
        };
        const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body ?? {});
        res.writeHead(a.status ?? 200, {
          'content-type': typeof a.body === 'string' ? 'text/plain' : 'application/json',
          ...a.headers,
        });
        res.end(text);
      });
    });
  }

  /** Listens on a free loopback port. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** The admin token meshctl sends to a {@link useCannedServer} server. */
export const TOKEN = 'test-admin-token-0123456789';

/** A canned server for the tests of one file, and meshctl pointed at it. */
export interface CannedFixture {
  server: CannedServer;
  /** `--server URL --token TOKEN`, filled in once the server listens. */
  base: string[];
  /** Runs meshctl with `argv` and {@link CannedFixture.base}. */
  run: (...argv: string[]) => Promise<RunResult>;
}

/** A {@link CannedServer} started before the tests of the calling file and stopped after them. */
export function useCannedServer(routes: Record<string, Canned> = {}): CannedFixture {
  const server = new CannedServer(routes);
  const base: string[] = [];
  beforeAll(async () => {
    await server.start();
    base.push('--server', server.url, '--token', TOKEN);
  });
  afterAll(() => server.stop());
  return { server, base, run: (...argv: string[]) => meshctl([...argv, ...base]) };
}

/** What a meshctl run printed, and its status. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link meshctl}. */
export interface RunOptions {
  env?: Record<string, string | undefined>;
  stdin?: string;
  tty?: { columns: number };
  homedir?: string;
  /** Aborting it acts as Ctrl-C. */
  interrupt?: AbortSignal;
  /** Called with each stdout write, as it happens. */
  onStdout?: (text: string) => void;
  /** The clock, in ms since the epoch; default the wall clock. */
  clock?: Clock;
}

/** Runs meshctl in-process with captured streams; a random source of 0.5. */
export async function meshctl(argv: string[], o: RunOptions = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: {
      write: (t: string) => {
        stdout += t;
        o.onStdout?.(t);
        return true;
      },
      isTTY: o.tty !== undefined,
      ...(o.tty ? { columns: o.tty.columns } : {}),
    },
    stderr: { write: (t: string) => (stderr += t) },
    stdin: (async function* () {
      if (o.stdin !== undefined) yield Buffer.from(o.stdin);
    })(),
    env: o.env ?? {},
    homedir: o.homedir ?? '/nonexistent-home',
    random: () => 0.5,
    clock: o.clock ?? systemClock,
    ...(o.interrupt ? { interrupt: () => o.interrupt as AbortSignal } : {}),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}
