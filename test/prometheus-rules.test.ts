import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './harness/mesh.js';

// The monitoring kit in deploy/: the Prometheus config, its rules and their
// unit tests, and the Alertmanager example, checked by the real promtool and
// amtool (Debian's prometheus and prometheus-alertmanager packages; only the
// binaries run, no service); and the Grafana dashboards, checked against the
// metrics that meshlet exports.

const PROM = join(ROOT, 'deploy', 'prometheus');
const GRAFANA = join(ROOT, 'deploy', 'grafana');
const RULES = join(PROM, 'rules', 'meshlet.rules.yml');
const RULE_TESTS = join(PROM, 'rules', 'meshlet.rules.test.yml');

/**
 * Every metric meshlet exports, with its labels (beyond the target's `job`
 * and `instance`). Histograms also have `_bucket` (with `le`), `_sum` and
 * `_count`.
 */
const METRICS: Record<string, { labels: string[]; histogram?: true }> = {
  meshlet_agent_requests_total: { labels: ['service', 'endpoint', 'code_class'] },
  meshlet_agent_request_duration_seconds: { labels: ['service'], histogram: true },
  meshlet_agent_retries_total: { labels: ['service'] },
  meshlet_agent_retry_budget_exhausted_total: { labels: ['service'] },
  meshlet_agent_ejections_total: { labels: ['service'] },
  meshlet_agent_circuit_open_total: { labels: ['service'] },
  meshlet_agent_active_requests: { labels: ['service'] },
  meshlet_agent_inbound_requests_total: { labels: ['code_class'] },
  meshlet_agent_inbound_request_duration_seconds: { labels: [], histogram: true },
  meshlet_agent_control_plane_connected: { labels: [] },
  meshlet_agent_routing_table_version: { labels: [] },
  meshlet_agent_certificate_expiry_timestamp_seconds: { labels: [] },
  meshlet_cp_certificates_issued_total: { labels: [] },
  meshlet_cp_certificates_refused_total: { labels: ['reason'] },
  meshlet_cp_agent_certificate_expiry_timestamp_seconds: { labels: ['agent'] },
  meshlet_cp_issuer_expiry_timestamp_seconds: { labels: [] },
  meshlet_cp_root_expiry_timestamp_seconds: { labels: [] },
  meshlet_cp_ca_trust_generation: { labels: [] },
  meshlet_cp_ca_rotation_step: { labels: ['step'] },
  meshlet_cp_ca_rotation_step_started_timestamp_seconds: { labels: [] },
  meshlet_cp_ca_rotation_agents_behind: { labels: [] },
  meshlet_cp_connected_agents: { labels: [] },
  meshlet_cp_leader: { labels: [] },
  meshlet_cp_stream_messages_total: { labels: ['type'] },
  meshlet_cp_stream_rejected_messages_total: { labels: ['code'] },
  meshlet_cp_routing_table_version: { labels: [] },
  meshlet_cp_nacks_total: { labels: [] },
  meshlet_cp_table_messages_total: { labels: ['kind'] },
  meshlet_cp_convergence_seconds: { labels: [], histogram: true },
  meshlet_cp_health_transitions_total: { labels: ['to'] },
  meshlet_cp_failovers_total: { labels: ['service'] },
  meshlet_cp_instance_healthy: { labels: ['service', 'instance'] },
  meshlet_cp_service_healthy_endpoints: { labels: ['service'] },
  meshlet_cp_service_endpoints: { labels: ['service'] },
};

interface RuleGroup {
  name: string;
  rules: {
    record?: string;
    alert?: string;
    expr: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  }[];
}
const ruleGroups = (parseYaml(readFileSync(RULES, 'utf8')) as { groups: RuleGroup[] }).groups;
const rules = ruleGroups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);

/** Series names an expression may select, and the labels each may be matched on. */
function knownSeries(extra: Record<string, string[]> = {}): Map<string, Set<string>> {
  const known = new Map<string, Set<string>>();
  const add = (name: string, labels: string[]) => known.set(name, new Set([...labels, 'job', 'instance']));
  for (const [name, m] of Object.entries(METRICS)) {
    add(name, m.labels);
    if (m.histogram) {
      add(`${name}_bucket`, [...m.labels, 'le']);
      add(`${name}_sum`, m.labels);
      add(`${name}_count`, m.labels);
    }
  }
  // Recording rules: `level:metric:operations`, labelled by their level.
  for (const r of rules) if (r.record) add(r.record, r.record.split(':')[0]?.split('_') ?? []);
  for (const [name, labels] of Object.entries(extra)) add(name, labels);
  return known;
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'Inf', 'NaN', 'inf', 'nan']);

