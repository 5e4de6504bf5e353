import { type Colors, paintState } from './colors.js';
import { sanitize } from './text.js';

/**
 * The resources `meshctl get` knows: where the admin API lists them, where
 * it shows one, and the table columns. Values come from the server and are
 * read defensively: a missing field shows as `-` rather than failing, so a
 * slightly older or newer control plane still gets a table.
 */
export interface Resource {
  /** Plural name, as typed: `services`. */
  name: string;
  aliases: readonly string[];
  /** List path, such as `/v1/services`. */
  listPath: string;
  /** Key of the array in the list answer; absent when the path answers one object (`/v1/cluster`), shown as one row. */
  listKey?: string;
  /** Path of one item; absent when items cannot be fetched one by one. */
  itemPath?: (name: string) => string;
  /** Table columns. */
  columns: readonly string[];
  /** Free-text columns, cut first to fit a terminal. */
  flexible?: readonly number[];
  /** A table row; cells are plain text. `now` (ms since the epoch) is for ages. */
  row: (item: Record<string, unknown>, now: number) => string[];
  /** Colours a cell by column index. */
  paint?: (c: Colors, column: number, text: string) => string;
  /** The rows of the table from the list answer and its items, when more than the items (the policies' defaults). */
  tableRows?: (answer: Record<string, unknown>, items: Record<string, unknown>[]) => Record<string, unknown>[];
}

type Item = Record<string, unknown>;

/** A value as a table cell: `-` for null or absent, text sanitised. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return sanitize(JSON.stringify(v));
  return sanitize(String(v));
}

/**
 * How long ago an ISO 8601 time was, as kubectl's AGE column shows it: `45s`,
 * `5m30s`, `42m`, `5h12m`, `30h`, `3d4h`, `120d`, `2y10d`. A time a little
 * ahead of `now` (clocks apart) is `0s`; a value that is not a time is shown
 * as it is, and null or absent as `-`.
 */
export function age(v: unknown, now: number): string {
  const t = typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) return cell(v);
  const s = Math.max(0, Math.floor((now - t) / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  const y = Math.floor(d / 365);
  const two = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    `${big}${bigUnit}${small === 0 ? '' : `${small}${smallUnit}`}`;
  if (s < 120) return `${s}s`;
  if (m < 10) return two(m, 'm', s % 60, 's');
  if (m < 180) return `${m}m`;
  if (h < 8) return two(h, 'h', m % 60, 'm');
  if (h < 48) return `${h}h`;
  if (d < 8) return two(d, 'd', h % 24, 'h');
  if (d < 365 * 2) return `${d}d`;
  if (y < 8) return two(y, 'y', d % 365, 'd');
  return `${y}y`;
}

const obj = (v: unknown): Item | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Item) : undefined;
const enc = encodeURIComponent;

const paintYesNo = (c: Colors, text: string, badWhen: 'no' | 'yes' = 'no') =>
  text === badWhen ? (badWhen === 'no' ? c.yellow(text) : c.red(text)) : text;

/** The holder of a lock or election as one cell: `AGENT/INSTANCE (label)`. */
function holderCell(v: unknown): string {
  const h = obj(v);
  if (!h) return '-';
  const label = typeof h.label === 'string' && h.label !== '' ? ` (${h.label})` : '';
  return cell(`${String(h.agentId)}/${String(h.instanceId)}${label}`);
}

/** `get locks` and `get elections`: the holders now, with their fencing token (an election's term) and lease. */
function coordinationResource(name: 'locks' | 'elections', aliases: string[], token: 'TOKEN' | 'TERM'): Resource {
  return {
    name,
    aliases,
    listPath: `/v1/${name}`,
    listKey: name,
    columns: ['SERVICE', 'NAME', 'HOLDER', token, 'TTL'],
    flexible: [2],
    row: (l) => [
      cell(l.service),
      cell(l.name),
      holderCell(l.holder),
      cell(l.token),
      typeof l.ttlMs === 'number' ? `${l.ttlMs / 1000}s` : '-',
    ],
  };
}

