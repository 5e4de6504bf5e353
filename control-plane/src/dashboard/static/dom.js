// Small DOM helpers. Everything from the API goes into text nodes and
// attributes, never through innerHTML: names, reasons and NACK errors come
// from agents and must not become markup.

/** The text shown where a value is unknown. */
export const DASH = '—';

/**
 * Builds an element. `attrs` are set as attributes (`class`, `data-*`,
 * `aria-*`...), skipping null, undefined and false; `on*` functions become
 * listeners. Children may be nodes, strings, numbers, or nested arrays.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Instance and agent states, and the colour class each one gets. */
const STATE_TONE = {
  healthy: 'ok',
  recovering: 'info',
  suspect: 'warn',
  draining: 'muted',
  unhealthy: 'bad',
  disconnected: 'bad',
  unknown: 'muted',
};

/** A coloured badge for an instance state; the word itself is always shown, colour is never the only cue. */
export function stateBadge(state) {
  return h('span', { class: `badge tone-${STATE_TONE[state] ?? 'muted'}`, 'data-state': state }, state);
}

/** A badge with an explicit tone: ok, warn, bad, info or muted. */
export function badge(text, tone, attrs = {}) {
  return h('span', { class: `badge tone-${tone}`, ...attrs }, text);
}

/** The tone of a service's healthy/total count. */
export function healthTone(healthy, total) {
  if (total === 0) return 'muted';
  if (healthy === total) return 'ok';
  return healthy === 0 ? 'bad' : 'warn';
}

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

/** Requests per second, e.g. "12.3/s". */
export function fmtRate(x) {
  if (!isNum(x)) return DASH;
  return `${x >= 100 ? Math.round(x) : x.toFixed(1)}/s`;
}

/** A ratio in 0..1 as a percentage. */
export function fmtRatio(x) {
  if (!isNum(x)) return DASH;
  const p = x * 100;
  return `${p === 0 || p === 100 ? p.toFixed(0) : p.toFixed(1)} %`;
}

/** Milliseconds, e.g. "42 ms" or "1.2 s". */
export function fmtMs(x) {
  if (!isNum(x)) return DASH;
  return x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`;
}

/** A local wall-clock time for an ISO timestamp, in a <time> element. */
export function timeEl(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return h('time', { datetime: iso, title: iso }, d.toLocaleTimeString());
}

/** Pretty JSON in a <pre>. */
export function jsonBlock(value, label) {
  return h('pre', { class: 'json', tabindex: 0, 'aria-label': label }, JSON.stringify(value, null, 2));
}

/**
 * A wide table in a box that scrolls sideways on its own, so that a narrow
 * screen (a phone, 420 px) keeps every column without the whole page
 * scrolling. The box takes keyboard focus and is named, as a scrollable
 * region must be for keyboard users.
 */
export function scrollBox(table, label) {
  return h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': label }, table);
}