/**
 * The series selectors of a PromQL expression, as `[name, matcher labels]`:
 * what remains once strings, ranges, grouping clauses, numbers and function
 * calls are set aside. Small, but enough for the expressions of this kit, and
 * it errs on the side of reporting a name it does not understand.
 */
function selectors(expr: string): [string, string[]][] {
  const out: [string, string[]][] = [];
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  s = s.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g, (_all, name: string, body: string) => {
    out.push([name, [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1] as string)]);
    return ' ';
  });
  s = s
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?\w+/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/(?<![\w:])\d+(?:\.\d+)?(?:e[+-]?\d+)?/gi, ' ');
  for (const m of s.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    const word = m[1] as string;
    if (m[2] === undefined && !PROMQL_WORDS.has(word)) out.push([word, []]);
  }
  return out;
}

/** Problems with the series an expression selects: unknown names, or labels a series does not have. */
function unknownSeries(expr: string, known: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  for (const [name, labels] of selectors(expr)) {
    const has = known.get(name);
    if (!has) problems.push(`unknown metric ${name}`);
    else for (const l of labels) if (!has.has(l)) problems.push(`${name} has no label ${l}`);
  }
  return problems;
}

interface Run {
  code: number | null;
  out: string;
}

/** Runs a tool to its end; a missing tool fails the test with what to install. */
function run(tool: 'promtool' | 'amtool', args: string[], cwd = ROOT): Run {
  const r = spawnSync(tool, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    const pkg = tool === 'promtool' ? 'prometheus' : 'prometheus-alertmanager';
    throw new Error(
      `${tool} is not installed: apt-get install -y ${pkg} (Debian's package; only the binary is used, do not start the service). CI installs it in .ci/run.`,
    );
  }
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const scratch = mkdtempSync(join(tmpdir(), 'meshlet-prom-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('deploy/prometheus with the real promtool and amtool', () => {
  it('promtool check config accepts prometheus.yml and the rule file it loads', () => {
    const r = run('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml']);
    expect(r.out).toContain('SUCCESS: 1 rule files found');
    expect(r.out).toContain('is valid prometheus config file syntax');
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code, r.out).toBe(0);
  });

  it('scrapes the control plane with a read-only token from a file and agents from a static list and file_sd', () => {
    const config = parseYaml(readFileSync(join(PROM, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: {
        job_name: string;
        honor_labels?: boolean;
        authorization?: { credentials_file?: string };
        static_configs?: unknown[];
        file_sd_configs?: unknown[];
      }[];
    };
    const cp = config.scrape_configs.find((j) => j.job_name === 'meshlet-control-plane');
    const agents = config.scrape_configs.find((j) => j.job_name === 'meshlet-agents');
    expect(cp?.authorization?.credentials_file).toBe('secrets/meshlet-read-only-token');
    // meshlet_cp_instance_healthy's own `instance` label must win over the target's.
    expect(cp?.honor_labels).toBe(true);
    expect(agents?.static_configs).toHaveLength(1);
    expect(agents?.file_sd_configs).toHaveLength(1);
    // The alerts of the control-plane job name it by job.
    expect(alerts.find((a) => a.alert === 'MeshletControlPlaneDown')?.expr).toContain('job="meshlet-control-plane"');
  });

  it('promtool check rules accepts the rules', () => {
    const r = run('promtool', ['check', 'rules', RULES]);
    expect(r.out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.code, r.out).toBe(0);
  });

  it('every alert has a severity, a summary, a description and a runbook, and uses only metrics meshlet exports', () => {
    const known = knownSeries({ up: [] });
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'MeshletAgentCertificateExpiring',
      'MeshletAgentDisconnected',
      'MeshletAgentDown',
      'MeshletCaRotationStalled',
      'MeshletCertificateAuthorityExpiring',
      'MeshletControlPlaneDown',
      'MeshletFailover',
      'MeshletHighErrorRatio',
      'MeshletInstanceDown',
      'MeshletNoControlPlaneLeader',
      'MeshletServiceNoHealthyEndpoint',
      'MeshletSlowConvergence',
    ]);
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity);
      expect(Object.keys(a.annotations ?? {}).sort(), a.alert).toEqual(['description', 'runbook', 'summary']);
    }
    for (const r of rules) expect(unknownSeries(r.expr, known), r.alert ?? r.record).toEqual([]);
  });

  it('promtool test rules passes, with a case where each alert fires and one where it does not', () => {
    const r = run('promtool', ['test', 'rules', RULE_TESTS]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code, r.out).toBe(0);

    const tests = (
      parseYaml(readFileSync(RULE_TESTS, 'utf8')) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
      }
    ).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      expect(
        cases.some((c) => c.alertname === a.alert && c.exp_alerts.length > 0),
        `${a.alert} fires in a case`,
      ).toBe(true);
      expect(
        cases.some((c) => c.alertname === a.alert && c.exp_alerts.length === 0),
        `${a.alert} stays quiet in a case`,
      ).toBe(true);
    }
  });

  it('the rule tests catch an alert that never fires', () => {
    // Each alert in turn made dead: its firing case must fail, naming it.
    const text = readFileSync(RULES, 'utf8');
    for (const a of alerts) {
      const dir = join(scratch, a.alert as string);
      cpSync(join(PROM, 'rules'), dir, { recursive: true });
      const doc = parseYaml(text) as { groups: RuleGroup[] };
      for (const g of doc.groups) for (const rule of g.rules) if (rule.alert === a.alert) rule.expr = 'vector(1) == 0';
      writeFileSync(join(dir, 'meshlet.rules.yml'), JSON.stringify(doc));
      const r = run('promtool', ['test', 'rules', join(dir, 'meshlet.rules.test.yml')]);
      expect(r.code, `${a.alert} made dead: ${r.out}`).toBe(1);
      expect(r.out).toContain(`alertname: ${a.alert}`);
    }
  });

  it('amtool check-config accepts alertmanager.yml', () => {
    const r = run('amtool', ['check-config', 'deploy/prometheus/alertmanager.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.out).toMatch(/3 receivers/);
    expect(r.code, r.out).toBe(0);
  });
});

