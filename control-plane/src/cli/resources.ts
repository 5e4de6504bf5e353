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
  /** Key of the array in the list answer. */
  listKey: string;
  /** Path of one item; absent when items cannot be fetched one by one. */
  itemPath?: (name: string) => string;
  /** Table columns. */
  columns: readonly string[];
  /** Free-text columns, cut first to fit a terminal. */
  flexible?: readonly number[];
  /** A table row; cells are plain text. */
  row: (item: Record<string, unknown>) => string[];
  /** Colours a cell by column index. */
  paint?: (c: Colors, column: number, text: string) => string;
}

type Item = Record<string, unknown>;

/** A value as a table cell: `-` for null or absent, text sanitised. */
export function cell(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return sanitize(JSON.stringify(v));
  return sanitize(String(v));
}

const obj = (v: unknown): Item | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Item) : undefined);
const enc = encodeURIComponent;

const paintYesNo = (c: Colors, text: string, badWhen: 'no' | 'yes' = 'no') =>
  text === badWhen ? (badWhen === 'no' ? c.yellow(text) : c.red(text)) : text;

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
    columns: ['AGENT', 'CONNECTED', 'SERVICE', 'APPLIED', 'SENT', 'IN-SYNC', 'NACK'],
    flexible: [6],
    row: (a) => {
      const nack = obj(a.nack);
      return [
        cell(a.agentId),
        cell(a.connected),
        cell(obj(a.instance)?.service),
        cell(a.appliedVersion),
        cell(a.sentVersion),
        cell(a.inSync),
        nack ? `v${cell(nack.version)}${nack.code ? ` ${cell(nack.code)}` : ''}: ${cell(nack.error)}` : '-',
      ];
    },
    paint: (c, col, text) => (col === 1 || col === 5 ? paintYesNo(c, text) : col === 6 && text !== '-' ? c.red(text) : text),
  },
  {
    name: 'events',
    aliases: ['event', 'ev'],
    listPath: '/v1/events',
    listKey: 'events',
    columns: ['TIME', 'KIND', 'SERVICE', 'INSTANCE', 'FROM→TO', 'REASON'],
    flexible: [5],
    row: (e) => [cell(e.time), cell(e.kind), cell(e.service), cell(e.instance), `${cell(e.from)}→${cell(e.to)}`, cell(e.reason)],
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
    paint: (c, col, text) => (col === 1 && text === 'api' ? c.cyan(text) : text),
  },
];

/** The resource a name or alias means, if any. */
export function findResource(name: string): Resource | undefined {
  const n = name.toLowerCase();
  return RESOURCES.find((r) => r.name === n || r.aliases.includes(n));
}
