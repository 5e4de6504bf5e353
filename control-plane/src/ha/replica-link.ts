import type { Logger, Observations, Routes } from '@meshlet/shared';
import type { Campaign, Election, Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import type { MeshEvent } from '../events/event-log.js';
import type { Registration } from '../registry/agent-record.js';

/** Who leads, as its campaign value says. */
export interface LeaderInfo {
  replicaId: string;
  url: string;
}

/** What a replica publishes every {@link SIGNAL_INTERVAL_MS}: its agents' liveness and their callers' observations. */
export interface SignalBatch {
  replica: string;
  /** Milliseconds since the replica last heard from each of its connected agents (ages, not clock times: replicas' clocks differ). */
  seen: Record<string, number>;
  /** Observation reports its agents sent since the last batch. */
  observations: { agentId: string; report: Observations }[];
}

/** The leader's current table, as followers adopt it. */
export type PublishedTable = Pick<Routes, 'version' | 'nonce' | 'services'>;

/** What the control plane does with what other replicas publish. */
export interface ReplicaLinkHandlers {
  /** This replica became leader (`true`) or stopped being it. */
  onRole(leader: boolean): void;
  /** The elected leader changed (`undefined`: none right now). */
  onLeader(leader: LeaderInfo | undefined): void;
  /** An agent of another replica registered or changed. */
  onRegistration(reg: Registration): void;
  /** The registration of an agent of another replica is gone (its replica forgot it, or died). */
  onRegistrationGone(agentId: string, replica: string): void;
  onSignals(batch: SignalBatch): void;
  onTable(table: PublishedTable): void;
  onEvents(events: MeshEvent[]): void;
}

/** Options of {@link ReplicaLink}. */
export interface ReplicaLinkOptions {
  /** The etcd client (the store's). */
  client: Etcd3;
  /** The store's key prefix; the link's keys live under `<prefix>live/` and `<prefix>election/`. */
  prefix: string;
  replicaId: string;
  /** Where operators reach this replica; published with its campaign. */
  advertiseUrl: string;
  leaseTtlSeconds: number;
  requestTimeoutMs: number;
  log: Logger;
  handlers: ReplicaLinkHandlers;
}

/** How often a replica publishes its signal batch. */
export const SIGNAL_INTERVAL_MS = 500;
/** How long to wait before trying again after etcd refused a lease, a campaign or a watch. */
const RETRY_MS = 1_000;

interface LocalRegistration {
  reg: Registration;
  /** The `mod_revision` of this replica's last write of it; `undefined` before the first. */
  rev: number | undefined;
  /** Writes of one agent run one after another, in order. */
  chain: Promise<void>;
}

const text = (b: Buffer) => b.toString('utf8');

function parse<T>(kv: IKeyValue, log: Logger): T | undefined {
  try {
    return JSON.parse(text(kv.value)) as T;
  } catch (e) {
    log.warn({ key: text(kv.key), err: e }, 'replica link: a value is not JSON; ignored');
    return undefined;
  }
}

/**
 * What one control-plane replica shares with the others through etcd, beside
 * the configuration the store keeps:
 *
 * - leadership: every replica campaigns in an etcd election (a key under its
 *   own lease; the oldest key leads), and observes who leads;
 * - `live/agents/<agentId>`: the registration of each agent connected to this
 *   replica, under its lease, so that it vanishes when the replica dies;
 * - `live/signals/<replicaId>`: every {@link SIGNAL_INTERVAL_MS}, under the
 *   lease, when this replica last heard from each of its agents and what
 *   their callers observed, so that every replica's health engine sees
 *   every signal;
 * - `live/table` and `live/events`: the leader's routing table and latest
 *   decisions, written only while it holds leadership (checked in the same
 *   transaction), which the followers adopt.
 *
 * When etcd loses its quorum the lease cannot be kept alive: the replica
 * stops leading, keeps what it holds in memory, and gets a new lease (then
 * writes its registrations again) once etcd answers.
 */
export class ReplicaLink {
  readonly #o: ReplicaLinkOptions;
  readonly #live: string;
  readonly #agentsPrefix: string;
  readonly #signalsPrefix: string;
  readonly #tableKey: string;
  readonly #eventsKey: string;
  readonly #election: Election;
  readonly #local = new Map<string, LocalRegistration>();
  /** The replica behind each remote registration, to tell who lost it when it is deleted, and when the agent connected there. */
  readonly #owners = new Map<string, { replica: string; connectedAt: number }>();
  #lease: Lease | undefined;
  #leaseId: string | undefined;
  #leasing: Promise<void> | undefined;
  #campaign: Campaign | undefined;
  #campaignKey: string | undefined;
  readonly #electionPrefix: string;
  #electionWatcher: Watcher | undefined;
  #readingLeader = false;
  /** The leader last told to the handlers (`replicaId|url`; '' for none). */
  #leaderKey: string | undefined;
  #ticks = 0;
  #watcher: Watcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retry = new Set<NodeJS.Timeout>();
  #leader = false;
  #observations: SignalBatch['observations'] = [];
  #seen: () => Record<string, number> = () => ({});
  /** When etcd last answered a keep-alive of this replica's lease. */
  #keptAliveAt = 0;
  /** Since when every signal batch reached etcd (undefined: the last one did not). */
  #touchSince: number | undefined;
  /** What the leader could not publish yet (etcd did not answer); tried again with each signal batch. */
  readonly #unpublished = new Map<string, { value: unknown; what: string; inflight: boolean }>();
  #closed = false;

  constructor(options: ReplicaLinkOptions) {
    this.#o = options;
    this.#live = `${options.prefix}live/`;
    this.#agentsPrefix = `${this.#live}agents/`;
    this.#signalsPrefix = `${this.#live}signals/`;
    this.#tableKey = `${this.#live}table`;
    this.#eventsKey = `${this.#live}events`;
    this.#election = options.client.namespace(options.prefix).election('leader', options.leaseTtlSeconds);
    // Where etcd3's election keeps its campaign keys (Election.prefix is "election").
    this.#electionPrefix = `${options.prefix}election/leader/`;
  }

  /**
   * Whether this replica has been in touch with etcd for at least `ms`
   * without a break. Only then does the silence of another replica's agent
   * mean anything: cut off from etcd, no replica's word arrives.
   */
  inTouch(ms: number): boolean {
    return this.#touchSince !== undefined && Date.now() - this.#touchSince >= ms;
  }

  /** Whether this replica leads right now. */
  get leader(): boolean {
    return this.#leader;
  }

  /**
   * Reads what the other replicas published (registrations, the table, the
   * latest decisions) and watches it, then campaigns for leadership in the
   * background. `seen` gives the ages to publish for this replica's agents.
   */
  async start(seen: () => Record<string, number>): Promise<void> {
    this.#seen = seen;
    this.#keptAliveAt = Date.now();
    const mine = await this.#bounded(this.#o.client.get(this.#signalsPrefix + this.#o.replicaId).exists());
    if (mine) {
      this.#o.log.warn(
        { replicaId: this.#o.replicaId },
        'another replica publishes under this replicaId (or this one ran less than a lease TTL ago): give every replica its own store.etcd.replicaId',
      );
    }
    await this.#relist();
    this.#renewLease();
    this.#runCampaign();
    this.#observe();
    this.#timer = setInterval(() => this.#publishSignals(), SIGNAL_INTERVAL_MS);
  }

  /** Publishes (or updates) the registration of an agent of this replica. */
  register(reg: Registration): void {
    let entry = this.#local.get(reg.agentId);
    const other = this.#owners.get(reg.agentId);
    // The agent connected to another replica after this connection: whatever this replica still says of it is stale.
    if (!entry && other !== undefined && other.connectedAt >= reg.connectedAt) return;
    if (!entry) {
      entry = { reg, rev: undefined, chain: Promise.resolve() };
      this.#local.set(reg.agentId, entry);
    }
    entry.reg = reg;
    const e = entry;
    e.chain = e.chain.then(() => this.#writeRegistration(e));
  }

  /** Withdraws the registration of an agent this replica forgot (only if it still owns it). */
  unregister(agentId: string): void {
    const e = this.#local.get(agentId);
    if (!e) return;
    this.#local.delete(agentId);
    e.chain = e.chain.then(async () => {
      if (e.rev === undefined) return;
      const key = this.#agentsPrefix + agentId;
      await this.#bounded(this.#o.client.if(key, 'Mod', '==', e.rev).then(this.#o.client.delete().key(key)).commit()).catch(() => undefined);
    });
  }

  /** Queues an observation report of an agent of this replica for the next signal batch. */
  observed(agentId: string, report: Observations): void {
    this.#observations.push({ agentId, report });
  }

  /** Publishes the leader's new table; refused by etcd if this replica no longer leads. */
  publishTable(table: PublishedTable): void {
    this.#publishAsLeader(this.#tableKey, { version: table.version, nonce: table.nonce, services: table.services }, `table version ${table.version}`);
  }

  /** Publishes the leader's latest decisions. */
  publishEvents(events: MeshEvent[]): void {
    this.#publishAsLeader(this.#eventsKey, events, 'decisions');
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    for (const t of this.#retry) clearTimeout(t);
    this.#setLeader(false);
    await Promise.allSettled([...this.#local.values()].map((e) => e.chain));
    // Resigning hands leadership over at once instead of after the TTL; revoking the lease drops the registrations.
    await Promise.allSettled([
      this.#bounded(this.#campaign?.resign() ?? Promise.resolve()),
      this.#bounded(this.#lease?.revoke() ?? Promise.resolve()),
      this.#electionWatcher?.cancel(),
      this.#watcher?.cancel(),
    ]);
  }

  #later(fn: () => void): void {
    if (this.#closed) return;
    const t = setTimeout(() => {
      this.#retry.delete(t);
      if (!this.#closed) fn();
    }, RETRY_MS);
    this.#retry.add(t);
  }

  /** Races a request against the request timeout (etcd3 retries on other members, which can take long). */
  async #bounded<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from etcd within ${this.#o.requestTimeoutMs} ms`)), this.#o.requestTimeoutMs);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Gets a lease, and a new one whenever it is lost; every registration is written again under the new one. */
  #renewLease(): void {
    if (this.#closed || this.#leasing) return;
    const lease = this.#o.client.lease(this.#o.leaseTtlSeconds);
    this.#leasing = this.#bounded(lease.grant())
      .then((id) => {
        if (this.#closed) {
          lease.revoke().catch(() => undefined);
          return;
        }
        this.#lease = lease;
        this.#leaseId = id;
        this.#keptAliveAt = Date.now();
        lease.on('keepaliveSucceeded', () => {
          if (this.#lease === lease) this.#keptAliveAt = Date.now();
        });
        lease.on('lost', (e) => {
          if (this.#lease !== lease) return;
          this.#o.log.warn({ err: e.message }, 'replica link: lease lost; registrations will be written again under a new one');
          this.#lease = undefined;
          this.#leaseId = undefined;
          this.#touchSince = undefined;
          // Each registration keeps its last revision: under the new lease it replaces only this replica's own write, or an absent key.
          this.#renewLease();
        });
        for (const entry of this.#local.values()) entry.chain = entry.chain.then(() => this.#writeRegistration(entry));
      })
      .catch((e: unknown) => {
        lease.revoke().catch(() => undefined);
        this.#o.log.warn({ err: (e as Error).message }, 'replica link: etcd granted no lease; trying again');
        this.#later(() => this.#renewLease());
      })
      .finally(() => (this.#leasing = undefined));
  }

  /**
   * Writes a registration under the lease, unless another replica wrote the
   * agent's key since this replica last did (the agent moved there): a
   * replica only ever overwrites its own write, or an absent key.
   */
  async #writeRegistration(entry: LocalRegistration): Promise<void> {
    const leaseId = this.#leaseId;
    if (this.#closed || leaseId === undefined || this.#local.get(entry.reg.agentId) !== entry) return;
    const key = this.#agentsPrefix + entry.reg.agentId;
    const c = this.#o.client;
    const put = () => c.put(key).value(JSON.stringify(entry.reg)).lease(leaseId);
    try {
      // A new connection always wins; a later change only replaces this replica's own write.
      const guard = entry.rev === undefined ? c.if(key, 'Version', '>', -1) : c.if(key, 'Mod', '==', entry.rev);
      let res = await this.#bounded(guard.then(put()).commit());
      if (!res.succeeded && entry.reg.connected) res = await this.#bounded(c.if(key, 'Version', '==', 0).then(put()).commit());
      if (res.succeeded) {
        entry.rev = Number(res.header.revision);
      } else {
        // Another replica holds the agent now; this replica's view of it is stale.
        this.#local.delete(entry.reg.agentId);
      }
    } catch (e) {
      this.#o.log.warn({ agentId: entry.reg.agentId, err: (e as Error).message }, 'replica link: could not publish a registration; it is written again with the next lease');
    }
  }

  #publishSignals(): void {
    this.#checkLeadership();
    if (++this.#ticks % 4 === 0) this.#readLeader();
    const leaseId = this.#leaseId;
    const observations = this.#observations;
    this.#observations = [];
    if (leaseId === undefined) return;
    const batch: SignalBatch = { replica: this.#o.replicaId, seen: this.#seen(), observations };
    this.#bounded(this.#o.client.put(this.#signalsPrefix + this.#o.replicaId).value(JSON.stringify(batch)).lease(leaseId).exec())
      .then(() => {
        this.#touchSince ??= Date.now();
      })
      .catch((e: unknown) => {
        // Observations are perishable: a batch etcd could not take is dropped, the next one carries the rest.
        this.#touchSince = undefined;
        this.#o.log.debug({ err: (e as Error).message }, 'replica link: could not publish signals');
      });
    for (const [key, u] of this.#unpublished) if (!u.inflight) this.#publishAsLeader(key, u.value, u.what);
  }

  #publishAsLeader(key: string, value: unknown, what: string): void {
    const fence = this.#campaignKey;
    if (!this.#leader || fence === undefined) {
      this.#unpublished.clear();
      return;
    }
    const c = this.#o.client;
    const entry = { value, what, inflight: true };
    this.#unpublished.set(key, entry);
    this.#bounded(c.if(fence, 'Create', '>', 0).then(c.put(key).value(JSON.stringify(value))).commit())
      .then((res) => {
        if (this.#unpublished.get(key) === entry) this.#unpublished.delete(key);
        if (!res.succeeded) this.#o.log.warn({ what }, 'replica link: no longer the leader in etcd; not published');
      })
      .catch((e: unknown) => this.#o.log.warn({ what, err: (e as Error).message }, 'replica link: could not publish to etcd; trying again'))
      .finally(() => {
        entry.inflight = false;
      });
  }

  #runCampaign(): void {
    if (this.#closed) return;
    const value = JSON.stringify({ replicaId: this.#o.replicaId, url: this.#o.advertiseUrl } satisfies LeaderInfo);
    const campaign = this.#election.campaign(value);
    this.#campaign = campaign;
    campaign.on('elected', () => {
      if (this.#campaign !== campaign) return;
      campaign
        .getCampaignKey()
        .then((key) => {
          if (this.#campaign !== campaign || this.#closed) return;
          this.#campaignKey = key;
          this.#o.log.info({ replicaId: this.#o.replicaId }, 'elected leader');
          this.#setLeader(true);
        })
        .catch((e: unknown) => campaign.emit('error', e));
    });
    campaign.on('error', (e: Error) => {
      if (this.#campaign !== campaign) return;
      this.#campaign = undefined;
      this.#campaignKey = undefined;
      if (this.#leader) this.#o.log.warn({ err: e.message }, 'lost leadership; following until elected again');
      else this.#o.log.warn({ err: e.message }, 'replica link: campaign failed; campaigning again');
      this.#setLeader(false);
      campaign.resign().catch(() => undefined);
      this.#later(() => this.#runCampaign());
    });
  }

  /**
   * A leader that etcd has not answered for a whole TTL steps down at once:
   * etcd may already have expired its campaign and elected another replica,
   * and two replicas must not both push their own decisions to their agents.
   * (etcd3 itself would only call the lease lost after twice the TTL.)
   */
  #checkLeadership(): void {
    const silentMs = Date.now() - this.#keptAliveAt;
    if (!this.#leader || silentMs <= this.#o.leaseTtlSeconds * 1000) return;
    const campaign = this.#campaign;
    this.#campaign = undefined;
    this.#campaignKey = undefined;
    this.#o.log.warn({ silentMs }, 'no keep-alive answer from etcd for a whole lease TTL; stepping down until elected again');
    this.#setLeader(false);
    campaign?.resign().catch(() => undefined);
    this.#later(() => this.#runCampaign());
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#o.handlers.onRole(leader);
  }

  /**
   * Follows who leads: the oldest campaign key under the election prefix,
   * read again whenever a key there comes or goes (and every few seconds, in
   * case a watch event was lost). etcd3's own observer is not used: when
   * several campaigns start at once it can settle on a younger key than the
   * one that leads, and then watch only that key.
   */
  #observe(): void {
    this.#o.client
      .watch()
      .prefix(this.#electionPrefix)
      .create()
      .then((watcher) => {
        if (this.#closed) {
          watcher.cancel().catch(() => undefined);
          return;
        }
        this.#electionWatcher = watcher;
        watcher.on('data', () => this.#readLeader());
        watcher.on('connected', () => this.#readLeader());
        watcher.on('error', (e: Error) => {
          this.#o.log.warn({ err: e.message }, 'replica link: lost sight of the election; watching again');
          watcher.cancel().catch(() => undefined);
          this.#later(() => this.#observe());
        });
        this.#readLeader();
      })
      .catch((e: unknown) => {
        this.#o.log.warn({ err: (e as Error).message }, 'replica link: cannot watch the election; trying again');
        this.#later(() => this.#observe());
      });
  }

  #readLeader(): void {
    if (this.#closed || this.#readingLeader) return;
    this.#readingLeader = true;
    this.#bounded(this.#o.client.getAll().prefix(this.#electionPrefix).sort('Create', 'Ascend').limit(1).strings())
      .then((found) => {
        const value = Object.values(found)[0];
        let info: LeaderInfo | undefined;
        try {
          info = value === undefined ? undefined : (JSON.parse(value) as LeaderInfo);
        } catch {
          info = { replicaId: value as string, url: '' };
        }
        const key = info === undefined ? '' : `${info.replicaId}|${info.url}`;
        if (key === this.#leaderKey) return;
        this.#leaderKey = key;
        this.#o.handlers.onLeader(info);
      })
      .catch((e: unknown) => this.#o.log.debug({ err: (e as Error).message }, 'replica link: could not read the leader'))
      .finally(() => {
        this.#readingLeader = false;
      });
  }

  /** Lists `live/` and watches it from the next revision; lists again when etcd cancels the watch (a compacted revision). */
  async #relist(): Promise<void> {
    const res = await this.#bounded(this.#o.client.getAll().prefix(this.#live).exec());
    const present = new Set<string>();
    for (const kv of res.kvs) {
      this.#apply('Put', kv);
      const key = text(kv.key);
      if (key.startsWith(this.#agentsPrefix)) present.add(key.slice(this.#agentsPrefix.length));
    }
    for (const [agentId, owner] of this.#owners) {
      if (present.has(agentId)) continue;
      this.#owners.delete(agentId);
      this.#o.handlers.onRegistrationGone(agentId, owner.replica);
    }
    if (this.#closed) return;
    const watcher = await this.#o.client
      .watch()
      .prefix(this.#live)
      .startRevision(String(Number(res.header.revision) + 1))
      .create();
    if (this.#closed) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.#watcher = watcher;
    watcher.on('data', (r) => {
      for (const ev of r.events) this.#apply(ev.type, ev.kv);
    });
    watcher.on('disconnected', (e: Error) => this.#o.log.warn({ err: e.message }, 'replica link: watch lost; reconnecting'));
    watcher.on('error', (e: Error) => {
      this.#o.log.warn({ err: e.message }, 'replica link: watch cancelled by etcd; listing again');
      if (this.#watcher === watcher) this.#watcher = undefined;
      watcher.cancel().catch(() => undefined);
      const again = () => {
        this.#relist().catch((err: unknown) => {
          this.#o.log.warn({ err: (err as Error).message }, 'replica link: listing failed; trying again');
          this.#later(again);
        });
      };
      again();
    });
  }

  #apply(type: 'Put' | 'Delete', kv: IKeyValue): void {
    const key = text(kv.key);
    const h = this.#o.handlers;
    const self = this.#o.replicaId;
    try {
      if (key.startsWith(this.#agentsPrefix)) {
        const agentId = key.slice(this.#agentsPrefix.length);
        if (type === 'Delete') {
          const owner = this.#owners.get(agentId);
          this.#owners.delete(agentId);
          if (owner !== undefined) h.onRegistrationGone(agentId, owner.replica);
          return;
        }
        const reg = parse<Registration>(kv, this.#o.log);
        if (!reg || typeof reg.replica !== 'string') return;
        if (reg.replica === self) {
          this.#owners.delete(agentId);
          return;
        }
        // Another replica has the agent now: a registration this replica still held is stale.
        const mine = this.#local.get(agentId);
        if (mine && mine.rev !== undefined && Number(kv.mod_revision) > mine.rev) this.#local.delete(agentId);
        this.#owners.set(agentId, { replica: reg.replica, connectedAt: Number(reg.connectedAt) || 0 });
        h.onRegistration(reg);
      } else if (key.startsWith(this.#signalsPrefix)) {
        if (type === 'Delete') return;
        const batch = parse<SignalBatch>(kv, this.#o.log);
        if (batch && batch.replica !== self && typeof batch.seen === 'object' && Array.isArray(batch.observations)) h.onSignals(batch);
      } else if (key === this.#tableKey) {
        const table = type === 'Put' ? parse<PublishedTable>(kv, this.#o.log) : undefined;
        if (table && Number.isSafeInteger(table.version) && typeof table.services === 'object') h.onTable(table);
      } else if (key === this.#eventsKey) {
        const events = type === 'Put' ? parse<MeshEvent[]>(kv, this.#o.log) : undefined;
        if (Array.isArray(events)) h.onEvents(events);
      }
    } catch (e) {
      this.#o.log.error({ key, err: e }, 'replica link: handling a change failed');
    }
  }
}