interface Panel {
  type: string;
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string }; definition?: string }[] };
}

describe('deploy/grafana dashboards', () => {
  const known = knownSeries();
  for (const file of ['mesh-overview.json', 'service.json']) {
    it(`${file}: every panel has a title and queries, on metrics that exist, through the datasource variable`, () => {
      const raw = readFileSync(join(GRAFANA, file), 'utf8');
      const d = JSON.parse(raw) as Dashboard;
      expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
      expect(d.templating.list.find((v) => v.name === 'datasource')).toMatchObject({
        type: 'datasource',
        query: 'prometheus',
      });
      // No data source of the author's Grafana left behind.
      const uids: unknown[] = [];
      JSON.parse(raw, (_k, v: unknown) => {
        const o = v as { type?: unknown; uid?: unknown } | null;
        if (typeof o === 'object' && o !== null && o.type === 'prometheus' && 'uid' in o) uids.push(o.uid);
        return v;
      });
      expect(uids.length).toBeGreaterThan(0);
      expect(new Set(uids)).toEqual(new Set(['${datasource}']));

      // Rows hold panels; they have no queries of their own.
      const panels = d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
      expect(panels.length).toBeGreaterThan(5);
      const problems: string[] = [];
      for (const p of panels) {
        if (!p.title) problems.push(`a ${p.type} panel has no title`);
        if (!p.targets?.length || p.targets.some((t) => !t.expr)) problems.push(`"${p.title}" has no query`);
        for (const t of p.targets ?? [])
          for (const u of unknownSeries(t.expr ?? '', known)) problems.push(`"${p.title}": ${u}`);
      }
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
        const m = /^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),\s*([a-zA-Z_]\w*)\)$/.exec(q);
        if (!m) problems.push(`variable ${v.name}: not a label_values(metric, label) query: ${q}`);
        else if (!known.get(m[1] as string)?.has(m[2] as string))
          problems.push(`variable ${v.name}: ${m[1]} has no label ${m[2]}`);
      }
      expect(problems).toEqual([]);
    });
  }

  it('service.json is about one service, chosen by the service variable', () => {
    const d = JSON.parse(readFileSync(join(GRAFANA, 'service.json'), 'utf8')) as Dashboard;
    expect(d.templating.list.map((v) => v.name)).toEqual(['datasource', 'service']);
    const exprs = d.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr ?? '');
    for (const e of exprs) expect(e).toContain('service="$service"');
  });

  it('the checker itself: it reports an unknown metric and a label the metric does not have', () => {
    expect(unknownSeries('sum by (service) (rate(meshlet_agent_request_total[5m]))', known)).toEqual([
      'unknown metric meshlet_agent_request_total',
    ]);
    expect(unknownSeries('rate(meshlet_agent_inbound_requests_total{service="a"}[1m])', known)).toEqual([
      'meshlet_agent_inbound_requests_total has no label service',
    ]);
    expect(
      unknownSeries(
        'histogram_quantile(0.99, sum by (le) (rate(meshlet_cp_convergence_seconds_bucket[$__rate_interval]))) > 1e3',
        known,
      ),
    ).toEqual([]);
    expect(unknownSeries('service:meshlet_agent_requests:rate5m > 1 and up offset 5m', known)).toEqual([
      'unknown metric up',
    ]);
  });
});
