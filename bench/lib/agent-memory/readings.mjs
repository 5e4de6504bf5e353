// Memory readings of a running process for bench/agent-memory.mjs: the
// kernel's view (/proc/PID/status: VmRSS now, VmHWM the peak since start)
// and, for an agent, V8's view from its admin /metrics (prom-client's
// default gauges, prefixed meshlet_agent_).

import { readFileSync } from 'node:fs';

/** The `field: N kB` of a /proc file's `text`, in bytes (NaN if absent). */
function kb(text, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * `{ rss, hwm, anon }` of `pid` in bytes: VmRSS and VmHWM from
 * /proc/PID/status, and the anonymous (private) part of the RSS from
 * /proc/PID/smaps_rollup. RSS counts the node binary's text (about 40 MiB),
 * which every Node process on a host shares; `anon` is what this one
 * process adds (V8's heap, malloc).
 */
export function procMemory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  let anon = NaN;
  try {
    anon = kb(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Anonymous');
  } catch {
    // no smaps_rollup (kernel before 4.14): the column shows a dash
  }
  return { rss: kb(status, 'VmRSS'), hwm: kb(status, 'VmHWM'), anon };
}

/**
 * V8's heap of the agent whose admin listener is on `adminPort`: `{ used,
 * total }` in bytes (meshlet_agent_nodejs_heap_size_used_bytes and
 * _total_bytes), NaN where a gauge is missing.
 */
export async function agentHeap(adminPort) {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const gauge = (name) => {
    const m = new RegExp(`^meshlet_agent_nodejs_${name} (\\S+)`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return { used: gauge('heap_size_used_bytes'), total: gauge('heap_size_total_bytes') };
}

/**
 * Samples `pid`'s RSS every `everyMs` until `stop()` is called; `stop()`
 * returns the largest RSS seen (bytes).
 */
export function sampleRss(pid, everyMs = 100) {
  let max = 0;
  const take = () => {
    try {
      max = Math.max(max, procMemory(pid).rss);
    } catch {
      // the process is gone: the run fails elsewhere
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return max;
    },
  };
}

/** Bytes as MiB with one decimal, or a dash. */
export const mib = (bytes) => (Number.isFinite(bytes) && bytes > 0 ? (bytes / 1048576).toFixed(1) : '-');