/** Every resource, in the order `meshctl get --help` lists them. */
export const RESOURCES: readonly Resource[] = [
  {
    name: 'services',
    aliases: ['service', 'svc'],
    listPath: '/v1/services',
    listKey: 'services',
    itemPath: (n) => `/v1/services/${enc(n)}`,
    columns: ['NAME', 'HEALTHY/TOTAL', 'ACTIVE-TIER', 'VERSION'],
    row: (s) => [cell(s.name), `${cell(s.healthy)}/${cell(s.total)}`, cell(s.activeTier), cell(s.version)],
    paint: (c, col, text) => {
      if (col !== 1) return text;
      const [h, t] = text.split('/');
      if (h === t && h !== '0') return c.green(text);
      return h === '0' ? c.red(text) : c.yellow(text);
    },
  },
  {
    name: 'instances',
    aliases: ['instance', 'inst'],
    listPath: '/v1/instances',
    listKey: 'items',
    itemPath: (n) => `/v1/instances/${enc(n)}`,
    columns: ['ID', 'SERVICE', 'STATE', 'TIER', 'ZONE', 'REASON'],
    flexible: [5],
    row: (i) => [cell(i.id), cell(i.service), cell(i.state), cell(i.tier), cell(i.zone), cell(i.reason)],
    paint: (c, col, text) => (col === 2 ? paintState(c, text) : text),
  },
  {
    name: 'agents',
    aliases: ['agent'],
    listPath: '/v1/agents',
    listKey: 'agents',
    itemPath: (n) => `/v1/agents/${enc(n)}`,
    // REPLICA: the control-plane replica the agent is connected to, when it is another one than the one answering.
    columns: ['AGENT', 'CONNECTED', 'REPLICA', 'SERVICE', 'APPLIED', 'SENT', 'IN-SYNC', 'NACK'],
    flexible: [7],
    row: (a) => {
      const nack = obj(a.nack);
      return [
        cell(a.agentId),
        cell(a.connected),
        cell(a.replica),
        cell(obj(a.instance)?.service),
        cell(a.appliedVersion),
        cell(a.sentVersion),
        cell(a.inSync),
        nack ? `v${cell(nack.version)}${nack.code ? ` ${cell(nack.code)}` : ''}: ${cell(nack.error)}` : '-',
      ];
    },
    paint: (c, col, text) =>
      col === 1 || col === 6 ? paintYesNo(c, text) : col === 7 && text !== '-' ? c.red(text) : text,
  },
  {
    name: 'events',
    aliases: ['event', 'ev'],
    listPath: '/v1/events',
    listKey: 'events',
    columns: ['TIME', 'KIND', 'SERVICE', 'INSTANCE', 'FROM→TO', 'REASON'],
    flexible: [5],
    row: (e) => [
      cell(e.time),
      cell(e.kind),
      cell(e.service),
      cell(e.instance),
      `${cell(e.from)}→${cell(e.to)}`,
      cell(e.reason),
    ],
    paint: (c, col, text) => {
      if (col !== 4) return text;
      const to = text.split('→')[1] ?? '';
      return to === 'unhealthy' ? c.red(text) : to === 'healthy' ? c.green(text) : text;
    },
  },
  {
    name: 'policies',
    aliases: ['policy', 'pol'],
    listPath: '/v1/policies',
    listKey: 'items',
    itemPath: (n) => `/v1/policies/${enc(n)}`,
    columns: ['SERVICE', 'SOURCE', 'BALANCER', 'RESOURCE-VERSION'],
    row: (p) => [cell(p.service), cell(p.source), cell(obj(obj(p.policy)?.balancer)?.kind), cell(p.resourceVersion)],
    paint: (c, col, text) =>
      col !== 1 ? text : text === 'api' ? c.cyan(text) : text === 'default' ? c.dim(text) : text,
    tableRows: policyRows,
  },
  {
    name: 'authz',
    aliases: ['authorizationpolicies', 'authorizationpolicy', 'authorization'],
    listPath: '/v1/authz',
    listKey: 'items',
    itemPath: (n) => `/v1/authz/${enc(n)}`,
    columns: ['SERVICE', 'SOURCE', 'MODE', 'RULES', 'RESOURCE-VERSION'],
    row: (p) => {
      const policy = obj(p.policy);
      const rules = policy?.rules;
      return [
        cell(p.service),
        cell(p.source),
        cell(policy?.mode),
        Array.isArray(rules) ? String(rules.length) : '-',
        cell(p.resourceVersion),
      ];
    },
    paint: (c, col, text) =>
      col === 1 && text === 'api' ? c.cyan(text) : col === 2 && text === 'audit' ? c.yellow(text) : text,
  },
  coordinationResource('locks', ['lock'], 'TOKEN'),
  coordinationResource('elections', ['election'], 'TERM'),
  {
    name: 'cluster',
    aliases: [],
    listPath: '/v1/cluster',
    columns: ['REPLICA', 'ROLE', 'LEADER', 'LEADER-URL', 'SINCE', 'STORE'],
    row: (c, now) => {
      const leader = obj(c.leader);
      return [
        cell(c.replicaId),
        cell(c.role),
        cell(leader?.replicaId),
        cell(leader?.url),
        age(c.since, now),
        cell(c.store),
      ];
    },
    paint: (c, col, text) => (col === 1 && text === 'leader' ? c.green(text) : text),
  },
];

/** The resource a name or alias means, if any. */
export function findResource(name: string): Resource | undefined {
  const n = name.toLowerCase();
  return RESOURCES.find((r) => r.name === n || r.aliases.includes(n));
}

/**
 * The policies table: the configured policies and, marked `default`, each
 * service in the routing table that runs on the defaults (the answer's
 * `defaults`), by name; with no such service, one `(defaults)` row, what a
 * new service would get. A control plane that sends no `defaults` gets the
 * configured rows alone.
 */
function policyRows(answer: Item, items: Item[]): Item[] {
  const defaults = obj(answer.defaults);
  if (!defaults) return items;
  const row = (service: unknown): Item => ({
    service,
    source: 'default',
    policy: defaults.policy,
    resourceVersion: null,
  });
  const services = Array.isArray(defaults.services) ? defaults.services : [];
  const rows = [...items, ...services.map(row)].sort((a, b) => String(a.service).localeCompare(String(b.service)));
  return services.length > 0 ? rows : [...rows, row('(defaults)')];
}
