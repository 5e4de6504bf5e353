import { type Clock, type ControlPlaneConfig, type Logger, MeshletError } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { Replication } from '../ha/replication.js';
import { CaRotation } from '../identity/ca-rotation.js';
import type { CertificateAuthority } from '../identity/certificate-authority.js';
import { caSourceOf } from '../identity/identity-settings.js';
import { behindOf } from '../identity/rotation-progress.js';
import { StateKey } from '../identity/state-key.js';
import { CA_STATE_KEY, type RotationStep } from '../identity/stored-ca-state.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';

/** How often the leading replica looks whether a rotation step is proven (and the others re-read the state). */
const ADVANCE_INTERVAL_MS = 500;

/**
 * How long a replica that just began to lead (or a control plane that just
 * started) waits before it moves a rotation on: its registry holds only the
 * agents that have reconnected so far, and a step proven by none of the
 * others would leave them behind (a restart mid-rotation would otherwise
 * finish it within a second, with no agent's word).
 */
export function rotationSettleMs(config: Pick<ControlPlaneConfig, 'push' | 'heartbeat' | 'identity'>): number {
  return config.push.startupGraceMs + config.heartbeat.timeoutMs + config.identity.ca.agentReconnectMaxDelayMs;
}
const STEPS: RotationStep[] = ['adding-root', 'switching-issuer', 'removing-root', 'done'];

/**
 * Where the key that seals the CA keys of a rotation comes from: the
 * configured file; beside a generated CA (made the first time); made per
 * process for a CA in memory. With operator files and none configured, a
 * rotation is refused with the fix (replicas must share the key).
 */
export function stateKeySource(
  config: Pick<ControlPlaneConfig, 'identity' | 'dataDir' | 'store'>,
): () => Promise<StateKey> {
  const source = caSourceOf(config);
  const file = config.identity.ca.stateKeyFile;
  let key: Promise<StateKey> | undefined;
  return () => {
    if (key === undefined) {
      if (file !== undefined) key = StateKey.read(file, 'identity.ca.stateKeyFile');
      else if (source.kind === 'generated') key = StateKey.inDirectory(source.dir);
      else if (source.kind === 'memory') key = Promise.resolve(StateKey.ephemeral());
      else
        return Promise.reject(
          new MeshletError(
            ControlPlaneErrorCodes.CONFLICT,
            'identity.ca.stateKeyFile is not set: a root rotation of a CA from files keeps the new issuer in the ' +
              'store, sealed with that key, so that every replica signs with it; make one with ' +
              '`openssl rand -base64 32 > ca-state.key` (mode 0600), give every replica the same file, and restart them',
          ),
        );
      key.catch(() => (key = undefined));
    }
    return key;
  };
}

/** What {@link openRotation} wires the rotation to. */
export interface RotationWiring {
  config: ControlPlaneConfig;
  log: Logger;
  clock: Clock;
  store: Store;
  metrics: ControlPlaneMetrics;
  replication: Replication;
  authority: CertificateAuthority;
  /** Called when the CA took in another state: push the new bundle. */
  changed: () => void;
}

/** A running rotation: the state machine, and the timer and store watch that move and follow it. */
export interface RunningRotation {
  rotation: CaRotation;
  /** Starts moving the rotation on (on the leader) once the registry exists. */
  drive(registry: Registry): void;
  stop(): void;
}

/**
 * Opens the rotation state (the CA then signs as the store says), follows
 * it when another replica writes it, and on the leading replica moves it on
 * every {@link ADVANCE_INTERVAL_MS} when its step is proven; keeps the
 * rotation gauges current.
 */
export async function openRotation(w: RotationWiring): Promise<RunningRotation> {
  const { log, metrics, authority } = w;
  const gauges = (): void => {
    const state = rotation.state;
    metrics.caTrustGeneration.set(state?.generation ?? 0);
    for (const step of STEPS) metrics.caRotationStep.set({ step }, (state?.step ?? 'done') === step ? 1 : 0);
    metrics.caRotationStepStarted.set(state === undefined ? 0 : Math.floor(state.stepAt / 1000));
    metrics.issuerExpiry.set(Math.floor(authority.issuerNotAfter.getTime() / 1000));
    metrics.rootExpiry.set(Math.floor(authority.rootsNotAfter.getTime() / 1000));
  };
  const rotation: CaRotation = await CaRotation.open({
    ca: authority,
    store: w.store,
    clock: w.clock,
    log: log.child({ component: 'ca-rotation' }),
    stateKey: stateKeySource(w.config),
    ephemeral: caSourceOf(w.config).kind === 'memory',
    changed: () => {
      gauges();
      w.changed();
    },
  });
  gauges();
  // One line per new error, following and advancing apart: each clears only its own.
  const last = { follow: undefined as string | undefined, advance: undefined as string | undefined };
  const reporter =
    (what: 'follow' | 'advance') =>
    (e: unknown): void => {
      const message = (e as Error).message;
      if (message !== last[what])
        log.error(
          { err: message },
          `the root rotation could not ${what === 'follow' ? 'be read' : 'move on'}; retrying`,
        );
      last[what] = message;
    };
  const report = reporter('follow');
  const unwatch = w.store.onChange?.((key) => {
    if (key === CA_STATE_KEY) rotation.follow().catch(report);
  });
  let timer: NodeJS.Timeout | undefined;
  let leadingSince: number | undefined;
  const settleMs = rotationSettleMs(w.config);
  return {
    rotation,
    drive(registry) {
      timer = setInterval(() => {
        // A missed or failed follow of the store's watch (or a restore) is made up here: the CA signs as the store says.
        rotation.follow().then(() => (last.follow = undefined), report);
        if (!w.replication.leading) {
          leadingSince = undefined;
          metrics.caRotationAgentsBehind.set(0);
          return;
        }
        leadingSince ??= w.clock();
        const state = rotation.state;
        if (state === undefined || state.step === 'done') {
          metrics.caRotationAgentsBehind.set(0);
          return;
        }
        const agents = registry.agents();
        if (w.clock() - leadingSince < settleMs) {
          metrics.caRotationAgentsBehind.set(behindOf(state, rotation.trust().activeIssuer, agents).length);
          return;
        }
        metrics.caRotationAgentsBehind.set(behindOf(state, rotation.trust().activeIssuer, agents).length);
        rotation.advance(agents).then(() => (last.advance = undefined), reporter('advance'));
      }, ADVANCE_INTERVAL_MS);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      unwatch?.();
    },
  };
}
