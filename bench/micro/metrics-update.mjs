// Metrics update: what an outbound request records on the agent's
// Prometheus registry (createAgentMetrics) through its service's hooks
// (ServiceRuntime.metrics): started, one attempt's answer, and finished
// with its duration (a histogram observation); and each part alone.
import { createAgentMetrics } from '../../agent/dist/metrics.js';
import { routeTable, runtimeDeps } from './fixtures.mjs';

export const group = 'metrics-update';

export function cases() {
  const metrics = createAgentMetrics({ controlPlaneConnected: () => true, tableVersion: () => 1 });
  const table = routeTable({ services: 100, deps: runtimeDeps({ metrics }) });
  const m = table.service('orders').metrics;
  const ids = table.service('orders').endpoints.map((e) => e.id);
  // Durations of a few ms, spread over the buckets as real requests are.
  const seconds = (i) => 0.0005 + (i % 97) * 0.0001;
  return {
    close: () => table.close(),
    list: [
      {
        name: 'outbound request: started + attempt(200) + finished',
        fn: (i) => {
          m.started();
          m.attempt(ids[i % 3], 200);
          m.finished(seconds(i));
          return m;
        },
        check: (x) => x !== undefined,
      },
      { name: 'attempt(id, 200): requests_total child', fn: (i) => m.attempt(ids[i % 3], 200), check: () => true },
      {
        name: 'started + finished: duration histogram',
        fn: (i) => {
          m.started();
          m.finished(seconds(i));
          return m;
        },
        check: (x) => x !== undefined,
      },
    ],
    /** The series must have counted what the cases did. */
    async verify() {
      const text = await metrics.registry.getSingleMetricAsString('meshlet_agent_requests_total');
      return /service="orders",endpoint="orders-0",code_class="2xx"} [1-9]/.test(text);
    },
  };
}
