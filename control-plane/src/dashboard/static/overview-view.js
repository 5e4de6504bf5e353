// Overview: every service with its health, serving tier and traffic. Rows
// are kept and updated in place, so the sparklines are not rebuilt on every
// poll and the page does not jump.

import { badge, DASH, fmtMs, fmtRate, fmtRatio, h, healthTone, scrollBox } from './dom.js';
import { Sparkline } from './sparkline.js';

/** The overview view; `history` is the shared {@link RateHistory}. */
export class OverviewView {
  #history;
  #body;
  #empty;
  #rows = new Map();

  constructor(history) {
    this.#history = history;
  }

  /** Builds the view in `root`. */
  mount(root) {
    this.#body = h('tbody');
    this.#empty = h(
      'p',
      { class: 'empty', hidden: true },
      'No service has registered yet: start an agent with an instance, or name services in the config file.',
    );
    root.replaceChildren(
      h('h1', {}, 'Services'),
      scrollBox(
        h(
          'table',
          { class: 'grid', 'data-testid': 'services-table' },
          h(
            'caption',
            { class: 'visually-hidden' },
            'Every service: health, serving tier and traffic reported by its callers',
          ),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Service', 'Healthy', 'Serving tier'].map((c) => h('th', { scope: 'col' }, c)),
              ...['Requests', 'Errors', 'p99'].map((c) => h('th', { scope: 'col', class: 'num' }, c)),
              h('th', { scope: 'col' }, 'Requests over time'),
            ),
          ),
          this.#body,
        ),
        'Services',
      ),
      this.#empty,
      h(
        'p',
        { class: 'muted small' },
        'Requests, errors and p99 latency are what the callers of each service report over the last window; — means no caller has reported on it yet. The trend is kept by this page while it is open.',
      ),
    );
  }

  /** Shows the services of a GET /v1/services answer. */
  update(answer) {
    const services = [...answer.services].sort((a, b) => a.name.localeCompare(b.name));
    const seen = new Set();
    for (const s of services) {
      seen.add(s.name);
      let row = this.#rows.get(s.name);
      if (!row) {
        row = this.#createRow(s.name);
        this.#rows.set(s.name, row);
      }
      this.#fill(row, s);
      this.#body.append(row.tr); // keeps the sorted order; a no-op move for rows already in place
    }
    for (const [name, row] of this.#rows) {
      if (seen.has(name)) continue;
      row.chart.destroy();
      row.tr.remove();
      this.#rows.delete(name);
    }
    this.#empty.hidden = services.length > 0;
  }

  /** Frees the charts. */
  unmount() {
    for (const row of this.#rows.values()) row.chart.destroy();
    this.#rows.clear();
  }

  #createRow(name) {
    const cells = {
      health: h('td'),
      tier: h('td'),
      rps: h('td', { class: 'num' }),
      errors: h('td', { class: 'num' }),
      p99: h('td', { class: 'num' }),
      trend: h('div', { class: 'sparkline', role: 'img' }),
    };
    const tr = h(
      'tr',
      { 'data-testid': `service-row-${name}`, 'data-service': name },
      h('th', { scope: 'row' }, h('a', { href: `#/services/${encodeURIComponent(name)}` }, name)),
      cells.health,
      cells.tier,
      cells.rps,
      cells.errors,
      cells.p99,
      h('td', {}, cells.trend),
    );
    return { tr, cells, chart: new Sparkline(cells.trend) };
  }

  #fill(row, s) {
    const { cells } = row;
    cells.health.replaceChildren(
      badge(`${s.healthy}/${s.total}`, healthTone(s.healthy, s.total), {
        'data-testid': `service-health-${s.name}`,
        title: `${s.healthy} of ${s.total} instances routed`,
      }),
    );
    cells.tier.textContent = s.activeTier === null || s.activeTier === undefined ? DASH : `tier ${s.activeTier}`;
    cells.tier.dataset.tier = s.activeTier ?? '';
    const stats = s.stats;
    cells.rps.textContent = fmtRate(stats?.rps);
    cells.errors.textContent = fmtRatio(stats?.errorRatio);
    cells.errors.classList.toggle('hot', typeof stats?.errorRatio === 'number' && stats.errorRatio >= 0.05);
    cells.p99.textContent = fmtMs(stats?.p99Ms);
    const data = this.#history.data(s.name);
    row.chart.update(data);
    const last = data[1].at(-1);
    cells.trend.setAttribute(
      'aria-label',
      last === null || last === undefined
        ? `${s.name}: no request rate reported yet`
        : `${s.name}: ${fmtRate(last)} now, last ${data[0].length} samples`,
    );
  }
}
