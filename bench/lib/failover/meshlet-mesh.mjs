// A control plane and agents, started from their built binaries for the
// failover benchmark's meshlet path and the database proofs: the control
// plane with a shared join token (loopback, thrown away with the run) and
// the services' policies, agents from a config object. `place(name)` may
// run a process elsewhere than loopback (`{ host, wrap }`, see pg-pair.mjs).
import { createWriteStream, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';
import { FatalError, waitUntil } from './wait-until.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CP_BIN = join(ROOT, 'control-plane', 'dist', 'main.js');
const AGENT_BIN = join(ROOT, 'agent', 'dist', 'main.js');
/** The run's shared join token and admin token (the control plane is the run's own). */
export const JOIN = 'failover-bench-join-token-0123456789';
export const ADMIN = 'failover-bench-admin-token-0123456789';

const whereOf = (place, name) => place?.(name) ?? { host: '127.0.0.1' };

/** With MESHLET_FAILOVER_LOG_DIR set, every control plane and agent logs at info into a file there (for a failed run). */
const LOG_DIR = process.env.MESHLET_FAILOVER_LOG_DIR;
const LOG_LEVEL = LOG_DIR ? 'info' : 'warn';

function spawnAt(ctx, place, name, label, args) {
  const w = whereOf(place, name);
  const [c, a] = w.wrap ? w.wrap(process.execPath, args) : [process.execPath, args];
  const proc = ctx.group.start(label, c, a);
  if (LOG_DIR) {
    const out = createWriteStream(join(LOG_DIR, `${label.replace(/\W+/g, '-')}.log`), { flags: 'a' });
    proc.stdout.pipe(out);
    proc.stderr.pipe(out);
  }
  return proc;
}

/**
 * Starts a control plane with `services` (policies by service name); waits
 * until it answers. A free port can be taken by another process between
 * get-port's probe and the listen (the machine is shared): on EADDRINUSE it
 * starts again on another port.
 */
export async function startMeshletControlPlane(ctx, { services, place, extra = {} }) {
  const host = whereOf(place, 'cp').host;
  for (let attempt = 1; ; attempt++) {
    const port = await getPort();
    const file = join(ctx.dir, 'cp.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        listen: { host, port },
        dataDir: join(ctx.dir, 'cp-data'),
        log: { level: LOG_LEVEL },
        auth: { joinToken: JOIN, allowSharedJoinToken: true, adminToken: ADMIN },
        // A fresh control plane with fresh agents: no agent holds an older table to reconnect with first.
        push: { startupGraceMs: 0 },
        ...(host === '127.0.0.1' ? {} : { tls: { allowPlaintextRemote: true } }),
        services,
        ...extra,
      }),
    );
    const proc = spawnAt(ctx, place, 'cp', 'control plane', [CP_BIN, '--config', file]);
    const url = `http://${host}:${port}`;
    try {
      await waitUntil(
        'the control plane to listen',
        async () => {
          if (proc.exitCode !== null) throw new FatalError(`the control plane exited: ${proc.tail()}`);
          return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    } catch (e) {
      if (attempt < 3 && /EADDRINUSE/.test(String(e?.message))) continue;
      throw e;
    }
    return controlPlaneHandle(proc, host, port, url);
  }
}

function controlPlaneHandle(proc, host, port, url) {
  const api = async (method, path, body) => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  return { proc, host, port, url, streamUrl: `ws://${host}:${port}/v1/stream`, api };
}

/**
 * Starts an agent `id` on `cp` with `config` (instance, upstreams, service:
 * merged over the listeners (admin and inbound on port 0), control plane and
 * data dir). `node` names where it runs for `place` (default `id`). Returns
 * { id, proc, file }.
 */
export async function startMeshletAgent(ctx, cp, id, config, { place, node = id } = {}) {
  const host = whereOf(place, node).host;
  const file = join(ctx.dir, `agent-${id}.yaml`);
  writeFileSync(
    file,
    JSON.stringify({
      agentId: id,
      listeners: {
        outbound: { enabled: false },
        inbound: { host, port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
      },
      // A control plane in another network namespace is reached over plain ws:// (the run's own test bed).
      controlPlane: {
        url: cp.streamUrl,
        joinToken: JOIN,
        ...(cp.host === '127.0.0.1' ? {} : { allowPlaintextRemote: true }),
      },
      dataDir: join(ctx.dir, `agent-${id}`),
      log: { level: LOG_LEVEL },
      ...config,
    }),
  );
  const proc = spawnAt(ctx, place, node, `agent ${id}`, [AGENT_BIN, '--config', file]);
  return { id, proc, file };
}

/** Throws a FatalError naming the first of `procs` that has exited. */
export function assertRunning(procs) {
  for (const p of procs) if (p.exitCode !== null) throw new FatalError(`${p.name} exited: ${p.tail()}`);
}
