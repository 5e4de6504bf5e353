import { compileValidator, type Logger, Observations, type Routes } from '@meshlet/shared';
import type { Campaign, Election, Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import type { MeshEvent } from '../events/event-log.js';
import { parseRegistration, type Registration } from '../registry/agent-record.js';
import { within } from '../store/within.js';
import { reachable } from './reachable.js';

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
  /** The leader's table; `replace`: take it even if not newer (this replica just stopped leading, and may have made versions of its own). */
  onTable(table: PublishedTable, replace: boolean): void;
  onEvents(events: MeshEvent[]): void;
  /** This replica can reach no etcd member (`true`), or can again. */
  onCutOff(cutOff: boolean): void;
}

/** Options of {@link ReplicaLink}. */
export interface ReplicaLinkOptions {
  /** The etcd client (the store's). */
  client: Etcd3;
  /** The client URLs of the etcd members, to tell a replica cut off from all of them from an etcd that lost its quorum. */
  endpoints: string[];
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
const SIGNAL_INTERVAL_MS = 500;
/** How long to wait before trying again after etcd refused a lease, a campaign or a watch. */
const RETRY_MS = 1_000;
/** At most this many observation reports go in one signal batch (etcd refuses a request above 1.5 MiB by default); the rest are dropped. */
const MAX_BATCH_REPORTS = 2_000;

const validObservations = compileValidator(Observations);

interface LocalRegistration {
  reg: Registration;
  /** The `mod_revision` of this replica's last write of it; `undefined` before the first. */
  rev: number | undefined;
  /** A failed write is tried again soon; set while that is pending. */
  retrying: boolean;
  /** Writes of one agent run one after another, in order. */
  chain: Promise<void>;
}

const text = (b: Buffer) => b.toString('utf8');

/** Whether a table read from etcd has the shape the leader writes. */
const isTable = (t: PublishedTable | undefined): t is PublishedTable =>
  t !== undefined && t !== null && Number.isSafeInteger(t.version) && typeof t.nonce === 'string' && typeof t.services === 'object' && t.services !== null;

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
  /** The replica behind each remote registration, to tell who lost it when it is deleted. */
  readonly #owners = new Map<string, string>();
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
  /** The `mod_revision` of the newest `live/table` the watch delivered. */
  #tableRev = 0;
  #cutOff = false;
  #probing = false;
  #relisting = false;
  #signalsFailing = false;
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
    // A disconnect of an agent this replica does not hold (it never published it, or another replica has taken it) is nobody's business.
    if (!entry && !reg.connected) return;
    if (!entry) {
      entry = { reg, rev: undefined, retrying: false, chain: Promise.resolve() };
      this.#local.set(reg.agentId, entry);
    }
    entry.reg = reg;
    this.#queueWrite(entry);
  }

  /** Writes the entry's registration after the writes of that agent already queued. */
  #queueWrite(entry: LocalRegistration): void {
    entry.chain = entry.chain.then(() => this.#writeRegistration(entry));
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

  /** How long etcd has not answered this replica's keep-alives. */
  #silentMs(): number {
    return Date.now() - this.#keptAliveAt;
  }

  /** Races a request against the request timeout (etcd3 retries on other members, which can take long). */
  #bounded<T>(p: Promise<T>): Promise<T> {
    return within(p, this.#o.requestTimeoutMs, `no answer from etcd within ${this.#o.requestTimeoutMs} ms`);
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
        for (const entry of this.#local.values()) this.#queueWrite(entry);
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
    if (entry.rev === undefined && !entry.reg.connected) {
      // It left before it was ever published: writing it now could only cover a newer registration by another replica.
      this.#local.delete(entry.reg.agentId);
      return;
    }
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
      this.#o.log.warn({ agentId: entry.reg.agentId, err: (e as Error).message }, 'replica link: could not publish a registration; trying again');
      if (entry.retrying) return;
      entry.retrying = true;
      this.#later(() => {
        entry.retrying = false;
        if (this.#local.get(entry.reg.agentId) === entry) this.#queueWrite(entry);
      });
    }
  }

  #publishSignals(): void {
    this.#checkLeadership();
    if (++this.#ticks % 4 === 0) this.#readLeader();
    if (this.#ticks % 4 === 2) this.#checkBehind();
    this.#checkCutOff();
    const leaseId = this.#leaseId;
    let observations = this.#observations;
    this.#observations = [];
    if (leaseId === undefined) return;
    if (observations.length > MAX_BATCH_REPORTS) {
      this.#o.log.warn({ reports: observations.length, kept: MAX_BATCH_REPORTS }, 'replica link: too many observation reports for one batch; the oldest are dropped');
      observations = observations.slice(-MAX_BATCH_REPORTS);
    }
    const batch: SignalBatch = { replica: this.#o.replicaId, seen: this.#seen(), observations };
    this.#bounded(this.#o.client.put(this.#signalsPrefix + this.#o.replicaId).value(JSON.stringify(batch)).lease(leaseId).exec())
      .then(() => {
        this.#touchSince ??= Date.now();
        if (this.#signalsFailing) this.#o.log.info('replica link: signals reach etcd again');
        this.#signalsFailing = false;
      })
      .catch((e: unknown) => {
        // Observations are perishable: a batch etcd could not take is dropped, the next one carries the rest.
        this.#touchSince = undefined;
        if (!this.#signalsFailing) this.#o.log.warn({ err: (e as Error).message }, 'replica link: could not publish signals; the other replicas give this one\'s agents the benefit of the doubt meanwhile');
        this.#signalsFailing = true;
      });
    for (const [key, u] of this.#unpublished) if (!u.inflight) this.#publishAsLeader(key, u.value, u.what);
  }

  /**
   * A watch attached to an etcd member cut off from the others can go quiet
   * without an error. Every 2 s the revision of `live/table` is read (a
   * linearizable read, answered by a member with a quorum); when the watch
   * is behind it, everything is listed and watched again.
   */
  #checkBehind(): void {
    if (this.#relisting) return;
    this.#bounded(this.#o.client.get(this.#tableKey).exec())
      .then((res) => {
        const rev = Number(res.kvs[0]?.mod_revision ?? 0);
        if (rev <= this.#tableRev || this.#relisting || this.#closed) return;
        this.#o.log.warn({ watched: this.#tableRev, stored: rev }, 'replica link: the watch fell behind etcd; listing again');
        this.#restartWatch();
      })
      .catch(() => undefined);
  }

  /**
   * When etcd has not answered a keep-alive for a whole TTL, checks whether
   * any etcd member can be reached at all. If none can, this replica is cut
   * off (etcd has expired or soon expires its lease, and the others take its
   * agents for orphans): it says so, so that its agents are sent to a
   * replica that can reach etcd. An etcd that lost its quorum still accepts
   * connections: then every replica keeps its agents, serving from memory.
   */
  #checkCutOff(): void {
    const silent = this.#silentMs() > this.#o.leaseTtlSeconds * 1000;
    if (!silent) {
      if (this.#cutOff) {
        this.#cutOff = false;
        this.#o.log.info('replica link: etcd is reachable again; taking agents again');
        this.#o.handlers.onCutOff(false);
      }
      return;
    }
    if (this.#cutOff || this.#probing) return;
    this.#probing = true;
    Promise.all(this.#o.endpoints.map(reachable))
      .then((answers) => {
        if (answers.some(Boolean) || this.#cutOff || this.#closed) return;
        this.#cutOff = true;
        this.#o.log.warn({ endpoints: this.#o.endpoints }, 'replica link: no etcd member can be reached; this replica is cut off and sends its agents to the other replicas');
        this.#o.handlers.onCutOff(true);
      })
      .finally(() => {
        this.#probing = false;
      });
  }

  #publishAsLeader(key: string, value: unknown, what: string): void {
    const fence = this.#campaignKey;
    if (!this.#leader || fence === undefined) {
      this.#unpublished.clear();
      return;
    }
    // One write per key at a time, newest value last: etcd must never be left holding an older table.
    const entry = this.#unpublished.get(key) ?? { value, what, inflight: false };
    entry.value = value;
    entry.what = what;
    this.#unpublished.set(key, entry);
    if (entry.inflight) return;
    entry.inflight = true;
    const c = this.#o.client;
    this.#bounded(c.if(fence, 'Create', '>', 0).then(c.put(key).value(JSON.stringify(value))).commit())
      .then((res) => {
        entry.inflight = false;
        if (!res.succeeded) {
          this.#unpublished.delete(key);
          this.#o.log.warn({ what }, 'replica link: no longer the leader in etcd; not published');
          return;
        }
        if (entry.value === value) this.#unpublished.delete(key);
        else this.#publishAsLeader(key, entry.value, entry.what);
      })
      .catch((e: unknown) => {
        // Kept: tried again with the next signal batch.
        entry.inflight = false;
        this.#o.log.warn({ what, err: (e as Error).message }, 'replica link: could not publish to etcd; trying again');
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
      if (this.#leader) this.#o.log.warn({ err: e.message }, 'lost leadership; following until elected again');
      else this.#o.log.warn({ err: e.message }, 'replica link: campaign failed; campaigning again');
      this.#stepDown(campaign);
    });
  }

  /**
   * A leader that etcd has not answered for a whole TTL steps down at once:
   * etcd may already have expired its campaign and elected another replica,
   * and two replicas must not both push their own decisions to their agents.
   * (etcd3 itself would only call the lease lost after twice the TTL.)
   */
  #checkLeadership(): void {
    const silentMs = this.#silentMs();
    if (!this.#leader || silentMs <= this.#o.leaseTtlSeconds * 1000) return;
    this.#o.log.warn({ silentMs }, 'no keep-alive answer from etcd for a whole lease TTL; stepping down until elected again');
    this.#stepDown(this.#campaign);
  }

  /** Follows, gives up `campaign` (leading or not yet), and campaigns again after a pause. */
  #stepDown(campaign: Campaign | undefined): void {
    this.#campaign = undefined;
    this.#campaignKey = undefined;
    this.#setLeader(false);
    campaign?.resign().catch(() => undefined);
    this.#later(() => this.#runCampaign());
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#o.handlers.onRole(leader);
    if (!leader && !this.#closed) this.#adoptStoredTable();
  }

  /** A replica that stops leading takes the table etcd holds, even an older one than its own (made while it wrongly believed it led). */
  #adoptStoredTable(): void {
    this.#bounded(this.#o.client.get(this.#tableKey).exec())
      .then((res) => {
        const kv = res.kvs[0];
        if (!kv || this.#leader || this.#closed) return;
        const table = parse<PublishedTable>(kv, this.#o.log);
        if (isTable(table)) this.#o.handlers.onTable(table, true);
      })
      .catch((e: unknown) => {
        this.#o.log.warn({ err: (e as Error).message }, 'replica link: could not read the leader\'s table after stepping down; trying again');
        this.#later(() => {
          if (!this.#leader) this.#adoptStoredTable();
        });
      });
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
        if (value !== undefined) {
          let v: Partial<LeaderInfo> = {};
          try {
            v = JSON.parse(value) as Partial<LeaderInfo>;
          } catch {
            // Not ours: an unknown candidate.
          }
          // The URL is shown to operators and followed by meshctl: only a plain http(s) URL passes.
          const url = typeof v.url === 'string' && /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(v.url) ? v.url : '';
          info = { replicaId: typeof v.replicaId === 'string' ? v.replicaId.slice(0, 128) : 'unknown', url };
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
      this.#o.handlers.onRegistrationGone(agentId, owner);
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
      if (this.#watcher !== watcher) return;
      for (const ev of r.events) this.#apply(ev.type, ev.kv);
    });
    watcher.on('disconnected', (e: Error) => this.#o.log.warn({ err: e.message }, 'replica link: watch lost; reconnecting'));
    watcher.on('error', (e: Error) => {
      if (this.#watcher !== watcher) return;
      this.#o.log.warn({ err: e.message }, 'replica link: watch cancelled by etcd; listing again');
      this.#restartWatch();
    });
  }

  /** Drops the watch of `live/`, lists it again and watches it from there, until that works. */
  #restartWatch(): void {
    if (this.#relisting || this.#closed) return;
    this.#relisting = true;
    const old = this.#watcher;
    this.#watcher = undefined;
    old?.cancel().catch(() => undefined);
    const again = () => {
      this.#relist()
        .then(() => {
          this.#relisting = false;
        })
        .catch((err: unknown) => {
          this.#o.log.warn({ err: (err as Error).message }, 'replica link: listing failed; trying again');
          if (this.#closed) this.#relisting = false;
          else this.#later(again);
        });
    };
    again();
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
          if (owner !== undefined) h.onRegistrationGone(agentId, owner);
          return;
        }
        const reg = parseRegistration(agentId, parse<unknown>(kv, this.#o.log));
        if (!reg) {
          this.#o.log.warn({ key }, 'replica link: a registration in etcd has an unknown shape; ignored');
          return;
        }
        if (reg.replica === self) {
          this.#owners.delete(agentId);
          return;
        }
        // Another replica has the agent now: a registration this replica still held is stale.
        const mine = this.#local.get(agentId);
        if (mine && mine.rev !== undefined && Number(kv.mod_revision) > mine.rev) this.#local.delete(agentId);
        this.#owners.set(agentId, reg.replica);
        h.onRegistration(reg);
      } else if (key.startsWith(this.#signalsPrefix)) {
        if (type === 'Delete') return;
        const batch = parse<SignalBatch>(kv, this.#o.log);
        if (!batch || typeof batch.replica !== 'string' || batch.replica === self || typeof batch.seen !== 'object' || batch.seen === null || !Array.isArray(batch.observations)) return;
        const seen: Record<string, number> = {};
        for (const [agentId, age] of Object.entries(batch.seen)) if (typeof age === 'number' && Number.isFinite(age) && age >= 0) seen[agentId] = age;
        const observations = batch.observations.filter(
          (o): o is SignalBatch['observations'][number] => typeof o === 'object' && o !== null && typeof o.agentId === 'string' && validObservations(o.report).ok,
        );
        h.onSignals({ replica: batch.replica, seen, observations });
      } else if (key === this.#tableKey) {
        if (type === 'Put') this.#tableRev = Math.max(this.#tableRev, Number(kv.mod_revision));
        const table = type === 'Put' ? parse<PublishedTable>(kv, this.#o.log) : undefined;
        if (isTable(table)) h.onTable(table, false);
      } else if (key === this.#eventsKey) {
        const events = type === 'Put' ? parse<MeshEvent[]>(kv, this.#o.log) : undefined;
        if (Array.isArray(events)) h.onEvents(events);
      }
    } catch (e) {
      this.#o.log.error({ key, err: e }, 'replica link: handling a change failed');
    }
  }
}
