import { type Clock, type Logger, MeshletError, type TrustBundle } from '@meshlet/shared';
import { certificateFingerprint, privateKeyFromPem, privateKeyToPem, x509 } from '@meshlet/shared/identity';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { Store } from '../store/store.js';
import { type CaMaterial, parseCertificates } from './ca-files.js';
import { type CertificateAuthority, generateCa } from './certificate-authority.js';
import { type AgentProgress, behindOf } from './rotation-progress.js';
import type { StateKey } from './state-key.js';
import { CA_STATE_KEY, macText, parseStoredCaState, type RotationStep, type StoredCaState } from './stored-ca-state.js';

/** Options of {@link CaRotation}. */
export interface CaRotationOptions {
  ca: CertificateAuthority;
  store: Store;
  clock: Clock;
  log: Logger;
  /** The key that seals the CA keys kept in the store; throws, naming the setting, when there is none. */
  stateKey: () => Promise<StateKey>;
  /** Called after the CA took in another state (a step here or through another replica): push the new bundle. */
  changed?: () => void;
  /**
   * The CA lives in memory (made anew at each start): a stored state sealed
   * by an earlier process is not this CA's; it is ignored (and replaced by
   * the next rotation) rather than refused.
   */
  ephemeral?: boolean;
}

const conflict = (message: string): MeshletError => new MeshletError(ControlPlaneErrorCodes.CONFLICT, message);

const pem = (c: x509.X509Certificate): string => c.toString('pem');
const fingerprintOf = (c: x509.X509Certificate): string => certificateFingerprint(new Uint8Array(c.rawData));

/**
 * Root rotation without downtime, in steps that each wait for proof, as the
 * issue asks and Linkerd's manual procedure describes: add the new root to
 * every agent's trust bundle (wait until every connected agent ACKed a table
 * carrying it) → sign with the new issuer (wait until every agent presents a
 * certificate from it) → remove the old root (wait for the ACKs again) →
 * done. The state lives in the store, so a rotation started through one
 * replica goes on through another when the first dies; only the leader
 * moves it ({@link advance}), every replica follows it ({@link follow}).
 */
export class CaRotation {
  readonly #o: CaRotationOptions;
  #state: StoredCaState | undefined;
  #revision = 0;
  #busy: Promise<unknown> = Promise.resolve();

  private constructor(options: CaRotationOptions) {
    this.#o = options;
  }

  /** Opens the rotation state in the store, if any, and makes the CA sign as it says. */
  static async open(options: CaRotationOptions): Promise<CaRotation> {
    const rotation = new CaRotation(options);
    await rotation.#read();
    return rotation;
  }

  /** The state held (undefined before the first rotation). */
  get state(): StoredCaState | undefined {
    return this.#state;
  }

  /** The trust bundle agents must hold now. */
  trust(): TrustBundle {
    const ca = this.#o.ca;
    return {
      generation: this.#state?.generation ?? 0,
      rootsPem: ca.trustBundle().join('\n') + '\n',
      issuersPem: ca.knownIssuers().join('\n') + '\n',
      activeIssuer: ca.activeIssuerFingerprint,
    };
  }

  /** Whether a rotation is under way. */
  get rotating(): boolean {
    return this.#state !== undefined && this.#state.step !== 'done';
  }

  /** The store changed (through another replica): takes in a new state, if the CA's changed. */
  async follow(): Promise<void> {
    await this.#serial(() => this.#read());
  }

