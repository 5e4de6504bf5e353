import type { Registration } from '../registry/agent-record.js';
import type { LinkContext } from './link-context.js';

interface LocalRegistration {
  reg: Registration;
  /** The `mod_revision` of this replica's last write of it; `undefined` before the first. */
  rev: number | undefined;
  /** A failed write is tried again soon; set while that is pending. */
  retrying: boolean;
  /** Writes of one agent run one after another, in order. */
  chain: Promise<void>;
}

/**
 * Publishes the registrations of this replica's agents under
 * `live/agents/<agentId>`, under the replica's lease, so that they vanish
 * when the replica dies. A replica only ever overwrites its own write, or an
 * absent key: when an agent moves to another replica, the other's
 * registration wins, and this replica forgets its own.
 */
export class RegistrationPublisher {
  readonly #ctx: LinkContext;
  readonly #leaseId: () => string | undefined;
  readonly #local = new Map<string, LocalRegistration>();

  /** `leaseId` gives the lease held right now; nothing is written without one. */
  constructor(ctx: LinkContext, leaseId: () => string | undefined) {
    this.#ctx = ctx;
    this.#leaseId = leaseId;
  }

  /** Publishes (or updates) the registration of an agent of this replica. */
  register(reg: Registration): void {
    let entry = this.#local.get(reg.agentId);
    // A disconnect of an agent this replica does not hold (it never published it, or another replica has taken it) is nobody's business.
    if (!entry && !reg.connected) return;
    if (!entry) {
      entry = { reg, rev: undefined, retrying: false, chain: Promise.resolve() };
      this.#local.set(reg.agentId, entry);
    }
    entry.reg = reg;
    this.#queueWrite(entry);
  }

  /** Withdraws the registration of an agent this replica forgot (only if it still owns it). */
  unregister(agentId: string): void {
    const e = this.#local.get(agentId);
    if (!e) return;
    this.#local.delete(agentId);
    e.chain = e.chain.then(async () => {
      if (e.rev === undefined) return;
      const c = this.#ctx.client;
      const key = this.#ctx.keys.agents + agentId;
      await this.#ctx.bounded(c.if(key, 'Mod', '==', e.rev).then(c.delete().key(key)).commit()).catch(() => undefined);
    });
  }

  /** Writes every registration again (under a new lease). Each keeps its last revision: it replaces only this replica's own write, or an absent key. */
  writeAll(): void {
    for (const entry of this.#local.values()) this.#queueWrite(entry);
  }

  /** Another replica wrote the agent's registration at `modRevision`: a registration this replica still held from before is stale, and forgotten. */
  yieldTo(agentId: string, modRevision: number): void {
    const mine = this.#local.get(agentId);
    if (mine && mine.rev !== undefined && modRevision > mine.rev) this.#local.delete(agentId);
  }

  /** Resolves once every write queued so far is done. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#local.values()].map((e) => e.chain));
  }

  /** Writes the entry's registration after the writes of that agent already queued. */
  #queueWrite(entry: LocalRegistration): void {
    entry.chain = entry.chain.then(() => this.#write(entry));
  }

  /**
   * Writes a registration under the lease, unless another replica wrote the
   * agent's key since this replica last did (the agent moved there): a
   * replica only ever overwrites its own write, or an absent key.
   */
  async #write(entry: LocalRegistration): Promise<void> {
    const ctx = this.#ctx;
    const leaseId = this.#leaseId();
    if (ctx.closed || leaseId === undefined || this.#local.get(entry.reg.agentId) !== entry) return;
    const key = ctx.keys.agents + entry.reg.agentId;
    if (entry.rev === undefined && !entry.reg.connected) {
      // It left before it was ever published: writing it now could only cover a newer registration by another replica.
      this.#local.delete(entry.reg.agentId);
      return;
    }
    const c = ctx.client;
    const put = () => c.put(key).value(JSON.stringify(entry.reg)).lease(leaseId);
    try {
      // A new connection always wins; a later change only replaces this replica's own write.
      const guard = entry.rev === undefined ? c.if(key, 'Version', '>', -1) : c.if(key, 'Mod', '==', entry.rev);
      let res = await ctx.bounded(guard.then(put()).commit());
      if (!res.succeeded && entry.reg.connected)
        res = await ctx.bounded(c.if(key, 'Version', '==', 0).then(put()).commit());
      if (res.succeeded) {
        entry.rev = Number(res.header.revision);
      } else {
        // Another replica holds the agent now; this replica's view of it is stale.
        this.#local.delete(entry.reg.agentId);
      }
    } catch (e) {
      ctx.log.warn(
        { agentId: entry.reg.agentId, err: (e as Error).message },
        'replica link: could not publish a registration; trying again',
      );
      if (entry.retrying) return;
      entry.retrying = true;
      ctx.later(() => {
        entry.retrying = false;
        if (this.#local.get(entry.reg.agentId) === entry) this.#queueWrite(entry);
      });
    }
  }
}
