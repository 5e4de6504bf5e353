// Request-rate sparklines. The control plane reports only the present rate
// of each service, so the history is kept here, from polling, for as long as
// the page is open.

import uPlot from './uplot/uPlot.esm.js';

/** Points kept per service: three minutes at one poll every two seconds. */
const MAX_POINTS = 90;

/** The recent request rates of every service, as seen by this page. */
export class RateHistory {
  #series = new Map();

  /** Records `rps` (or null when unknown) for `service` at `timeS` (seconds). */
  record(service, timeS, rps) {
    let s = this.#series.get(service);
    if (!s) {
      s = { t: [], v: [] };
      this.#series.set(service, s);
    }
    if (s.t.length > 0 && s.t[s.t.length - 1] >= timeS) return;
    s.t.push(timeS);
    s.v.push(typeof rps === 'number' && Number.isFinite(rps) ? rps : null);
    if (s.t.length > MAX_POINTS) {
      s.t.shift();
      s.v.shift();
    }
  }

  /** uPlot data for `service`: `[times, rates]`. */
  data(service) {
    const s = this.#series.get(service);
    return s ? [s.t.slice(), s.v.slice()] : [[], []];
  }

  /** Forgets services no longer listed. */
  retain(services) {
    for (const name of this.#series.keys()) if (!services.has(name)) this.#series.delete(name);
  }
}

const WIDTH = 140;
const HEIGHT = 32;

/** A uPlot sparkline in `el`: no axes, legend or cursor, just the line. */
export class Sparkline {
  #plot;

  constructor(el) {
    this.#plot = new uPlot(
      {
        width: WIDTH,
        height: HEIGHT,
        pxAlign: false,
        cursor: { show: false },
        select: { show: false },
        legend: { show: false },
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.1] } },
        axes: [{ show: false }, { show: false }],
        series: [
          {},
          { stroke: '#2563eb', width: 1.5, fill: 'rgba(37, 99, 235, 0.15)', spanGaps: false, points: { show: false } },
        ],
      },
      [[], []],
      el,
    );
  }

  /** Draws `[times, rates]`. */
  update(data) {
    this.#plot.setData(data);
  }

  /** Frees the chart. */
  destroy() {
    this.#plot.destroy();
  }
}