  /**
   * Starts a rotation: makes a new root and an issuer under it, and adds the
   * root to the bundle. `MESHLET_CONFLICT` while one is under way.
   */
  async start(by?: string): Promise<StoredCaState> {
    return this.#serial(async () => {
      await this.#read();
      if (this.rotating) {
        throw conflict(
          `a root rotation is under way (step ${this.#state?.step}); follow it with meshctl ca status, it finishes by itself`,
        );
      }
      const key = await this.#o.stateKey();
      const ca = this.#o.ca;
      const now = this.#o.clock();
      const made = await generateCa(ca.trustDomain, new Date(now), {});
      const newRoot = made.roots[0] as x509.X509Certificate;
      const newIssuer = made.issuerChain[0] as x509.X509Certificate;
      const current = ca.material;
      const sealedActive = this.#state?.active ?? {
        chain: current.issuerChain.map(pem),
        key: key.seal(await privateKeyToPem(current.issuerKey)),
      };
      const next: Omit<StoredCaState, 'mac'> = {
        generation: (this.#state?.generation ?? 0) + 1,
        step: 'adding-root',
        startedAt: now,
        stepAt: now,
        ...(by === undefined ? {} : { startedBy: by }),
        roots: [...ca.trustBundle(), pem(newRoot)],
        issuers: [...ca.knownIssuers(), ...made.issuerChain.map(pem)],
        active: sealedActive,
        next: { chain: [pem(newIssuer)], key: key.seal(await privateKeyToPem(made.issuerKey)) },
        newRoot: pem(newRoot),
        stateKeyId: key.id,
      };
      const written = await this.#write(next);
      this.#o.log.info(
        { generation: next.generation, newRoot: fingerprintOf(newRoot), by },
        'root rotation started: adding the new root to every trust bundle',
      );
      return written;
    });
  }

  /**
   * Moves the rotation on when its step is proven by `agents` (every
   * connected one; see {@link behindOf}). Returns the step it is at.
   */
  async advance(agents: readonly AgentProgress[]): Promise<RotationStep | undefined> {
    return this.#serial(async () => {
      const state = this.#state;
      if (state === undefined || state.step === 'done') return state?.step;
      if (behindOf(state, this.trust().activeIssuer, agents).length > 0) return state.step;
      const now = this.#o.clock();
      let next: Omit<StoredCaState, 'mac'>;
      if (state.step === 'adding-root') {
        const { next: incoming, ...rest } = state;
        if (incoming === undefined) throw conflict('the stored rotation lost its new issuer; start a new rotation');
        next = { ...rest, step: 'switching-issuer', stepAt: now, generation: state.generation + 1, active: incoming };
      } else if (state.step === 'switching-issuer') {
        next = {
          ...state,
          step: 'removing-root',
          stepAt: now,
          generation: state.generation + 1,
          roots: [state.newRoot],
          issuers: state.active.chain,
        };
      } else {
        next = { ...state, step: 'done', stepAt: now, completedAt: now };
      }
      await this.#write(next);
      this.#o.log.info({ generation: next.generation, step: next.step }, `root rotation: ${describeStep(next.step)}`);
      return next.step;
    });
  }

  /** One change at a time: a step, a start and a follow never interleave. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => undefined);
    return run;
  }

  /** Writes `next` if the state is still the one read; adopts it. Someone else moved first: reads theirs. */
  async #write(unsealed: Omit<StoredCaState, 'mac'>): Promise<StoredCaState> {
    const key = await this.#o.stateKey();
    const next: StoredCaState = { ...unsealed, mac: key.mac(macText(unsealed)) };
    // What the other replicas and a restart will read must pass the schema they read it with.
    const checked = parseStoredCaState(next);
    if (!checked.ok) throw conflict(`this CA cannot be rotated as it is: ${checked.error}`);
    const revision = await this.#o.store.writeIf(CA_STATE_KEY, next, this.#revision);
    if (revision === undefined) {
      await this.#read();
      throw conflict('the rotation moved on through another control-plane replica meanwhile; look again');
    }
    await this.#adopt(next);
    this.#revision = revision;
    return next;
  }

  async #read(): Promise<void> {
    const store = this.#o.store;
    const revision = store.modRevision(CA_STATE_KEY) ?? 0;
    if (revision === this.#revision) return;
    const value = store.get<unknown>(CA_STATE_KEY);
    if (value === undefined) {
      this.#revision = revision;
      return;
    }
    if (this.#o.ephemeral === true && this.#state === undefined) {
      const key = await this.#o.stateKey();
      if ((value as { stateKeyId?: unknown }).stateKeyId !== key.id) {
        this.#o.log.warn('ignoring the CA state an earlier control plane left in the store: this CA lives in memory');
        this.#revision = revision;
        return;
      }
    }
    const parsed = parseStoredCaState(value);
    if (!parsed.ok) {
      throw new MeshletError(
        ControlPlaneErrorCodes.CA_INVALID,
        `the CA state in the store (${CA_STATE_KEY}) is malformed: ${parsed.error}; restore it from a backup`,
      );
    }
    const held = this.#state?.generation;
    if (held !== undefined && parsed.state.generation < held) {
      // Replayed from a backup or etcd's history: genuine and sealed, but it would bring back a retired root.
      throw new MeshletError(
        ControlPlaneErrorCodes.CA_INVALID,
        `the CA state in the store went back from generation ${held} to ${parsed.state.generation}: an older state ` +
          'was written back (a replay); this control plane keeps signing as generation ' +
          `${held}; write the newer state back or start a new rotation`,
      );
    }
    await this.#adopt(parsed.state);
    this.#revision = revision;
  }

  async #adopt(state: StoredCaState): Promise<void> {
    const key = await this.#o.stateKey();
    if (key.id !== state.stateKeyId) {
      throw new MeshletError(
        ControlPlaneErrorCodes.CA_INVALID,
        `the CA state in the store was sealed with another state key (id ${state.stateKeyId}, this one ${key.id}); ` +
          'give every replica the same identity.ca.stateKeyFile',
      );
    }
    if (!key.verify(macText(state), state.mac)) {
      throw new MeshletError(
        ControlPlaneErrorCodes.CA_INVALID,
        `the CA state in the store (${CA_STATE_KEY}) does not match its seal: it was changed by something that does ` +
          'not hold the state key; restore it from a backup and check who may write the store',
      );
    }
    const material: CaMaterial = {
      roots: state.roots.flatMap((p) => parseCertificates(p, `${CA_STATE_KEY} roots`)),
      rootKey: undefined,
      issuerChain: state.active.chain.flatMap((p) => parseCertificates(p, `${CA_STATE_KEY} issuer`)),
      issuerKey: await privateKeyFromPem(key.open(state.active.key)),
    };
    const known = state.issuers.flatMap((p) => parseCertificates(p, `${CA_STATE_KEY} issuers`));
    const changed = this.#state?.generation !== state.generation;
    await this.#o.ca.adopt(material, known);
    this.#state = state;
    if (changed) this.#o.changed?.();
  }
}

/** What a step waits for, as the log and `meshctl ca status` say it. */
export function describeStep(step: RotationStep): string {
  switch (step) {
    case 'adding-root':
      return 'adding the new root to every trust bundle; waiting until every connected agent ACKed it';
    case 'switching-issuer':
      return 'signing with the new issuer; waiting until every agent holds a certificate from it';
    case 'removing-root':
      return 'removing the old root; waiting until every connected agent ACKed the bundle without it';
    case 'done':
      return 'done: the new root is the only one';
  }
}
