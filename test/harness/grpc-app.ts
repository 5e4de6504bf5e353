import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import getPort from 'get-port';
import { Proc } from './process.js';
import { waitFor } from './wait.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository: two folders up from test/harness, three from its dist/ (the benchmarks load the compiled harness). */
const ROOT = basename(HERE) === 'dist' ? resolve(HERE, '..', '..', '..') : resolve(HERE, '..', '..');
/** The gRPC demo service (deploy/local/grpc-demo-app.mjs): Greeter, grpc.health.v1.Health and Drill. */
export const GRPC_DEMO_APP = join(ROOT, 'deploy', 'local', 'grpc-demo-app.mjs');
/** The protos the demo app serves: greeter.proto (meshlet.demo) and health.proto (grpc.health.v1). */
export const GRPC_DEMO_PROTOS = [
  join(ROOT, 'deploy', 'local', 'proto', 'greeter.proto'),
  join(ROOT, 'deploy', 'local', 'proto', 'health.proto'),
];

/** The fault modes of the gRPC demo app (see deploy/local/grpc-demo-app.mjs). */
export type GrpcFault = 'none' | 'internal' | 'slow' | 'not-serving' | 'slow-health';

/** What the demo app has served, from its Drill/Stats. */
export interface GrpcAppStats {
  instance: string;
  served: number;
  cancelled: number;
  healthChecks: number;
}

type Ctor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;
/** The client constructors of the demo protos, as grpc-js makes them from proto-loader's definitions. */
export interface GrpcDemoClients {
  Greeter: Ctor;
  Health: Ctor;
  Drill: Ctor;
}

let loaded: GrpcDemoClients | undefined;
/** Loads the demo protos once (longs as numbers, enums as names, defaults filled in) and returns the client constructors. */
export function grpcDemoClients(): GrpcDemoClients {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(GRPC_DEMO_PROTOS, { longs: Number, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    meshlet: { demo: { Greeter: Ctor; Drill: Ctor } };
    grpc: { health: { v1: { Health: Ctor } } };
  };
  loaded = { Greeter: pkg.meshlet.demo.Greeter, Drill: pkg.meshlet.demo.Drill, Health: pkg.grpc.health.v1.Health };
  return loaded;
}

/** Calls the unary `method` of `client` and resolves with its answer (rejects with the grpc-js error: `code`, `details`). */
export function unary<T = Record<string, unknown>>(
  client: grpc.Client,
  method: string,
  request: object,
  options: grpc.CallOptions = {},
): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
  if (typeof fn !== 'function') throw new Error(`the client has no method ${method}`);
  return new Promise((resolveCall, reject) => {
    fn.call(client, request, new grpc.Metadata(), options, (err: grpc.ServiceError | null, reply: T) =>
      err ? reject(err) : resolveCall(reply),
    );
  });
}

/** A running gRPC demo app. */
export interface GrpcAppHandle {
  proc: Proc;
  port: number;
  instance: string;
  /** Switches its fault mode (Drill/SetFault); `delayMs` for the slow modes. */
  setFault(mode: GrpcFault, delayMs?: number): Promise<void>;
  /** What it has served (Drill/Stats). */
  stats(): Promise<GrpcAppStats>;
}

/** Options of {@link startGrpcDemoApp}. */
export interface GrpcAppOptions {
  instance: string;
  /** The service it names itself (default `greeter`). */
  service?: string;
  /** Default: a free port. */
  port?: number;
  /** The fault mode it starts in (default `none`). */
  fault?: GrpcFault;
  /** The delay of the slow modes, ms (default 2000). */
  delayMs?: number;
}

/**
 * Starts the real gRPC demo app process (h2c on loopback) and waits until it
 * listens. Its Drill service switches faults and reads what it served; it is
 * reached directly, never through the mesh.
 */
export async function startGrpcDemoApp(o: GrpcAppOptions): Promise<GrpcAppHandle> {
  const port = o.port ?? (await getPort());
  const args = [GRPC_DEMO_APP, '--instance', o.instance, '--port', String(port)];
  if (o.service) args.push('--service', o.service);
  if (o.fault) args.push('--fault', o.fault);
  if (o.delayMs !== undefined) args.push('--delay-ms', String(o.delayMs));
  const proc = new Proc(`${o.instance}-grpc-app`, process.execPath, args);
  const exited = proc.exited().then(() => {
    throw new Error(`gRPC demo app ${o.instance} exited while starting: ${proc.output.trim().slice(-2000)}`);
  });
  await Promise.race([
    waitFor(`gRPC demo app ${o.instance} to listen`, () => proc.output.includes('"grpc demo app listening"')),
    exited,
  ]);
  exited.catch(() => {});
  const drill = () => new (grpcDemoClients().Drill)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const once = async <T>(method: string, request: object): Promise<T> => {
    const client = drill();
    try {
      return await unary<T>(client, method, request, { deadline: Date.now() + 5_000 });
    } finally {
      client.close();
    }
  };
  return {
    proc,
    port,
    instance: o.instance,
    async setFault(mode, delayMs) {
      await once('SetFault', { mode, delayMs: delayMs ?? 0 });
    },
    stats: () => once<GrpcAppStats>('Stats', {}),
  };
}
